"""Checks an option file before BasicSR starts: unknown keys in the blocks facesr_arch owns, unknown types.

BasicSR passes option blocks to constructors as ``**kwargs``; a misspelled key surfaces as a TypeError
deep inside model building, or is silently ignored by a dataset. This module reads the YAML with a
safe loader and fails early, naming the block, the key and the closest valid key.
"""
import difflib
import inspect
import os

import yaml

# keys BasicSR itself reads from a dataset block (data loader and its own bookkeeping)
BASICSR_DATASET_KEYS = {
    'name', 'type', 'phase', 'scale', 'use_shuffle', 'num_worker_per_gpu', 'batch_size_per_gpu',
    'dataset_enlarge_ratio', 'prefetch_mode', 'pin_memory', 'persistent_workers', 'num_prefetch_queue',
}
# keys BasicSR's training loop and base model read from the train block
BASICSR_TRAIN_KEYS = {'total_iter', 'warmup_iter', 'scheduler', 'optim_g', 'optim_d', 'ema_decay'}
TOP_LEVEL_KEYS = {
    'name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'path', 'train', 'val', 'logger',
    'dist_params', 'find_unused_parameters', 'is_train', 'dist', 'rank', 'world_size', 'auto_resume',
}


class OptionError(ValueError):
    """An option file that would fail (or silently misbehave) once training starts."""


def _closest(key, valid):
    match = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ''


def _unknown(keys, valid, where):
    for key in keys:
        if key not in valid:
            raise OptionError(f"Unknown option '{key}' in {where}{_closest(key, valid)} "
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


def _lookup(registry, type_name, where):
    if type_name not in registry:
        names = [name for name, _ in registry]
        raise OptionError(f"Unknown type '{type_name}' in {where}{_closest(type_name, names)}")
    return registry.get(type_name)


def _check_typed_block(block, registry, where):
    if not isinstance(block, dict) or 'type' not in block:
        raise OptionError(f"{where} must be a mapping with a 'type' key")
    cls = _lookup(registry, block['type'], where)
    valid = constructor_keys(cls)
    if valid is not None:
        _unknown([k for k in block if k != 'type'], valid, f"{where} ({block['type']})")
    return cls


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
            _unknown(train, own_keys | BASICSR_TRAIN_KEYS, f"train ({opt['model_type']})")
