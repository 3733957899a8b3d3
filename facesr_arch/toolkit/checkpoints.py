"""The checkpoint file format: read, write (atomic), describe and validate, with one exact diagnosis.

A checkpoint is a ``torch.save`` file of tensors and plain Python values, so that it loads with
``weights_only=True`` (pickled code is refused, never executed). Its entries:

- ``params`` / ``params_ema``: state dicts (BasicSR's layout). A file that is a bare state dict, or keeps its
  weights under ``state_dict``, is read too (public releases).
- ``network`` (:data:`NETWORK_KEY`): the network the weights belong to, ``{'type': registry name, **constructor
  options}``, options that name pretrained files set to None (the weights are in the checkpoint). Written by
  training saves and by the conversion of public releases; inference rebuilds the network from it alone.
- ``scales`` (:data:`SCALES_KEY`): the upscaling factors a super-resolution network was trained for (sorted
  floats), written by training saves; ``reproduce`` measures a checkpoint only on test sets of those factors.

Every command reads checkpoints through :func:`load_checkpoint` (or :func:`read_state_dict` /
:func:`describe`), so a bad file gets the same one-line :class:`CheckpointError` everywhere: not found, not a
file, empty, not a PyTorch checkpoint (e.g. an image), truncated, holding pickled code, without a network
description (pass ``--arch``), or fitting another configuration of its architecture (:func:`validate` names
the option).
"""
import copy
import inspect
import os
import pickle
import pickletools
import time
import warnings
import zipfile
from dataclasses import dataclass
from typing import Optional

import torch

from .errors import UserError
from .outputs import atomic_write

NETWORK_KEY = 'network'
SCALES_KEY = 'scales'
# weights of a checkpoint, in the order they are preferred when no key is asked for
PARAM_KEYS = ('params_ema', 'params', 'state_dict')
# seconds spent at most looking for the one option that explains a checkpoint that does not fit
DIAGNOSE_BUDGET_S = 10.0

