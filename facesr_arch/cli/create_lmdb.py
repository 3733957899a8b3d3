"""``create_lmdb``: pack an image folder into a BasicSR LMDB (PNG bytes keyed by file stem, plus ``meta_info.txt``).

    python scripts/create_lmdb.py --input datasets/FFHQ/images1024x1024 --output datasets/FFHQ/ffhq_1024.lmdb

Unreadable images, and files whose stem cannot be a BasicSR LMDB key (printable ASCII without whitespace or
'.'), are listed and skipped; an existing output is replaced only with ``--overwrite``, and only once the new
LMDB is complete.
"""
import argparse
import sys

from ..utils.safety import run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='create_lmdb', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', required=True, help='folder of images')
    parser.add_argument('--output', required=True, help='LMDB folder to create (conventionally *.lmdb)')
    parser.add_argument('--compress-level', type=int, default=1, help='PNG compression 0-9 (default 1)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    return parser


def main(argv=None):
    """Build the LMDB; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'create_lmdb', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    from ..data.lmdb_build import create_lmdb
    written, skipped = create_lmdb(args.input, args.output, args.compress_level, args.overwrite)
    for _, reason in skipped:
        print(f'skipped: {reason}', file=sys.stderr)
    print(f'Wrote {written} images to {args.output} ({len(skipped)} skipped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
