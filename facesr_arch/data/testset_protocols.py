"""The papers' evaluation protocols as named test-set recipes for ``scripts/make_testset.py``.

One protocol per paper table that needs a test set. Each protocol records:

- ``paper`` / ``tables``: the publication and the table numbers it serves;
- ``dataset`` and ``num_images``: the test faces and the subset size the paper states;
- ``keys``: how the subset is chosen (:mod:`facesr_arch.data.testset_keys`): a key list drawn from a
  documented seed where the paper publishes none, or None where the set is whatever the user provides
  (real-image sets, Helen); ``exclude``: key lists the set must not overlap (MPCNet's parser-training
  faces);
- ``reference``: False for no-reference real-image sets (the input images are the LQs, resized only);
- ``metric``: how the paper compares an output with its GT (RGB or Y PSNR/SSIM, crop border);
- ``subsets``: {name: {'gt_size', 'degradation', 'paper_input'}}: GT side in pixels, the degradation
  options (``facesr_arch.data.degradations``), and the paper's own Input / Bicubic row for that column
  as (PSNR, SSIM or None), or None where the table prints no such row;
- ``notes``: the readings taken where the paper is ambiguous.

Every image of a subset is degraded with the generator seeded by (seed, image index), so a protocol, a seed
and the HQ images fix every byte of the test set. An LQ smaller than its GT is compared with it after
MATLAB-bicubic upsampling (the "Bicubic" rows of the FSR tables).
"""
import copy

import cv2
import numpy as np

from .degradations import apply_degradation

MPCNET_EQ1 = {'type': 'mpcnet_blind', 'out_size': 512}
PVFR_EQ17 = {'type': 'pvfr_blind', 'out_size': 512}

RGB = {'y_channel': False, 'crop_border': 0}
Y = {'y_channel': True, 'crop_border': 0}


def _mpcnet(**pinned):
    """MPCNet's eq. (1) with some parameters pinned (degenerate ranges) for the sweeps of section 4.4."""
    return dict(MPCNET_EQ1, **pinned)


def _protocol(paper, tables, dataset, num_images, subsets, keys=None, reference=True, metric=RGB, notes='',
              exclude=()):
    return {'paper': paper, 'tables': list(tables), 'dataset': dataset, 'num_images': num_images, 'keys': keys,
            'exclude': list(exclude), 'reference': reference, 'metric': dict(metric), 'subsets': subsets,
            'notes': notes}


def _subset(gt_size, degradation, paper_input=None):
    return {'gt_size': gt_size, 'degradation': degradation, 'paper_input': paper_input}


MPCNET = 'MPCNet: Teng, Yu and Wu, "Multi-prior collaboration network for blind face restoration", ' \
    'Front. Neurorobot. 2022, doi:10.3389/fnbot.2022.797231'
PVFR = 'PVFR: Hu, Liu, Liu, Lu, Yu and Fu, "Enhancing quality of pose-varied face restoration with local weak ' \
    'feature sensing and GAN prior", 2023'
GCFSR = 'GCFSR: He et al., "GCFSR: a generative and controllable face super resolution method without ' \
    'facial and GAN priors", CVPR 2022, arXiv:2203.07319'
CFGPFSSR = 'CFGPFSSR: Liu et al., "Face super-resolution combining facial and GAN priors", ' \
    'Neural Processing Letters 2024'
WNET = 'W-Net: Liu and Yang, "W-Net: a facial feature-guided face super-resolution network", 2024'

