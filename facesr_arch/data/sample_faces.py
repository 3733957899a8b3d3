"""Face images made on the spot from the portrait scikit-image ships (a BasicSR dependency): for the demo and for
running the test suite where no face data is at hand. They are crops of one face, so they exercise code paths,
not a method's quality."""
import os

import cv2
import numpy as np

# the astronaut portrait (512 x 512): face centre and half-side of an FFHQ-like crop
_CENTRE, _HALF = (130, 250), 108


def portrait_faces(count, size, seed=0, low_quality=False, gray=False):
    """``count`` different aligned-style faces of ``size`` px (uint8 BGR) cut from scikit-image's astronaut.

    Each face has its own small shift, zoom, brightness and horizontal flip, drawn from ``seed``.

    Args:
        count (int): Number of faces.
        size (int): Side in pixels.
        seed (int): Seed of the variations. Default: 0.
        low_quality (bool): Degrade like an old photo: downscaled 4x-8x and back, noise, JPEG 30-60.
            Default: False.
        gray (bool): Gray faces (three equal channels). Default: False.

    Returns:
        list[ndarray]: ``count`` uint8 arrays of shape (size, size, 3).
    """
    from skimage.data import astronaut
    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(seed)
    faces = []
    for i in range(count):
        half = _HALF + int(rng.integers(-8, 9))
        cy, cx = _CENTRE[0] + int(rng.integers(-6, 7)), _CENTRE[1] + int(rng.integers(-6, 7))
        crop = img[max(cy - half, 0):cy + half, cx - half:cx + half]
        interpolation = cv2.INTER_AREA if crop.shape[0] >= size else cv2.INTER_CUBIC
        face = cv2.resize(crop, (size, size), interpolation=interpolation).astype(np.float32)
        face = np.clip(face * rng.uniform(0.85, 1.15) + rng.uniform(-12, 12), 0, 255)
        if i % 2:
            face = face[:, ::-1]
        if low_quality:
            small = max(size // int(rng.integers(4, 9)), 8)
            face = cv2.resize(cv2.resize(face, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                              interpolation=cv2.INTER_CUBIC)
            face = np.clip(face + rng.normal(0, 4, face.shape), 0, 255)
        face = face.astype(np.uint8)
        if low_quality:
            quality = int(rng.integers(30, 61))
            face = cv2.imdecode(cv2.imencode('.jpg', face, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
        if gray:
            face = cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        faces.append(np.ascontiguousarray(face))
    return faces


def write_portrait_faces(folder, names, size, seed=0, **kwargs):
    """Write :func:`portrait_faces` as PNG files ``folder/<name>`` (one per name); returns ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for name, face in zip(names, portrait_faces(len(names), size, seed, **kwargs)):
        cv2.imwrite(os.path.join(folder, name), face)
    return folder
