"""Decoding and atomic writing of face images, tolerant of the formats users actually have."""
import io
import os
import tempfile

import cv2
import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
MAX_IMAGE_PIXELS = 1 << 26  # 67M pixels (8192^2, 0.8 GiB as float32 RGB): more is a broken header or a bomb


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
    _check_dimensions(content, source)
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


def _check_dimensions(content, source):
    """Refuse images whose header declares more than ``MAX_IMAGE_PIXELS`` before decoding allocates them."""
    try:
        with Image.open(io.BytesIO(content)) as header:  # reads the header only
            width, height = header.size
    except Image.DecompressionBombError as err:  # Pillow's own limit (twice its MAX_IMAGE_PIXELS)
        raise ImageDecodeError(f'{source}: {err} (a corrupt header or a decompression bomb)') from None
    except Exception:  # a format Pillow does not know, or garbage: OpenCV decides
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageDecodeError(f'{source}: declares {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} '
                               'accepted (a corrupt header or a decompression bomb)')


def read_image(path, return_bit_depth=False):
    """Read and decode an image file (see :func:`decode_image`)."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as err:
        raise ImageDecodeError(f'{path}: cannot read ({err.strerror})') from err
    return decode_image(content, path, return_bit_depth)


def umask_mode(directory=False):
    """The mode ``open`` / ``os.makedirs`` would give a new file (0o666) or folder (0o777) under the user's umask.

    ``tempfile.mkstemp`` / ``mkdtemp`` create 0600 / 0700 whatever the umask: outputs renamed from them get
    this mode instead, as if written directly.
    """
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def write_atomic(path, data):
    """Write bytes to ``path`` through a temporary file in the same folder and a rename (mode from the umask)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=os.path.splitext(path)[1])
    try:
        os.chmod(tmp, umask_mode())
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


def images_by_stem(folder):
    """{file stem: path} of the images in ``folder``, sorted by stem (outputs and keys are named by stem).

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: Two images share a stem (``face.png`` and ``face.jpg``), naming both files: one would
            silently stand for the other.
    """
    files = {}
    for path in list_images(folder):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in files:
            raise ValueError(f'{files[stem]} and {path} share the stem {stem!r}; outputs and keys are named by '
                             'stem, so rename or move one of them')
        files[stem] = path
    return dict(sorted(files.items()))
