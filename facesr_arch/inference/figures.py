"""Labelled strips and grids like the papers' qualitative figures, and a coloured parsing-map inset."""
import os

import cv2
import numpy as np

from ..toolkit.inputs import IMAGE_EXTENSIONS, ImageDecodeError, read_image
from ..utils.face_parsing import NUM_CLASSES

LABEL_HEIGHT_RATIO = 0.12


def fit_tile(img, side):
    """uint8 (or float [0, 1]) BGR image -> uint8 ``side`` x ``side`` tile (area when shrinking, cubic else)."""
    if img.dtype != np.uint8:
        img = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    if img.shape[:2] == (side, side):
        return img
    interpolation = cv2.INTER_AREA if img.shape[0] > side else cv2.INTER_CUBIC
    return cv2.resize(img, (side, side), interpolation=interpolation)


def label_band(text, width, height):
    """A white band of ``width`` x ``height`` with ``text`` centred in black, shrunk to fit."""
    band = np.full((height, width, 3), 255, np.uint8)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, height // 20)
    scale = height / 40.0
    (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
    if text_w > width * 0.95:
        scale *= width * 0.95 / text_w
        (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((width - text_w) // 2, (height + text_h) // 2)
    cv2.putText(band, text, origin, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return band


def _stack_with_gaps(images, axis, pad):
    """Concatenate ``images`` along ``axis`` (0: vertically, 1: horizontally) with white ``pad`` px gaps."""
    parts = []
    for image in images:
        if parts:
            gap_shape = (pad, image.shape[1], 3) if axis == 0 else (image.shape[0], pad, 3)
            parts.append(np.full(gap_shape, 255, np.uint8))
        parts.append(image)
    return np.concatenate(parts, axis=axis)


def labelled_grid(rows, col_labels, side=256, pad=4, row_labels=None):
    """Tiles in rows and columns with a label above each column (and left of each row).

    Args:
        rows (list[list[ndarray]]): Images per row, all rows as long as ``col_labels``.
        col_labels (list[str]): Column titles.
        side (int): Tile side. Default: 256.
        pad (int): White gap between tiles. Default: 4.
        row_labels (list[str] | None): Row titles (image names). Default: None.

    Returns:
        ndarray: uint8 BGR figure.
    """
    band_h = max(16, int(side * LABEL_HEIGHT_RATIO))
    columns = len(col_labels)
    if any(len(row) != columns for row in rows):
        raise ValueError(f'every row needs {columns} images ({", ".join(col_labels)})')
    cells = [[label_band(text, side, band_h) for text in col_labels]]
    cells += [[fit_tile(img, side) for img in row] for row in rows]
    column_images = [_stack_with_gaps([row[c] for row in cells], 0, pad) for c in range(columns)]
    if row_labels is not None:
        heights = [band_h] + [side] * len(rows)
        names = [''] + list(row_labels)
        bands = [np.rot90(label_band(name, h, band_h)) if name else np.full((h, band_h, 3), 255, np.uint8)
                 for name, h in zip(names, heights)]
        column_images.insert(0, _stack_with_gaps(bands, 0, pad))
    return np.ascontiguousarray(_stack_with_gaps(column_images, 1, pad))


def colorize_parsing(labels):
    """Parsing label map (h, w) of ``utils.face_parsing`` indices -> uint8 BGR colours (background black)."""
    hues = (np.arange(NUM_CLASSES) * 180 // NUM_CLASSES).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 200), np.full_like(hues, 255)], axis=1)[None]
    palette = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]
    palette[0] = 0
    return palette[np.clip(labels, 0, NUM_CLASSES - 1)]


def inset_corner(img, small, ratio=0.3):
    """Copy of ``img`` (uint8) with ``small`` resized to ``ratio`` of its side in the bottom-right corner."""
    out = img.copy()
    side = max(1, int(img.shape[0] * ratio))
    out[-side:, -side:] = cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST)
    return out


def find_by_stem(folder, stem):
    """The image in ``folder`` named ``stem`` with any image extension, or None."""
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        path = os.path.join(folder, stem + ext)
        if os.path.isfile(path):
            return path
    return None


def read_tile(folder, stem, side):
    """The image ``stem`` of ``folder`` as a ``side`` tile, or a gray tile if it is missing or unreadable.

    Returns:
        tuple[ndarray, bool]: The tile and whether the image was found and read.
    """
    path = find_by_stem(folder, stem)
    if path is not None:
        try:
            return fit_tile(read_image(path), side), True
        except ImageDecodeError:
            pass
    return np.full((side, side, 3), 128, np.uint8), False
