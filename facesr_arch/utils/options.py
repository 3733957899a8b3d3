"""Checks an option file before BasicSR starts: unknown keys in the blocks facesr_arch owns, unknown types,
value types and ranges.

BasicSR passes option blocks to constructors as ``**kwargs``; a misspelled key surfaces as a TypeError
deep inside model building, or is silently ignored by a dataset. This module reads the YAML with a
safe loader and fails early, naming the block, the key and the closest valid key. It also checks the
numbers BasicSR's loop reads (``total_iter: abc`` would fail at ``int()`` after the data are loaded) and
that experiment and dataset names are plain folder names. Values are checked against what reads them:
network, loss, optimiser and scheduler options against the constructor's defaults (a number where the default
is a number, ``true``/``false`` where it is a bool: ``lr: 1e-3`` is text in YAML, ``num_feat: '8'`` too), and
the dataset and validation options this package reads against the table below. Experiment and dataset names
must be plain folder names: BasicSR joins them into ``experiments/<name>``
and ``results/<name>``, so a name with a path separator or ``..`` could write outside those folders.
"""
import difflib
import inspect
import math
import os

import yaml

from ..toolkit.errors import UserError

# keys BasicSR itself reads from a dataset block (data loader and its own bookkeeping)
BASICSR_DATASET_KEYS = {
    'name', 'type', 'phase', 'scale', 'use_shuffle', 'num_worker_per_gpu', 'batch_size_per_gpu',
    'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers', 'num_prefetch_queue',
}
# keys BasicSR's training loop and base model read from the train block
BASICSR_TRAIN_KEYS = {'total_iter', 'warmup_iter', 'scheduler', 'optim_g', 'optim_d', 'ema_decay'}
# keys every facesr_arch model reads from the train block (models/precision.py)
PRECISION_TRAIN_KEYS = {'mixed_precision', 'channels_last'}
# train.mixed_precision: float32 (the papers'), bfloat16 or float16 autocast (models/precision.py)
PRECISION_MODES = ('none', 'bf16', 'fp16')
TOP_LEVEL_KEYS = {
    'name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'path', 'train', 'val', 'logger',
    'dist_params', 'find_unused_parameters', 'is_train', 'dist', 'rank', 'world_size', 'auto_resume', 'sync_bn',
    # random_priors: true declares frozen priors left at random weights on purpose (the quick-start files);
    # inference: how a user's own architecture is fed (facesr_arch/inference/own_method.py)
    'random_priors', 'inference',
}
# numbers BasicSR reads: (block path, key, smallest valid value, integer required)
NUMBER_OPTIONS = [
    ((), 'manual_seed', 0, True),
    ((), 'scale', 1, True),
    (('train',), 'total_iter', 1, False),
    (('train',), 'warmup_iter', -1, False),
    (('train',), 'max_nonfinite_steps', 1, True),
    (('logger',), 'print_freq', 1, False),
    (('logger',), 'save_checkpoint_freq', 1, False),
    (('val',), 'val_freq', 1, False),
]
DATASET_NUMBER_OPTIONS = [
    ('batch_size_per_gpu', 1, True), ('num_worker_per_gpu', 0, True), ('dataset_enlarge_ratio', 1, False),
    ('max_corrupt_samples', 0, True), ('gt_size', 1, True), ('lq_size', 1, True), ('max_items', 1, True),
    ('seed', 0, True), ('num_samples', 1, True), ('num_style_feat', 1, True),
]
DATASET_BOOL_OPTIONS = ('use_hflip', 'deterministic', 'degradation_on_device', 'use_shuffle', 'pin_memory',
                        'persistent_workers')
VAL_BOOL_OPTIONS = ('save_img', 'pbar')
# text that YAML kept as a string although it was meant as a number
NUMBER_TEXT_HINT = ('; YAML reads numbers in quotes, and exponents without a dot (1e-3), as text: write 1.0e-3 '
                    'or 8 without quotes')


class OptionError(UserError, ValueError):
    """An option file that would fail (or silently misbehave) once training starts."""


def did_you_mean(key, valid):
    """'; did you mean ...?' naming the closest of ``valid`` to ``key``, or '' when none is close."""
    match = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ''


def _unknown(keys, valid, where):
    for key in keys:
        if key not in valid:
            raise OptionError(f"Unknown option '{key}' in {where}{did_you_mean(key, valid)} "
                              f"(valid: {', '.join(sorted(valid))})")


