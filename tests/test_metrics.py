"""Metrics: calibration against pyiqa's published values, BasicSR equality, IFQA / identity / landmark /
FID through their real loading paths with tiny random-weight checkpoints, and the BasicSR registry."""
import os

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from basicsr.metrics import calculate_metric, calculate_psnr, calculate_ssim
from facesr_arch.metrics.catalog import build_metric
from facesr_arch.toolkit.checkpoints import MissingWeightsError

# pyiqa's ResultsCalibra/calibration_summary.csv (official implementations) and the tolerances of pyiqa's
# tests/test_metric_general.py: (atol, rtol) = (1e-2, 1e-2), NIQE (1e-2, 6e-2).
CALIBRATION = {
    'psnr': ([21.11, 20.99, 27.01, 23.3, 21.62], 1e-2, 1e-2),
    'ssim': ([0.6993, 0.9978, 0.9989, 0.9669, 0.6519], 1e-2, 1e-2),
    'niqe': ([15.7536, 3.6549, 3.2355, 3.184, 8.6352], 1e-2, 6e-2),
}
CALIBRATION_IMAGES = ['I03.bmp', 'I04.bmp', 'I06.bmp', 'I08.bmp', 'I19.bmp']


def compact_random_state(module, seed=0):
    """A random state dict for ``module`` whose weight matrices are stored tiny.

    Each weight of shape (out, *rest) is a Hankel matrix over one random vector (``w[o, j] = v[o + j]``, a
    stride-(1, 1) view of out + rest - 1 values, scaled by sqrt(2 / fan-in)): rows differ, so the network
    stays input-sensitive, and ``torch.save`` writes only the small vector. Norm / bias tensors keep their
    initial values.
    """
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.is_floating_point() and value.dim() >= 2:
            out, rest = value.shape[0], value[0].numel()
            vector = torch.randn(out + rest - 1, generator=gen) * (2 / rest) ** 0.5
            value = vector.as_strided((out, rest), (1, 1)).view(value.shape)
        state[key] = value
    return state


def rgb_tensor(path, size):
    img = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(img[:, :, ::-1].copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)


@pytest.fixture(scope='module')
def calibra():
    import pyiqa
    folder = os.path.join(os.path.dirname(os.path.dirname(pyiqa.__file__)), 'ResultsCalibra')
    if not os.path.isdir(folder):
        pytest.skip('pyiqa ResultsCalibra images not installed')
    from pyiqa.utils.img_util import imread2tensor

    def load(sub):
        return [imread2tensor(os.path.join(folder, sub, name), rgb=True).unsqueeze(0) for name in CALIBRATION_IMAGES]
    return load('dist_dir'), load('ref_dir')


@pytest.mark.parametrize('name,metric,options', [
    ('psnr', 'psnr', {}),
    ('ssim', 'ssim_y', {'color_space': 'yiq'}),  # the calibrated SSIM is on MATLAB rgb2gray (Y of YIQ)
    ('niqe', 'niqe', {'color_space': 'yiq'}),  # our NIQE parameters: BasicSR's niqe_pris_params.npz
])
def test_calibration_values(calibra, name, metric, options):
    dist, ref = calibra
    scorer = build_metric(metric, **options)
    scores = [float(scorer(d, r)[0]) if metric != 'niqe' else float(scorer(d)[0]) for d, r in zip(dist, ref)]
    expected, atol, rtol = CALIBRATION[name]
    np.testing.assert_allclose(scores, expected, atol=atol, rtol=rtol)


def test_basicsr_niqe_parameters_match_pyiqa_file_layout():
    from facesr_arch.metrics.iqa import niqe_parameters_file
    import scipy.io
    buffer, path = niqe_parameters_file()
    params = scipy.io.loadmat(buffer)
    assert path.endswith('niqe_pris_params.npz')
    assert params['mu_prisparam'].size == 36 and params['cov_prisparam'].shape == (36, 36)
    assert np.allclose(params['cov_prisparam'], params['cov_prisparam'].T)


@pytest.fixture(scope='module')
def face_pairs(ffhq_dir):
    """Three real FFHQ faces at 256 px and bicubic x4 round-trips of them, as uint8 BGR arrays."""
    pairs = []
    for name in sorted(os.listdir(ffhq_dir))[:3]:
        gt = cv2.resize(cv2.imread(os.path.join(ffhq_dir, name)), (256, 256), interpolation=cv2.INTER_AREA)
        lq = cv2.resize(cv2.resize(gt, (64, 64), interpolation=cv2.INTER_AREA), (256, 256),
                        interpolation=cv2.INTER_CUBIC)
        pairs.append((lq, gt))
    return pairs


def test_y_psnr_and_ssim_match_basicsr(face_pairs):
    for sr, gt in face_pairs:
        ours_psnr = calculate_metric({'img': sr, 'img2': gt}, {'type': 'calculate_face_metric', 'metric': 'psnr_y',
                                                               'crop_border': 4, 'better': 'higher'})
        ours_ssim = calculate_metric({'img': sr, 'img2': gt}, {'type': 'calculate_face_metric', 'metric': 'ssim_y',
                                                               'crop_border': 4})
        assert abs(ours_psnr - calculate_psnr(sr, gt, crop_border=4, test_y_channel=True)) < 1e-3
        # pyiqa rounds Y to 8 bit before SSIM (as MATLAB); BasicSR does not: equal to the third decimal
        assert abs(ours_ssim - calculate_ssim(sr, gt, crop_border=4, test_y_channel=True)) < 2e-3


