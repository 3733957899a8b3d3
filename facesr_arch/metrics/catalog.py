"""The metrics facesr_arch reports, by name: what each measures exactly, its direction, and how to build it.

Every metric scores batches of RGB faces in [0, 1] (``metric(img, ref)`` -> tensor (b,)), except FID, which
compares image sets (``metric(folder, reference)`` -> float). Building one whose weights are absent raises
:class:`facesr_arch.toolkit.checkpoints.MissingWeightsError` naming the file. pyiqa is imported on the first build.

Names and variants:

=========== ======================================================================================
psnr        PSNR on RGB (pyiqa), dB
psnr_y      PSNR on the Y channel (YCbCr BT.601 as MATLAB ``rgb2ycbcr`` / BasicSR by default), dB
ssim        SSIM on RGB channels (pyiqa's definition, 8-bit rounding, no downsampling)
ssim_y      SSIM on the Y channel (same colour-space choice as psnr_y)
lpips       LPIPS v0.1, AlexNet
lpips_vgg   LPIPS v0.1, VGG16
niqe        NIQE on the Y channel, BasicSR's pristine parameters
ifqa        IFQA face quality (mean per-pixel realness)
identity    ArcFace cosine similarity to the GT
landmark    mean 68-landmark distance to the GT, px
fid         FID against a reference folder or .npz statistics
=========== ======================================================================================
"""
from dataclasses import dataclass

from ..toolkit.errors import BadInputError, UnknownNameError

COLOR_SPACES = {'ycbcr': 'YCbCr BT.601 (MATLAB rgb2ycbcr)', 'yiq': 'YIQ (MATLAB rgb2gray)'}


@dataclass(frozen=True)
class MetricInfo:
    """Static facts about a metric.

    Attributes:
        label (str): Column title in tables.
        lower_better (bool): Direction of improvement.
        kind (str): 'FR' (needs the GT image), 'NR' (image alone) or 'set' (folder vs reference set).
        decimals (int): Digits shown in tables.
        unit (str): Unit of the values ('' for scores without one), shown on plots.
        min_side (int): Smallest image side the metric can score (0: any).
    """

    label: str
    lower_better: bool
    kind: str
    decimals: int
    unit: str = ''
    min_side: int = 0

    @property
    def arrow(self):
        return '↓' if self.lower_better else '↑'


METRICS = {
    'psnr': MetricInfo('PSNR', False, 'FR', 2, 'dB'),
    'psnr_y': MetricInfo('PSNR-Y', False, 'FR', 2, 'dB'),
    'ssim': MetricInfo('SSIM', False, 'FR', 4),
    'ssim_y': MetricInfo('SSIM-Y', False, 'FR', 4),
    'lpips': MetricInfo('LPIPS', True, 'FR', 4),
    'lpips_vgg': MetricInfo('LPIPS-VGG', True, 'FR', 4),
    # NIQE fits its natural-scene statistics on 96x96 blocks (pyiqa's and BasicSR's block size, the pristine
    # parameters' patch size): a smaller image has no block
    'niqe': MetricInfo('NIQE', True, 'NR', 3, min_side=96),
    'ifqa': MetricInfo('IFQA', False, 'NR', 4),
    'identity': MetricInfo('IDS', False, 'FR', 4, 'cosine similarity'),
    'landmark': MetricInfo('LMD', True, 'FR', 3, 'px'),
    'fid': MetricInfo('FID', True, 'set', 2),
}


