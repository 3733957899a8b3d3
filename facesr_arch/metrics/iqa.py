"""pyiqa-backed metrics: PSNR / SSIM (RGB or a named Y channel), LPIPS, NIQE, IFQA and FID.

SSIM is pyiqa's definition computed by :mod:`facesr_arch.metrics.ssim` (separable window, whole batches; equal to
pyiqa's within 1e-6, and about 10x faster on CPU).

Importing this module imports pyiqa and registers IFQA into it (idempotent), after which
``pyiqa.create_metric('ifqa', ...)`` works. ``facesr_arch`` itself imports it lazily: pyiqa fixes its
weight folder (``$TORCH_HOME/hub/pyiqa``) when it is first imported, so set ``TORCH_HOME`` before the first
metric is built.

Weights never download. Before pyiqa is asked for a network, every file it would fetch is looked up where
pyiqa and torchvision read them (``$TORCH_HOME/hub/pyiqa`` and ``$TORCH_HOME/hub/checkpoints``); a missing
file raises :class:`MissingWeightsError` naming it. pyiqa loads checkpoints with ``weights_only=False``, so
each file is first opened with ``weights_only=True``: a checkpoint carrying pickled code is refused.

NIQE's pristine-model parameters come from the file BasicSR ships (``basicsr/metrics/niqe_pris_params.npz``,
the parameters of the original NIQE release) and are handed to pyiqa's NIQE as an in-memory .mat file.

FID uses pyiqa's Inception features ('clean' resizing) and computes the Frechet distance in its exact
eigenvalue form (:func:`frechet_distance`): pyiqa's ``scipy.linalg.sqrtm`` of a 2048x2048 product takes
about a minute on two CPU cores, the symmetric eigen-decomposition a few seconds.
"""
import io
import os

import numpy as np
import pyiqa
import scipy.io
import torch
import torchvision
from pyiqa.archs.fid_arch import get_folder_features
from pyiqa.utils.download_util import DEFAULT_CACHE_DIR

from facesr_arch.toolkit.checkpoints import require_file, load_checkpoint

from .ifqa_arch import IFQA_FILE_NAME, IFQA_HOW_TO_GET, register_ifqa_in_pyiqa
from .ssim import SeparableSSIM

register_ifqa_in_pyiqa()

PYIQA_WEIGHTS_HOW_TO = ('pyiqa downloads it from huggingface.co/chaofengc/IQA-PyTorch-Weights; on a machine '
                        'without internet copy that file into {folder} (set TORCH_HOME before running).')
TORCHVISION_HOW_TO = ('torchvision downloads it from {url}; on a machine without internet copy that file into '
                      '{folder} (set TORCH_HOME before running).')
FID_INCEPTION_FILE = 'pt_inception-2015-12-05-6726825d.pth'
LPIPS_FILES = {'alex': ('LPIPS_v0.1_alex-df73285e.pth', torchvision.models.AlexNet_Weights.IMAGENET1K_V1),
               'vgg': ('LPIPS_v0.1_vgg-a78928a0.pth', torchvision.models.VGG16_Weights.IMAGENET1K_V1)}


def torchvision_weights_dir():
    """Where torchvision reads pretrained backbones: ``$TORCH_HOME/hub/checkpoints``."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints')


def pyiqa_weight(file_name, what):
    """Path of a file in pyiqa's weight folder, checked (exists, loads with ``weights_only=True``)."""
    return checked_checkpoint(os.path.join(DEFAULT_CACHE_DIR, file_name), what,
                              PYIQA_WEIGHTS_HOW_TO.format(folder=DEFAULT_CACHE_DIR))


def torchvision_weight(weights_enum, what):
    """Path of a torchvision backbone checkpoint in the hub folder, checked like :func:`pyiqa_weight`."""
    folder = torchvision_weights_dir()
    name = os.path.basename(weights_enum.url)
    return checked_checkpoint(os.path.join(folder, name), what, TORCHVISION_HOW_TO.format(url=weights_enum.url,
                                                                                          folder=folder))


