"""``compare_grid``: a labelled comparison figure LR | method outputs | GT for chosen images, like the papers'
qualitative figures.

Examples::

    python scripts/compare_grid.py --lr testset/lq --method GCFSR=results/gcfsr --method MPCNet=results/mpcnet \\
        --gt testset/gt --names 00001 00007 --zoom 180,220,160,60 -o grid.png
    python scripts/compare_grid.py --lr testset/lq --method W-Net=results/wnet --gt testset/gt \\
        --components testset/components.json --parsing testset/parsing -o grid.png

The LR column is enlarged by nearest neighbour (its pixels stay visible); with --gt every method tile is
captioned with its PSNR-Y (dB) / SSIM-Y against the GT. Zoom boxes are outlined and magnified in the bottom
corners of every tile, in the same place on each: --zoom x,y,w,h (pixels of the GT image), or the eyes and
the mouth from a facial-component box file (--components, the format of the training sidecars).

Also ``python -m facesr_arch.cli.compare_grid`` and the console command ``facesr-compare-grid``.
"""
import argparse
import json
import os
import sys

from ..toolkit.errors import UserError
from ..utils.safety import check_writable, run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='compare_grid', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lr', required=True, help='folder of LR / LQ inputs (first column, shown pixelated)')
    parser.add_argument('--method', action='append', required=True, metavar='LABEL=FOLDER',
                        help="a method's result folder (repeatable, in column order)")
    parser.add_argument('--gt', help='folder of ground-truth faces (last column; tiles get PSNR-Y / SSIM-Y)')
    parser.add_argument('--names', nargs='+', help='image stems (default: the first --max images of --lr)')
    parser.add_argument('--max', type=int, default=4, help='rows when --names is not given (default: 4)')
    parser.add_argument('--zoom', metavar='X,Y,W,H',
                        help='zoom box in pixels of the GT (of the first method without --gt), inset in every tile')
    parser.add_argument('--components', metavar='BOXES.json',
                        help='facial-component boxes {stem: {"left_eye": [x1, y1, x2, y2], "right_eye": ..., '
                             '"mouth": ...}} in GT pixels: eyes and mouth zoomed (when --zoom is not given)')
    parser.add_argument('--parsing', help='folder of parsing label maps (<stem>.png) inset in the LR tiles')
    parser.add_argument('--no-scores', action='store_true', help='no PSNR-Y / SSIM-Y captions')
    parser.add_argument('--tile', type=int, default=256, help='tile side (default: 256)')
    parser.add_argument('-o', '--output', required=True, help='figure to write (.png / .jpg)')
    return parser


def main(argv=None):
    """Write the figure; returns 0, or 2 after a user error (one line on stderr)."""
    try:
        return run_cli(_main, 'compare_grid', argv)
    except UserError as err:
        print(f'compare_grid: error: {err}', file=sys.stderr)
        return 2


def _columns(args):
    if not os.path.isdir(args.lr):
        raise UserError(f'--lr {args.lr}: no such folder')
    columns = [('LR', args.lr)]
    for entry in args.method:
        label, sep, folder = entry.partition('=')
        if not sep or not label or not os.path.isdir(folder):
            raise UserError(f'--method takes LABEL=FOLDER with an existing folder, got {entry!r}')
        columns.append((label, folder))
    if args.gt:
        if not os.path.isdir(args.gt):
            raise UserError(f'--gt {args.gt}: no such folder')
        columns.append(('GT', args.gt))
    return columns


def _components(path):
    try:
        with open(path) as f:
            boxes = json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f'--components {path}: not a readable JSON file ({err})') from err
    if not isinstance(boxes, dict):
        raise UserError(f'--components {path}: expected {{stem: {{"left_eye": [x1, y1, x2, y2], ...}}}}')
    return boxes


def _main(argv=None):
    args = build_parser().parse_args(argv)
    from ..data.image_io import list_images, write_image_atomic
    from ..inference.figures import comparison_grid, parse_zoom_box
    columns = _columns(args)
    try:
        zoom = parse_zoom_box(args.zoom) if args.zoom else None
    except ValueError as err:
        raise UserError(str(err)) from err
    components = _components(args.components) if args.components and zoom is None else None
    check_writable(args.output, 'figure')
    names = args.names or [os.path.splitext(os.path.basename(p))[0] for p in list_images(args.lr)[:args.max]]
    try:
        grid, missing = comparison_grid(columns, names, args.tile, gt_dir=args.gt, zoom=zoom,
                                        component_boxes_by_stem=components, parsing_dir=args.parsing,
                                        scores=not args.no_scores)
    except ValueError as err:  # a zoom box outside the image
        raise UserError(str(err)) from err
    for entry in missing:
        print(f'missing or unreadable: {entry} (gray tile)')
    write_image_atomic(args.output, grid)
    print(f'Wrote {args.output}: {len(names)} row(s) x {len(columns)} column(s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
