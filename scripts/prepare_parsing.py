"""Parsing sidecars for a face folder or LMDB: ``<stem>.png`` label maps and eye/mouth boxes.

Usage::

    python scripts/prepare_parsing.py --input datasets/ffhq_512 --output datasets/ffhq_512_parsing \\
        --weights weights/parsing_parsenet.pth --arch parsenet [--size 512] [--boxes boxes.json] \
        [--landmarks weights/alignment_WFLW_4HG.pth]

Each sidecar is a single-channel PNG of label indices in the order of ``facesr_arch/utils/face_parsing.py``
at the image's own size, named by the image stem (the LMDB key for an LMDB). ``--boxes`` writes
``{stem: {"left_eye": [x1, y1, x2, y2], "right_eye": [...], "mouth": [...]}}`` in pixel coordinates
(image-left/right, inclusive-exclusive). With ``--landmarks`` (a facexlib FAN file, 68 or 98 points; the
documented path: PVFR crops its components from facial landmarks, section 3.4) they are GFPGAN-style square
boxes around each component of the detected landmarks (:func:`landmark_boxes`); without it they are derived
from the parsing map (a component absent from a map is ``null``). One unreadable image is reported and
skipped.
"""
import argparse
import json
import os
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='image folder or BasicSR LMDB')
    parser.add_argument('--output', required=True, help='sidecar folder')
    parser.add_argument('--weights', required=True, help='parsing weight file (see weights/README.md)')
    parser.add_argument('--arch', default='parsenet', choices=['parsenet', 'bisenet'])
    parser.add_argument('--min_feat_size', type=int, default=32,
                        help='parsenet bottleneck: 32 = facexlib file, 4 = MPCNet predictor')
    parser.add_argument('--size', type=int, default=512, help='working resolution of the parser')
    parser.add_argument('--boxes', default=None, help='write eye/mouth boxes JSON here')
    parser.add_argument('--landmarks', default=None,
                        help='facexlib FAN file (e.g. weights/alignment_WFLW_4HG.pth): boxes from its landmarks')
    parser.add_argument('--device', default='cpu')
    return parser


if __name__ == '__main__':
    build_parser().parse_args()  # --help and argument errors before the heavy imports below

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # noqa: E402

import facesr_arch  # noqa: E402,F401  (before basicsr)
from facesr_arch.archs.parsing_arch import build_face_parser  # noqa: E402
from facesr_arch.data.image_io import ImageDecodeError, decode_image, list_images, read_image, write_atomic  # noqa: E402
from facesr_arch.data.lmdb_util import LmdbReader, read_meta_keys  # noqa: E402
from facesr_arch.metrics.landmark import LandmarkDistance  # noqa: E402
from facesr_arch.utils.face_parsing import LABEL_INDEX  # noqa: E402

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


def main(argv=None):
    args = build_parser().parse_args(argv)
    options = {'min_feat_size': args.min_feat_size, 'in_size': args.size,
               'with_image_head': args.min_feat_size == 32} if args.arch == 'parsenet' else {'in_size': args.size}
    written, failures = prepare_parsing(args.input, args.output, args.weights, args.arch, args.size, args.boxes,
                                        args.device, options, args.landmarks)
    print(f'wrote {len(written)} parsing maps to {args.output}; {len(failures)} skipped')


if __name__ == '__main__':
    main()