# Table 5 (section 4.4.3: "4 Gaussian blur kernels with different sizes and 4 motion blur kernels in four different
# directions"; footnote: "The kernel widths are set to 10"). Columns as printed: the Gaussian sizes rising (header
# glyphs '.', '۰', '•', '•'), then the motion directions in the order of the surviving glyphs '/', '-', '\' with
# the fourth ('|', lost in the text source) where the header leaves an empty cell, between '/' and '-': 45, 90, 0,
# 135 degrees. Every kernel is 10 px wide (kernel_window=10); a Gaussian's size 3/7/11/15 (eq. 1's range, read as
# in training) sets its standard deviation (0.8/1.4/2.0/2.6 px), the motion kernels are 10 px lines. Evidence
# (testset_calibration.py, 10 FFHQ faces x 3 seeds): against the paper's Input row this reading misses by
# +0.41/+0.10/+0.01/-0.39 (Gaussian) and -0.19/-0.42/-0.20/-0.09 dB (motion), squared error 0.59 dB^2 over the
# eight columns; windows as wide as the kernels (3/7/11/15 px Gaussians, 11 px motion canvas) miss by
# +0.77/+0.49/+0.40/+0.04 and +0.19/-0.04/+0.18/+0.28 dB (1.14 dB^2). The motion orders that keep the glyphs' order
# differ by under 0.05 dB per column on these faces: the order rests on the glyphs.
MPCNET_BLUR_GAUSSIAN = (3, 7, 11, 15)
MPCNET_BLUR_MOTION = (45, 90, 0, 135)
MPCNET_TABLE5_WIDTH = 10
MPCNET_TABLE5_INPUT = (20.34, 20.81, 21.02, 21.49, 21.17, 21.45, 21.23, 21.16)

