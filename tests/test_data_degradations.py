"""Each paper's degradation: output sizes, drawn parameters inside the paper ranges, determinism per seed."""
import os

import cv2
import numpy as np
import pytest

import facesr_arch  # noqa: F401
from facesr_arch.data.degradations import apply_degradation, motion_kernel


@pytest.fixture(scope='module')
def face(ffhq_dir):
    img = cv2.imread(os.path.join(ffhq_dir, '00003.png')).astype(np.float32) / 255.0
    return {size: cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for size in (128, 256)} | {1024: img}


def run(face, opt, seed):
    return apply_degradation(face, np.random.default_rng(seed), opt)


def test_cfgpfssr_returns_the_64px_lr_of_a_1024px_face(face):
    lq, record = run(face[1024], {'type': 'cfgpfssr_bicubic'}, 0)
    assert lq.shape == (64, 64, 3) and record == {'scale': 16.0, 'lr_size': [64, 64], 'upsampled': False}
    assert np.allclose(lq * 255, np.round(lq * 255), atol=1e-4)  # 8-bit LR, as saved by MATLAB


@pytest.mark.parametrize('scale, lr', [(4, 32), (8, 16)])
def test_wnet_lr_sizes_and_upsampled_lq(face, scale, lr):
    lq, record = run(face[128], {'type': 'wnet_bicubic', 'scale': scale}, 0)
    assert lq.shape == (128, 128, 3) and record['lr_size'] == [lr, lr] and record['upsampled']
    small, _ = run(face[128], {'type': 'wnet_bicubic', 'scale': scale, 'upsample': False}, 0)
    assert small.shape == (lr, lr, 3)


def test_mpcnet_parameters_in_paper_ranges(face):
    blurs = set()
    for seed in range(40):
        lq, r = run(face[128], {'type': 'mpcnet_blind', 'out_size': 128}, seed)
        assert lq.shape == (128, 128, 3) and 0 <= lq.min() and lq.max() <= 1
        blurs.add(r['blur'])
        if r['blur'] == 'motion':
            assert 5 <= r['motion_length'] <= 25
        else:
            assert 3 <= r['kernel_size'] <= 15 and r['kernel_size'] % 2 == 1
        assert 4 <= r['scale'] <= 16 and 0 <= r['noise_sigma'] <= 25.5
        assert 10 <= r['jpeg_quality'] <= 65  # eq. (1): JPEG quality factor q in [10, 65]
        assert r['interpolation'] == 'cubic' and r['downsampler'] == 'upper_left'
    assert blurs == {'gaussian', 'average', 'median', 'motion'}
    _, r = run(face[128], {'type': 'mpcnet_blind', 'out_size': 128, 'jpeg_q': 'level', 'downsampler': 'cubic'}, 0)
    assert 35 <= r['jpeg_quality'] <= 90 and 'downsampler' not in r  # the other readings stay available


def test_standard_downsampler_keeps_the_upper_left_pixel_of_each_cell(face):
    opt = {'type': 'mpcnet_blind', 'out_size': 32, 'blur_types': [], 'scale_range': [4, 4], 'noise_range': [0, 0],
           'compression_range': None}
    lq, _ = run(face[128], opt, 0)
    assert np.array_equal(lq, face[128][::4, ::4])
    rows = np.floor(np.arange(23) * 128 / 23).astype(int)
    lq, _ = run(face[128], dict(opt, scale_range=[5.5, 5.5], out_size=23), 0)  # 23 LR pixels spanning all 128
    assert np.array_equal(lq, face[128][rows][:, rows])


def test_pvfr_parameters_in_paper_ranges(face):
    blurs = set()
    for seed in range(30):
        lq, r = run(face[256], {'type': 'pvfr_blind', 'out_size': 256}, seed)
        assert lq.shape == (256, 256, 3)
        blurs.add('motion' if r['blur'] == 'motion' else 'gaussian')
        assert r['kernel_size'] == 41 and 0.4 <= r['scale'] <= 8
        assert 0 <= r['noise_sigma'] <= 25 and 5 <= r['jpeg_quality'] <= 50
        assert r['blur'] != 'motion' or 5 <= r['motion_length'] <= 41  # a line within the 41 px kernel
    assert blurs == {'gaussian', 'motion'}


def test_gfpgan_blind_follows_gfpgan_training_configuration(face):
    kinds, jittered, jittered_pt, grays = set(), 0, 0, 0
    for seed in range(300):
        lq, r = run(face[128], {'type': 'gfpgan_blind'}, seed)
        assert lq.shape == (128, 128, 3)
        kinds.add(r['blur'])
        assert 0.1 <= r['sigma_x'] <= 10 and 0.1 <= r['sigma_y'] <= 10 and r['kernel_size'] == 41
        assert 0.8 <= r['scale'] <= 8 and 0 <= r['noise_sigma'] <= 20 and 60 <= r['jpeg_quality'] <= 100
        if r['color_jitter'] is not None:
            jittered += 1
            assert max(abs(v) for v in r['color_jitter']) <= 20 / 255
        if r['color_jitter_pt'] is not None:  # brightness, contrast, saturation, hue in a random order
            jittered_pt += 1
            factors = dict(r['color_jitter_pt'])
            assert len(r['color_jitter_pt']) == 4 and set(factors) == {'brightness', 'contrast', 'saturation', 'hue'}
            assert 0.5 <= factors['brightness'] <= 1.5 and 0.5 <= factors['contrast'] <= 1.5
            assert 0 <= factors['saturation'] <= 1.5 and -0.1 <= factors['hue'] <= 0.1
        if r['gray']:  # LQ only: the GT keeps its colour
            grays += 1
            assert np.abs(lq - lq[:, :, :1]).max() < 1e-6
    # probabilities 0.3, 0.3 and 0.01 of train_gfpgan_v1.yml (binomial bounds over 300 draws)
    assert kinds == {'iso', 'aniso'} and 60 < jittered < 120 and 60 < jittered_pt < 120 and grays < 12
    lq, r = run(face[128], {'type': 'gfpgan_blind', 'gray_prob': 1, 'color_jitter_pt_prob': 0}, 0)
    assert r['gray'] and np.abs(lq - lq[:, :, :1]).max() < 1e-6


@pytest.mark.parametrize('opt', [{'type': 'mpcnet_blind', 'out_size': 128}, {'type': 'pvfr_blind', 'out_size': 128},
                                 {'type': 'gfpgan_blind'}, {'type': 'multiscale_bicubic'}])
def test_same_seed_same_pair_other_seed_other_pair(face, opt):
    a, ra = run(face[128], opt, 7)
    b, rb = run(face[128], opt, 7)
    c, _ = run(face[128], opt, 8)
    assert ra == rb and np.array_equal(a, b) and not np.array_equal(a, c)


def test_fixed_ranges_reproduce_mpcnet_sweeps(face):
    opt = {'type': 'mpcnet_blind', 'out_size': 128, 'blur_types': [], 'scale_range': [6.5, 6.5],
           'noise_range': [15, 15], 'compression_range': None}
    _, record = run(face[128], opt, 0)
    assert record['blur'] == 'none' and record['scale'] == 6.5 and record['noise_sigma'] == 15
    assert record['jpeg_quality'] is None


def test_motion_kernel_is_a_normalised_line_of_the_given_length():
    kernel = motion_kernel(41, 15, 0.0)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel[19:22].sum() > 0.99  # horizontal, one pixel thick (anti-aliased)
    assert 14 <= np.count_nonzero(kernel.sum(axis=0) > 1e-3) <= 17
