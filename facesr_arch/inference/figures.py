"""Labelled strips and grids like the papers' qualitative figures: LR tiles enlarged by nearest neighbour,
zoom boxes with magnified insets at the same place on every tile, per-tile PSNR / SSIM captions, a coloured
parsing-map inset, and the labelled whole-photo comparison tiles."""
import os

import cv2
import numpy as np

from ..data.image_io import IMAGE_EXTENSIONS, ImageDecodeError, read_image
from ..utils.face_parsing import NUM_CLASSES

LABEL_HEIGHT_RATIO = 0.12


def as_uint8(img):
    """uint8 images as they are; float images in [0, 1] rounded to uint8."""
    return img if img.dtype == np.uint8 else np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def fit_tile(img, side):
    """uint8 (or float [0, 1]) BGR image -> uint8 ``side`` x ``side`` tile (area when shrinking, cubic else)."""
    img = as_uint8(img)
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


def labelled_grid(rows, col_labels, side=256, pad=4, row_labels=None, captions=None):
    """Tiles in rows and columns with a label above each column (and left of each row, and under each tile).

    Args:
        rows (list[list[ndarray]]): Images per row, all rows as long as ``col_labels``.
        col_labels (list[str]): Column titles.
        side (int): Tile side. Default: 256.
        pad (int): White gap between tiles. Default: 4.
        row_labels (list[str] | None): Row titles (image names). Default: None.
        captions (list[list[str | None]] | None): A line under each tile (e.g. its PSNR / SSIM), as ``rows``;
            None entries leave the band empty. Default: None (no caption bands).

    Returns:
        ndarray: uint8 BGR figure.
    """
    band_h = max(16, int(side * LABEL_HEIGHT_RATIO))
    columns = len(col_labels)
    if any(len(row) != columns for row in rows):
        raise ValueError(f'every row needs {columns} images ({", ".join(col_labels)})')
    cells = [[label_band(text, side, band_h) for text in col_labels]]
    cells += [[fit_tile(img, side) for img in row] for row in rows]
    if captions is not None:
        for r, row in enumerate(captions, start=1):
            cells[r] = [np.concatenate([tile, label_band(text or '', side, band_h)], axis=0)
                        for tile, text in zip(cells[r], row)]
    column_images = [_stack_with_gaps([row[c] for row in cells], 0, pad) for c in range(columns)]
    if row_labels is not None:
        heights = [band_h] + [side + (band_h if captions is not None else 0)] * len(rows)
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
    """Copy of ``img`` (uint8) with ``small`` resized to ``ratio`` of its side in the top-right corner (the
    bottom corners hold the zoom insets)."""
    out = img.copy()
    side = max(1, int(img.shape[0] * ratio))
    out[:side, -side:] = cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST)
    return out


def find_by_stem(folder, stem):
    """The image in ``folder`` named ``stem`` with any image extension, or None."""
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        path = os.path.join(folder, stem + ext)
        if os.path.isfile(path):
            return path
    return None


def pixelated(img, side):
    """An LR image as a ``side`` tile enlarged by nearest neighbour: its pixels stay visible as blocks, so it
    does not look like a bicubic upsampling of itself."""
    img = as_uint8(img)
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_NEAREST)


