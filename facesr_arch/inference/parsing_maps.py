"""Parsing sidecars for a face folder or LMDB: ``<stem>.png`` label maps and eye/mouth boxes (the command line is
:mod:`facesr_arch.cli.prepare_parsing`).

Each sidecar is a single-channel PNG of label indices in the order of :mod:`facesr_arch.utils.face_parsing`
at the image's own size, named by the image stem (the LMDB key for an LMDB). The boxes are
``{stem: {"left_eye": [x1, y1, x2, y2], "right_eye": [...], "mouth": [...]}}`` in pixel coordinates
(image-left/right, inclusive-exclusive): GFPGAN-style square boxes around each component of facial landmarks
when a landmark model is given (PVFR crops its components from facial landmarks, section 3.4), else derived
from the parsing map (a component absent from a map is ``null``).
"""
import json
import os
import sys

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..archs.parsing_arch import build_face_parser
from ..data.image_io import ImageDecodeError, decode_image, list_images, read_image, write_atomic
from ..data.lmdb_util import LmdbReader, read_meta_keys
from ..metrics.landmark import LandmarkDistance
from ..utils.face_parsing import component_boxes, landmark_boxes


def iter_images(source):
    """(stem, loader) pairs for a folder of images or a BasicSR LMDB."""
    if os.path.isdir(source) and os.path.isfile(os.path.join(source, 'meta_info.txt')) and \
            os.path.isfile(os.path.join(source, 'data.mdb')):
        reader = LmdbReader(source)
        for key in read_meta_keys(source):
            yield key, lambda key=key: decode_image(reader.get(key), f'{source}:{key}')
    else:
        for path in list_images(source):
            yield os.path.splitext(os.path.basename(path))[0], lambda path=path: read_image(path)


@torch.no_grad()
def parse_image(parser, img_bgr, size, device):
    """float BGR [0, 1] (h, w, 3) -> uint8 labels (h, w): argmax at ``size``, nearest-resized back."""
    h, w = img_bgr.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(img_bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None].to(device)
    x = F.interpolate(x * 2 - 1, size=(size, size), mode='bilinear', align_corners=False)
    labels = parser(x).argmax(1)[0].byte().cpu().numpy()
    return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)


def image_landmarks(detector, img_bgr, device):
    """68 landmarks (68, 2) in pixels of a float BGR [0, 1] (h, w, 3) image, by the metric's FAN decoding."""
    x = torch.from_numpy(np.ascontiguousarray(img_bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None].to(device)
    return detector.landmarks(x)[0].numpy()


def prepare_parsing(source, output, weights, arch='parsenet', size=512, boxes_path=None, device='cpu',
                    parser_options=None, landmarks=None):
    """Write ``<output>/<stem>.png`` for every image of ``source``; returns (written stems, failures).

    Args:
        source (str): Image folder or BasicSR LMDB.
        output (str): Sidecar folder (not ``source``).
        weights (str): Parsing weight file.
        arch (str): 'parsenet' or 'bisenet'. Default: 'parsenet'.
        size (int): Working resolution of the parser. Default: 512.
        boxes_path (str | None): Write the eye/mouth boxes JSON here. Default: None.
        device (str): Where the networks run. Default: 'cpu'.
        parser_options (dict | None): Extra options of :func:`build_face_parser`. Default: None.
        landmarks (str | None): facexlib FAN file; the boxes then come from its landmarks
            (:func:`landmark_boxes`) instead of the parsing map. Needs ``boxes_path``. Default: None.

    Returns:
        tuple[list[str], list[str]]: Written stems and ``'stem: error'`` lines of skipped images.
    """
    if os.path.abspath(source) == os.path.abspath(output):
        raise ValueError('the output folder must differ from the input')
    if landmarks and not boxes_path:
        raise ValueError('a landmark model only serves the boxes: give a boxes JSON path too')
    parser = build_face_parser(arch, weights, **(parser_options or {})).to(device)
    detector = LandmarkDistance(device, weights=landmarks) if landmarks else None
    os.makedirs(output, exist_ok=True)
    written, failures, boxes = [], [], {}
    for stem, load in iter_images(source):
        try:
            img = load()
        except (ImageDecodeError, KeyError) as err:
            failures.append(f'{stem}: {err}')
            print(f'skipped {stem}: {err}', file=sys.stderr)
            continue
        labels = parse_image(parser, img, size, device)
        ok, buf = cv2.imencode('.png', labels)
        write_atomic(os.path.join(output, f'{stem}.png'), buf.tobytes())
        if detector is not None:
            boxes[stem] = landmark_boxes(image_landmarks(detector, img, device), img.shape[1], img.shape[0])
        elif boxes_path:
            boxes[stem] = component_boxes(labels)
        written.append(stem)
    if boxes_path:
        write_atomic(boxes_path, json.dumps(boxes, indent=1).encode())
    return written, failures
