"""Degradation models as pure functions of (image, random generator, parameters).

Every function takes a float32 BGR image in [0, 1] of shape (h, w, 3) and a ``numpy.random.Generator``,
and returns ``(lq, record)``: the degraded image and a JSON-serialisable dict of the parameters it drew,
so that a seed reproduces a pair and a test set can list what was done to each image.

The blind models (GFPGAN / GCFSR-blind, MPCNet eq. 1, PVFR eq. 17) share one pipeline,
``y = [(x * k) downsampled by s + n]_JPEG_q`` resized back to the HQ size. Each is split into a sampler
(``sample_*``: rng -> record) and :func:`apply_blind`, so that the batched on-device path
(``batched_degradations.py``) applies exactly the parameters the CPU path would have drawn. The record
alone rebuilds the blur kernel (:func:`blind_kernel`); only the noise realisation is not stored.

Paper ranges and the decisions taken where a text is ambiguous are written next to each default.
"""
import inspect
import math

import cv2
import numpy as np

from basicsr.data.degradations import bivariate_Gaussian
from basicsr.utils.matlab_functions import imresize


def quantize_uint8(img):
    """Round to the 8-bit grid, as an image saved to disk would be."""
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.float32) / 255.0


def _uniform(rng, bounds):
    """Uniform draw in [low, high]; a degenerate range (low == high) returns that value."""
    low, high = float(bounds[0]), float(bounds[1])
    return low if low == high else float(rng.uniform(low, high))


def _odd_integer(rng, bounds):
    """Uniform draw among the odd integers in [low, high] (blur window sizes)."""
    sizes = [s for s in range(int(bounds[0]), int(bounds[1]) + 1) if s % 2 == 1]
    if not sizes:
        raise ValueError(f'No odd kernel size in {list(bounds)}')
    return int(sizes[rng.integers(len(sizes))])


# --------------------------------------------------------------------------- bicubic (FSR) models


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


def bicubic_downsample(img, rng, scales=(4, ), upsample=False, quantize=True):
    """MATLAB-bicubic (antialiased) downsampling by a factor drawn from ``scales``; optionally MATLAB-bicubic
    back up to the HQ size.

    Args:
        img (ndarray): HQ face (h, w, 3) in [0, 1].
        rng (numpy.random.Generator): Source of randomness (only used when several scales are given).
        scales (Sequence[float]): Factors drawn uniformly. Default: (4, ).
        upsample (bool): Return the LR bicubic-upsampled to the HQ size instead of the LR. Default: False.
        quantize (bool): Quantise the LR (and its upsampling) to 8 bits. Default: True.

    Returns:
        tuple[ndarray, dict]: LQ and {'scale': s, 'lr_size': [h, w], 'upsampled': bool}.
    """
    scale = float(scales[rng.integers(len(scales))]) if len(scales) > 1 else float(scales[0])
    h, w = img.shape[:2]
    if upsample and (h % scale or w % scale):
        raise ValueError(f'Upsampling back needs an HQ size divisible by the scale; got {w}x{h} and x{scale:g}')
    lr = imresize(img, 1.0 / scale)
    if quantize:
        lr = quantize_uint8(lr)
    lq = lr
    if upsample:
        lq = imresize(lr, scale)
        if quantize:
            lq = quantize_uint8(lq)
    record = {'scale': scale, 'lr_size': list(lr.shape[:2]), 'upsampled': bool(upsample)}
    return np.ascontiguousarray(lq.astype(np.float32)), record


def cfgpfssr_bicubic(img, rng, scale=16, quantize=True):
    """CFGPFSSR degradation (paper 4.1): MATLAB bicubic 16x, 1024 -> 64 px; the LQ is the 64 px LR itself.

    The parser input I_BIC (the LR bicubic-upscaled to half the HR size, paper 3.1) is computed by the
    CFGPFSSR network from this LR, so the dataset does not return it.
    """
    return bicubic_downsample(img, rng, scales=(scale, ), upsample=False, quantize=quantize)