def constructor_keys(cls):
    """Keyword arguments a class accepts, or None if it takes **kwargs (then it cannot be checked)."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != 'self'}


def check_function_keys(func, block, where):
    """Check a block's keys (except 'type') against a function's keyword parameters (minus img, rng)."""
    valid = {p for p in inspect.signature(func).parameters if p not in ('img', 'rng')}
    _unknown([k for k in block if k != 'type'], valid, where)
    check_values(func, block, where)


def _lookup(registry, type_name, where):
    if type_name not in registry:
        names = [name for name, _ in registry]
        raise OptionError(f"Unknown type '{type_name}' in {where}{did_you_mean(type_name, names)}")
    return registry.get(type_name)


def _check_typed_block(block, registry, where):
    if not isinstance(block, dict) or 'type' not in block:
        raise OptionError(f"{where} must be a mapping with a 'type' key")
    cls = _lookup(registry, block['type'], where)
    valid = constructor_keys(cls)
    if valid is not None:
        _unknown([k for k in block if k != 'type'], valid, f"{where} ({block['type']})")
    check_values(cls.__init__, block, where)
    return cls


def _check_optimizers(train):
    """``optim_*`` blocks: a ``torch.optim`` type and values of the kinds its constructor takes."""
    import torch
    for key, block in train.items():
        if not key.startswith('optim_') or block is None:
            continue
        if not isinstance(block, dict) or not isinstance(block.get('type'), str):
            raise OptionError(f"train.{key} must be a mapping with a 'type' key (e.g. Adam)")
        cls = getattr(torch.optim, block['type'], None)
        if not (inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer)):
            raise OptionError(f"Unknown optimizer type '{block['type']}' in train.{key} (torch.optim names, e.g. Adam)")
        check_values(cls.__init__, block, f'train.{key}')
        if 'lr' in block:
            check_number(block['lr'], f'train.{key}.lr', 0, False)
    for name, lr in (train.get('lr_per_module') or {}).items():
        check_number(lr, f'train.lr_per_module.{name}', 0, False)


def _check_scheduler(train):
    """The ``scheduler`` block: a type BasicSR (or MPCNet's plateau schedule) builds, and its values."""
    block = train.get('scheduler')
    if block is None:
        return
    import torch
    from basicsr.models import lr_scheduler
    types = {'MultiStepLR': lr_scheduler.MultiStepRestartLR, 'MultiStepRestartLR': lr_scheduler.MultiStepRestartLR,
             'CosineAnnealingRestartLR': lr_scheduler.CosineAnnealingRestartLR,
             'ReduceLROnPlateau': torch.optim.lr_scheduler.ReduceLROnPlateau}
    if not isinstance(block, dict) or block.get('type') not in types:
        raise OptionError(f"train.scheduler must be a mapping with a 'type' among {sorted(types)}, got "
                          f"{block.get('type') if isinstance(block, dict) else block!r}")
    cls = types[block['type']]
    valid = constructor_keys(cls) - {'optimizer', 'last_epoch', 'mode'}
    _unknown([k for k in block if k != 'type'], valid, f"train.scheduler ({block['type']})")
    check_values(cls.__init__, block, 'train.scheduler')
    for key in ('milestones', 'periods', 'restarts'):
        if key in block:
            values = block[key]
            if not isinstance(values, (list, tuple)):
                raise OptionError(f'train.scheduler.{key} must be a list of iterations, got {values!r}')
            for i, value in enumerate(values):
                check_number(value, f'train.scheduler.{key}[{i}]', 0, True)


def check_precision_options(train):
    """``mixed_precision`` among :data:`PRECISION_MODES` (with the closest name for a misspelling) or null,
    ``channels_last`` true, false or null."""
    mode = train.get('mixed_precision')
    if mode is not None and (not isinstance(mode, str) or mode not in PRECISION_MODES):
        raise OptionError(f"train.mixed_precision must be one of {', '.join(PRECISION_MODES)}, got {mode!r}"
                          f'{did_you_mean(str(mode), PRECISION_MODES)}')
    layout = train.get('channels_last')
    if layout is not None and not isinstance(layout, bool):
        raise OptionError(f'train.channels_last must be true or false, got {layout!r}')


def _check_val(val):
    """The ``val`` block: flags, and each metric a registered function with its options' kinds."""
    from basicsr.utils.registry import METRIC_REGISTRY
    for key in VAL_BOOL_OPTIONS:
        if val.get(key) is not None and not isinstance(val[key], bool):
            raise OptionError(f'val.{key} must be true or false, got {val[key]!r}')
    metrics = val.get('metrics')
    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise OptionError('val.metrics must map metric names to blocks with a type')
    for name, block in metrics.items():
        if not isinstance(block, dict):
            raise OptionError(f'val.metrics.{name} must be a mapping (type and options)')
        if 'type' not in block:  # computed by the model itself (parsing networks: mean_iou, pixel_accuracy)
            continue
        func = _lookup(METRIC_REGISTRY, block['type'], f'val.metrics.{name}')
        check_values(func, block, f'val.metrics.{name}', skip=('type', 'better'))
        if block.get('crop_border') is not None:  # BasicSR's metric functions take it without a default
            check_number(block['crop_border'], f'val.metrics.{name}.crop_border', 0, True)


def _check_dataset_values(block, where):
    for key, minimum, integer in DATASET_NUMBER_OPTIONS:
        if block.get(key) is not None:
            check_number(block[key], f'{where}.{key}', minimum, integer)
    for key in DATASET_BOOL_OPTIONS:
        if block.get(key) is not None and not isinstance(block[key], bool):
            raise OptionError(f'{where}.{key} must be true or false, got {block[key]!r}')
    for key in ('mean', 'std'):
        value = block.get(key)
        if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 3):
            raise OptionError(f'{where}.{key} must be a list of 3 numbers (one per channel), got {value!r}')
        for i, number in enumerate(value or ()):
            check_number(number, f'{where}.{key}[{i}]', 1e-12 if key == 'std' else -math.inf, False)


