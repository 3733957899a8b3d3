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
import logging

import torch
import yaml

from ..toolkit.checkpoints import (NETWORK_KEY, CheckpointError, describe, merge_network, plain, portable_network,
                                   read_state_dict, validate)
from ..toolkit.errors import BadInputError
from ..utils.options import load_yaml
from .own_method import declare_from_options
from .specs import get_spec

logger = logging.getLogger(__name__)

HOW_TO_GET = ('Train the method (python -m facesr_arch.train -opt options/train/...) and pass '
              'experiments/<name>/models/net_g_*.pth, or convert a public release with scripts/convert_weights.py.')


def parse_net_options(pairs):
    """``['narrow=0.25', 'blind=true']`` -> {'narrow': 0.25, 'blind': True} (values parsed as YAML)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise BadInputError(f'--net-opt takes KEY=VALUE, got {pair!r}')
        out[key.strip()] = yaml.safe_load(value)
    return out


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
    found = describe(weights, 'the network to restore with', HOW_TO_GET) if weights else None
    stored, keys = (found.network, found.keys) if found else (None, ())
    if stored is not None:
        if arch and arch != stored['type']:
            raise CheckpointError(f'--arch {arch} contradicts {weights}, which holds a {stored["type"]} network '
                                  '(drop --arch: the checkpoint names its network)')
        if block:
            block, differing = merge_network(block, stored, weights)
            if differing:
                changes = ', '.join(f'{k}={new!r} (option file: {old!r})' for k, (old, new) in differing.items())
                logger.warning(f'Using the network options {weights} was saved with: {changes}.')
        else:
            block = stored
    elif block is None:
        if not arch:
            if weights:
                raise CheckpointError(f'{weights} does not name its network (no {NETWORK_KEY!r} entry: an older or '
                                      'foreign checkpoint): pass --arch NAME with the --net-opt KEY=VALUE it was '
                                      'trained with, or -opt its option file')
            raise BadInputError('Give a checkpoint (--weights), a test option file (-opt), or an architecture '
                                '(--arch) with --weights')
        block = {'type': arch}
    for key, value in (net_options or {}).items():
        if stored is not None and key in stored and plain(stored[key]) != plain(value):
            logger.warning(f'--net-opt {key}={value!r} overrides {key}={stored[key]!r} recorded in {weights}.')
    block = portable_network({**block, **(net_options or {})})
    get_spec(block['type'])  # an architecture inference cannot run: say so before building it
    if param_key == 'params_ema' and keys and 'params_ema' not in keys and 'params' in keys:
        logger.info(f'{weights} has no params_ema; loading its params.')
        param_key = 'params'
    return block, weights, param_key


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
        CheckpointError: The checkpoint is not usable, or does not fit the network (one line naming the option
            that explains it, see ``toolkit.checkpoints.validate``).
    """
    from basicsr.utils.registry import ARCH_REGISTRY
    state = read_state_dict(weights, f'{block["type"]} generator', HOW_TO_GET, param_key=param_key)
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    options = dict(block)
    net = validate(ARCH_REGISTRY.get(options.pop('type'))(**options), block, state, weights)
    net.eval().requires_grad_(False)
    return net.to(torch.device(device))
