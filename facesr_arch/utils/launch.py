"""Shared start-up of ``facesr_arch.train`` and ``facesr_arch.test`` around BasicSR's pipelines.

- torchrun / ``torch.distributed.launch`` spell the rank flag ``--local-rank``; BasicSR's parser knows
  ``--local_rank``: the argument list is normalised (``--force_yml`` is refused before, in
  :mod:`facesr_arch.cli.pipeline`).
- The option file is read with a safe YAML loader and validated before anything is built; the pretrained
  checkpoints (no pickled code) and the writability of ``experiments/`` (training) or ``results/`` (testing)
  are checked before BasicSR creates any folder (the dataset folders and validation weights:
  :mod:`facesr_arch.cli.pipeline`).
- The changes to BasicSR's pipeline (distributed backend, exact resume, sampler, ETA logger) are installed
  from ``basicsr_changes.py``, which lists each and why.
"""
import os
import sys

from ..toolkit.errors import UserError
from ..toolkit.outputs import check_writable
from .basicsr_changes import install
from .options import check_checkpoint_files, load_yaml, validate_options


def normalise_argv(argv):
    """torchrun's ``--local-rank`` spelled as BasicSR's parser knows it, ``--local_rank``."""
    return ['--local_rank' + arg[len('--local-rank'):] if arg.startswith('--local-rank') else arg for arg in argv]


def prepare(opt_path, argv, is_train):
    """Validate the option file ``opt_path``, hand BasicSR its arguments ``argv`` (it parses ``sys.argv`` itself)
    and install ``basicsr_changes``; returns the validated options.

    Raises:
        UserError: The option file, a pretrained checkpoint it names, or the output folder is at fault (the
            message starts with the option file's path).
    """
    sys.argv = [sys.argv[0]] + normalise_argv(argv)
    import facesr_arch  # noqa: F401  (registers everything before validation)
    try:
        opt = load_yaml(opt_path)
        validate_options(opt, is_train=is_train)
        check_writable(os.path.join(os.getcwd(), 'experiments' if is_train else 'results'))
        check_checkpoint_files(opt)
    except UserError as err:  # OptionError, UnsafeOutputError, MissingWeightsError, ...
        raise UserError(f'{opt_path}: {err}') from None
    install(is_train, (opt.get('dist_params') or {}).get('backend'))
    return opt
