"""Shared start-up of ``facesr_arch.train`` and ``facesr_arch.test`` around BasicSR's pipelines.

- torchrun / ``torch.distributed.launch`` spell the rank flag ``--local-rank``; BasicSR's parser knows
  ``--local_rank``: the argument list is normalised.
- BasicSR's ``init_dist`` ignores the option file's ``dist_params.backend`` under ``--launcher pytorch``
  and assumes CUDA; :func:`init_dist` honours the backend (``gloo`` on CPU machines) and only binds a
  GPU when there is one. It replaces the name BasicSR's option parser calls.
- BasicSR's ``load_resume_state`` maps states onto CUDA and restarts the saved epoch; ``resume.py`` works on
  CPU too and continues the data order where the interrupted run stopped.
- BasicSR's ``--force_yml`` ``exec``s its argument; it is refused (edit the option file instead).
- The option file is read with a safe YAML loader and validated before anything is built; the dataset
  folders (LMDB integrity included), the pretrained checkpoints (no pickled code), the weight files of
  validation metrics and the writability of
  ``experiments/`` (training) or ``results/`` (testing) are checked before BasicSR creates any folder.
- BasicSR's training log estimates the time left one iteration short (``-1 day, 23:59:55`` at the last):
  :func:`eta_message_logger` counts the iterations left after the logged one.
"""
import argparse
import os
import sys

from ..toolkit.errors import UserError
from ..toolkit.outputs import check_writable
from .options import check_checkpoint_files, load_yaml, validate_options


def normalise_argv(argv):
    out = []
    for arg in argv:
        if arg.startswith('--local-rank'):
            arg = '--local_rank' + arg[len('--local-rank'):]
        if arg.startswith('--force_yml'):
            raise UserError('--force_yml is not supported (BasicSR exec()s its value); edit the option file.')
        out.append(arg)
    return out


def init_dist(launcher, backend=None, **kwargs):
    """Initialise torch.distributed for BasicSR, honouring ``backend`` and working without GPUs."""
    import torch
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


def prepare(is_train):
    """Validate the option file named by ``-opt`` and patch BasicSR's distributed start; returns its path."""
    sys.argv = [sys.argv[0]] + normalise_argv(sys.argv[1:])
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    args, _ = parser.parse_known_args()
    if args.opt is None:
        raise UserError('usage: python -m facesr_arch.{train,test} -opt OPTIONS.yml [--launcher pytorch] '
                        '[--auto_resume]')
    import facesr_arch  # noqa: F401  (registers everything before validation)
    try:
        opt = load_yaml(args.opt)
        validate_options(opt, is_train=is_train)
        check_writable(os.path.join(os.getcwd(), 'experiments' if is_train else 'results'))
        check_checkpoint_files(opt)
    except UserError as err:  # OptionError, UnsafeOutputError, MissingWeightsError, ...
        raise UserError(f'{args.opt}: {err}') from None
    backend = (opt.get('dist_params') or {}).get('backend')

    import basicsr.utils.options as basicsr_options

    def init_dist_with_backend(launcher, **kwargs):
        kwargs.setdefault('backend', backend)
        init_dist(launcher, **kwargs)

    basicsr_options.init_dist = init_dist_with_backend
    if is_train:
        import basicsr.train as basicsr_train

        from .resume import ExactResume
        ExactResume().install()
        basicsr_train.MessageLogger = eta_message_logger()
    return args.opt
