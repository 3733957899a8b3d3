"""Decoding and atomic writing of face images, tolerant of the formats users actually have."""
import os
import tempfile

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


class ImageDecodeError(ValueError):
    """An image file or LMDB entry that cannot be decoded."""


def decode_image(content, source, return_bit_depth=False):
    """Decode image bytes to a float32 BGR array in [0, 1], shape (h, w, 3).

    Gray images are replicated to three channels, alpha is composited over white (faces cut out on a
    transparent background stay faces), 16-bit images keep their precision.

    Args:
        content (bytes | None): Encoded image.
        source (str): File path or LMDB key, for error messages.
        return_bit_depth (bool): Also return the stored bit depth (8 or 16). Default: False.

    Raises:
        ImageDecodeError: Empty, truncated or non-image content.
    """
    if not content:
        raise ImageDecodeError(f'{source}: empty file or missing data')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageDecodeError(f'{source}: not a decodable image (corrupt, truncated or not an image)')
    bit_depth = 16 if img.dtype == np.uint16 else 8
    if img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    elif img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    else:
        img = np.clip(img.astype(np.float32), 0, 1)
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels == 1:
        img = np.repeat(img, 3, axis=2)
    elif channels == 2:  # gray + alpha
        img = np.repeat(img[:, :, :1], 3, axis=2) * img[:, :, 1:] + (1 - img[:, :, 1:])
    elif channels == 4:
        img = img[:, :, :3] * img[:, :, 3:] + (1 - img[:, :, 3:])
    elif channels != 3:
        raise ImageDecodeError(f'{source}: unsupported channel count {channels}')
    img = np.ascontiguousarray(img)
    return (img, bit_depth) if return_bit_depth else img


def read_image(path, return_bit_depth=False):
    """Read and decode an image file (see :func:`decode_image`)."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as err:
        raise ImageDecodeError(f'{path}: cannot read ({err.strerror})') from err
    return decode_image(content, path, return_bit_depth)


def write_atomic(path, data):
    """Write bytes to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_image_atomic(path, img):
    """Encode an image (uint8/uint16 BGR array) by its extension and write it atomically."""
    ok, buf = cv2.imencode(os.path.splitext(path)[1] or '.png', img)
    if not ok:
        raise ValueError(f'Cannot encode image for {path}')
    write_atomic(path, buf.tobytes())


def list_images(folder):
    """Sorted image files (by extension, case-insensitive) directly in ``folder``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'Image folder not found: {folder}')
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [os.path.join(folder, n) for n in names]
