"""Building a trained network for inference from a test option file or from an architecture name + weights."""
import copy

import torch
import yaml

from ..utils.options import load_yaml
from ..utils.weights import NETWORK_KEY, load_state_dict, require_file
from .specs import get_spec

HOW_TO_GET = ('Train the method (python -m facesr_arch.train -opt options/train/...) and pass '
              'experiments/<name>/models/net_g_*.pth, or convert a public release with scripts/convert_weights.py.')


def parse_net_options(pairs):
    """``['narrow=0.25', 'blind=true']`` -> {'narrow': 0.25, 'blind': True} (values parsed as YAML)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition('=')
        if not sep or not key:
            raise ValueError(f'--net-opt takes KEY=VALUE, got {pair!r}')
        out[key.strip()] = yaml.safe_load(value)
    return out


def checkpoint_network(weights):
    """The network block stored in checkpoint ``weights`` under ``NETWORK_KEY`` (a copy), or None."""
    path = require_file(weights, 'the network', HOW_TO_GET)
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)  # tensors stay on disk
    except Exception:  # legacy or broken files: reported with the path when the weights are loaded
        return None
    block = ckpt.get(NETWORK_KEY) if isinstance(ckpt, dict) else None
    return copy.deepcopy(block) if isinstance(block, dict) and 'type' in block else None


def network_config(opt_path=None, arch=None, weights=None, param_key=None, net_options=None):
    """Resolve what to build: the network block, its weight file and the checkpoint key.

    Args:
        opt_path (str | None): A test (or train) option file; its ``network_g`` block, its
            ``path.pretrain_network_g`` and ``path.param_key_g`` are used.
        arch (str | None): Registry name, when no option file is given and the checkpoint does not name its
            network (or to check it).
        weights (str | None): Checkpoint; overrides the option file's path.
        param_key (str | None): 'params_ema' or 'params'; None takes the option file's key, else
            ``params_ema`` when the checkpoint has it, else ``params``.
        net_options (dict | None): Constructor arguments overriding the network block.

    The pretrained-file arguments of the method (``MethodSpec.pretrained_args``: StyleGAN2 prior, parsing
    network) are set to None: the trained checkpoint holds those weights, so a user needs only it.

    Returns:
        tuple[dict, str, str | None]: (network block with 'type', weight file, param key).
    """
    if opt_path:
        opt = load_yaml(opt_path)
        if 'network_g' not in opt:
            raise ValueError(f'{opt_path} has no network_g block')
        block = copy.deepcopy(opt['network_g'])
        if arch and arch != block['type']:
            raise ValueError(f'--arch {arch} contradicts {opt_path} (network_g.type: {block["type"]})')
        path_opt = opt.get('path') or {}
        weights = weights or path_opt.get('pretrain_network_g')
        param_key = param_key or path_opt.get('param_key_g')
    elif weights and (stored := checkpoint_network(weights)):
        block = stored
        if arch and arch != block['type']:
            raise ValueError(f'--arch {arch} contradicts {weights} (its network block: {block["type"]})')
    elif arch:
        block = {'type': arch}
    else:
        raise ValueError('Give a test option file (-opt), an architecture (--arch) with --weights, or a checkpoint '
                         f'that names its network (a {NETWORK_KEY!r} entry, e.g. from scripts/convert_weights.py)')
    block.update(net_options or {})
    for key_path in get_spec(block['type']).pretrained_args:
        parent = block
        for key in key_path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and key_path[-1] in parent:
            parent[key_path[-1]] = None
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
    """
    from basicsr.utils.registry import ARCH_REGISTRY
    options = dict(block)
    net = ARCH_REGISTRY.get(options.pop('type'))(**options)
    state = load_state_dict(weights, f'{block["type"]} generator', HOW_TO_GET, param_key=param_key)
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f'{weights} does not match {block["type"]}({options}): the network options must be the '
                         f'ones it was trained with (-opt its option file, or --net-opt).\n{err}') from err
    net.eval().requires_grad_(False)
    return net.to(torch.device(device))
