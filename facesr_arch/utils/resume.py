"""Resuming training: BasicSR's ``load_resume_state`` maps states onto CUDA unconditionally; this one maps
them onto the device the run uses (CPU runs resume GPU states), loads with ``weights_only=True``, and
with ``--auto_resume`` takes the newest training state that loads completely."""
import os

import torch

from basicsr.utils import get_root_logger
from basicsr.utils.misc import check_resume


def _resume_device(opt):
    if opt.get('num_gpu', 0) != 0 and torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def _state_iters(state_dir):
    if not os.path.isdir(state_dir):
        return []
    iters = []
    for name in os.listdir(state_dir):
        stem, ext = os.path.splitext(name)
        if ext == '.state' and stem.isdigit():
            iters.append(int(stem))
    return sorted(iters, reverse=True)


def load_resume_state(opt):
    """Replacement for ``basicsr.train.load_resume_state`` (same contract: the state dict or None)."""
    device = _resume_device(opt)
    if opt['auto_resume']:
        state_dir = os.path.join('experiments', opt['name'], 'training_states')
        for it in _state_iters(state_dir):
            path = os.path.join(state_dir, f'{it}.state')
            try:
                state = torch.load(path, map_location=device, weights_only=True)
            except Exception as err:  # a state cut short by a crash: fall back to the previous one
                get_root_logger().warning(f'Skipping unreadable training state {path}: {err}')
                continue
            opt['path']['resume_state'] = path
            check_resume(opt, state['iter'])
            return state
        return None
    path = opt['path'].get('resume_state')
    if not path:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError(f'path.resume_state names a missing file: {path}')
    state = torch.load(path, map_location=device, weights_only=True)
    check_resume(opt, state['iter'])
    return state