def _number_text(value):
    try:
        float(value)
        return isinstance(value, str)
    except (TypeError, ValueError):
        return False


def check_number(value, where, minimum, integer):
    """Raise :class:`OptionError` unless ``value`` is a number (an integer if ``integer``) >= ``minimum``."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (integer and not isinstance(value, int)) or value != value or value < minimum:
        kind = 'an integer' if integer else 'a number'
        bound = f' >= {minimum}' if minimum > -math.inf else ''
        raise OptionError(f'{where} must be {kind}{bound}, got {value!r} ({type(value).__name__})'
                          + (NUMBER_TEXT_HINT if _number_text(value) else ''))


def check_like_default(value, default, where):
    """Raise :class:`OptionError` when ``value`` has another kind than a parameter's ``default``: a number
    (>= 0 when the default is), a bool, a string or a list; None values and None / absent defaults pass."""
    if value is None or default is None or default is inspect.Parameter.empty:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise OptionError(f'{where} must be true or false, got {value!r} ({type(value).__name__})')
    elif isinstance(default, (int, float)):
        check_number(value, where, 0 if default >= 0 else -math.inf, integer=False)
    elif isinstance(default, str) and not isinstance(value, str):
        raise OptionError(f'{where} must be a string, got {value!r} ({type(value).__name__})')
    elif isinstance(default, (list, tuple)) and not isinstance(value, (list, tuple)):
        raise OptionError(f'{where} must be a list, got {value!r} ({type(value).__name__})')


def check_values(func, block, where, skip=('type',)):
    """Check each value of ``block`` against the default of ``func``'s parameter of that name.

    A parameter annotated to take a string too (e.g. ``stddev_group: 'int | str' = 4``) is left to the
    constructor's own check."""
    params = inspect.signature(func).parameters
    for key, value in block.items():
        if key not in skip and key in params and 'str' not in str(params[key].annotation):
            check_like_default(value, params[key].default, f'{where}.{key}')


def check_folder_name(value, where):
    """Raise :class:`OptionError` unless ``value`` is a non-empty name without path separators or '..'."""
    if not isinstance(value, str) or not value.strip():
        raise OptionError(f'{where} must be a non-empty string, got {value!r}')
    if '/' in value or '\\' in value or '\0' in value or value in ('.', '..'):
        raise OptionError(f'{where} {value!r} must be a plain folder name (no path separators, no "..", which '
                          'would place outputs outside experiments/ and results/)')


def _block(opt, block_path):
    """The nested block at ``block_path`` (a tuple of keys), or None."""
    for part in block_path:
        opt = opt.get(part) if isinstance(opt, dict) else None
    return opt


def _check_numbers(opt):
    for block_path, key, minimum, integer in NUMBER_OPTIONS:
        block = _block(opt, block_path)
        if isinstance(block, dict) and block.get(key) is not None:
            check_number(block[key], '.'.join(block_path + (key,)), minimum, integer)
    if opt.get('num_gpu') not in (None, 'auto'):
        check_number(opt['num_gpu'], 'num_gpu', 0, True)


def _check_training_required(opt):
    """The keys BasicSR's training loop indexes directly (a KeyError deep in the pipeline otherwise)."""
    required = [(('train',), 'total_iter'), (('logger',), 'print_freq'), (('logger',), 'save_checkpoint_freq'),
                (('datasets', 'train'), 'batch_size_per_gpu'), (('datasets', 'train'), 'num_worker_per_gpu')]
    for block_path, key in required:
        block = _block(opt, block_path)
        if not isinstance(block, dict) or key not in block:
            raise OptionError(f"Missing required option '{'.'.join(block_path + (key,))}' for training")


