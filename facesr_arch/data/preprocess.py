"""Turning an image into a network input and a network output back into an image.

The same functions serve the datasets' conventions (BGR float in [0, 1], MATLAB bicubic resizing as in
``degradations.py``, normalisation by ``to_tensor``) and inference, so a face is prepared for a model
exactly the way it was prepared during training.
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


def bilinear_resize(img, size):
    """OpenCV bilinear (``INTER_LINEAR``) resize of a square float image to ``size`` x ``size``: how the
    inference scripts of GFPGAN, GPEN and CodeFormer bring aligned faces to their network size."""
    if img.shape[:2] == (size, size):
        return img
    return np.clip(cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32)


RESIZERS = {'bicubic': bicubic_resize, 'bilinear': bilinear_resize}


def prepare_face(img, in_size, lr_size=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation='bicubic'):
    """An aligned face -> the normalised RGB tensor a method takes.

    Args:
        img (ndarray): Aligned square face, float BGR (h, w, 3) in [0, 1].
        in_size (int): The network's input side.
        lr_size (int | None): For methods trained on LR faces of one size that are then bicubic-upsampled
            (W-Net: 16 or 32 px up to 128), the face is first brought to this size. Default: None.
        mean, std (Sequence[float]): Normalisation, as in the datasets. Default: 0.5 / 0.5, i.e. [-1, 1].
        interpolation (str): 'bicubic' (MATLAB, as the datasets) or 'bilinear' (OpenCV) resizing to
            ``in_size``. Default: 'bicubic'.

    Returns:
        Tensor: (3, in_size, in_size).
    """
    if lr_size is not None:
        img = bicubic_resize(img, lr_size)
    return to_tensor(RESIZERS[interpolation](img, in_size), mean, std)


def tensor_to_image(tensor, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    """Normalised RGB tensor (3, h, w) -> uint8 BGR image (h, w, 3), the inverse of :func:`to_tensor`."""
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    rgb = (tensor.detach().float().cpu() * std + mean).clamp_(0, 1)
    return np.ascontiguousarray((rgb.numpy()[::-1].transpose(1, 2, 0) * 255.0).round().astype(np.uint8))
