"""Turning an image into a network input and a network output back into an image.

The same functions serve the datasets' conventions (BGR float in [0, 1], MATLAB bicubic resizing as in
``degradations.py``, normalisation by ``to_tensor``) and inference, so a face is prepared for a model
exactly the way it was prepared during training. The converted baselines (GFPGAN, GPEN, CodeFormer) are
prepared instead the way their own inference scripts prepare an aligned face: the 8-bit image is resized with
OpenCV's bilinear ``cv2.resize``, then divided by 255 and normalised; their outputs are brought back to 8 bits
the way each script does it (rounded by GFPGAN and CodeFormer, truncated by GPEN).
"""
import cv2
import numpy as np
import torch

from basicsr.utils.matlab_functions import imresize

from .face_degraded_dataset import to_tensor


def bicubic_resize(img, size):
    """MATLAB bicubic resize (with antialiasing when shrinking) of a square image to ``size`` x ``size``.

    Args:
        img (ndarray): Float image (h, w, 3) in [0, 1], h = w.
        size (int): Output side.

    Returns:
        ndarray: float32 (size, size, 3), clipped to [0, 1].
    """
    if img.shape[:2] == (size, size):
        return img
    out = imresize(img, size / img.shape[0])
    if out.shape[:2] != (size, size):  # rounding of non-integer scales
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0, 1).astype(np.float32)


def to_uint8(img):
    """Float image in [0, 1] -> uint8, rounded (an image read from an 8-bit file comes back exactly)."""
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def bilinear_resize_8bit(img, size):
    """How the inference scripts of GFPGAN (``GFPGANer.enhance``), GPEN (``FaceGAN.process``) and CodeFormer
    (``inference_codeformer.py --has_aligned``) bring an aligned face to their network size: the 8-bit image
    is resized with OpenCV's bilinear ``cv2.resize`` (``INTER_LINEAR``, OpenCV's fixed-point 8-bit path; also
    at the same size, where it is a copy), then divided by 255.

    Args:
        img (ndarray): Square float BGR face in [0, 1]; brought to 8 bits first (rounded, exact for 8-bit files),
            as those scripts read 8-bit images.
        size (int): Output side.

    Returns:
        ndarray: float32 (size, size, 3) in [0, 1], multiples of 1/255.
    """
    return cv2.resize(to_uint8(img), (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


RESIZERS = {'bicubic': bicubic_resize, 'bilinear-8bit': bilinear_resize_8bit}


def prepare_face(img, in_size, lr_size=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation='bicubic'):
    """An aligned face -> the normalised RGB tensor a method takes.

    Args:
        img (ndarray): Aligned square face, float BGR (h, w, 3) in [0, 1].
        in_size (int): The network's input side.
        lr_size (int | None): For methods trained on LR faces of one size that are then bicubic-upsampled
            (W-Net: 16 or 32 px up to 128), the face is first brought to this size. Default: None.
        mean, std (Sequence[float]): Normalisation, as in the datasets. Default: 0.5 / 0.5, i.e. [-1, 1].
        interpolation (str): 'bicubic' (MATLAB float resizing, as the datasets) or 'bilinear-8bit' (the 8-bit
            OpenCV bilinear resizing of the baselines' scripts, :func:`bilinear_resize_8bit`) to ``in_size``.
            Default: 'bicubic'.

    Returns:
        Tensor: (3, in_size, in_size).
    """
    if lr_size is not None:
        img = bicubic_resize(img, lr_size)
    return to_tensor(RESIZERS[interpolation](img, in_size), mean, std)


QUANTISATIONS = ('round', 'truncate')


def tensor_to_image(tensor, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), quantisation='round'):
    """Normalised RGB tensor (3, h, w) -> uint8 BGR image (h, w, 3), the inverse of :func:`to_tensor`.

    Args:
        tensor (Tensor): Network output (3, h, w).
        mean, std (Sequence[float]): The normalisation to undo. Default: 0.5 / 0.5.
        quantisation (str): 'round' (to the nearest grey level: BasicSR's ``tensor2img``, used by GFPGAN and
            CodeFormer) or 'truncate' (``astype(uint8)`` of the value times 255: GPEN's ``tensor2img``).
            Default: 'round'.
    """
    if quantisation not in QUANTISATIONS:
        raise ValueError(f'quantisation must be one of {QUANTISATIONS}, got {quantisation!r}')
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    rgb = (tensor.detach().float().cpu() * std + mean).clamp_(0, 1)
    scaled = rgb.numpy()[::-1].transpose(1, 2, 0) * 255.0
    return np.ascontiguousarray((scaled.round() if quantisation == 'round' else scaled).astype(np.uint8))
