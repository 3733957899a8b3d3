"""Building a trained network for inference from a checkpoint, a test option file or an architecture name.

A checkpoint may describe its own network (``NETWORK_KEY``: registry type + constructor options, written by
training saves and ``scripts/convert_weights.py``). What decides the network, in order of precedence:

1. ``--net-opt KEY=VALUE`` (explicit overrides; one that changes a value the checkpoint records is reported);
2. the checkpoint's network block: the options its weights were made with (a differing option-file value is
   reported; ``--arch`` naming another architecture is an error);
3. the option file's ``network_g`` (``-opt``), or ``--arch`` with the constructor defaults.

An option file's ``inference:`` block declares how a user's own architecture is fed (``own_method.py``).

A checkpoint without a network block (older or foreign files) needs ``-opt`` or ``--arch``; when its tensors
do not fit the network built, one line names the option that does not fit (when a single option explains it).
"""
import copy
import inspect
import logging
import os
import time

import torch
import yaml

from ..toolkit.errors import BadInputError
from ..utils.options import load_yaml
from ..utils.weights import NETWORK_KEY, load_state_dict
from .own_method import declare_from_options
from .specs import SPECS, get_spec

logger = logging.getLogger(__name__)

HOW_TO_GET = ('Train the method (python -m facesr_arch.train -opt options/train/...) and pass '
              'experiments/<name>/models/net_g_*.pth, or convert a public release with scripts/convert_weights.py.')
# seconds spent at most looking for the one option that explains a checkpoint that does not fit
DIAGNOSE_BUDGET_S = 10.0