_ZIP_MAGIC = b'PK\x03\x04'
_SIGNATURES = ((b'\x89PNG', 'a PNG image'), (b'\xff\xd8\xff', 'a JPEG image'), (b'GIF8', 'a GIF image'),
               (b'RIFF', 'a RIFF file (WebP image?)'), (b'BM', 'a BMP image'), (b'%PDF', 'a PDF document'),
               (b'\x1f\x8b', 'a gzip archive'))


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used as given; the message names the file and what to do, in one line."""


class MissingWeightsError(CheckpointError, FileNotFoundError):
    """A weight file the configuration or command names does not exist."""


def require_file(path, what, how_to_get):
    """Return ``path`` (``~`` expanded) if it names an existing regular file.

    Args:
        path (str | None): The file the option or argument names.
        what (str): What the file is for, e.g. 'VGG16 (perceptual loss)'.
        how_to_get (str): Where the public file comes from and the command that converts it, or the option
            file that trains it.

    Raises:
        MissingWeightsError: No path, or nothing at the path.
        CheckpointError: The path is a folder or another non-file.
    """
    if not path:
        raise MissingWeightsError(f'No weight file given for {what}. {how_to_get}')
    path = os.path.expanduser(str(path))
    if not os.path.exists(path):
        raise MissingWeightsError(f'Weight file for {what} not found: {path}. {how_to_get}')
    if not os.path.isfile(path):
        kind = 'a folder' if os.path.isdir(path) else 'not a regular file'
        raise CheckpointError(f'{path} ({what}) is {kind}, not a checkpoint file: name the .pth file itself')
    return path


def _pickle_is_truncated(path):
    """True when the consecutive pickles at the start of a legacy ``torch.save`` file end before their STOP.

    Parses opcodes only (``pickletools``), executing nothing. The legacy format holds five pickles (magic
    number, protocol, system info, the object, storage keys) before the raw tensor bytes.
    """
    with open(path, 'rb') as f:
        for _ in range(5):
            position = f.tell()
            if not f.read(1):
                return False
            f.seek(position)
            try:
                for _op in pickletools.genops(f):
                    pass
            except ValueError:  # "pickle exhausted before seeing STOP" (or garbage where an opcode belongs)
                return True
    return False


def _first_line(err):
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:160]


def load_checkpoint(path, what='checkpoint', map_location='cpu', mmap=False, how_to_get=''):
    """``torch.load(path, weights_only=True)`` with the exact diagnosis of a bad file.

    Args:
        path (str): Checkpoint file.
        what (str): What it is, for messages. Default: 'checkpoint'.
        map_location (str | torch.device): Where tensors land. Default: 'cpu'.
        mmap (bool): Map tensor data instead of reading it (cheap reads of large zip checkpoints; legacy
            files are read whole). Default: False.
        how_to_get (str): Appended to a not-found message. Default: ''.

    Returns:
        The loaded object (a dict for every checkpoint this package writes).

    Raises:
        CheckpointError: Not found, not a file, unreadable, empty, not a PyTorch checkpoint, truncated, or
            holding pickled code (refused and not run).
    """
    path = require_file(path, what, how_to_get or 'Check the path.')
    try:
        with open(path, 'rb') as f:
            head = f.read(8)
    except OSError as err:
        raise CheckpointError(f'{path} ({what}) cannot be read: {err.strerror} (check its permissions)') from None
    if not head:
        raise CheckpointError(f'{path} ({what}) is empty (0 bytes): the save or copy that made it was cut short')
    is_zip = head.startswith(_ZIP_MAGIC)
    if not is_zip and not (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5):
        kind = next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)
        raise CheckpointError(f'{path} ({what}) is {kind or "not a PyTorch checkpoint"}'
                              f'{", not a PyTorch checkpoint" if kind else " (neither a zip nor a pickle file)"}: '
                              'give the .pth file training or scripts/convert_weights.py wrote')
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(f'{path} ({what}) is truncated (its zip directory is missing): the save or download '
                              'was cut short; copy or download it again')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch's notes on pickle protocols: noise next to the message
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap and is_zip)
    except pickle.UnpicklingError:
        if not is_zip and _pickle_is_truncated(path):
            raise CheckpointError(f'{path} ({what}) is truncated (its pickle data ends early): copy or download it '
                                  'again') from None
        raise CheckpointError(f'{path} ({what}) holds pickled Python objects (code), not only tensors: it was refused '
                              'and not loaded (code in a checkpoint is never run). Use a checkpoint of tensors: '
                              'one training saves, or a public release converted by scripts/convert_weights.py'
                              ) from None
    except Exception as err:  # noqa: BLE001  torch reports a damaged file with RuntimeError, EOFError, ...
        raise CheckpointError(f'{path} ({what}) is truncated or corrupt, not a readable PyTorch checkpoint: '
                              f'{_first_line(err)}') from None


def state_dict_of(ckpt, path, param_key=None):
    """The state dict held by a loaded checkpoint.

    Args:
        ckpt (dict): What :func:`load_checkpoint` returned.
        path (str): The file, for messages.
        param_key (str | None): Entry to take (e.g. 'params_ema'); None takes the first of :data:`PARAM_KEYS`
            present, else the checkpoint itself (a bare state dict).

    Raises:
        CheckpointError: ``param_key`` is absent, or the file holds no state dict.
    """
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path} holds a {type(ckpt).__name__}, not a dict of tensors')
    if param_key is not None:
        if not isinstance(ckpt.get(param_key), dict):
            raise CheckpointError(f'{path} has no {param_key!r} entry (it has: {sorted(map(str, ckpt))[:10]})')
        return ckpt[param_key]
    for key in PARAM_KEYS:
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return {k: v for k, v in ckpt.items() if k not in (NETWORK_KEY, SCALES_KEY)}


def read_state_dict(path, what, how_to_get, param_key=None, map_location='cpu'):
    """Load the state dict of a weight file (``weights_only=True``; see :func:`load_checkpoint` for the diagnosis).

    Args:
        path (str): Checkpoint file.
        what (str): The network it is for (for messages).
        how_to_get (str): How to obtain the file (for the not-found message).
        param_key (str | None): See :func:`state_dict_of`.
        map_location (str | torch.device): Where tensors land. Default: 'cpu'.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    path = require_file(path, what, how_to_get)
    return state_dict_of(load_checkpoint(path, f'{what} weights', map_location), path, param_key)


