"""Shared start-up of ``facesr_arch.train`` and ``facesr_arch.test`` around BasicSR's pipelines.

- torchrun / ``torch.distributed.launch`` spell the rank flag ``--local-rank``; BasicSR's parser knows
  ``--local_rank``: the argument list is normalised.
- BasicSR's ``--force_yml`` ``exec``s its argument; it is refused (edit the option file instead).
- The option file is read with a safe YAML loader and validated before anything is built; the pretrained
  checkpoints (no pickled code) and the writability of ``experiments/`` (training) or ``results/`` (testing)
  are checked before BasicSR creates any folder (the dataset folders and validation weights:
  :mod:`facesr_arch.cli.pipeline`).
- The changes to BasicSR's pipeline (distributed backend, exact resume, sampler, ETA logger) are installed
  from ``basicsr_changes.py``, which lists each and why.
"""
import argparse
import os
import sys

from ..toolkit.errors import UserError
from ..toolkit.outputs import check_writable
from .basicsr_changes import install
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


def prepare(is_train):
    """Validate the option file named by ``-opt`` and install ``basicsr_changes``; returns the option file's path."""
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
    install(is_train, (opt.get('dist_params') or {}).get('backend'))
    return args.opt
