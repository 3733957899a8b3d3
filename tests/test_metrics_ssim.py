"""The separable SSIM against pyiqa's own SSIM: real FFHQ faces vs restored-looking versions of them (blurred,
noisy, JPEG-compressed), on RGB and on the Y channel of both colour spaces the catalog offers."""
import os

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.metrics.catalog import build_metric
from facesr_arch.metrics.ssim import SeparableSSIM, gaussian_window_1d, separable_filter_valid

SIZE = 160  # small faces keep pyiqa's 2-D float64 filtering quick; the formula does not depend on the size


def _rgb(img_bgr):
    return torch.from_numpy(img_bgr[:, :, ::-1].copy()).permute(2, 0, 1).float().div(255)


@pytest.fixture(scope='module')
def face_pairs(ffhq_dir):
    """(generated, real) batches: four real faces and degraded copies of them, as restored faces look."""
    rng = np.random.default_rng(0)
    reals, fakes = [], []
    for i, name in enumerate(sorted(os.listdir(ffhq_dir))[:4]):
        real = cv2.resize(cv2.imread(os.path.join(ffhq_dir, name)), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        fake = cv2.GaussianBlur(real, (0, 0), 0.6 + 0.5 * i)
        fake = np.clip(fake + rng.normal(0, 2 + 3 * i, fake.shape), 0, 255).astype(np.uint8)
        fake = cv2.imdecode(cv2.imencode('.jpg', fake, [cv2.IMWRITE_JPEG_QUALITY, 40 + 15 * i])[1], cv2.IMREAD_COLOR)
        reals.append(_rgb(real))
        fakes.append(_rgb(fake))
    return torch.stack(fakes), torch.stack(reals)


@pytest.mark.parametrize('metric,options', [
    ('ssim', {}),
    ('ssim_y', {'color_space': 'ycbcr'}),
    ('ssim_y', {'color_space': 'yiq'}),
    ('ssim', {'crop_border': 4}),
])
def test_equals_pyiqa_ssim(face_pairs, metric, options):
    import pyiqa
    fake, real = face_pairs
    ours = build_metric(metric, **options)
    assert isinstance(ours, SeparableSSIM)
    reference = pyiqa.create_metric('ssim', device='cpu', downsample=False, test_y_channel=metric == 'ssim_y',
                                    color_space=options.get('color_space', 'ycbcr'),
                                    crop_border=options.get('crop_border', 0))
    expected = reference(fake, real).float()
    got = ours(fake, real)
    assert got.shape == (4,) and got.dtype == torch.float32
    assert 0.3 < got.min() and got.max() < 1  # a real spread of scores, not a degenerate case
    assert torch.allclose(got, expected, rtol=0, atol=1e-5), (got, expected)
    # batching does not change a face's score, whatever the number of faces filtered together
    one_by_one = SeparableSSIM(metric == 'ssim_y', options.get('color_space', 'ycbcr'), options.get('crop_border', 0),
                               faces_per_pass=1)
    assert torch.equal(one_by_one(fake, real), got)


def test_separable_window_is_fspecial():
    from pyiqa.matlab_utils import fspecial
    window = gaussian_window_1d()
    assert torch.allclose(torch.outer(window, window), fspecial(11, 1.5, 1)[0, 0].double(), rtol=0, atol=1e-8)
    x = torch.rand(2, 1, 20, 17, dtype=torch.float64)
    direct = torch.nn.functional.conv2d(x, torch.outer(window, window)[None, None])
    assert torch.allclose(separable_filter_valid(x.clone(), window), direct, rtol=0, atol=1e-12)


def test_identical_faces_score_one_and_bad_shapes_are_refused(face_pairs):
    fake, real = face_pairs
    assert torch.allclose(SeparableSSIM(False)(real, real), torch.ones(4))
    with pytest.raises(ValueError, match='one shape'):
        SeparableSSIM(False)(fake, real[:, :, :-1])
    with pytest.raises(ValueError, match='at least 11x11'):
        SeparableSSIM(True)(real[..., :8, :8], real[..., :8, :8])
