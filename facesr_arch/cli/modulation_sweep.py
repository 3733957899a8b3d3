"""``modulation_sweep``: GCFSR's controllable generation, one input restored at a list of conditional factors as a
labelled strip (paper Fig. 1 and 5: a larger s adds generated detail, a smaller one stays closer to the input).

    python scripts/modulation_sweep.py -opt options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml \
        -i face_64px.png -o sweep.png --factors 4 8 16 32 64

Also ``python -m facesr_arch.cli.modulation_sweep`` and the console command ``facesr-modulation-sweep``.
"""
import argparse
import sys

from ..utils.safety import run_cli
from .inference import add_model_arguments


def build_parser():
    parser = argparse.ArgumentParser(prog='modulation_sweep', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-i', '--input', required=True, help='one aligned face image')
    parser.add_argument('-o', '--output', required=True, help='strip image to write (.png / .jpg)')
    parser.add_argument('--factors', type=float, nargs='+',
                        help='conditional factors s (default: 4 8 16 32 64, those up to the model\'s factor_norm)')
    parser.add_argument('--tile', type=int, default=256, help='tile side in the strip (default: 256)')
    add_model_arguments(parser)
    return parser


def main(argv=None):
    """Write the strip; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'modulation_sweep', argv)


def _main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..data.image_io import read_image, write_image_atomic
    from ..inference.modulation import DEFAULT_FACTORS, modulation_strip
    from .inference import restorer_from_args
    restorer = restorer_from_args(args)
    factors = args.factors or [s for s in DEFAULT_FACTORS if s <= getattr(restorer.net, 'factor_norm', s)]
    try:
        strip = modulation_strip(restorer, read_image(args.input), factors, args.tile)
    except ValueError as err:
        parser.error(str(err))
    write_image_atomic(args.output, strip)
    print(f'Wrote {args.output} ({len(factors)} factors)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
