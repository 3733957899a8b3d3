"""SSIM as pyiqa defines it, computed with a separable Gaussian window over whole batches of faces.

pyiqa's SSIM (``pyiqa/archs/ssim_arch.py``, no downsampling) rounds the RGB channels, or the Y channel of the
chosen colour space, to 8-bit values (``preprocess_rgb`` with data range 255), works in float64, filters the
means, variances and covariance with an 11x11 Gaussian window (sigma 1.5, normalised, 'valid' borders), clips the
contrast-structure term at 0 and averages the SSIM map over channels and pixels. Wang et al., "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 2004, eq. 13 (C1 = (0.01 L)^2,
C2 = (0.03 L)^2, L = 255).

The 11x11 window is the outer product of a 1-D Gaussian with itself, so this module filters with the 1-D window
along the rows, then along the columns: 22 multiply-adds per pixel instead of 121, as shifted, in-place
accumulations in float64 (exact to rounding; pyiqa's window is the float32-rounded 2-D one, a difference below
1e-6 in the scores). The five filtered maps of all faces of a batch are computed in one pass. The rounding and the
colour conversion are pyiqa's own ``preprocess_rgb``, so both paths see the same 8-bit values.
"""
import math

import torch
from pyiqa.archs.func_util import preprocess_rgb

WINDOW_SIZE = 11  # Wang et al. 2004, section III-C: 11x11 circular-symmetric Gaussian, sigma 1.5
WINDOW_SIGMA = 1.5
DATA_RANGE = 255.0  # pyiqa scores SSIM on 8-bit values


def gaussian_window_1d(size=WINDOW_SIZE, sigma=WINDOW_SIGMA, dtype=torch.float64, device='cpu'):
    """The normalised 1-D Gaussian whose outer product is MATLAB's ``fspecial('gaussian', size, sigma)``."""
    half = (size - 1) / 2
    taps = [math.exp(-((i - half)**2) / (2 * sigma * sigma)) for i in range(size)]
    total = sum(taps)
    return torch.tensor([t / total for t in taps], dtype=dtype, device=device)


def separable_filter_valid(x, window):
    """``x`` (..., h, w) filtered by ``outer(window, window)`` with 'valid' borders: (..., h - k + 1, w - k + 1).

    Args:
        x (Tensor): Input maps (float64 for pyiqa's precision).
        window (Sequence[float]): The 1-D window (k taps).
    """
    taps = [float(t) for t in window]
    k = len(taps)
    width, height = x.shape[-1] - k + 1, x.shape[-2] - k + 1
    if width < 1 or height < 1:
        raise ValueError(f'SSIM needs images of at least {k}x{k} px, got {x.shape[-2]}x{x.shape[-1]}')
    rows = x[..., :width] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i:i + width], alpha=taps[i])
    out = rows[..., :height, :] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i:i + height, :], alpha=taps[i])
    return out


def ssim_scores(x, y, window=None, data_range=DATA_RANGE):
    """Mean SSIM of each image pair, pyiqa's formula (contrast-structure term clipped at 0).

    Args:
        x, y (Tensor): (b, c, h, w) images on the 0..``data_range`` scale, float64 for pyiqa's precision.
        window (Tensor | None): 1-D window; None: the 11-tap Gaussian, sigma 1.5.
        data_range (float): L of C1 = (0.01 L)^2, C2 = (0.03 L)^2. Default: 255.

    Returns:
        Tensor: (b,) scores in x's dtype.
    """
    if x.shape != y.shape:
        raise ValueError(f'SSIM compares images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}')
    window = gaussian_window_1d(dtype=x.dtype, device=x.device) if window is None else window
    c1, c2 = (0.01 * data_range)**2, (0.03 * data_range)**2
    b, c, h, w = x.shape
    stacked = torch.stack([x, y, x * x, y * y, x * y], dim=2)  # (b, c, 5, h, w): one filtering pass for all
    mu_x, mu_y, xx, yy, xy = separable_filter_valid(stacked, window).unbind(2)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    contrast_structure = ((2 * (xy - mu_xy) + c2) / ((xx - mu_xx) + (yy - mu_yy) + c2)).relu_()
    ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * contrast_structure
    return ssim_map.reshape(b, -1).mean(1)


class SeparableSSIM:
    """pyiqa's SSIM (no downsampling) on RGB or on the Y channel, for batches of RGB faces in [0, 1].

    Args:
        test_y_channel (bool): Score the Y channel of ``color_space`` instead of the three RGB channels.
        color_space (str): 'ycbcr' (BT.601, MATLAB ``rgb2ycbcr``) or 'yiq' (MATLAB ``rgb2gray``). Default: 'ycbcr'.
        crop_border (int): Pixels removed from each edge first. Default: 0.
        faces_per_pass (int): Faces filtered together (bounds the float64 working memory: about 80 bytes per
            pixel and channel of each face). Default: 4.
    """

    needs_reference = True
    weight_files = ()

    def __init__(self, test_y_channel, color_space='ycbcr', crop_border=0, faces_per_pass=4):
        self.test_y_channel = test_y_channel
        self.color_space = color_space
        self.crop_border = int(crop_border)
        self.faces_per_pass = max(1, int(faces_per_pass))

    def __call__(self, img, ref):
        """Scores (b,) float32 of ``img`` against ``ref``, both (b, 3, h, w) RGB in [0, 1]."""
        if img.shape != ref.shape:
            raise ValueError(f'SSIM compares images of one shape, got {tuple(img.shape)} and {tuple(ref.shape)}')
        if self.crop_border:
            border = self.crop_border
            img, ref = img[..., border:-border, border:-border], ref[..., border:-border, border:-border]
        scores = []
        with torch.no_grad():
            for start in range(0, img.shape[0], self.faces_per_pass):
                part = slice(start, start + self.faces_per_pass)
                x = preprocess_rgb(img[part].float(), self.test_y_channel, DATA_RANGE, self.color_space).double()
                y = preprocess_rgb(ref[part].float(), self.test_y_channel, DATA_RANGE, self.color_space).double()
                scores.append(ssim_scores(x, y))
        return torch.cat(scores).float()