PROTOCOLS = {
    # ---------------------------------------------------------------- MPCNet (4.1: CelebA-Test, Real-Test)
    'mpcnet_celeba_test': _protocol(
        MPCNET, (2, 3), 'CelebA-HQ', 3000, {'celeba_test': _subset(512, MPCNET_EQ1, (20.23, 0.6823))},
        keys='mpcnet_celeba_test', exclude=['mpcnet_parser_train'],
        notes='3,000 CelebA-HQ faces, none of them among the 24,000 parser-training faces (4.1); LQ by eq. (1) like '
        'training'),
    'mpcnet_scale_sweep': _protocol(
        MPCNET, (4, ), 'CelebA-HQ', 3000,
        dict({f'x{s}': _subset(512, _mpcnet(scale_range=[s, s]), (p, None))
              for s, p in zip((4, 5, 6, 7, 8), (22.97, 22.63, 21.33, 20.64, 20.34))},
             **{f'x{s}': _subset(512, _mpcnet(scale_range=[s, s])) for s in (6.5, 7.15)}),
        keys='mpcnet_celeba_test', exclude=['mpcnet_parser_train'],
        notes='x4..x8 of Table 4 plus the non-integer x6.5 / x7.15 of Figs. 9-10; r pinned, the rest of eq. (1) '
        'drawn once per face (the readings tried, resizing back to 512 px included: testset_calibration.py)'),
    'mpcnet_blur_sweep': _protocol(
        MPCNET, (5, ), 'CelebA-HQ', 3000,
        dict({f'gaussian{w}': _subset(512, _mpcnet(blur_types=['gaussian'], gaussian_size=[w, w], noise_range=[0, 0],
                                                   kernel_window=MPCNET_TABLE5_WIDTH), (p, None))
              for w, p in zip(MPCNET_BLUR_GAUSSIAN, MPCNET_TABLE5_INPUT[:4])},
             **{f'motion{a}': _subset(512, _mpcnet(blur_types=['motion'], motion_length=[10, 10], motion_angle=[a, a],
                                                   noise_range=[0, 0], kernel_window=MPCNET_TABLE5_WIDTH), (p, None))
                for a, p in zip(MPCNET_BLUR_MOTION, MPCNET_TABLE5_INPUT[4:])}),
        keys='mpcnet_celeba_test', exclude=['mpcnet_parser_train'],
        notes='"noise-free degradations with different blur kernels" (4.4.3), every kernel 10 px wide (footnote): '
        'Gaussian sizes 3/7/11/15, motion at 45/90/0/135 degrees in column order (MPCNET_BLUR_* above)'),
    'mpcnet_noise_sweep': _protocol(
        MPCNET, (6, ), 'CelebA-HQ', 3000,
        {f'noise{n}': _subset(512, _mpcnet(noise_range=[n, n]), (p, None))
         for n, p in zip(range(0, 30, 5), (21.54, 21.25, 20.91, 20.67, 20.45, 20.21))},
        keys='mpcnet_celeba_test', exclude=['mpcnet_parser_train'],
        notes='CelebA-Test with the noise level pinned to 0, 5, ..., 25'),
    'mpcnet_real_test': _protocol(
        MPCNET, (7, ), 'Real-Test (1,000 CelebA LQ faces + 500 old photos)', 1500,
        {'real_test': _subset(512, {'type': 'resize', 'size': 512})}, reference=False,
        notes='cropped real faces, bicubic-resized to 512 px (4.1); NIQE and FID only'),
    # ---------------------------------------------------------------- PVFR (4.1, 4.3, 4.4)
    'pvfr_celeba_test': _protocol(
        PVFR, (1, 5), 'CelebA-HQ', 2556, {'celeba_test': _subset(512, PVFR_EQ17)}, keys='pvfr_celeba_test',
        notes='2,556 CelebA faces "with complex facial postures" (4.1), degraded by eq. (17); no Input row'),
    'pvfr_runtime': _protocol(
        PVFR, (6, ), 'CelebA-HQ', 200, {'runtime': _subset(512, PVFR_EQ17)}, keys='pvfr_runtime',
        notes='"hundreds of randomly selected 512 x 512 face images" timed on one V100 (5); their degradation is '
        'not stated: 200 faces drawn from the CelebA Data list, degraded by eq. (17) as Table 1; no Input PSNR'),
    'pvfr_fsr_x4': _protocol(
        PVFR, (2, ), 'CelebA-HQ', 1500,
        {'x4': _subset(512, {'type': 'pvfr_fsr', 'scale': 4, 'blind': dict(PVFR_EQ17)}, (23.757, 0.641))},
        keys='pvfr_fsr_x4', notes='"the first 1500 images of CelebA Data" with "4x down-sampling of the input '
        'data" (4.3): the eq. (17) LQ bicubic-downsampled 4x; compared after bicubic upsampling'),
    'pvfr_real_fddb': _protocol(PVFR, (3, ), 'FDDB faces (RetinaFace crops)', 1629,
                                {'fddb': _subset(512, {'type': 'resize', 'size': 512})}, reference=False),
    'pvfr_real_lfw': _protocol(PVFR, (3, ), 'LFW', 1610, {'lfw': _subset(512, {'type': 'resize', 'size': 512})},
                               reference=False),
    'pvfr_real_webface': _protocol(PVFR, (3, ), 'WebFace', 804,
                                   {'webface': _subset(512, {'type': 'resize', 'size': 512})}, reference=False),
    'pvfr_real_wflw': _protocol(PVFR, (4, ), 'WFLW', 775, {'wflw': _subset(512, {'type': 'resize', 'size': 512})},
                                reference=False),
    # ---------------------------------------------------------------- GCFSR (section 4)
    'gcfsr_bicubic': _protocol(
        GCFSR, (2, ), 'CelebA-HQ', 100,
        {f'x{s}': _subset(1024, {'type': 'multiscale_bicubic', 'factors': [s]}) for s in (16, 32, 64)},
        keys='gcfsr_celeba_hq_100', notes='the 100 CelebA-HQ faces of GLEAN; bicubic down and up; no Input row'),
    'gcfsr_blind_celeba_test': _protocol(
        GCFSR, (3, ), 'CelebA-HQ', 3000, {'celeba_test': _subset(512, {'type': 'gfpgan_blind'})},
        keys='gcfsr_celeba_test', notes='"As suggested in [GFPGAN], we create CelebA-Test with 3,000 CelebA-HQ images '
        "from its testing partition\" (4): the CelebA-HQ faces of CelebA's test partition, derived on the user's "
        'machine from the two datasets\' lists (--celeba-lists; testset_keys.py states the rule for the 2,824 '
        "it holds), at 512 px with GFPGAN's degradation; or the CelebA-Test pairs GFPGAN distributes (reproduce "
        '--pairs); no Input row'),
    'gcfsr_adv_x4_x8': _protocol(
        GCFSR, (4, ), 'CelebA-HQ', 100,
        {f'x{s}': _subset(512, {'type': 'multiscale_bicubic', 'factors': [s]}) for s in (4, 8)},
        keys='gcfsr_celeba_hq_100', notes='CelebA-HQ resized to 512 px, 128 / 64 px LR; subset size not stated: '
        "decision: GLEAN's 100 faces of Table 2; no Input row"),
    # ---------------------------------------------------------------- CFGPFSSR (4.1)
    'cfgpfssr_x16': _protocol(
        CFGPFSSR, (1, 3), 'CelebA-HQ', 1000, {'x16': _subset(1024, {'type': 'cfgpfssr_bicubic'})},
        keys='cfgpfssr_celeba_hq_1000', notes='1000 random CelebA-HQ faces, MATLAB bicubic 1024 -> 64; no Input row'),
    'cfgpfssr_real': _protocol(
        CFGPFSSR, (2, ), '50 old photos (faces detected, cropped, aligned)', 50,
        {'real': _subset(64, {'type': 'resize', 'size': 64, 'matlab': True})}, reference=False,
        notes='MATLAB bicubic down to the 64 px LR input (4.1); NIQE and FID only'),
    # ---------------------------------------------------------------- W-Net (4.1: DIC's protocol, Y channel)
    'wnet_celeba_mode1': _protocol(
        WNET, (1, ), 'CelebA (OpenFace-cropped, 128 px)', 1000,
        {'x4': _subset(128, {'type': 'wnet_bicubic', 'scale': 4}, (27.38, 0.8002)),
         'x8': _subset(128, {'type': 'wnet_bicubic', 'scale': 8}, (23.46, 0.6776))},
        keys='wnet_celeba_mode1', metric=Y, notes='Training Mode I: 1000 test faces'),
    'wnet_celeba_mode2': _protocol(
        WNET, (1, 2, 3), 'CelebA (OpenFace-cropped, 128 px)', 100,
        {'x4': _subset(128, {'type': 'wnet_bicubic', 'scale': 4}),
         'x8': _subset(128, {'type': 'wnet_bicubic', 'scale': 8})},
        keys='wnet_celeba_mode2', metric=Y, notes='Training Mode II: "For Training Mode II, 100 images are used '
        "for testing\" (4.1); Table 1's Bicubic row is printed in the Mode I half only, so Mode II's has no paper "
        'value'),
    'wnet_helen': _protocol(
        WNET, (1, 2), 'Helen (128 px)', 50,
        {'x4': _subset(128, {'type': 'wnet_bicubic', 'scale': 4}, (28.12, 0.8423)),
         'x8': _subset(128, {'type': 'wnet_bicubic', 'scale': 8}, (23.80, 0.6396))},
        metric=Y, notes="DIC's 50 Helen test faces: the set the user provides (no published list)"),
}


