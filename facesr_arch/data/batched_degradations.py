"""Blind degradations applied to a whole batch on the training device.

The CPU pipeline of a blind degradation costs tens of milliseconds per 512 px pair per core, which starves
a GPU. With ``degradation_on_device: true`` the dataset only draws each pair's parameters (the same
samplers as the CPU path, ``degradations.sample_*_params``) and returns them as tensors beside the GT;
the model calls :func:`degrade_batch` after ``feed_data``. Blur runs as one grouped convolution with a
kernel per sample (BasicSR's ``filter2D``), median blur as a strip-wise unfold, JPEG through BasicSR's
``DiffJPEG`` (standard rounding); resizing, noise and JPEG run per sample because each has its own LR size.

The result matches the CPU path in distribution, not bit for bit: interpolation (bilinear/bicubic
without antialiasing, as OpenCV's ``resize``) agrees closely, DiffJPEG differs slightly from libjpeg, and
the noise is drawn from torch's generator. ``tests/test_data_batched.py`` compares PSNR(LQ, GT).
"""
import numpy as np
import torch
from torch.nn import functional as F

from basicsr.utils.diffjpeg import DiffJPEG
from basicsr.utils.img_process_util import filter2D

from .degradations import GFPGAN_PT_JITTER, apply_colour_factors, blind_kernel, decimation_indices, lr_size

COLOUR_FACTORS = list(GFPGAN_PT_JITTER)  # index of each colour function in the 'colour_order' tensor

KERNEL_CANVAS = 41  # every paper's blind kernels fit (GFPGAN / PVFR: 41 px; MPCNet: at most 27 px)
MEDIAN_STRIP_ROWS = 64  # rows per median strip: bounds the unfolded memory to strip x width x size^2


def record_to_tensors(record, canvas=KERNEL_CANVAS):
    """A blind-degradation record (BGR image order) as the tensors the batched path consumes.

    Args:
        record (dict): From ``degradations.sample_*_params``.
        canvas (int): Side every kernel is zero-padded to, so that a batch collates. Default: 41.

    Returns:
        dict[str, Tensor]: 'kernel' (canvas, canvas), 'median_size', 'scale', 'noise_sigma', 'jpeg_quality'
        (0: none), 'out_size' (0: the GT size), 'cubic' (bicubic, else bilinear), 'decimate' (the standard
        downsampler: upper-left pixel of each cell), 'color_jitter' (3, RGB), and GFPGAN's LQ-only colour
        steps: 'gray', 'colour_order' (4, indices into COLOUR_FACTORS; -1: none), 'colour_factors' (4).
    """
    if record.get('upsampler', record['interpolation']) != record['interpolation']:
        raise ValueError(f"The batched path resizes back with the record's interpolation "
                         f"({record['interpolation']}); upsampler {record['upsampler']!r} runs on the CPU path only")
    kernel = blind_kernel(record)
    if kernel is None:  # no blur, or median blur (applied separately): identity kernel
        kernel = np.ones((1, 1), np.float32)
    if kernel.shape[0] > canvas:
        raise ValueError(f"Kernel of {kernel.shape[0]} px exceeds the {canvas} px canvas of the batched path")
    before = (canvas - kernel.shape[0]) // 2  # an even kernel keeps its half-pixel offset (as cv2.filter2D)
    kernel = np.pad(kernel, (before, canvas - kernel.shape[0] - before))
    jitter = record.get('color_jitter') or [0.0, 0.0, 0.0]
    factors = record.get('color_jitter_pt') or []
    return {
        'kernel': torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)),
        'median_size': torch.tensor(record['blur_size'] if record['blur'] == 'median' else 0),
        'scale': torch.tensor(record['scale'], dtype=torch.float64),
        'noise_sigma': torch.tensor(record['noise_sigma'], dtype=torch.float32),
        'jpeg_quality': torch.tensor(record['jpeg_quality'] or 0),
        'out_size': torch.tensor(record['out_size'] or 0),
        'cubic': torch.tensor(record['interpolation'] == 'cubic'),
        'decimate': torch.tensor(record.get('downsampler') == 'upper_left'),
        'color_jitter': torch.tensor(jitter[::-1], dtype=torch.float32),  # BGR record -> RGB tensors
        'gray': torch.tensor(bool(record.get('gray'))),
        'colour_order': torch.tensor([COLOUR_FACTORS.index(name) for name, _ in factors] or [-1] * 4),
        'colour_factors': torch.tensor([float(f) for _, f in factors] or [0.0] * 4, dtype=torch.float32),
    }


