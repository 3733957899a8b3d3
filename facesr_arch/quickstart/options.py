"""The quick-start option files and what a run changes in them: its datasets, its name and its length.

The top level imports the standard library and the toolkit's errors only (the demo's argument parser lists
:data:`METHODS`).
"""
import copy
import os

from ..toolkit.errors import BadInputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# one small configuration per method; each file says (YAML comments) where it differs from the paper's
QUICKSTART_OPTIONS = {
    'CFGPFSSR': 'options/train/CFGPFSSR/quickstart_CFGPFSSR_x16_128px.yml',
    'GCFSR': 'options/train/GCFSR/quickstart_GCFSR_x4-16_64px.yml',
    'MPCNet': 'options/train/MPCNet/quickstart_MPCNet_64px.yml',
    'PVFR': 'options/train/PVFR/quickstart_PVFR_64px.yml',
    'WNet': 'options/train/WNet/quickstart_WNet_x4_128px.yml',
}
METHODS = tuple(sorted(QUICKSTART_OPTIONS))
DEFAULT_METHOD = 'GCFSR'
# the schedulers whose length is given in iterations: option -> the key holding that length
_SCHEDULE_LENGTH = {'MultiStepLR': 'milestones', 'CosineAnnealingRestartLR': 'periods'}


def quickstart_path(method):
    """The quick-start option file of ``method`` (absolute path)."""
    if method not in QUICKSTART_OPTIONS:
        raise BadInputError(f'no quick start for {method!r}; choose one of {", ".join(METHODS)}')
    return os.path.join(REPO, QUICKSTART_OPTIONS[method])


def sr_factor(opt):
    """The SR factor of the validation set of an option file, or None for a restoration method (the
    degraded input has the output size)."""
    degradation = opt['datasets']['val']['degradation']
    if degradation['type'] == 'multiscale_bicubic':
        factors = degradation['factors']
        if len(factors) != 1:
            raise BadInputError(f'the validation of a quick start runs one factor, got {factors}')
        return int(factors[0])
    if degradation['type'] in ('cfgpfssr_bicubic', 'wnet_bicubic', 'bicubic_downsample'):
        return int(degradation.get('scale') or degradation['scales'][0])
    return None


def quickstart_options(method, train_data, val_data, name=None, iters=None, factor=None):
    """The quick-start option file of ``method`` pointed at a run's faces.

    Args:
        method (str): One of :data:`METHODS`.
        train_data (str): Training faces (BasicSR LMDB).
        val_data (str): Held-out faces (BasicSR LMDB), validated once at the end of training.
        name (str | None): Experiment name. Default: the file's.
        iters (int | None): Training iterations; the validation, the checkpoint and a schedule given in
            iterations follow. Default: the file's ``total_iter``.
        factor (int | None): GCFSR: the factor validated (one of its training factors). Default: the file's.

    Returns:
        dict: The options (a new dict; the file is unchanged).
    """
    from ..utils.options import load_yaml
    opt = copy.deepcopy(load_yaml(quickstart_path(method)))
    if name:
        opt['name'] = name
    opt['datasets']['train']['dataroot_gt'] = train_data
    opt['datasets']['val']['dataroot_gt'] = val_data
    if factor is not None:
        val = opt['datasets']['val']
        if val['degradation']['type'] != 'multiscale_bicubic':
            raise BadInputError(f'--factor applies to the multi-scale GCFSR only; the {method} quick start '
                             + (f'is x{sr_factor(opt)}' if sr_factor(opt) else 'restores faces at their size'))
        trained = opt['datasets']['train']['degradation']['factors']
        if factor not in trained:
            raise BadInputError(f'--factor {factor}: the {method} quick start trains on x{trained}')
        val['degradation'] = dict(val['degradation'], factors=[factor])
        val['name'] = f'HeldOut_x{factor}'
    if iters is not None:
        if iters < 1:
            raise BadInputError(f'--iters must be at least 1, got {iters}')
        train = opt['train']
        train['total_iter'] = iters
        key = _SCHEDULE_LENGTH.get(train['scheduler']['type'])
        if key:
            train['scheduler'][key] = [iters]
        opt['val']['val_freq'] = iters
        opt['logger'].update(print_freq=max(iters // 5, 1), save_checkpoint_freq=iters)
    return opt
