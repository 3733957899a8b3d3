"""The face-parsing label table used across facesr_arch, and the masks the methods derive from it.

Labels follow CelebAMask-HQ's 19 classes in the order of facexlib's BiSeNet / ParseNet parsing models.
"Left" and "right" are the image's left and right (a horizontal flip swaps them, see ``FLIP_LABELS``).
Parsing sidecars are single-channel PNGs of these indices, one per image, named ``<stem>.png``.
"""
import numpy as np

LABELS = ('background', 'skin', 'left_brow', 'right_brow', 'left_eye', 'right_eye', 'eye_glasses', 'left_ear',
          'right_ear', 'earring', 'nose', 'mouth', 'upper_lip', 'lower_lip', 'neck', 'necklace', 'cloth', 'hair',
          'hat')
NUM_CLASSES = len(LABELS)
LABEL_INDEX = {name: i for i, name in enumerate(LABELS)}

# pairs exchanged by a horizontal flip
FLIP_PAIRS = (('left_brow', 'right_brow'), ('left_eye', 'right_eye'), ('left_ear', 'right_ear'))
FLIP_LABELS = np.arange(NUM_CLASSES)
for _a, _b in FLIP_PAIRS:
    FLIP_LABELS[LABEL_INDEX[_a]], FLIP_LABELS[LABEL_INDEX[_b]] = LABEL_INDEX[_b], LABEL_INDEX[_a]

# key facial regions (W-Net eq. 24-29: eyes, eyebrows, nose, mouth)
KEY_REGIONS = {
    'eyes': ('left_eye', 'right_eye'),
    'brows': ('left_brow', 'right_brow'),
    'nose': ('nose', ),
    'mouth': ('mouth', 'upper_lip', 'lower_lip'),
}


def flip_parsing(labels):
    """Mirror a label map horizontally and swap left/right classes. Returns a new array."""
    return FLIP_LABELS[np.ascontiguousarray(labels[:, ::-1])]


def binary_mask(labels, names):
    """float32 mask, 1 where the label is one of ``names``."""
    return np.isin(labels, [LABEL_INDEX[n] for n in names]).astype(np.float32)


def skin_mask(labels):
    """W-Net's binarised parsing map (section 3.1): skin = 1, everything else 0."""
    return binary_mask(labels, ('skin', ))


def key_region_mask(labels, regions=tuple(KEY_REGIONS)):
    """Union mask of the key regions (eyes, brows, nose, mouth by default)."""
    names = [n for region in regions for n in KEY_REGIONS[region]]
    return binary_mask(labels, names)


BOX_COMPONENTS = {'left_eye': ('left_eye', ), 'right_eye': ('right_eye', ),
                  'mouth': ('mouth', 'upper_lip', 'lower_lip')}


def component_boxes(labels):
    """Boxes [x1, y1, x2, y2] (x2/y2 exclusive) of the eyes and mouth in a label map; None when absent."""
    boxes = {}
    for name, classes in BOX_COMPONENTS.items():
        ys, xs = np.nonzero(np.isin(labels, [LABEL_INDEX[c] for c in classes]))
        boxes[name] = None if len(xs) == 0 else [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return boxes


# iBUG 68-point indices; points 36-41 outline the eye on the image's left (the subject's right eye)
LANDMARK_COMPONENTS = {'left_eye': slice(36, 42), 'right_eye': slice(42, 48), 'mouth': slice(48, 68)}
# half side of a square box / half the larger extent of the component's points: eyes get room for the lids
# and brow gap (GFPGAN enlarges its eye boxes by 1.4), the mouth a little around the lips
LANDMARK_BOX_SCALE = {'left_eye': 1.4, 'right_eye': 1.4, 'mouth': 1.2}


def landmark_boxes(points, width, height, scale=None):
    """GFPGAN-style square eye / mouth boxes [x1, y1, x2, y2] (x2/y2 exclusive) from 68 landmarks.

    Each box is centred on the centre of the component's points (clamped into the image) with half side
    ``scale[name]`` times half the larger extent of those points (at least 1 px), rounded outwards and
    clipped to the image, so that ``0 <= x1 < x2 <= width`` and ``0 <= y1 < y2 <= height``.

    Args:
        points (array-like): (68, 2) (x, y) in pixels, iBUG 68-point order.
        width (int): Image width.
        height (int): Image height.
        scale (dict[str, float] | None): Per-component factor; None: :data:`LANDMARK_BOX_SCALE`.

    Returns:
        dict[str, list[int]]: ``{'left_eye': box, 'right_eye': box, 'mouth': box}`` (image-left/right).
    """
    points = np.asarray(points, np.float64)
    if points.shape != (68, 2):
        raise ValueError(f'expected 68 (x, y) landmarks, got shape {points.shape}')
    scale = scale or LANDMARK_BOX_SCALE
    boxes = {}
    for name, index in LANDMARK_COMPONENTS.items():
        part = points[index]
        low, high = part.min(0), part.max(0)
        cx, cy = np.clip((low + high) / 2, 0, [width - 1, height - 1])
        half = max(scale[name] * (high - low).max() / 2, 1.0)
        boxes[name] = [int(max(0, np.floor(cx - half))), int(max(0, np.floor(cy - half))),
                       int(min(width, np.ceil(cx + half))), int(min(height, np.ceil(cy + half)))]
    return boxes
