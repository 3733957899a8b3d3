"""A labelled comparison grid LR | method outputs | GT for chosen images, like the papers' qualitative
figures; optionally with the face-parsing map inset in a corner of one column (CFGPFSSR Fig. 3).

    python scripts/compare_grid.py --lr testset/lq --method GCFSR=results/gcfsr --method MPCNet=results/mpcnet \
        --gt testset/gt --names 00001 00007 --parsing testset/parsing -o grid.png
"""
import argparse
import os
import sys

import _light  # noqa: F401  (the checkout importable)


def build_grid(columns, names, side=256, parsing_dir=None, parsing_column=0, row_labels=True):
    """The comparison figure.

    Args:
        columns (list[tuple[str, str]]): (label, folder) per column, in order.
        names (list[str]): Image stems, one row each.
        side (int): Tile side. Default: 256.
        parsing_dir (str | None): Folder of parsing label maps (``<stem>.png``) to inset. Default: None.
        parsing_column (int): Column that gets the inset. Default: 0 (LR).
        row_labels (bool): Write the image names left of the rows. Default: True.

    Returns:
        tuple[ndarray, list[str]]: The figure and the 'folder/stem' entries that were missing.
    """
    import cv2

    from facesr_arch.inference.figures import colorize_parsing, find_by_stem, inset_corner, labelled_grid, read_tile
    rows, missing = [], []
    for name in names:
        row = []
        for index, (_, folder) in enumerate(columns):
            tile, found = read_tile(folder, name, side)
            if not found:
                missing.append(f'{folder}/{name}')
            parsing_path = find_by_stem(parsing_dir, name) if parsing_dir else None
            if index == parsing_column and parsing_path:
                tile = inset_corner(tile, colorize_parsing(cv2.imread(parsing_path, cv2.IMREAD_GRAYSCALE)))
            row.append(tile)
        rows.append(row)
    labels = [label for label, _ in columns]
    return labelled_grid(rows, labels, side=side, row_labels=names if row_labels else None), missing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--lr', required=True, help='folder of LR / LQ inputs')
    parser.add_argument('--method', action='append', required=True, metavar='LABEL=FOLDER',
                        help='a method\'s result folder (repeatable, in column order)')
    parser.add_argument('--gt', help='folder of ground-truth faces (last column)')
    parser.add_argument('--names', nargs='+', help='image stems (default: the first --max images of --lr)')
    parser.add_argument('--max', type=int, default=4, help='rows when --names is not given (default: 4)')
    parser.add_argument('--parsing', help='folder of parsing label maps (<stem>.png) inset in the LR tiles')
    parser.add_argument('--tile', type=int, default=256, help='tile side (default: 256)')
    parser.add_argument('-o', '--output', required=True, help='figure to write (.png / .jpg)')
    args = parser.parse_args(argv)
    from facesr_arch.data.image_io import list_images, write_image_atomic
    columns = [('LR', args.lr)]
    for entry in args.method:
        label, sep, folder = entry.partition('=')
        if not sep or not os.path.isdir(folder):
            raise SystemExit(f'--method takes LABEL=FOLDER with an existing folder, got {entry!r}')
        columns.append((label, folder))
    if args.gt:
        columns.append(('GT', args.gt))
    names = args.names or [os.path.splitext(os.path.basename(p))[0] for p in list_images(args.lr)[:args.max]]
    grid, missing = build_grid(columns, names, args.tile, args.parsing)
    for entry in missing:
        print(f'missing or unreadable: {entry} (gray tile)')
    write_image_atomic(args.output, grid)
    print(f'Wrote {args.output}: {len(names)} row(s) x {len(columns)} column(s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
