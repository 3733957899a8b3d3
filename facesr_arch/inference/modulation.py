"""GCFSR's controllable generation: one input restored at a list of conditional factors, as a labelled strip
(paper Fig. 1 and 5: a larger s adds generated detail, a smaller one stays closer to the input). The command
line is :mod:`facesr_arch.cli.modulation_sweep`.
"""
from dataclasses import replace

from .figures import labelled_grid
from .specs import GCFSR_MIN_FACTOR

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
    high = restorer.net.factor_norm
    outside = [s for s in factors if not GCFSR_MIN_FACTOR <= s <= high]
    if outside:
        raise ValueError(f'factors {outside} are outside the range this model was trained on, '
                         f'[{GCFSR_MIN_FACTOR:g}, {high:g}] (its factor_norm); give --factors within it')
    outputs = [restorer.restore([img], replace(restorer.controls, strength=s))[0] for s in factors]
    labels = [f'input {img.shape[1]}px'] + [f's = {s:g}' for s in factors]
    return labelled_grid([[img] + outputs], labels, side=side)