def wnet_bicubic(img, rng, scale=4, upsample=True, quantize=True):
    """W-Net degradation (paper 4.2): 128 px HR, bicubic LR of 32 px (x4) or 16 px (x8).

    Decision: ``upsample`` defaults to True, returning the LR MATLAB-bicubic-upsampled back to 128 px as
    'lq' (the input W-Net's implementation in facesr_arch takes, one size for both scales); the record's
    'lr_size' names the true LR size. Set ``upsample: false`` to get the 32/16 px LR itself.
    """
    return bicubic_downsample(img, rng, scales=(scale, ), upsample=upsample, quantize=quantize)


# --------------------------------------------------------------------------- blur kernels


def gaussian_kernel(size, sigma_x, sigma_y, rotation):
    """Normalised (anisotropic) Gaussian kernel (size x size), BasicSR's bivariate Gaussian. An even ``size`` is
    centred between its two middle taps (symmetric), as a 10 px kernel (MPCNet Table 5) can only be; filtering
    with it shifts the image by half a pixel, like any even kernel."""
    grid = None
    if size % 2 == 0:
        axis = np.arange(size) - (size - 1) / 2
        grid = np.stack(np.meshgrid(axis, axis), axis=-1)
    isotropic = sigma_x == sigma_y
    return bivariate_Gaussian(size, sigma_x, sigma_y, rotation, grid=grid, isotropic=isotropic).astype(np.float32)


def motion_kernel(size, length, angle):
    """Linear motion-blur kernel: an anti-aliased line of ``length`` px through the centre at ``angle``
    radians, on a size x size canvas (drawn at 8x and area-reduced), normalised to sum 1."""
    supersample = 8
    canvas = np.zeros((size * supersample, size * supersample), np.float32)
    centre = (size * supersample - 1) / 2
    half = (length - 1) / 2 * supersample
    dx, dy = math.cos(angle) * half, -math.sin(angle) * half
    shift = 4  # sub-pixel precision bits of cv2.line
    to_fixed = lambda v: int(round(v * (1 << shift)))  # noqa: E731
    cv2.line(canvas, (to_fixed(centre - dx), to_fixed(centre - dy)), (to_fixed(centre + dx), to_fixed(centre + dy)),
             1.0, thickness=supersample, lineType=cv2.LINE_AA, shift=shift)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return (kernel / kernel.sum()).astype(np.float32)


def box_kernel(size, width):
    """Average-blur kernel of ``width`` x ``width`` centred on a size x size canvas."""
    kernel = np.zeros((size, size), np.float32)
    start = (size - width) // 2
    kernel[start:start + width, start:start + width] = 1.0 / (width * width)
    return kernel


def opencv_gaussian_sigma(size):
    """The standard deviation OpenCV gives a Gaussian of window ``size`` when none is specified."""
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def blind_kernel(record):
    """The linear blur kernel a blind-degradation record describes, or None (no blur, or median blur)."""
    blur, size = record['blur'], record['kernel_size']
    if blur in ('iso', 'aniso', 'gaussian'):
        return gaussian_kernel(size, record['sigma_x'], record['sigma_y'], record['theta'])
    if blur == 'motion':
        return motion_kernel(size, record['motion_length'], record['motion_angle'])
    if blur == 'average':
        return box_kernel(size, record['blur_size'])
    return None


# --------------------------------------------------------------------------- blind models: samplers


def _draw_tail(rng, record, scale_range, noise_range, jpeg_range, interpolation, out_size):
    """Draw the shared part of eq. (y * k) down_s + n, JPEG_q and add it to ``record``."""
    record['scale'] = _uniform(rng, scale_range)
    record['noise_sigma'] = _uniform(rng, noise_range) if noise_range is not None else 0.0
    record['jpeg_quality'] = int(_uniform(rng, jpeg_range)) if jpeg_range is not None else None
    record['interpolation'] = interpolation
    record['out_size'] = out_size
    return record


