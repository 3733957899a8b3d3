"""Image inputs of every command and dataset: one listing and one decoding path.

- :func:`list_images` / :func:`images_by_stem`: the image files directly in a folder, by extension. A folder
  named like an image (``x.png/``), a broken link and a link loop are skipped and listed (a warning on the
  ``facesr_arch.inputs`` logger, always written to stderr); two images sharing a stem (``face.png`` and
  ``face.jpg``) are refused, naming both, because outputs and keys are named by stem. A stem is the name
  without its last extension, kept as it is (``dots.in.name.png`` -> ``dots.in.name``).
- :func:`decode_image` / :func:`read_image`: float32 BGR in [0, 1] from any common format; a header that
  declares more pixels than the caller accepts is refused before decoding allocates them; the codec's own
  messages (libpng's ``libpng error: ...``) are kept off stderr, the error names the file instead.
"""
import contextlib
import io
import logging
import os
import sys
import threading

from .errors import MissingInputError, UserError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
MAX_IMAGE_PIXELS = 1 << 26  # 67M pixels (8192^2, 0.8 GiB as float32 RGB): more is a broken header or a bomb



class _StderrHandler(logging.Handler):
    """Writes each record to the ``sys.stderr`` of the moment (a command's terminal, or what captures it)."""

    def emit(self, record):
        print(self.format(record), file=sys.stderr, flush=True)


# the entries a listing skips: always shown, whatever logging the host (BasicSR, a test runner) set up
logger = logging.getLogger('facesr_arch.inputs')
logger.addHandler(_StderrHandler())
logger.propagate = False


class ImageDecodeError(UserError, ValueError):
    """An image file or LMDB entry that cannot be decoded (or is larger than accepted)."""


class DuplicateStemError(UserError, ValueError):
    """Two images of one folder share a stem (outputs and keys are named by stem)."""


def stem(path):
    """The file name without its last extension (``dots.in.name.png`` -> ``dots.in.name``)."""
    return os.path.splitext(os.path.basename(path))[0]


def list_images(folder):
    """Sorted image files (by extension, case-insensitive) directly in ``folder``.

    Entries named like images that are not readable files (a folder ``x.png/``, a broken link, a link loop)
    are skipped, each listed as a warning.

    Raises:
        MissingInputError: ``folder`` is not a folder.
    """
    if not os.path.isdir(folder):
        raise MissingInputError(f'Image folder not found: {folder}')
    paths = []
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith(IMAGE_EXTENSIONS):
            continue
        path = os.path.join(folder, name)
        problem = _not_a_file(path)
        if problem:
            logger.warning(f'skipped {path}: {problem}')
        else:
            paths.append(path)
    return paths


def _not_a_file(path):
    """Why ``path`` (named like an image) cannot be read as one, or None."""
    try:
        os.stat(path)
    except OSError as err:  # a broken link, a link loop (ELOOP), no permission
        return f'cannot be read ({err.strerror}: a broken link or a link loop?)'
    if os.path.isdir(path):
        return 'a folder named like an image, not an image'
    if not os.path.isfile(path):
        return 'not a regular file'
    return None


def images_by_stem(folder):
    """{file stem: path} of the images in ``folder``, sorted by stem (outputs and keys are named by stem).

    Raises:
        MissingInputError: ``folder`` does not exist.
        DuplicateStemError: Two images share a stem (``face.png`` and ``face.jpg``), naming both files: one would
            silently stand for the other.
    """
    files = {}
    for path in list_images(folder):
        key = stem(path)
        if key in files:
            raise DuplicateStemError(f'{files[key]} and {path} share the stem {key!r}; outputs and keys are named '
                                     'by stem, so rename or move one of them')
        files[key] = path
    return dict(sorted(files.items()))


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the process's stderr file descriptor (C libraries print there directly) for the block."""
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to keep quiet
            yield
            return
        try:
            with open(os.devnull, 'wb') as devnull:
                os.dup2(devnull.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def decode_image(content, source, return_bit_depth=False, max_pixels=MAX_IMAGE_PIXELS):
    """Decode image bytes to a float32 BGR array in [0, 1], shape (h, w, 3).

    Gray images are replicated to three channels, alpha is composited over white (faces cut out on a
    transparent background stay faces), 16-bit images keep their precision.

    Args:
        content (bytes | None): Encoded image.
        source (str): File path or LMDB key, for error messages.
        return_bit_depth (bool): Also return the stored bit depth (8 or 16). Default: False.
        max_pixels (int): Largest width x height accepted (checked on the header, before decoding).
            Default: :data:`MAX_IMAGE_PIXELS`.

    Raises:
        ImageDecodeError: Empty, truncated, non-image or too large content.
    """
    import cv2
    import numpy as np
    if not content:
        raise ImageDecodeError(f'{source}: empty file or missing data')
    _check_dimensions(content, source, max_pixels)
    with _quiet_stderr():
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


def _check_dimensions(content, source, max_pixels):
    """Refuse images whose header declares more than ``max_pixels`` before decoding allocates them."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(content)) as header:  # reads the header only
            width, height = header.size
    except Image.DecompressionBombError as err:  # Pillow's own limit (twice its MAX_IMAGE_PIXELS)
        raise ImageDecodeError(f'{source}: {err} (a corrupt header or a decompression bomb)') from None
    except Exception:  # a format Pillow does not know, or garbage: OpenCV decides
        return
    if width * height > max_pixels:
        why = ('a corrupt header or a decompression bomb' if max_pixels >= MAX_IMAGE_PIXELS
               else 'downscale it or crop the face')
        raise ImageDecodeError(f'{source}: declares {width}x{height} pixels, more than the {max_pixels} accepted '
                               f'({why})')


def read_image(path, return_bit_depth=False, max_pixels=MAX_IMAGE_PIXELS):
    """Read and decode an image file (see :func:`decode_image`)."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as err:
        raise ImageDecodeError(f'{path}: cannot read ({err.strerror})') from err
    return decode_image(content, path, return_bit_depth, max_pixels)
