"""Resuming training exactly where it stopped.

BasicSR's ``load_resume_state`` maps states onto CUDA unconditionally and, on resume, restarts the saved
epoch from its first batch with fresh random generators. The pieces here (put in BasicSR's place by
``utils/basicsr_changes.py``) make a resumed run continue as the uninterrupted one would:

- :func:`load_resume_state` maps states onto the device the run uses (CPU runs resume GPU states), loads
  with ``weights_only=True``, and with ``--auto_resume`` takes the newest training state that loads.
- :func:`capture_rng_state` / :func:`restore_rng_state`: the torch (CPU and CUDA), numpy and python
  generators, kept in the training state by ``FaceBaseModel`` (as tensors and ints, so that
  ``weights_only=True`` loads them).
- :class:`ResumableSampler` skips the batches of the saved epoch that were already consumed, and the
  train loader draws its worker base seed from its own generator instead of torch's global one, so
  starting an epoch does not shift the training randomness.
"""
import os
import random

import numpy as np
import torch

from basicsr.data.data_sampler import EnlargedSampler
from basicsr.utils.misc import check_resume

from ..toolkit.checkpoints import CheckpointError, load_checkpoint


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


def load_training_state(path, device):
    """``torch.load`` of a training state with ``weights_only=True``; a pickle with code is refused.

    Raises:
        CheckpointError: The file is not a loadable training state (truncated, or holds pickled objects).
    """
    return load_checkpoint(path, 'training state', device)


def load_resume_state(opt, skipped=None):
    """Replacement for ``basicsr.train.load_resume_state`` (same contract: the state dict or None).

    Args:
        opt (dict): BasicSR's parsed options.
        skipped (list | None): Receives a message per unreadable state skipped by ``--auto_resume`` (BasicSR's
            logger must not be used before the pipeline initialises it with its log file).
    """
    device = _resume_device(opt)
    if opt['auto_resume']:
        state_dir = os.path.join('experiments', opt['name'], 'training_states')
        for it in _state_iters(state_dir):
            path = os.path.join(state_dir, f'{it}.state')
            try:
                state = load_training_state(path, device)
            except CheckpointError as err:  # a state cut short: fall back to the previous one
                if skipped is not None:
                    skipped.append(f'Skipping unreadable training state: {err}')
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
    state = load_training_state(path, device)
    check_resume(opt, state['iter'])
    return state


def capture_rng_state():
    """The global torch (CPU, CUDA), numpy and python random states, as ``weights_only``-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        'numpy': {'kind': kind, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                  'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
        'python': random.getstate(),
    }


def restore_rng_state(state):
    """Inverse of :func:`capture_rng_state` (CUDA states are restored only when as many GPUs are visible)."""
    torch.set_rng_state(state['torch'].cpu())
    if state['cuda'] and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])
    numpy_state = state['numpy']
    np.random.set_state((numpy_state['kind'], numpy_state['keys'].numpy().astype(np.uint32), numpy_state['pos'],
                         numpy_state['has_gauss'], numpy_state['cached_gaussian']))
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))


class ResumableSampler(EnlargedSampler):
    """BasicSR's ``EnlargedSampler`` that can start its first epoch after a resume part-way through.

    The order of each epoch is unchanged (a permutation seeded by the epoch number); :meth:`start_at` drops
    the indices of the batches the interrupted run had already trained on.
    """

    def __init__(self, dataset, num_replicas, rank, ratio=1):
        super().__init__(dataset, num_replicas, rank, ratio)
        self._resume_epoch, self._resume_skip = None, 0

    def start_at(self, epoch, num_skipped):
        """Skip the first ``num_skipped`` indices of epoch ``epoch`` (once)."""
        self._resume_epoch, self._resume_skip = epoch, num_skipped

    def __iter__(self):
        indices = super().__iter__()
        if self.epoch == self._resume_epoch:
            indices = iter(list(indices)[self._resume_skip:])
            self._resume_epoch, self._resume_skip = None, 0
        return indices
