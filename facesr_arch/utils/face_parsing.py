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