def _draw_gaussian(rng, kernel_size, sigma_range, aniso_prob):
    """GFPGAN-style Gaussian: isotropic or (with ``aniso_prob``) anisotropic with a random rotation."""
    if rng.random() < aniso_prob:
        return {'blur': 'aniso', 'kernel_size': kernel_size, 'sigma_x': _uniform(rng, sigma_range),
                'sigma_y': _uniform(rng, sigma_range), 'theta': _uniform(rng, (-math.pi, math.pi))}
    sigma = _uniform(rng, sigma_range)
    return {'blur': 'iso', 'kernel_size': kernel_size, 'sigma_x': sigma, 'sigma_y': sigma, 'theta': 0.0}


GFPGAN_PT_JITTER = {'brightness': (0.5, 1.5), 'contrast': (0.5, 1.5), 'saturation': (0, 1.5), 'hue': (-0.1, 0.1)}


def sample_gfpgan_params(rng, kernel_size=41, aniso_prob=0.5, blur_sigma=(0.1, 10), downsample_range=(0.8, 8),
                         noise_range=(0, 20), jpeg_range=(60, 100), color_jitter_prob=0.3, color_jitter_shift=20,
                         gray_prob=0.01, color_jitter_pt_prob=0.3, out_size=None):
    """Parameters of GFPGAN's blind degradation (Wang et al., "Towards real-world blind face restoration
    with generative facial prior", CVPR 2021, eq. 1) in its official training configuration
    (options/train_gfpgan_v1.yml and gfpgan/data/ffhq_degradation_dataset.py): 41 px iso/aniso Gaussian
    (probability 0.5 each, sigma in [0.1, 10], rotation in [-pi, pi]), r in [0.8, 8] (bilinear), per-channel
    Gaussian noise sigma in [0, 20] (of 255), JPEG quality in [60, 100]; then, on the LQ only and in this
    order: a per-channel colour shift of up to 20/255 (probability 0.3), conversion to gray (probability
    0.01; the GT stays in colour, ``gt_gray`` being off in that configuration), and brightness / contrast
    / saturation / hue jitter in a random order (probability 0.3, factors in [0.5, 1.5], [0.5, 1.5],
    [0, 1.5], [-0.1, 0.1], torchvision's colour functions).
    """
    record = _draw_gaussian(rng, kernel_size, blur_sigma, aniso_prob)
    _draw_tail(rng, record, downsample_range, noise_range, jpeg_range, 'linear', out_size)
    jitter = None
    if color_jitter_prob and rng.random() < color_jitter_prob:
        jitter = [_uniform(rng, (-color_jitter_shift, color_jitter_shift)) / 255.0 for _ in range(3)]
    record['color_jitter'] = jitter
    record['gray'] = bool(gray_prob and rng.random() < gray_prob)
    jitter_pt = None
    if color_jitter_pt_prob and rng.random() < color_jitter_pt_prob:
        order = [str(name) for name in rng.permutation(list(GFPGAN_PT_JITTER))]
        jitter_pt = [[name, _uniform(rng, GFPGAN_PT_JITTER[name])] for name in order]
    record['color_jitter_pt'] = jitter_pt
    return record


