"""Per-image sidecars keyed by image stem: face-parsing maps and facial-component boxes.

Parsing maps: a folder of ``<stem>.png`` single-channel uint8 label maps in the order of
``facesr_arch.utils.face_parsing.LABELS``, any resolution (resized nearest to the training size).
Component boxes: one JSON file ``{stem: {"left_eye": [x1, y1, x2, y2], "right_eye": [...], "mouth": [...]}}``
in pixel coordinates of the stored HQ image; "left"/"right" are the image's left and right, as in the
label table. Both are looked up by stem, never by dataset index, and reads return new arrays, so a flip
never touches what is cached.
"""
import json
import os

import cv2
import numpy as np

from ..toolkit.errors import UserError
from ..utils.face_parsing import FLIP_PAIRS, NUM_CLASSES, flip_parsing

COMPONENTS = ('left_eye', 'right_eye', 'mouth')


class SidecarError(UserError, KeyError):
    """A sidecar missing, or malformed, for one image key."""

    def __str__(self):
        return self.args[0]


class ParsingMaps:
    """Label maps from ``root/<stem>.png``.

    Args:
        root (str): Folder of single-channel label PNGs.
    """

    def __init__(self, root):
        if not os.path.isdir(root):
            raise FileNotFoundError(f'Parsing-map folder not found: {root} (parsing_root); '
                                    'see datasets/README.md for how to make one')
        self.root = root

    def read(self, key, size):
        """The label map of ``key`` as int64 (size, size), nearest-resized.

        Raises:
            SidecarError: No file for the key, not a single-channel 8-bit map, or labels out of range.
        """
        path = os.path.join(self.root, f'{key}.png')
        if not os.path.isfile(path):
            raise SidecarError(f'No parsing map for image key {key!r}: expected {path}')
        labels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if labels is None or labels.ndim != 2 or labels.dtype != np.uint8:
            raise SidecarError(f'Parsing map {path} (key {key!r}) must be a single-channel 8-bit PNG of labels')
        if labels.max() >= NUM_CLASSES:
            raise SidecarError(f'Parsing map {path} (key {key!r}) holds label {labels.max()}; '
                               f'labels are 0..{NUM_CLASSES - 1}')
        if labels.shape != (size, size):
            labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
        return labels.astype(np.int64)


class ComponentBoxes:
    """Eye and mouth boxes from one JSON file.

    Args:
        path (str): JSON ``{stem: {"left_eye": [x1, y1, x2, y2], "right_eye": [...], "mouth": [...]}}``.
    """

    def __init__(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'Component-box file not found: {path} (components_file)')
        with open(path) as f:
            self._boxes = json.load(f)
        self.path = path

    def read(self, key, source_size, size):
        """Boxes of ``key`` scaled from the stored image's (h, w) ``source_size`` to (size, size).

        Returns:
            dict[str, ndarray]: Component name -> float32 [x1, y1, x2, y2] (new arrays).

        Raises:
            SidecarError: The key, or one of its components, is missing from the file.
        """
        if key not in self._boxes:
            raise SidecarError(f'No component boxes for image key {key!r} in {self.path}')
        entry = self._boxes[key]
        scale = np.array([size / source_size[1], size / source_size[0]] * 2, np.float32)
        boxes = {}
        for name in COMPONENTS:
            if name not in entry or len(entry[name]) != 4:
                raise SidecarError(f'Component {name!r} of image key {key!r} missing or not [x1, y1, x2, y2] '
                                   f'in {self.path}')
            boxes[name] = np.asarray(entry[name], np.float32) * scale
        return boxes


def flip_boxes(boxes, width):
    """Mirror boxes horizontally in an image of ``width`` px and swap left/right components.

    Returns:
        dict[str, ndarray]: New boxes; the input is left untouched.
    """
    mirrored = {name: np.array([width - box[2], box[1], width - box[0], box[3]], np.float32)
                for name, box in boxes.items()}
    swap = {}
    for left, right in FLIP_PAIRS:
        swap[left], swap[right] = right, left
    return {swap.get(name, name): box for name, box in mirrored.items()}


__all__ = ['COMPONENTS', 'ComponentBoxes', 'ParsingMaps', 'SidecarError', 'flip_boxes', 'flip_parsing']
