"""``prepare_parsing``: parsing sidecars for a face folder or LMDB: ``<stem>.png`` label maps and eye/mouth boxes.

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

Also ``python -m facesr_arch.cli.prepare_parsing`` and the console command ``facesr-prepare-parsing``.
"""
import argparse
import sys

from ..utils.safety import run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='prepare_parsing', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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


def main(argv=None):
    """Write the sidecars; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'prepare_parsing', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    from ..inference.parsing_maps import prepare_parsing
    options = {'min_feat_size': args.min_feat_size, 'in_size': args.size,
               'with_image_head': args.min_feat_size == 32} if args.arch == 'parsenet' else {'in_size': args.size}
    written, failures = prepare_parsing(args.input, args.output, args.weights, args.arch, args.size, args.boxes,
                                        args.device, options, args.landmarks)
    print(f'wrote {len(written)} parsing maps to {args.output}; {len(failures)} skipped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