def checked_checkpoint(path, what, how_to_get):
    """Require ``path`` and refuse it unless it loads with ``weights_only=True``.

    Raises:
        facesr_arch.toolkit.checkpoints.MissingWeightsError: The file does not exist.
        ValueError: The file is not a plain tensor checkpoint.
    """
    path = require_file(path, what, how_to_get)
    load_checkpoint(path, f'{what} weights')
    return path


def niqe_parameters_file():
    """BasicSR's NIQE pristine-model parameters as an in-memory MATLAB file for pyiqa's NIQE.

    Returns:
        tuple[io.BytesIO, str]: The .mat content (``mu_prisparam``, ``cov_prisparam``) and the source path.
    """
    import basicsr.metrics
    path = os.path.join(os.path.dirname(basicsr.metrics.__file__), 'niqe_pris_params.npz')
    path = require_file(path, 'NIQE pristine-model parameters', 'The file ships with basicsr; reinstall basicsr.')
    params = np.load(path)
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {'mu_prisparam': params['mu_pris_param'], 'cov_prisparam': params['cov_pris_param']})
    buffer.seek(0)
    return buffer, path


class PyiqaMetric:
    """A pyiqa metric with its weight files checked first, scoring batches of RGB faces in [0, 1].

    Args:
        pyiqa_name (str): pyiqa's metric name ('psnr', 'ssim', 'lpips', 'niqe', 'ifqa', ...).
        device (str | torch.device): Where the network runs.
        weight_files (list[str]): Files the metric reads (already checked), recorded in reports.
        **options: pyiqa options overriding its defaults (``test_y_channel``, ``color_space``,
            ``crop_border``, ``pretrained_model_path``, ...).
    """

    def __init__(self, pyiqa_name, device, weight_files=(), **options):
        self.model = pyiqa.create_metric(pyiqa_name, device=torch.device(device), **options)
        self.needs_reference = self.model.metric_mode == 'FR'
        self.weight_files = list(weight_files)

    def __call__(self, img, ref=None):
        """Scores of a batch, shape (b,). ``img``/``ref``: (b, 3, h, w) RGB in [0, 1]."""
        out = self.model(img, ref) if self.needs_reference else self.model(img)
        return out.reshape(-1).float()


def psnr_ssim(kind, device, y_channel, color_space='ycbcr', crop_border=0):
    """PSNR (pyiqa) or SSIM (pyiqa's definition, :class:`~facesr_arch.metrics.ssim.SeparableSSIM`), on RGB or on
    the Y channel of a named colour space. Both run on the device the batches are on.

    Args:
        kind (str): 'psnr' or 'ssim'.
        device (str | torch.device): Device.
        y_channel (bool): Compute on the Y channel instead of RGB.
        color_space (str): 'ycbcr' (ITU-R BT.601, MATLAB ``rgb2ycbcr``, BasicSR's ``test_y_channel``) or 'yiq'
            (MATLAB ``rgb2gray``, pyiqa's default). Default: 'ycbcr'.
        crop_border (int): Pixels removed from each edge first. Default: 0.
    """
    if kind == 'ssim':
        return SeparableSSIM(y_channel, color_space, crop_border)
    return PyiqaMetric(kind, device, test_y_channel=y_channel, color_space=color_space, crop_border=crop_border)


def lpips(device, net='alex'):
    """LPIPS v0.1 (pyiqa) with the AlexNet or VGG16 backbone; needs the LPIPS and torchvision files."""
    lpips_file, backbone = LPIPS_FILES[net]
    files = [pyiqa_weight(lpips_file, f'LPIPS-{net} linear layers'),
             torchvision_weight(backbone, f'ImageNet {net} backbone of LPIPS')]
    return PyiqaMetric('lpips' if net == 'alex' else 'lpips-vgg', device, weight_files=files)


def niqe(device, color_space='ycbcr', crop_border=0):
    """NIQE (pyiqa) on the Y channel with BasicSR's pristine-model parameters."""
    params, path = niqe_parameters_file()
    return PyiqaMetric('niqe', device, weight_files=[path], color_space=color_space, crop_border=crop_border,
                       pretrained_model_path=params)


