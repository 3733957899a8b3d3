"""Every change this package makes to BasicSR's own pipeline code, in one place, with the reason for each.

``facesr_arch.train`` and ``facesr_arch.test`` run BasicSR's ``train_pipeline`` / ``test_pipeline`` unchanged,
except for the names listed in :data:`REPLACEMENTS`, which :func:`install` sets in the BasicSR module that
looks them up when the pipeline runs (BasicSR offers no hook for them). Nothing else of BasicSR or of torch
is replaced: the models write their checkpoints through their own ``save_network`` / ``save_training_state``
(``models/base.py``) and the datasets skip corrupt samples through their base class (``data/base_dataset.py``).

=======================================  ===================================================================
``basicsr.utils.options.init_dist``      BasicSR's ignores ``dist_params.backend`` under ``--launcher pytorch``
                                         and assumes CUDA (nccl); :func:`init_dist` honours the backend
                                         (``gloo`` on CPU machines) and binds a GPU only when there is one.
``basicsr.train.load_resume_state``      BasicSR's maps states onto CUDA and loads them with pickle enabled;
                                         ours (``resume.load_resume_state``) maps onto the run's device, loads
                                         with ``weights_only=True`` and, with ``--auto_resume``, skips a state
                                         cut short for the newest one that loads.
``basicsr.train.create_train_val_       BasicSR's loaders, plus: the train loader draws its worker seeds from
dataloader``                             its own generator (starting an epoch does not shift the training
                                         randomness), and on resume its sampler skips the batches of the saved
                                         epoch already trained on (BasicSR restarts the epoch).
``basicsr.train.EnlargedSampler``        ``resume.ResumableSampler``: the same order, able to start an epoch
                                         part-way (used by the loader above).
``basicsr.train.MessageLogger``          BasicSR's ETA counts one iteration too few (``-1 day, 23:59:55`` at
                                         the last); :class:`EtaMessageLogger` counts those left after the one
                                         logged.
=======================================  ===================================================================

Training-only replacements are installed for training only; the test pipeline gets ``init_dist`` alone.
"""
import os
from dataclasses import dataclass

import torch

from .resume import ResumableSampler, load_resume_state


@dataclass(frozen=True)
class Replacement:
    """One BasicSR name replaced: ``module.name`` becomes ``value`` (see the module docstring for why)."""

    module: str
    name: str
    training_only: bool
    why: str


REPLACEMENTS = (
    Replacement('basicsr.utils.options', 'init_dist', False,
                'honour dist_params.backend (gloo on CPU) and bind a GPU only when there is one'),
    Replacement('basicsr.train', 'load_resume_state', True,
                "map states onto the run's device, weights_only=True, skip a state cut short on --auto_resume"),
    Replacement('basicsr.train', 'create_train_val_dataloader', True,
                'own worker-seed generator; on resume, continue the saved epoch where it stopped'),
    Replacement('basicsr.train', 'EnlargedSampler', True, 'a sampler that can start an epoch part-way'),
    Replacement('basicsr.train', 'MessageLogger', True, "BasicSR's ETA counts one iteration too few"),
)


def init_dist(launcher, backend=None, **kwargs):
    """Initialise torch.distributed for BasicSR, honouring ``backend`` and working without GPUs."""
    import torch.distributed as dist
    if launcher != 'pytorch':
        from basicsr.utils.dist_util import init_dist as basicsr_init_dist
        return basicsr_init_dist(launcher, backend=backend or 'nccl', **kwargs)
    has_cuda = torch.cuda.is_available() and torch.cuda.device_count() > 0
    backend = backend or ('nccl' if has_cuda else 'gloo')
    if has_cuda:
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', 0))) % torch.cuda.device_count())
    elif backend == 'nccl':
        raise RuntimeError("dist_params.backend is 'nccl' but no GPU is visible; use 'gloo' on CPU machines")
    dist.init_process_group(backend=backend)