def median_blur(img, size):
    """Median over size x size windows with replicated borders (as OpenCV's ``medianBlur``).

    Args:
        img (Tensor): (1, c, h, w).
        size (int): Odd window size.
    """
    pad = size // 2
    padded = F.pad(img, (pad, pad, pad, pad), mode='replicate')
    h = img.shape[-2]
    strips = []
    for top in range(0, h, MEDIAN_STRIP_ROWS):
        rows = padded[..., top:min(top + MEDIAN_STRIP_ROWS, h) + 2 * pad, :]
        windows = rows.unfold(2, size, 1).unfold(3, size, 1)
        strips.append(windows.reshape(*windows.shape[:4], -1).median(dim=-1).values)
    return torch.cat(strips, dim=2)


def quantize_uint8(img):
    """Round to the 8-bit grid (what the CPU path's uint8 steps do)."""
    return torch.round(img.clamp(0, 1) * 255) / 255


class BatchedBlindDegradation:
    """Applies per-sample blind-degradation parameters to a batch; holds the DiffJPEG module per device."""

    def __init__(self):
        self._jpeg = {}

    def _jpeg_on(self, device):
        if device not in self._jpeg:
            self._jpeg[device] = DiffJPEG(differentiable=False).to(device)
        return self._jpeg[device]

    @torch.no_grad()
    def __call__(self, gt, params, generator=None):
        """Degrade a batch.

        Args:
            gt (Tensor): (b, 3, h, w) RGB in [0, 1] on the training device.
            params (dict[str, Tensor]): Collated :func:`record_to_tensors` outputs (any device).
            generator (torch.Generator | None): Draws the noise; None uses torch's global generator.

        Returns:
            Tensor: LQ (b, 3, out, out) RGB in [0, 1]; ``out`` is the record's out_size or h.
        """
        b, _, h, w = gt.shape
        blurred = filter2D(gt, params['kernel'].to(gt.device, gt.dtype))
        outputs = []
        for i in range(b):
            sample = blurred[i:i + 1]
            median_size = int(params['median_size'][i])
            if median_size:
                sample = median_blur(quantize_uint8(gt[i:i + 1]), median_size)
            mode = 'bicubic' if bool(params['cubic'][i]) else 'bilinear'
            scale = float(params['scale'][i])
            if bool(params['decimate'][i]):
                rows, cols = (torch.from_numpy(decimation_indices(n, scale)).to(sample.device) for n in (h, w))
                sample = sample.index_select(2, rows).index_select(3, cols)
            else:
                sample = F.interpolate(sample, size=(lr_size(h, scale), lr_size(w, scale)), mode=mode,
                                       align_corners=False)
            sigma = float(params['noise_sigma'][i])
            if sigma > 0:
                noise = torch.randn(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
                sample = (sample + noise * (sigma / 255.0)).clamp(0, 1)
            quality = int(params['jpeg_quality'][i])
            if quality:
                sample = self._jpeg_on(sample.device)(quantize_uint8(sample), quality=quality).clamp(0, 1)
            out_size = int(params['out_size'][i]) or None
            sample = F.interpolate(sample, size=(out_size or h, out_size or w), mode=mode, align_corners=False)
            sample = sample + params['color_jitter'][i].to(sample.device, sample.dtype).view(1, 3, 1, 1)
            sample = sample.clamp(0, 1)
            if bool(params['gray'][i]):  # ITU-R 601 luma, as OpenCV's BGR2GRAY in the CPU path
                weights = torch.tensor([0.299, 0.587, 0.114], device=sample.device, dtype=sample.dtype)
                sample = (sample * weights.view(1, 3, 1, 1)).sum(1, keepdim=True).expand(-1, 3, -1, -1)
            order = [int(k) for k in params['colour_order'][i] if int(k) >= 0]
            if order:
                factors = [float(f) for f in params['colour_factors'][i][:len(order)]]
                sample = apply_colour_factors(sample, [[COLOUR_FACTORS[k], f] for k, f in zip(order, factors)])
            outputs.append(sample.clamp(0, 1))
        return torch.cat(outputs, dim=0)


degrade_batch = BatchedBlindDegradation()