def test_ifqa_random_checkpoint_through_pyiqa(tmp_path, ffhq_dir):
    import pyiqa
    from facesr_arch.metrics.ifqa_arch import IFQANet
    net = IFQANet(pretrained=False)
    # parameter names of the public IFQA_Metric.pth
    for key in ('encoder128.conv1x1.weight', 'encoder128.norm1.weight', 'btn.3.conv2.weight',
                'decoder16.conv1x1.weight', 'decoder256.0.conv2.bias'):
        assert key in net.state_dict()
    path = str(tmp_path / 'IFQA_Metric.pth')
    torch.save({'D': compact_random_state(net)}, path)
    img = rgb_tensor(os.path.join(ffhq_dir, '00000.png'), 64)
    via_pyiqa = pyiqa.create_metric('ifqa', device='cpu', pretrained_model_path=path, input_size=64)
    assert isinstance(via_pyiqa.net, IFQANet) and not via_pyiqa.lower_better
    score = via_pyiqa(img)
    assert score.shape == (1, 1) and 0 < float(score) < 1
    assert torch.equal(via_pyiqa.net.state_dict()['btn.0.conv1.weight'], torch.load(path)['D']['btn.0.conv1.weight'])
    probabilities = via_pyiqa.net.probability_map(img)
    assert probabilities.shape == (1, 1, 64, 64) and torch.allclose(probabilities.mean(), score)
    with pytest.raises(MissingWeightsError, match='IFQA_Metric.pth'):
        build_metric('ifqa', weights=str(tmp_path / 'absent' / 'IFQA_Metric.pth'))


def test_identity_random_arcface(tmp_path, face_pairs):
    from facesr_arch.archs.arcface_arch import FaceArcFace
    from facesr_arch.metrics.identity import threshold_curve
    path = str(tmp_path / 'arcface_resnet18.pth')
    torch.save(compact_random_state(FaceArcFace('resnet18').net), path)
    metric = build_metric('identity', weights=path, arcface_arch='resnet18')
    (sr, gt), (_, other) = face_pairs[0], face_pairs[1]
    to_tensor = [torch.from_numpy(x[:, :, ::-1].copy()).permute(2, 0, 1).float().div(255) for x in (sr, gt, other)]
    batch = torch.stack(to_tensor)
    scores = metric(batch, batch[[1, 1, 1]])
    assert scores[1] == pytest.approx(1.0, abs=1e-5)
    assert -1 <= float(scores[2]) < 1
    thresholds, fractions = threshold_curve([0.2, 0.5, 0.9], thresholds=[0.0, 0.5, 0.95])
    assert thresholds == [0.0, 0.5, 0.95] and fractions == [1.0, 1 / 3, 0.0]


def test_landmark_distance_random_fan(tmp_path, face_pairs):
    from facexlib.alignment import FAN
    path = str(tmp_path / 'alignment_fan.pth')
    torch.save({'state_dict': compact_random_state(FAN(num_modules=1, num_landmarks=98, device='cpu'))}, path)
    metric = build_metric('landmark', weights=path)
    sr, gt = face_pairs[0]
    batch = torch.from_numpy(np.stack([sr, gt])[..., ::-1].copy()).permute(0, 3, 1, 2).float().div(255)
    assert metric.landmarks(batch).shape == (2, 68, 2)
    distances = metric(batch, batch[[1, 1]])
    assert distances[1] == 0 and distances[0] >= 0


def test_heatmap_decoding():
    from facesr_arch.metrics.landmark import heatmap_points
    heatmaps = torch.zeros(1, 2, 8, 8)
    heatmaps[0, 0, 3, 5], heatmaps[0, 0, 3, 6], heatmaps[0, 0, 2, 5] = 1.0, 0.5, 0.2  # right and up neighbours
    heatmaps[0, 1, 0, 0] = 1.0  # corner: only existing neighbours count
    points = heatmap_points(heatmaps)
    assert points[0, 0].tolist() == [5.75, 3.25] and points[0, 1].tolist() == [0.25, 0.25]


def test_frechet_distance_matches_pyiqa():
    from pyiqa.archs.fid_arch import frechet_distance as pyiqa_frechet
    from facesr_arch.metrics.iqa import frechet_distance
    rng = np.random.default_rng(0)
    for n1 in (12, 80):  # fewer samples than dimensions (small form) and more (general form)
        f1, f2 = rng.normal(size=(n1, 40)), rng.normal(0.3, 1.2, size=(60, 40))
        mu1, s1, mu2, s2 = f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
        assert frechet_distance(mu1, s1, mu2, s2, features1=f1) == pytest.approx(pyiqa_frechet(mu1, s1, mu2, s2),
                                                                                 rel=1e-6)


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    from facesr_arch.metrics import iqa
    monkeypatch.setattr(iqa, 'DEFAULT_CACHE_DIR', str(tmp_path))
    with pytest.raises(MissingWeightsError, match='LPIPS_v0.1_alex-df73285e.pth'):
        build_metric('lpips')
    with pytest.raises(MissingWeightsError, match='pt_inception-2015-12-05-6726825d.pth'):
        build_metric('fid')
    with pytest.raises(KeyError, match='psnr_y'):
        build_metric('psnr-y')
