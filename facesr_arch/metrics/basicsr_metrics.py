"""facesr_arch metrics as BasicSR metric functions, for ``val.metrics`` blocks of option files.

BasicSR's validation calls ``METRIC_REGISTRY.get(type)(img=..., img2=..., **options)`` with uint8 HWC BGR
arrays. One registered function serves every metric of :mod:`facesr_arch.metrics.catalog` except FID
(a set-level metric, not a per-image average)::

    val:
      metrics:
        psnr_y: {type: calculate_face_metric, metric: psnr_y, crop_border: 0}
        lpips: {type: calculate_face_metric, metric: lpips, better: lower}
        identity: {type: calculate_face_metric, metric: identity, weights: weights/recognition_arcface_ir_se50.pth}

Networks are built once per (metric, options, device) and reused across validation images.
"""
import torch

from basicsr.utils.registry import METRIC_REGISTRY

from .catalog import METRICS, build_metric

_BUILT = {}


def bgr_uint8_to_tensor(img, device):
    """uint8 HWC BGR array -> (1, 3, h, w) RGB float tensor in [0, 1] on ``device``."""
    tensor = torch.from_numpy(img[:, :, ::-1].copy()).permute(2, 0, 1).float().div_(255)
    return tensor.unsqueeze(0).to(device)


@METRIC_REGISTRY.register()
def calculate_face_metric(img, img2=None, metric='psnr_y', device=None, better=None, **options):
    """One facesr_arch metric on one image pair (or image) as BasicSR validation passes them.

    Args:
        img (ndarray): Restored image, uint8 (h, w, 3) BGR.
        img2 (ndarray | None): Ground truth, same layout; needed by full-reference metrics.
        metric (str): Name in :data:`facesr_arch.metrics.catalog.METRICS` (not 'fid'). Default: 'psnr_y'.
        device (str | None): Device of the metric's network; None: CUDA when available, else CPU.
        better (str | None): BasicSR's 'higher'/'lower' key of the same block, read by BasicSR, ignored here.
        **options: ``color_space``, ``crop_border``, ``weights``, ``arcface_arch`` (see
            :func:`facesr_arch.metrics.catalog.build_metric`).

    Returns:
        float: The score.
    """
    if METRICS[metric].kind == 'set':
        raise ValueError('FID compares image sets; compute it with scripts/calculate_metrics.py, not per image')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    key = (metric, device, tuple(sorted(options.items())))
    if key not in _BUILT:
        _BUILT[key] = build_metric(metric, device=device, **options)
    scorer = _BUILT[key]
    if METRICS[metric].kind == 'FR':
        if img2 is None:
            raise ValueError(f'{metric} is a full-reference metric: the validation set needs GT images')
        score = scorer(bgr_uint8_to_tensor(img, device), bgr_uint8_to_tensor(img2, device))
    else:
        score = scorer(bgr_uint8_to_tensor(img, device))
    return float(score[0])