# ------------------------------------------------------------------------------------------------ describing


@dataclass(frozen=True)
class Description:
    """What a checkpoint says about itself.

    Args:
        network (dict | None): Its network block ({'type': ..., **options}); None when it has none.
        scales (tuple[float] | None): The upscaling factors it was trained for; None when not recorded.
        keys (tuple[str]): Its top-level entries.
    """

    network: Optional[dict]
    scales: Optional[tuple]
    keys: tuple


def describe(path, what='checkpoint', how_to_get=''):
    """The :class:`Description` of a checkpoint, its tensors left on disk (memory-mapped).

    Args:
        path (str): Checkpoint file.
        what (str): What it is, for messages. Default: 'checkpoint'.
        how_to_get (str): Appended to a not-found message. Default: ''.

    Raises:
        CheckpointError: The file is not a usable checkpoint (see :func:`load_checkpoint`).
    """
    ckpt = load_checkpoint(path, what, mmap=True, how_to_get=how_to_get)
    if not isinstance(ckpt, dict):
        return Description(None, None, ())
    block = ckpt.get(NETWORK_KEY)
    block = copy.deepcopy(dict(block)) if isinstance(block, dict) and isinstance(block.get('type'), str) else None
    scales = ckpt.get(SCALES_KEY)
    scales = tuple(float(s) for s in scales) if isinstance(scales, (list, tuple)) and scales else None
    return Description(block, scales, tuple(str(k) for k in ckpt))


def plain(value):
    """YAML / OrderedDict option values as plain Python containers (loadable with ``weights_only=True``)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _architecture(name):
    from basicsr.utils.registry import ARCH_REGISTRY
    return ARCH_REGISTRY.get(name)


def portable_network(block):
    """A network block as a checkpoint stores it: plain values, pretrained-file options set to None.

    An architecture lists the files it loads while training starts (StyleGAN2 prior, parsing network) in its
    class attribute ``pretrained_file_options``: entries whose first item is the path into the options, e.g.
    ``('parser_opt', 'weights_path')``; a trained checkpoint holds those weights too, so inference needs only
    the checkpoint.

    Args:
        block (dict): Network options with 'type' (a registered architecture).

    Returns:
        dict: A new block.
    """
    block = plain(copy.deepcopy(dict(block)))
    try:
        paths = getattr(_architecture(block['type']), 'pretrained_file_options', ())
    except KeyError:  # not registered: nothing known to clear
        paths = ()
    for key_path, *_ in paths:
        parent = block
        for key in key_path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and key_path[-1] in parent:
            parent[key_path[-1]] = None
    return block


def merge_network(block, stored, source):
    """``block`` (from an option file) under the network options ``stored`` in the checkpoint ``source``.

    Args:
        block (dict): Network block with 'type'.
        stored (dict | None): The checkpoint's network block.
        source (str): The checkpoint (for messages).

    Returns:
        tuple[dict, dict]: (the merged block, a new dict; {option: (option-file value, checkpoint value)} for
        every option the checkpoint overrides).

    Raises:
        CheckpointError: The checkpoint holds another architecture.
    """
    if not stored:
        return dict(block), {}
    if stored['type'] != block.get('type'):
        raise CheckpointError(f'{source} holds a {stored["type"]} network, not {block.get("type")}: use the option '
                              'file (or --arch) of that method, or the checkpoint alone (--weights)')
    differing = {k: (block[k], v) for k, v in stored.items() if k in block and plain(block[k]) != plain(v)}
    return {**block, **stored}, differing


# ------------------------------------------------------------------------------------------------ writing


def save(path, obj):
    """``torch.save(obj)`` to ``path`` atomically (a temporary file beside it, flushed, renamed; umask mode)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def checkpoint(params, network=None, scales=None, param_key='params'):
    """The dict a checkpoint file holds: ``{param_key: params, 'network': ..., 'scales': ...}``.

    Args:
        params (dict | list[dict]): State dict(s); a list pairs with a list ``param_key``.
        network (dict | None): Network block (stored through :func:`portable_network`). Default: None.
        scales (Iterable[float] | None): Trained upscaling factors. Default: None.
        param_key (str | list[str]): Entry name(s) of ``params``. Default: 'params'.
    """
    keys = param_key if isinstance(param_key, (list, tuple)) else [param_key]
    values = params if isinstance(params, (list, tuple)) else [params]
    if len(keys) != len(values):
        raise ValueError(f'{len(values)} state dicts for the keys {keys}')
    out = dict(zip(keys, values))
    if network is not None:
        out[NETWORK_KEY] = portable_network(network)
    if scales:
        out[SCALES_KEY] = sorted({float(s) for s in scales})
    return out


