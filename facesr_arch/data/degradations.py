"""Degradation models as pure functions of (image, random generator, parameters).

Every function takes a float32 BGR image in [0, 1] of shape (h, w, 3) and a ``numpy.random.Generator``,
and returns ``(lq, record)``: the degraded image and a dict of the parameters it drew, so that a seed
reproduces a pair and a test set can list what was done to each image.
"""
import cv2
import numpy as np

from basicsr.utils.matlab_functions import imresize


def quantize_uint8(img):
    """Round to the 8-bit grid, as an image saved to disk would be."""
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.float32) / 255.0


def multiscale_bicubic(img, rng, factors=(4, 8, 16, 32, 64), out_size=None, quantize=True):
    """GCFSR degradation (paper 3.5): MATLAB-bicubic down by a factor drawn from ``factors``, then bicubic
    back up to the output size.

    Args:
        img (ndarray): HQ face (h, w, 3) in [0, 1], h = w = output size.
        rng (numpy.random.Generator): Source of randomness.
        factors (Sequence[float]): Factors drawn uniformly (repeat a value to weight it). Default: paper's
            {4, 8, 16, 32, 64}.
        out_size (int | None): Size of the returned LQ; None keeps the HQ size.
        quantize (bool): Quantise the LR and the upsampled LQ to 8 bits. Default: True.

    Returns:
        tuple[ndarray, dict]: LQ at ``out_size`` and {'factor': s, 'lr_size': (h, w)}.
    """
    factor = float(factors[rng.integers(len(factors))])
    h, w = img.shape[:2]
    out_size = out_size or h
    lr = imresize(img, 1.0 / factor)
    if quantize:
        lr = quantize_uint8(lr)
    lq = imresize(lr, out_size / lr.shape[0]) if lr.shape[0] != out_size else lr
    if lq.shape[:2] != (out_size, out_size):  # non-integer factors round the LR size
        lq = lq[:out_size, :out_size]
    if quantize:
        lq = quantize_uint8(lq)
    return np.ascontiguousarray(lq.astype(np.float32)), {'factor': factor, 'lr_size': list(lr.shape[:2])}


def gaussian_kernel(size, sigma_x, sigma_y, rotation):
    """Normalised anisotropic Gaussian blur kernel (size x size)."""
    half = (size - 1) / 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    cos, sin = np.cos(rotation), np.sin(rotation)
    u, v = cos * x + sin * y, -sin * x + cos * y
    kernel = np.exp(-0.5 * ((u / sigma_x)**2 + (v / sigma_y)**2))
    return (kernel / kernel.sum()).astype(np.float32)


def jpeg_compress(img, quality):
    """JPEG round trip of a [0, 1] BGR image at integer ``quality``."""
    ok, buf = cv2.imencode('.jpg', np.clip(np.round(img * 255), 0, 255).astype(np.uint8),
                           [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0


def gfpgan_blind(img, rng, kernel_size=41, blur_sigma=(0.1, 10), downsample_range=(0.8, 8), noise_range=(0, 20),
                 jpeg_range=(60, 100)):
    """GFPGAN's blind degradation (Wang et al. 2021, eq. 1), used for GCFSR's blind variant (section 4):
    y = [(x * k_sigma) downsampled by r + n_delta]_JPEG_q, then resized back to the input size.

    Defaults are GFPGAN's training configuration: Gaussian blur sigma in [0.1, 10] on a 41 px kernel,
    r in [0.8, 8], Gaussian noise sigma in [0, 20] (of 255), JPEG quality in [60, 100].
    """
    h, w = img.shape[:2]
    sigma = rng.uniform(*blur_sigma)
    lq = cv2.filter2D(img, -1, gaussian_kernel(kernel_size, sigma, sigma, 0.0), borderType=cv2.BORDER_REFLECT_101)
    scale = rng.uniform(*downsample_range)
    lq = cv2.resize(lq, (max(1, int(w / scale)), max(1, int(h / scale))), interpolation=cv2.INTER_LINEAR)
    noise_sigma = rng.uniform(*noise_range)
    lq = np.clip(lq + rng.standard_normal(lq.shape).astype(np.float32) * noise_sigma / 255.0, 0, 1)
    quality = int(rng.uniform(*jpeg_range))
    lq = jpeg_compress(lq, quality)
    lq = cv2.resize(lq, (w, h), interpolation=cv2.INTER_LINEAR)
    record = {'blur_sigma': sigma, 'scale': scale, 'noise_sigma': noise_sigma, 'jpeg_quality': quality}
    return np.clip(lq, 0, 1).astype(np.float32), record


DEGRADATIONS = {
    'multiscale_bicubic': multiscale_bicubic,
    'gfpgan_blind': gfpgan_blind,
}


def degradation_names():
    return sorted(DEGRADATIONS)


def apply_degradation(img, rng, opt):
    """Apply the degradation ``opt['type']`` with the remaining keys as parameters."""
    params = dict(opt)
    name = params.pop('type')
    if name not in DEGRADATIONS:
        raise ValueError(f'Unknown degradation {name!r}; known: {degradation_names()}')
    return DEGRADATIONS[name](img, rng, **params)