def eta_message_logger():
    """BasicSR's ``MessageLogger`` whose ETA is the mean iteration time x the iterations left after this one
    (BasicSR's formula leaves one out: a negative ETA, printed ``-1 day, 23:59:55``, at the last iteration)."""
    from basicsr.utils import MessageLogger

    class EtaMessageLogger(MessageLogger):

        def __init__(self, opt, start_iter=1, tb_logger=None):
            super().__init__(opt, start_iter, tb_logger)
            self.max_iters += 1  # only used by the ETA: (max_iters - current_iter - 1) -> iterations left

    return EtaMessageLogger


class ExactResume:
    """``load_resume_state`` and ``create_train_val_dataloader`` of one training run, sharing the loaded state.

    The training loop resumes at the saved epoch's first batch; here the loader's sampler skips the batches
    of that epoch already trained on, found from the saved epoch and iteration (an uninterrupted run trains
    iterations ``e * L + 1 .. (e + 1) * L`` in epoch ``e``, ``L`` the loader's length). A state whose
    position does not fit the current loader (another dataset or batch size) restarts the epoch, as BasicSR
    does, with a warning.
    """

    def __init__(self, create_train_val_dataloader):
        self.state = None
        self.skipped = []
        self._create_train_val_dataloader = create_train_val_dataloader

    def load_resume_state(self, opt):
        """``resume.load_resume_state``, remembering the state for the data loader."""
        self.state = load_resume_state(opt, self.skipped)
        return self.state

    def create_train_val_dataloader(self, opt, logger):
        """BasicSR's loaders; the train loader gets its own seed generator and, on resume, its position."""
        for message in self.skipped:
            logger.warning(message)
        result = self._create_train_val_dataloader(opt, logger)
        train_loader, train_sampler = result[0], result[1]
        train_loader.generator = torch.Generator().manual_seed(int(opt['manual_seed']) + int(opt['rank']))
        if self.state is not None:
            epoch, done = self.state['epoch'], self.state['iter'] - self.state['epoch'] * len(train_loader)
            if 0 <= done <= len(train_loader):
                train_sampler.start_at(epoch, done * train_loader.batch_size)
                logger.info(f'Resuming the data order of epoch {epoch} after its first {done} batches.')
            else:
                logger.warning(f"The training state's position (epoch {epoch}, iter {self.state['iter']}) does not "
                               f'fit {len(train_loader)} batches per epoch (dataset or batch size changed): '
                               f'epoch {epoch} restarts from its first batch.')
        return result


def replacement_values(is_train, backend=None):
    """{(module, name): value} of the :data:`REPLACEMENTS` for a training (``is_train``) or test run.

    Args:
        is_train (bool): Training run (every replacement) or test run (``init_dist`` only).
        backend (str | None): The option file's ``dist_params.backend``, passed to :func:`init_dist`.
    """
    import basicsr.train

    def init_dist_with_backend(launcher, **kwargs):
        kwargs.setdefault('backend', backend)
        init_dist(launcher, **kwargs)

    values = {('basicsr.utils.options', 'init_dist'): init_dist_with_backend}
    if is_train:
        resume = ExactResume(basicsr.train.create_train_val_dataloader)
        values.update({('basicsr.train', 'load_resume_state'): resume.load_resume_state,
                       ('basicsr.train', 'create_train_val_dataloader'): resume.create_train_val_dataloader,
                       ('basicsr.train', 'EnlargedSampler'): ResumableSampler,
                       ('basicsr.train', 'MessageLogger'): eta_message_logger()})
    listed = {(r.module, r.name) for r in REPLACEMENTS if is_train or not r.training_only}
    if listed != set(values):
        raise RuntimeError(f'BasicSR replacements not listed in REPLACEMENTS: {set(values) ^ listed}')
    return values


def install(is_train, backend=None):
    """Set the :data:`REPLACEMENTS` in BasicSR's modules for this process (called once by ``utils.launch.prepare``,
    before the pipeline starts). Returns {(module, name): the value BasicSR had}, for :func:`uninstall`."""
    import importlib
    previous = {}
    for (module_name, name), value in replacement_values(is_train, backend).items():
        module = importlib.import_module(module_name)
        previous[module_name, name] = getattr(module, name)
        setattr(module, name, value)
    return previous


def uninstall(previous):
    """Put back what :func:`install` replaced."""
    import importlib
    for (module_name, name), value in previous.items():
        setattr(importlib.import_module(module_name), name, value)