def draw_box(tile, box, color=(0, 0, 255), thickness=None):
    """Copy of ``tile`` with the outline of ``box`` (x, y, w, h as fractions of the side) drawn in ``color``."""
    out = tile.copy()
    side = tile.shape[0]
    thickness = thickness or max(1, side // 128)
    x, y, w, h = (int(round(v * side)) for v in box)
    cv2.rectangle(out, (x, y), (min(side - 1, x + w - 1), min(side - 1, y + h - 1)), color, thickness)
    return out


def crop_fraction(img, box):
    """The region ``box`` (x, y, w, h as fractions of the side) of a square image, at least one pixel."""
    h_img, w_img = img.shape[:2]
    x0, y0 = int(np.floor(box[0] * w_img)), int(np.floor(box[1] * h_img))
    x1 = max(x0 + 1, int(np.ceil((box[0] + box[2]) * w_img)))
    y1 = max(y0 + 1, int(np.ceil((box[1] + box[3]) * h_img)))
    return img[y0:min(y1, h_img), x0:min(x1, w_img)]


INSET_CORNERS = ('bottom-left', 'bottom-right')
INSET_COLORS = ((0, 0, 255), (255, 160, 0))  # BGR: red, blue


def zoom_insets(tile, source, boxes, nearest=False, ratio=0.42):
    """Copy of ``tile`` with each zoom box outlined and its magnified crop inset in a bottom corner.

    The crops are taken from ``source`` (the image at its own resolution, so a 512 px output keeps its detail
    in a 256 px tile) and the boxes are fractions of the side, so every tile of a figure gets its boxes and
    insets in the same place whatever the resolution of its image.

    Args:
        tile (ndarray): uint8 square tile.
        source (ndarray): uint8 image the tile shows.
        boxes (list[tuple[float, float, float, float]]): Up to two (x, y, w, h) boxes, fractions of the side;
            the first inset goes bottom-left, the second bottom-right.
        nearest (bool): Enlarge the crops by nearest neighbour (LR tiles). Default: False (cubic).
        ratio (float): Inset side over tile side. Default: 0.42.

    Returns:
        ndarray: The tile with boxes and insets.
    """
    if len(boxes) > len(INSET_CORNERS):
        raise ValueError(f'at most {len(INSET_CORNERS)} zoom boxes, got {len(boxes)}')
    side = tile.shape[0]
    out = tile
    for box, color in zip(boxes, INSET_COLORS):
        out = draw_box(out, box, color)
    inset_side = max(2, int(side * ratio))
    border = max(1, side // 128)
    for box, corner, color in zip(boxes, INSET_CORNERS, INSET_COLORS):
        crop = crop_fraction(source, box)
        aspect = box[2] / box[3]  # of the box, not of the crop: the same inset size at every resolution
        w = inset_side if aspect >= 1 else max(1, int(round(inset_side * aspect)))
        h = inset_side if aspect < 1 else max(1, int(round(inset_side / aspect)))
        interpolation = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if crop.shape[1] > w else cv2.INTER_CUBIC)
        zoomed = cv2.copyMakeBorder(cv2.resize(crop, (w, h), interpolation=interpolation),
                                    border, border, border, border, cv2.BORDER_CONSTANT, value=color)
        h, w = zoomed.shape[:2]
        x = 0 if corner == 'bottom-left' else side - w
        out[side - h:, x:x + w] = zoomed
    return out


def parse_zoom_box(text):
    """``'x,y,w,h'`` (pixels) -> tuple of four ints; ValueError naming the expected form."""
    parts = text.split(',')
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0 or min(values[:2]) < 0:
        raise ValueError(f'--zoom takes x,y,w,h in pixels of the GT / output image (w, h > 0), got {text!r}')
    return values


def component_boxes(boxes):
    """Zoom boxes for the eyes and the mouth from one image's facial-component boxes (``data.sidecars``:
    ``left_eye`` / ``right_eye`` / ``mouth`` as [x1, y1, x2, y2] pixels): the two eyes' union and the mouth,
    each padded by a quarter of its size. Returns pixel (x, y, w, h) boxes."""
    out = []
    eyes = [boxes[k] for k in ('left_eye', 'right_eye') if k in boxes]
    groups = ([[min(b[0] for b in eyes), min(b[1] for b in eyes), max(b[2] for b in eyes), max(b[3] for b in eyes)]]
              if eyes else []) + ([boxes['mouth']] if 'mouth' in boxes else [])
    for x1, y1, x2, y2 in groups:
        pad_x, pad_y = (x2 - x1) / 4, (y2 - y1) / 4
        out.append((x1 - pad_x, y1 - pad_y, x2 - x1 + 2 * pad_x, y2 - y1 + 2 * pad_y))
    return out


def to_fractions(box, width, height):
    """A pixel (x, y, w, h) box of a ``width`` x ``height`` image as fractions, clipped to the image."""
    x0, y0 = max(0.0, box[0] / width), max(0.0, box[1] / height)
    x1, y1 = min(1.0, (box[0] + box[2]) / width), min(1.0, (box[1] + box[3]) / height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f'zoom box {tuple(box)} lies outside the {width}x{height} image')
    return (x0, y0, x1 - x0, y1 - y0)


def tile_scores(img, gt, names=('psnr_y', 'ssim_y')):
    """PSNR-Y / SSIM-Y (``facesr_arch.metrics.catalog``) of one uint8 image against its uint8 GT, as a caption
    such as ``'24.31 dB / 0.7123'``, or None when the sizes differ (an LR input is not scored)."""
    if gt is None or img.shape != gt.shape:
        return None
    import torch

    from ..metrics.catalog import METRICS, build_metric
    values = []
    for name in names:
        scorer = _SCORERS.get(name) or _SCORERS.setdefault(name, build_metric(name))
        tensors = [torch.from_numpy(np.ascontiguousarray(a[:, :, ::-1].transpose(2, 0, 1))).float().div(255)[None]
                   for a in (img, gt)]
        with torch.no_grad():
            value = float(scorer(*tensors)[0])
        info = METRICS[name]
        values.append(f'{value:.{info.decimals}f}' + (f' {info.unit}' if info.unit else ''))
    return ' / '.join(values)


_SCORERS = {}


def _read_or_none(folder, stem):
    path = find_by_stem(folder, stem)
    if path is None:
        return None
    try:
        img = read_image(path)
    except ImageDecodeError:
        return None
    return as_uint8(img)


def comparison_grid(columns, names, side=256, gt_dir=None, zoom=None, component_boxes_by_stem=None,
                    parsing_dir=None, parsing_column=0, row_labels=True, scores=True):
    """A paper-style qualitative figure: LR | methods | GT, one row per image.

    The first column is the LR input, enlarged by nearest neighbour (its pixels visible). With ``gt_dir``
    each method tile is captioned with its PSNR-Y / SSIM-Y against the GT (images of another size than the
    GT are not scored). Zoom boxes are outlined and their magnified crops inset in the same place on every
    tile of a row: the user's box ``zoom`` (pixels of the GT, or of the first method's output without GT),
    else the eyes and the mouth from ``component_boxes_by_stem`` (``data.sidecars`` component boxes of
    the GT images) when it has the image.

    Args:
        columns (list[tuple[str, str]]): (label, folder) per column; the first is the LR column.
        names (list[str]): Image stems, one row each.
        side (int): Tile side. Default: 256.
        gt_dir (str | None): Ground-truth folder (also the last column when it is one of ``columns``).
        zoom (tuple[int, int, int, int] | None): x, y, w, h in pixels. Default: None.
        component_boxes_by_stem (dict | None): ``{stem: {"left_eye": [x1, y1, x2, y2], ...}}``. Default: None.
        parsing_dir (str | None): Parsing label maps (``<stem>.png``) inset top-right in ``parsing_column``.
        parsing_column (int): Column of the parsing inset. Default: 0 (LR).
        row_labels (bool): Image names left of the rows. Default: True.
        scores (bool): Caption the tiles with PSNR-Y / SSIM-Y when ``gt_dir`` is given. Default: True.

    Returns:
        tuple[ndarray, list[str]]: The figure and the 'folder/stem' entries that were missing (gray tiles).
    """
    rows, captions, missing = [], [], []
    for name in names:
        images = []
        for _, folder in columns:
            img = _read_or_none(folder, name)
            if img is None:
                missing.append(f'{folder}/{name}')
            images.append(img)
        gt = _read_or_none(gt_dir, name) if gt_dir else None
        reference = gt if gt is not None else next((img for img in images[1:] if img is not None), None)
        boxes = []
        if reference is not None:
            ref_h, ref_w = reference.shape[:2]
            if zoom is not None:
                boxes = [to_fractions(zoom, ref_w, ref_h)]
            elif component_boxes_by_stem and name in component_boxes_by_stem:
                boxes = [to_fractions(b, ref_w, ref_h) for b in component_boxes(component_boxes_by_stem[name])]
        row, caption = [], []
        for index, img in enumerate(images):
            if img is None:
                row.append(np.full((side, side, 3), 128, np.uint8))
                caption.append('missing')
                continue
            is_lr = index == 0
            tile = pixelated(img, side) if is_lr else fit_tile(img, side)
            if boxes:
                tile = zoom_insets(tile, img, boxes, nearest=is_lr)
            parsing_path = find_by_stem(parsing_dir, name) if parsing_dir and index == parsing_column else None
            if parsing_path:
                tile = inset_corner(tile, colorize_parsing(cv2.imread(parsing_path, cv2.IMREAD_GRAYSCALE)))
            row.append(tile)
            if is_lr:
                caption.append(f'{img.shape[1]}x{img.shape[0]} px')
            elif gt is not None and np.array_equal(img, gt):  # the GT column: what the numbers are
                caption.append('PSNR-Y / SSIM-Y' if scores else None)
            else:
                caption.append(tile_scores(img, gt) if scores and gt is not None else None)
        rows.append(row)
        captions.append(caption)
    labels = [label for label, _ in columns]
    show_captions = captions if any(text for row in captions for text in row) else None
    return labelled_grid(rows, labels, side=side, row_labels=names if row_labels else None,
                         captions=show_captions), missing


CMP_MIN_SIDE = 256  # whole-photo comparison tiles: labels of ~30 px height stay readable


def labelled_pair(crop, face, label, min_side=CMP_MIN_SIDE):
    """A whole-photo comparison tile: the aligned input crop (nearest-enlarged, pixels visible) beside the
    restored face, both at least ``min_side`` px, each under a label (``'input WxH px'``, ``label``)."""
    crop = as_uint8(crop)
    side = max(min_side, face.shape[0])
    h, w = crop.shape[:2]
    return labelled_grid([[pixelated(crop, side), face]], [f'input {w}x{h} px', label], side=side)
