"""GCFSR's controllable generation: one input restored at a list of conditional factors, as a labelled strip
(paper Fig. 1 and 5: a larger s adds generated detail, a smaller one stays closer to the input).

    python scripts/modulation_sweep.py -opt options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml \
        -i face_64px.png -o sweep.png --factors 4 8 16 32 64
"""
import argparse
import sys
from dataclasses import replace

from _light import light_module

# the paper's factors (section 3.5; Fig. 5 sweeps s from 4 to 64)
DEFAULT_FACTORS = (4, 8, 16, 32, 64)


def modulation_strip(restorer, img, factors, side=256):
    """[input | output at s for s in factors] with labels, one row.

    Args:
        restorer (FaceRestorer): A non-blind GCFSR.
        img (ndarray): Aligned face, float BGR in [0, 1].
        factors (list[float]): Conditional factors s.
        side (int): Tile side. Default: 256.
    """
    if restorer.spec.condition is None or getattr(restorer.net, 'blind', False):
        raise ValueError(f'{restorer.spec.name} has no conditional factor to sweep (the blind GCFSR neither)')
    from facesr_arch.inference.figures import labelled_grid
    from facesr_arch.inference.specs import GCFSR_MIN_FACTOR
    high = restorer.net.factor_norm
    outside = [s for s in factors if not GCFSR_MIN_FACTOR <= s <= high]
    if outside:
        raise ValueError(f'factors {outside} are outside the range this model was trained on, '
                         f'[{GCFSR_MIN_FACTOR:g}, {high:g}] (its factor_norm); give --factors within it')
    outputs = [restorer.restore([img], replace(restorer.controls, strength=s))[0] for s in factors]
    labels = [f'input {img.shape[1]}px'] + [f's = {s:g}' for s in factors]
    return labelled_grid([[img] + outputs], labels, side=side)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-i', '--input', required=True, help='one aligned face image')
    parser.add_argument('-o', '--output', required=True, help='strip image to write (.png / .jpg)')
    parser.add_argument('--factors', type=float, nargs='+',
                        help='conditional factors s (default: 4 8 16 32 64, those up to the model\'s factor_norm)')
    parser.add_argument('--tile', type=int, default=256, help='tile side in the strip (default: 256)')
    light_module('inference.cli').add_model_arguments(parser)
    args = parser.parse_args(argv)
    from facesr_arch.data.image_io import read_image, write_image_atomic
    from facesr_arch.inference.cli import restorer_from_args
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