def variant(name, color_space='ycbcr', crop_border=0, arcface_arch='ir_se50'):
    """The exact definition of a metric under the given options, as printed in every report.

    Args:
        name (str): Metric name (a key of :data:`METRICS`).
        color_space (str): Y-channel colour space of psnr_y / ssim_y / niqe: 'ycbcr' or 'yiq'. Default: 'ycbcr'.
        crop_border (int): Border pixels excluded by psnr / ssim / niqe. Default: 0.
        arcface_arch (str): Recognition network of 'identity'. Default: 'ir_se50'.
    """
    check_name(name)
    if color_space not in COLOR_SPACES:
        raise BadInputError(f'color_space must be one of {sorted(COLOR_SPACES)}, got {color_space!r}')
    crop = f'crop border {crop_border}'
    y = f'Y of {COLOR_SPACES[color_space]}'
    return {
        'psnr': f'PSNR on RGB, data range 1, {crop} (pyiqa)',
        'psnr_y': f'PSNR on {y}, no rounding, {crop} (pyiqa; equals BasicSR calculate_psnr test_y_channel)'
        if color_space == 'ycbcr' else f'PSNR on {y}, {crop} (pyiqa)',
        'ssim': f'SSIM on RGB channels rounded to 8 bit, 11x11 Gaussian sigma 1.5, no downsampling, {crop} '
                "(pyiqa's definition, separable window)",
        'ssim_y': f'SSIM on {y} rounded to 8 bit, 11x11 Gaussian sigma 1.5, no downsampling, {crop} '
                  "(pyiqa's definition, separable window)",
        'lpips': 'LPIPS v0.1, AlexNet backbone, inputs scaled to [-1, 1] (pyiqa)',
        'lpips_vgg': 'LPIPS v0.1, VGG16 backbone, inputs scaled to [-1, 1] (pyiqa)',
        'niqe': f'NIQE on {y} rounded to 8 bit, 96x96 blocks, BasicSR niqe_pris_params.npz, {crop} (pyiqa)',
        'ifqa': 'IFQA (Jo et al. WACV 2023): mean per-pixel realness of the CNN evaluator at 256x256, RGB',
        'identity': f'cosine similarity of ArcFace {arcface_arch} embeddings, output vs GT',
        'landmark': 'mean Euclidean distance (px at evaluated size) of 68 facexlib-FAN landmarks, output vs GT',
        'fid': 'FID, pyiqa FID-Inception pool3 2048-d, clean-fid resizing to 299, vs reference set',
    }[name]


def check_name(name):
    """Raise ``KeyError`` listing the valid names if ``name`` is not a metric."""
    if name not in METRICS:
        raise UnknownNameError(f'Unknown metric {name!r}; choose from {", ".join(METRICS)}')


def build_metric(name, device='cpu', color_space='ycbcr', crop_border=0, weights=None, arcface_arch='ir_se50',
                 batch_size=8):
    """Build a metric by name.

    Args:
        name (str): A key of :data:`METRICS`.
        device (str | torch.device): Where networks run. Default: 'cpu'.
        color_space (str): See :func:`variant`. Default: 'ycbcr'.
        crop_border (int): See :func:`variant`. Default: 0.
        weights (str | None): Checkpoint of ifqa / identity / landmark (None: their default location).
        arcface_arch (str): 'ir_se50' or 'resnet18' for 'identity'. Default: 'ir_se50'.
        batch_size (int): FID Inception batch. Default: 8.

    Returns:
        Callable: The metric (see the module docstring); it has ``weight_files``.

    Raises:
        facesr_arch.toolkit.checkpoints.MissingWeightsError: A file the metric needs is absent.
    """
    variant(name, color_space, crop_border, arcface_arch)  # validates the options
    from . import iqa
    if name in ('psnr', 'psnr_y', 'ssim', 'ssim_y'):
        return iqa.psnr_ssim(name[:4], device, name.endswith('_y'), color_space, crop_border)
    if name in ('lpips', 'lpips_vgg'):
        return iqa.lpips(device, 'vgg' if name == 'lpips_vgg' else 'alex')
    if name == 'niqe':
        return iqa.niqe(device, color_space, crop_border)
    if name == 'ifqa':
        return iqa.ifqa(device, weights)
    if name == 'fid':
        return iqa.FID(device, batch_size)
    if name == 'identity':
        from .identity import IdentitySimilarity
        return IdentitySimilarity(device, weights, arcface_arch)
    from .landmark import LandmarkDistance
    return LandmarkDistance(device, weights)