def ifqa(device, weights=None):
    """IFQA through ``pyiqa.create_metric('ifqa')``; ``weights`` defaults to ``IFQA_Metric.pth`` in pyiqa's folder."""
    path = weights or os.path.join(DEFAULT_CACHE_DIR, IFQA_FILE_NAME)
    path = checked_checkpoint(path, 'IFQA face quality evaluator', IFQA_HOW_TO_GET)
    return PyiqaMetric('ifqa', device, weight_files=[path], pretrained_model_path=path)


def frechet_distance(mu1, sigma1, mu2, sigma2, features1=None):
    """Frechet distance between two Gaussians, with Tr(sqrtm(S1 S2)) from symmetric eigenvalues.

    ``S1 S2`` has the eigenvalues of ``R S2 R`` with ``R = sqrtm(S1)`` (symmetric, positive semi-definite),
    so Tr(sqrtm(S1 S2)) = sum(sqrt(eig(R S2 R))). When ``features1`` (n x d, n <= d) produced ``S1``,
    ``S1 = A^T A / (n - 1)`` with centred ``A``, and the same eigenvalues are those of the n x n matrix
    ``A S2 A^T / (n - 1)``.

    Args:
        mu1 (ndarray): Mean, shape (d,).
        sigma1 (ndarray): Covariance, shape (d, d).
        mu2 (ndarray): Mean of the reference, shape (d,).
        sigma2 (ndarray): Covariance of the reference, shape (d, d).
        features1 (ndarray | None): The samples behind ``mu1``/``sigma1`` (enables the small form).

    Returns:
        float: The distance.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f'FID statistics differ in dimension: {mu1.shape} vs {mu2.shape}')
    if features1 is not None and 1 < len(features1) <= features1.shape[1]:
        centred = features1.astype(np.float64) - mu1
        product = centred @ sigma2 @ centred.T / (len(features1) - 1)
    else:
        eigval, eigvec = np.linalg.eigh(sigma1)
        root = (eigvec * np.sqrt(np.clip(eigval, 0, None))) @ eigvec.T
        product = root @ sigma2 @ root
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


class FID:
    """FID (pyiqa's FID Inception, 'clean' resizing) of a folder against a folder or saved statistics.

    Args:
        device (str | torch.device): Where Inception runs.
        batch_size (int): Images per forward pass. Default: 8.
    """

    def __init__(self, device, batch_size=8):
        self.weight_files = [pyiqa_weight(FID_INCEPTION_FILE, 'FID Inception-v3')]
        self.model = pyiqa.create_metric('fid', device=torch.device(device)).net.model
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._reference_statistics = {}

    def features(self, folder):
        """Inception pool features (n, 2048) of every image under ``folder``."""
        return get_folder_features(folder, self.model, num_workers=0, batch_size=self.batch_size,
                                   device=self.device, mode='clean', verbose=False)

    def statistics(self, reference):
        """(mu, sigma) of a reference folder, or read from a .npz holding 'mu' and 'sigma'; cached per reference."""
        if reference not in self._reference_statistics:
            if os.path.isdir(reference):
                feats = self.features(reference)
                self._reference_statistics[reference] = feats.mean(axis=0), np.cov(feats, rowvar=False)
            else:
                path = require_file(reference, 'FID reference statistics',
                                    'Pass a folder of reference images or a .npz with "mu" and "sigma" arrays.')
                with np.load(path) as stats:
                    self._reference_statistics[reference] = stats['mu'], stats['sigma']
        return self._reference_statistics[reference]

    def __call__(self, folder, reference):
        """FID between the images under ``folder`` and ``reference`` (folder or .npz statistics)."""
        feats = self.features(folder)
        if len(feats) < 2:
            raise ValueError(f'FID needs at least 2 images, {folder} has {len(feats)}')
        ref_mu, ref_sigma = self.statistics(reference)
        return frechet_distance(feats.mean(axis=0), np.cov(feats, rowvar=False), ref_mu, ref_sigma, features1=feats)


__all__ = ['FID', 'PyiqaMetric', 'frechet_distance', 'ifqa', 'lpips', 'niqe',
           'niqe_parameters_file', 'psnr_ssim']