def protocol_names():
    return sorted(PROTOCOLS)


def get_protocol(name):
    """A deep copy of protocol ``name``.

    Raises:
        KeyError: Unknown protocol (the message lists the known ones).
    """
    if name not in PROTOCOLS:
        raise KeyError(f'Unknown protocol {name!r}; known: {", ".join(protocol_names())}')
    return copy.deepcopy(PROTOCOLS[name])


def to_uint8(img):
    """[0, 1] float image -> 8-bit, rounded (what a test set stores)."""
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def make_pair(image, subset, rng, reference=True):
    """One test pair of a protocol subset.

    Args:
        image (ndarray): Input face, float32 BGR in [0, 1]: the HQ face of a reference set (area-resized to
            the subset's ``gt_size`` here), or the real LQ face of a no-reference set.
        subset (dict): ``PROTOCOLS[name]['subsets'][subset_name]``.
        rng (numpy.random.Generator): Generator of this image (seeded by (seed, index) in make_testset).
        reference (bool): The protocol's ``reference``; False returns no GT.

    Returns:
        tuple[ndarray | None, ndarray, dict]: 8-bit GT (None without reference), 8-bit LQ, degradation record.
    """
    gt = None
    if reference:
        size = subset['gt_size']
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        gt = to_uint8(image)
        image = gt.astype(np.float32) / 255.0
    lq, record = apply_degradation(image, rng, subset['degradation'])
    return gt, to_uint8(lq), record