def write(path, params, network=None, scales=None, param_key='params'):
    """Write a checkpoint atomically (see :func:`checkpoint` for the arguments)."""
    save(path, checkpoint(params, network, scales, param_key))


# ------------------------------------------------------------------------------------------------ validating


def _shapes(block):
    """{name: shape} of the state dict of ``block``'s network, built on the meta device (no memory)."""
    options = dict(block)
    with torch.device('meta'):
        net = _architecture(options.pop('type'))(**options)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _fits(shapes, state):
    return shapes.keys() == state.keys() and all(shapes[k] == tuple(v.shape) for k, v in state.items())


def _candidates(block):
    """(option, value built, other value) a checkpoint might have been trained with: one option changed at a time."""
    params = inspect.signature(_architecture(block['type'])).parameters
    for name, param in params.items():
        value = block.get(name, param.default)
        if isinstance(value, bool):
            yield name, value, not value
        elif isinstance(value, int):
            yield from ((name, value, v) for k in (1, 2, 3, 4) for v in (value * 2**k, value // 2**k) if v > 0)
        elif isinstance(value, float):
            yield from ((name, value, v) for k in (1, 2, 3, 4) for v in (value * 2**k, value / 2**k))


def mismatch_message(block, weights, state, budget_s=DIAGNOSE_BUDGET_S):
    """One line saying why ``state`` does not fit the network of ``block``, naming the option when it can.

    Networks differing from ``block`` in one constructor option (bools flipped, sizes and widths scaled by
    powers of two) are built on the meta device, within ``budget_s`` seconds; the first one the checkpoint
    fits names the option. Otherwise the line gives the first tensor that differs.
    """
    options = ', '.join(f'{k}={v!r}' for k, v in block.items() if k != 'type')
    head = f'{weights} does not fit {block["type"]}({options})'
    try:
        shapes = _shapes(block)
    except Exception:  # noqa: BLE001  (the full build reports its own error)
        shapes = {}
    start = time.monotonic()
    for name, built, value in _candidates(block):
        if time.monotonic() - start > budget_s:
            break
        try:
            if _fits(_shapes({**block, name: value}), state):
                return (f'{head}: it fits {name}={value!r} (not {built!r}); pass --net-opt {name}={value} (or -opt '
                        'the option file it was trained with)')
        except Exception:  # noqa: BLE001  (an invalid combination of options)
            continue
    missing, unexpected = shapes.keys() - state.keys(), state.keys() - shapes.keys()
    differ = [k for k in shapes.keys() & state.keys() if shapes[k] != tuple(state[k].shape)]
    first = ''
    if differ:
        key = sorted(differ)[0]
        first = f' (first: {key} is {list(state[key].shape)} in the file, {list(shapes[key])} in the network)'
    return (f'{head}: {len(differ)} tensor(s) differ in shape{first}, {len(missing)} missing, {len(unexpected)} '
            'unexpected; pass the options it was trained with (--net-opt KEY=VALUE, or -opt its option file)')


def validate(net, block, state, weights):
    """Load ``state`` into ``net`` (built from ``block``) strictly; a mismatch is one line naming the option.

    Raises:
        CheckpointError: The state does not fit (see :func:`mismatch_message`).
    """
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError:
        raise CheckpointError(mismatch_message(block, weights, state)) from None
    return net