def load_yaml(path):
    """Read an option file with ``yaml.safe_load`` (no object construction from tags)."""
    try:
        with open(path) as f:
            opt = yaml.safe_load(f)
    except FileNotFoundError:
        raise OptionError(f'Option file not found: {path}') from None
    except yaml.YAMLError as err:
        raise OptionError(f'{path} is not valid (safe) YAML: {err}') from None
    if not isinstance(opt, dict):
        raise OptionError(f'{path} must hold a mapping of options, got {type(opt).__name__}')
    return opt


def check_checkpoint_files(opt):
    """Open each ``path.pretrain_network_*`` checkpoint with ``weights_only=True`` (tensor data mapped, not read),
    so that a pickle carrying code or a truncated file is refused at launch in one line (checked at launch, like
    :func:`check_data_paths`)."""
    from ..toolkit.checkpoints import CheckpointError, load_checkpoint
    for key, value in (opt.get('path') or {}).items():
        if key.startswith('pretrain_network') and value:
            try:
                load_checkpoint(os.path.expanduser(value), f'path.{key}', mmap=True)
            except CheckpointError as err:
                raise OptionError(str(err)) from None


def validate_options(opt, is_train=True):
    """Raise :class:`OptionError` for unknown types or keys; returns nothing.

    Args:
        opt (dict): The parsed option file.
        is_train (bool): Training (needs a ``train`` block) or testing.
    """
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY

    _unknown([k for k in opt if not k.startswith('network_')], TOP_LEVEL_KEYS, 'the top level')
    required = ['name', 'model_type', 'datasets'] + (['train'] if is_train else [])
    for key in required:
        if key not in opt:
            raise OptionError(f"Missing required option '{key}' at the top level")
    check_folder_name(opt['name'], 'name')
    for key in ('train', 'path', 'val', 'logger', 'dist_params'):
        if opt.get(key) is not None and not isinstance(opt[key], dict):
            raise OptionError(f'{key} must be a mapping of options, got {type(opt[key]).__name__}')
    _check_numbers(opt)
    if is_train:
        _check_training_required(opt)
    model_cls = _lookup(MODEL_REGISTRY, opt['model_type'], 'model_type')
    for key, block in opt.items():
        if key.startswith('network_'):
            _check_typed_block(block, ARCH_REGISTRY, key)
    if not isinstance(opt['datasets'], dict) or not opt['datasets']:
        raise OptionError('datasets must map phases (train, val, test_1, ...) to dataset options')
    for phase, block in opt['datasets'].items():
        where = f'datasets.{phase}'
        if not isinstance(block, dict) or 'type' not in block:
            raise OptionError(f"{where} must be a mapping with a 'type' key")
        cls = _lookup(DATASET_REGISTRY, block['type'], where)
        if 'name' in block:
            check_folder_name(block['name'], f'{where}.name')
        _check_dataset_values(block, where)
        own_keys = getattr(cls, 'option_keys', None)
        if own_keys is not None:
            _unknown(block, own_keys | BASICSR_DATASET_KEYS, f"{where} ({block['type']})")
            check = getattr(cls, 'check_options', None)
            if check is not None:
                check(block, where)
    for key, value in (opt.get('path') or {}).items():
        if key.startswith('pretrain_network') and value is not None and not os.path.isfile(os.path.expanduser(value)):
            raise OptionError(f"path.{key} names a missing file: {value} (train the network first, convert a "
                              "public checkpoint with scripts/convert_weights.py, or set it to ~)")
    if is_train:
        train = opt['train']
        for key, block in train.items():
            if key.endswith('_opt') and block is not None:
                _check_typed_block(block, LOSS_REGISTRY, f'train.{key}')
        own_keys = getattr(model_cls, 'train_option_keys', None)
        if own_keys is not None:
            _unknown(train, own_keys | BASICSR_TRAIN_KEYS | PRECISION_TRAIN_KEYS, f"train ({opt['model_type']})")
        check_precision_options(train)
        _check_optimizers(train)
        _check_scheduler(train)
        if train.get('ema_decay') is not None:
            check_number(train['ema_decay'], 'train.ema_decay', 0, False)
            if train['ema_decay'] > 1:
                raise OptionError(f"train.ema_decay must be in [0, 1], got {train['ema_decay']!r}")
    if isinstance(opt.get('val'), dict):
        _check_val(opt['val'])