def gfpgan_colour(lq, record):
    """GFPGAN's LQ-only colour steps of a record on a float32 BGR image: gray conversion, then the
    brightness / contrast / saturation / hue factors in the record's order (torchvision's functions on the
    RGB image, as GFPGAN applies them). Returns the image in [0, 1]."""
    if record.get('gray'):
        lq = np.repeat(cv2.cvtColor(lq, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
    if record.get('color_jitter_pt'):
        import torch
        rgb = torch.from_numpy(np.ascontiguousarray(lq[:, :, ::-1].transpose(2, 0, 1)))
        rgb = apply_colour_factors(rgb, record['color_jitter_pt'])
        lq = rgb.numpy().transpose(1, 2, 0)[:, :, ::-1]
    return np.ascontiguousarray(np.clip(lq, 0, 1), dtype=np.float32)


def apply_colour_factors(rgb, factors):
    """torchvision's adjust_{brightness,contrast,saturation,hue} of an RGB tensor (..., 3, h, w) in [0, 1],
    applied in the order of ``factors`` ([[name, factor], ...])."""
    from torchvision.transforms import functional as TF
    adjust = {'brightness': TF.adjust_brightness, 'contrast': TF.adjust_contrast,
              'saturation': TF.adjust_saturation, 'hue': TF.adjust_hue}
    for name, factor in factors:
        rgb = adjust[name](rgb, factor)
    return rgb


def sample_mpcnet_params(rng, blur_types=('gaussian', 'average', 'median', 'motion'), gaussian_size=(3, 15),
                         average_size=(3, 15), median_size=(3, 15), motion_length=(5, 25),
                         motion_angle=(0, 180), scale_range=(4, 16), noise_range=(0, 25.5),
                         compression_range=(10, 65), out_size=512, downsampler='upper_left', jpeg_q='quality',
                         upsampler='cubic', kernel_window=None):
    """Parameters of MPCNet's degradation, eq. (1) and section 3.1.

    Decisions where the text is ambiguous:

    - Blur: one family drawn uniformly from ``blur_types``. The paper bounds every family by the same
      symbol sigma (Gaussian, average, median in [3, 15]; motion in [5, 25]); for average and median blur it
      can only be the window size, so sigma is read as the kernel width for all four, as in the paper's
      own experiments ("kernel width = 7", Fig. 9; Table 5). Gaussian: odd width w in [3, 15] with
      OpenCV's standard deviation for that width; average/median: odd width in [3, 15]; motion: a line of
      length in [5, 25] px at an angle drawn in [0, 180) degrees on a canvas of the next odd size.
      Read as a standard deviation instead, the Input PSNR would fall with the Gaussian size where Table
      5's row rises (testset_calibration.py). An empty ``blur_types`` disables the blur. ``kernel_window``
      (None: the kernel's own width) draws every kernel on a window of that side instead, the drawn width
      still setting the Gaussian's standard deviation: Table 5's "The kernel widths are set to 10".
    - Downsampler: "the standard r-fold downsampler" is read as in the restoration literature that coined
      the phrase (Zhang et al., "Deep unfolding network for image super-resolution", CVPR 2020): keep the
      upper-left pixel of each r x r cell (``downsampler: upper_left``; ``cubic`` is OpenCV bicubic
      resizing), r in [4, 16] continuous (section 4.4.2 uses non-integer factors). Evidence: only the
      decimation brings the Input rows of Tables 3, 5 and 6 within 1 dB (bicubic: 1.4-4.1 dB above them;
      ``facesr_arch/data/testset_calibration.py`` holds the readings tried and their numbers).
    - Noise: channel-wise AWGN, sd in [0, 0.1 * 255] = [0, 25.5].
    - JPEG: eq. (1) calls q "a quality factor" while the text calls it a "compression level ... higher means
      stronger compression". ``jpeg_q: quality`` (default) takes the equation: JPEG quality q in [10, 65];
      ``level`` takes the text: quality 100 - q in [35, 90]. The quality reading lands closer to the paper's
      Input rows (testset_calibration.py). ``compression_range: ~`` disables JPEG.
    - Output: resized back to 512 px "with bicubic sampling" (section 3.2.1): ``upsampler: cubic``, OpenCV's
      bicubic (the closest bicubic to every Input row; the text rules out the others). The other values
      (``matlab_cubic``: MATLAB's bicubic, ``linear``, ``nearest``, ``area``) measure that reading against the
      paper's Input rows (testset_calibration.py) and run on the CPU path only (the batched path refuses them).
    """
    record = {'blur': 'none', 'kernel_size': 0}
    if blur_types:
        blur = str(blur_types[rng.integers(len(blur_types))])
        if blur == 'gaussian':
            width = _odd_integer(rng, gaussian_size)
            sigma = opencv_gaussian_sigma(width)
            record = {'blur': 'gaussian', 'kernel_size': width, 'sigma_x': sigma, 'sigma_y': sigma, 'theta': 0.0}
        elif blur in ('average', 'median'):
            width = _odd_integer(rng, average_size if blur == 'average' else median_size)
            record = {'blur': blur, 'kernel_size': width, 'blur_size': width}
        elif blur == 'motion':
            length = _uniform(rng, motion_length)
            record = {'blur': 'motion', 'kernel_size': int(math.ceil(length)) // 2 * 2 + 1, 'motion_length': length,
                      'motion_angle': math.radians(_uniform(rng, motion_angle))}
        else:
            raise ValueError(f"Unknown MPCNet blur type {blur!r}; known: gaussian, average, median, motion")
    if kernel_window is not None and record['blur'] in ('gaussian', 'motion'):
        record['kernel_size'] = int(kernel_window)
    elif kernel_window is not None and blur_types:
        raise ValueError(f'kernel_window applies to Gaussian and motion kernels, not {record["blur"]} blur')
    if jpeg_q not in ('quality', 'level'):
        raise ValueError(f"jpeg_q must be 'quality' or 'level', got {jpeg_q!r}")
    if downsampler not in ('upper_left', 'cubic'):
        raise ValueError(f"downsampler must be 'upper_left' or 'cubic', got {downsampler!r}")
    if upsampler not in UPSAMPLERS:
        raise ValueError(f"upsampler must be one of {', '.join(UPSAMPLERS)}, got {upsampler!r}")
    jpeg_range = compression_range
    if compression_range is not None and jpeg_q == 'level':
        jpeg_range = (100 - compression_range[1], 100 - compression_range[0])
    record = _draw_tail(rng, record, scale_range, noise_range, jpeg_range, 'cubic', out_size)
    if downsampler == 'upper_left':
        record['downsampler'] = 'upper_left'
    if upsampler != 'cubic':
        record['upsampler'] = upsampler
    return record


def sample_pvfr_params(rng, kernel_size=41, blur_types=('gaussian', 'motion'), blur_sigma=(0.1, 10), aniso_prob=0.5,
                       motion_length=(5, 41), scale_range=(0.4, 8), noise_range=(0, 25), jpeg_range=(5, 50),
                       out_size=512):
    """Parameters of PVFR's degradation, eq. (17) and section 4.1: k, s, delta, q from 41, [0.4 : 8],
    [0 : 25], [5 : 50], Gaussian and motion blur.

    Decisions where the text is ambiguous (PVFR "follows the practice in [15, 16]", GFPGAN and GPEN):

    - Blur: Gaussian or motion with equal probability on the 41 px kernel; the Gaussian follows GFPGAN
      (iso/aniso, sigma in [0.1, 10], not given by PVFR); motion: a line at a uniform angle whose length
      may fill the 41 px kernel ("k from 41"), in [5, 41] px (5: MPCNet's shortest motion blur). Evidence
      (Table 2's Bicubic row, 23.76 dB, on 10 FFHQ faces x 3 seeds): lengths up to 41 px measure 24.17 dB,
      MPCNet's [5, 25] 24.84 dB (testset_calibration.py).
    - Scale s in [0.4, 8] is kept as written: s < 1 enlarges before the round trip back to 512 px (GFPGAN's
      own range starts below 1, at 0.8), resampling with GFPGAN's bilinear interpolation.
    - q is a JPEG quality factor (as in GFPGAN's eq. 1, which eq. 17 copies): quality in [5, 50].
    """
    blur = str(blur_types[rng.integers(len(blur_types))])
    if blur == 'gaussian':
        record = _draw_gaussian(rng, kernel_size, blur_sigma, aniso_prob)
    elif blur == 'motion':
        record = {'blur': 'motion', 'kernel_size': kernel_size, 'motion_length': _uniform(rng, motion_length),
                  'motion_angle': _uniform(rng, (0, math.pi))}
    else:
        raise ValueError(f"Unknown PVFR blur type {blur!r}; known: gaussian, motion")
    return _draw_tail(rng, record, scale_range, noise_range, jpeg_range, 'linear', out_size)


# --------------------------------------------------------------------------- blind models: application

_CV2_INTERPOLATION = {'linear': cv2.INTER_LINEAR, 'cubic': cv2.INTER_CUBIC, 'nearest': cv2.INTER_NEAREST,
                      'area': cv2.INTER_AREA}
# how an LQ can be brought back to its output size (a record's 'upsampler'; default: its 'interpolation')
UPSAMPLERS = ('cubic', 'matlab_cubic', 'linear', 'nearest', 'area')


def resize_back(img, out_h, out_w, method):
    """Resize an LQ to (out_h, out_w) by ``method`` (one of UPSAMPLERS); 'matlab_cubic' is MATLAB's imresize."""
    if method == 'matlab_cubic':
        h, w = img.shape[:2]
        if h == w and out_h == out_w:
            return imresize(img, out_h / h)[:out_h, :out_w]
        return cv2.resize(imresize(img, out_h / h), (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(img, (out_w, out_h), interpolation=_CV2_INTERPOLATION[method])


def jpeg_compress(img, quality):
    """JPEG round trip of a [0, 1] BGR image at integer ``quality``."""
    ok, buf = cv2.imencode('.jpg', np.clip(np.round(img * 255), 0, 255).astype(np.uint8),
                           [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0


def lr_size(size, scale):
    """Side of the downsampled image, as GFPGAN computes it (floor of size / scale, at least 1)."""
    return max(1, int(size // scale))


def decimation_indices(size, scale):
    """Source rows (or columns) of the standard s-fold downsampler: the upper-left pixel of each cell,
    ``floor(i * size / n)`` for the ``n = lr_size(size, scale)`` LR pixels (OpenCV's INTER_NEAREST), so that
    the LR spans the whole image when s does not divide the size."""
    n = lr_size(size, scale)
    return np.floor(np.arange(n) * (size / n)).astype(np.int64)


def apply_blind(img, rng, record):
    """Apply a blind-degradation record on the CPU: blur, resize by 1/s, noise, JPEG, resize back.

    Args:
        img (ndarray): HQ face (h, w, 3), float32 BGR in [0, 1].
        rng (numpy.random.Generator): Draws the noise realisation.
        record (dict): From one of the ``sample_*_params`` functions.

    Returns:
        ndarray: LQ (out_size or h, out_size or w, 3) in [0, 1].
    """
    h, w = img.shape[:2]
    kernel = blind_kernel(record)
    if kernel is not None:
        lq = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    elif record['blur'] == 'median':  # OpenCV's median of windows > 5 needs 8-bit input
        lq = cv2.medianBlur(np.clip(np.round(img * 255), 0, 255).astype(np.uint8), record['blur_size'])
        lq = lq.astype(np.float32) / 255.0
    else:
        lq = img
    interpolation = _CV2_INTERPOLATION[record['interpolation']]
    scale = record['scale']
    if record.get('downsampler') == 'upper_left':
        rows, cols = decimation_indices(h, scale), decimation_indices(w, scale)
        lq = np.ascontiguousarray(lq[rows][:, cols])
    else:
        lq = cv2.resize(lq, (lr_size(w, scale), lr_size(h, scale)), interpolation=interpolation)
    if record['noise_sigma'] > 0:
        noise = rng.standard_normal(lq.shape).astype(np.float32) * (record['noise_sigma'] / 255.0)
        lq = np.clip(lq + noise, 0, 1)
    if record['jpeg_quality'] is not None:
        lq = jpeg_compress(lq, record['jpeg_quality'])
    out_h, out_w = (record['out_size'], ) * 2 if record['out_size'] else (h, w)
    lq = resize_back(lq, out_h, out_w, record.get('upsampler', record['interpolation']))
    if record.get('color_jitter') is not None:
        lq = np.clip(lq + np.asarray(record['color_jitter'], np.float32), 0, 1)
    if record.get('gray') or record.get('color_jitter_pt'):
        lq = gfpgan_colour(np.clip(lq, 0, 1).astype(np.float32), record)
    return np.clip(lq, 0, 1).astype(np.float32)


def gfpgan_blind(img, rng, kernel_size=41, aniso_prob=0.5, blur_sigma=(0.1, 10), downsample_range=(0.8, 8),
                 noise_range=(0, 20), jpeg_range=(60, 100), color_jitter_prob=0.3, color_jitter_shift=20,
                 gray_prob=0.01, color_jitter_pt_prob=0.3):
    """GFPGAN's blind degradation, used for GCFSR's blind variant ("we adopt the degradation model in
    GFPGAN", GCFSR section 4); parameters as :func:`sample_gfpgan_params`. Returns (LQ at the HQ size,
    record)."""
    record = sample_gfpgan_params(rng, kernel_size, aniso_prob, blur_sigma, downsample_range, noise_range, jpeg_range,
                                  color_jitter_prob, color_jitter_shift, gray_prob, color_jitter_pt_prob)
    return apply_blind(img, rng, record), record


def mpcnet_blind(img, rng, blur_types=('gaussian', 'average', 'median', 'motion'), gaussian_size=(3, 15),
                 average_size=(3, 15), median_size=(3, 15), motion_length=(5, 25), motion_angle=(0, 180),
                 scale_range=(4, 16), noise_range=(0, 25.5), compression_range=(10, 65), out_size=512,
                 downsampler='upper_left', jpeg_q='quality', upsampler='cubic', kernel_window=None):
    """MPCNet's degradation, eq. (1); parameters and decisions as :func:`sample_mpcnet_params`.
    Returns (LQ at ``out_size``, record)."""
    record = sample_mpcnet_params(rng, blur_types, gaussian_size, average_size, median_size, motion_length,
                                  motion_angle, scale_range, noise_range, compression_range, out_size, downsampler,
                                  jpeg_q, upsampler, kernel_window)
    return apply_blind(img, rng, record), record


def pvfr_blind(img, rng, kernel_size=41, blur_types=('gaussian', 'motion'), blur_sigma=(0.1, 10), aniso_prob=0.5,
               motion_length=(5, 41), scale_range=(0.4, 8), noise_range=(0, 25), jpeg_range=(5, 50), out_size=512):
    """PVFR's degradation, eq. (17); parameters and decisions as :func:`sample_pvfr_params`.
    Returns (LQ at ``out_size``, record)."""
    record = sample_pvfr_params(rng, kernel_size, blur_types, blur_sigma, aniso_prob, motion_length, scale_range,
                                noise_range, jpeg_range, out_size)
    return apply_blind(img, rng, record), record


def pvfr_fsr(img, rng, scale=4, blind=None, upsample=True):
    """PVFR's face super-resolution input (section 4.3, Table 2): "4x down-sampling of the input data", the
    eq. (17) LQ of the blind CelebA set MATLAB-bicubic-downsampled by ``scale`` (8-bit), and, as PVFR "needs
    to upsample tested images to the original scale", MATLAB-bicubic back up (the table's Bicubic row).

    Args:
        img (ndarray): HQ face (h, w, 3) in [0, 1].
        rng (numpy.random.Generator): Source of randomness.
        scale (int): Downsampling factor of the blind LQ. Default: 4.
        blind (dict | None): Options of the blind degradation; None: PVFR's eq. (17) at the HQ size.
        upsample (bool): Return the LR upsampled back to the HQ size (default) or the LR itself.

    Returns:
        tuple[ndarray, dict]: LQ and the blind record with 'fsr_scale' and 'lr_size' added.
    """
    blind = dict(blind or {'type': 'pvfr_blind', 'out_size': img.shape[0]})
    lq, record = apply_degradation(img, rng, blind)
    lr, down = bicubic_downsample(quantize_uint8(lq), rng, scales=(scale, ), upsample=upsample)
    return lr, dict(record, fsr_scale=down['scale'], lr_size=down['lr_size'])


def resize(img, rng, size, matlab=False):
    """Real-image test sets: the input face is the LQ, only resized to ``size`` x ``size`` (bicubic; MATLAB
    bicubic with ``matlab``: CFGPFSSR's 64 px LR of its old photos, paper 4.1). ``rng`` is unused."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        out = img
    elif matlab:
        if h != w:
            raise ValueError(f'MATLAB-bicubic resizing needs a square face crop; got {w}x{h}')
        out = imresize(img, size / h)[:size, :size]
    else:
        out = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0, 1).astype(np.float32), {'input_size': [h, w], 'size': size}


DEGRADATIONS = {
    'multiscale_bicubic': multiscale_bicubic,
    'bicubic_downsample': bicubic_downsample,
    'cfgpfssr_bicubic': cfgpfssr_bicubic,
    'wnet_bicubic': wnet_bicubic,
    'gfpgan_blind': gfpgan_blind,
    'mpcnet_blind': mpcnet_blind,
    'pvfr_blind': pvfr_blind,
    'pvfr_fsr': pvfr_fsr,
    'resize': resize,
}

# blind degradations whose parameters can be drawn on the CPU and applied on the training device
BLIND_SAMPLERS = {
    'gfpgan_blind': sample_gfpgan_params,
    'mpcnet_blind': sample_mpcnet_params,
    'pvfr_blind': sample_pvfr_params,
}


def degradation_names():
    return sorted(DEGRADATIONS)


# the parameter that holds the upscaling factor(s) of a fixed-factor degradation, one value or a list
SCALE_PARAMETERS = ('scale', 'scales', 'factors')


def degradation_scales(opt):
    """The upscaling factors a degradation block (``{'type': name, **parameters}``) produces, sorted; None for
    the blind degradations, whose factor is drawn from a range (a network trained on them is not tied to one).

    The value comes from the block, else from the degradation function's default (``cfgpfssr_bicubic``: 16).
    """
    if not isinstance(opt, dict) or opt.get('type') not in DEGRADATIONS or opt['type'] in BLIND_SAMPLERS:
        return None
    defaults = inspect.signature(DEGRADATIONS[opt['type']]).parameters
    for name in SCALE_PARAMETERS:
        if name in defaults:
            value = opt.get(name, defaults[name].default)
            values = value if isinstance(value, (list, tuple)) else [value]
            return sorted({float(v) for v in values}) if values and None not in values else None
    return None


def apply_degradation(img, rng, opt):
    """Apply the degradation ``opt['type']`` with the remaining keys as parameters."""
    params = dict(opt)
    name = params.pop('type')
    if name not in DEGRADATIONS:
        raise ValueError(f'Unknown degradation {name!r}; known: {degradation_names()}')
    return DEGRADATIONS[name](img, rng, **params)


def sample_blind_params(rng, opt):
    """Draw the record of the blind degradation ``opt['type']`` without applying it."""
    params = dict(opt)
    name = params.pop('type')
    if name not in BLIND_SAMPLERS:
        raise ValueError(f'{name!r} has no on-device implementation; blind degradations: {sorted(BLIND_SAMPLERS)}')
    return BLIND_SAMPLERS[name](rng, **params)