def parse_net_options(pairs):
    """``['narrow=0.25', 'blind=true']`` -> {'narrow': 0.25, 'blind': True} (values parsed as YAML)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise BadInputError(f'--net-opt takes KEY=VALUE, got {pair!r}')
        out[key.strip()] = yaml.safe_load(value)
    return out


def _plain(value):
    """YAML / OrderedDict option values as plain Python containers (loadable with ``weights_only=True``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def portable_network(block):
    """A network block as a checkpoint stores it: plain values, pretrained-file options set to None.

    The pretrained-file arguments of a method (``MethodSpec.pretrained_args``: StyleGAN2 prior, parsing
    network) name files the network loads while training starts; a trained checkpoint holds those weights
    too, so inference needs only the checkpoint.

    Args:
        block (dict): Network options with 'type'.

    Returns:
        dict: A new block.
    """
    block = _plain(copy.deepcopy(dict(block)))
    spec = SPECS.get(block['type'])
    for key_path in spec.pretrained_args if spec else ():
        parent = block
        for key in key_path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and key_path[-1] in parent:
            parent[key_path[-1]] = None
    return block


def read_checkpoint_header(path):
    """The network block (or None) and the top-level keys of a checkpoint, its tensors left on disk.

    Args:
        path (str | None): Checkpoint file; None, a missing or an unreadable file gives (None, ()): the weight
            loader reports those with its own message.

    Returns:
        tuple[dict | None, tuple[str]]: (``NETWORK_KEY`` entry, top-level keys).
    """
    if not path or not os.path.isfile(os.path.expanduser(str(path))):
        return None, ()
    path = os.path.expanduser(str(path))
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  legacy (non-zip) files cannot be memory-mapped
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
        except Exception:  # noqa: BLE001
            return None, ()
    if not isinstance(ckpt, dict):
        return None, ()
    block = ckpt.get(NETWORK_KEY)
    valid = isinstance(block, dict) and isinstance(block.get('type'), str)
    return (copy.deepcopy(dict(block)) if valid else None), tuple(ckpt)


def merge_checkpoint_network(block, stored, source):
    """``block`` (from an option file) under the checkpoint's own network options ``stored``.

    Args:
        block (dict): Network block with 'type'.
        stored (dict | None): The checkpoint's ``NETWORK_KEY`` entry.
        source (str): The checkpoint (for messages).

    Returns:
        dict: The merged block (a new dict); differing values are reported (the checkpoint's win).

    Raises:
        ValueError: The checkpoint holds another architecture.
    """
    if not stored:
        return dict(block)
    if stored['type'] != block.get('type'):
        raise BadInputError(f'{source} holds a {stored["type"]} network, not {block.get("type")}: use the option '
                            'file (or --arch) of that method, or the checkpoint alone (--weights)')
    differing = {k: (block[k], v) for k, v in stored.items() if k in block and _plain(block[k]) != _plain(v)}
    if differing:
        changes = ', '.join(f'{k}={new!r} (option file: {old!r})' for k, (old, new) in differing.items())
        logger.warning(f'Using the network options {source} was saved with: {changes}.')
    return {**block, **stored}


def network_config(opt_path=None, arch=None, weights=None, param_key=None, net_options=None):
    """Resolve what to build: the network block, its weight file and the checkpoint key.

    Args:
        opt_path (str | None): A test (or train) option file; its ``network_g`` block, its
            ``path.pretrain_network_g`` and ``path.param_key_g`` are used.
        arch (str | None): Registry name: needed only without an option file and for a checkpoint that does not
            name its network; otherwise it must agree.
        weights (str | None): Checkpoint; overrides the option file's path.
        param_key (str | None): 'params_ema' or 'params'; None takes the option file's key, else
            ``params_ema`` when the checkpoint has it, else ``params``. A ``params_ema`` the checkpoint lacks
            falls back to its ``params`` (converted releases hold ``params`` only), as BasicSR's loader does.
        net_options (dict | None): Constructor arguments overriding everything else (module docstring).

    Returns:
        tuple[dict, str, str | None]: (network block with 'type', weight file, param key).
    """
    block = None
    if opt_path:
        opt = load_yaml(opt_path)
        if 'network_g' not in opt:
            raise BadInputError(f'{opt_path} has no network_g block')
        declare_from_options(opt, opt_path)  # a user's own architecture: its inference block
        block = copy.deepcopy(opt['network_g'])
        if arch and arch != block['type']:
            raise BadInputError(f'--arch {arch} contradicts {opt_path} (network_g.type: {block["type"]})')
        path_opt = opt.get('path') or {}
        weights = weights or path_opt.get('pretrain_network_g')
        param_key = param_key or path_opt.get('param_key_g')
    stored, keys = read_checkpoint_header(weights)
    if stored is not None:
        if arch and arch != stored['type']:
            raise BadInputError(f'--arch {arch} contradicts {weights}, which holds a {stored["type"]} network '
                                '(drop --arch: the checkpoint names its network)')
        block = merge_checkpoint_network(block, stored, weights) if block else stored
    elif block is None:
        if not arch:
            if weights:
                raise BadInputError(f'{weights} does not name its network (no {NETWORK_KEY!r} entry: an older or '
                                    'foreign checkpoint): pass --arch NAME with the --net-opt KEY=VALUE it was '
                                    'trained with, or -opt its option file')
            raise BadInputError('Give a checkpoint (--weights), a test option file (-opt), or an architecture '
                                '(--arch) with --weights')
        block = {'type': arch}
    for key, value in (net_options or {}).items():
        if stored is not None and key in stored and _plain(stored[key]) != _plain(value):
            logger.warning(f'--net-opt {key}={value!r} overrides {key}={stored[key]!r} recorded in {weights}.')
    block = portable_network({**block, **(net_options or {})})
    get_spec(block['type'])  # an architecture inference cannot run: say so before building it
    if param_key == 'params_ema' and keys and 'params_ema' not in keys and 'params' in keys:
        logger.info(f'{weights} has no params_ema; loading its params.')
        param_key = 'params'
    return block, weights, param_key


def _shapes(block):
    """{name: shape} of the state dict of ``block``'s network, built on the meta device (no memory)."""
    from basicsr.utils.registry import ARCH_REGISTRY
    options = dict(block)
    with torch.device('meta'):
        net = ARCH_REGISTRY.get(options.pop('type'))(**options)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _fits(shapes, state):
    return shapes.keys() == state.keys() and all(shapes[k] == tuple(v.shape) for k, v in state.items())


def _candidates(block):
    """(option, value built, other value) a checkpoint might have been trained with: one option changed at a time."""
    from basicsr.utils.registry import ARCH_REGISTRY
    params = inspect.signature(ARCH_REGISTRY.get(block['type'])).parameters
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


def build_network(block, weights, param_key=None, device='cpu'):
    """Build the network of ``block``, load ``weights`` strictly, and put it in eval mode on ``device``.

    Args:
        block (dict): Network options with 'type' (a registry name).
        weights (str): Checkpoint (BasicSR's {'params', 'params_ema'} or a bare state dict).
        param_key (str | None): Entry to load; None prefers 'params_ema' over 'params'.
        device (str | torch.device): Target device.

    Returns:
        torch.nn.Module: The network, with gradients disabled.

    Raises:
        ValueError: The checkpoint does not fit the network (one line, see :func:`mismatch_message`).
    """
    from basicsr.utils.registry import ARCH_REGISTRY
    state = load_state_dict(weights, f'{block["type"]} generator', HOW_TO_GET, param_key=param_key)
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    options = dict(block)
    net = ARCH_REGISTRY.get(options.pop('type'))(**options)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError:
        raise BadInputError(mismatch_message(block, weights, state)) from None
    net.eval().requires_grad_(False)
    return net.to(torch.device(device))
