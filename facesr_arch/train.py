"""Train with BasicSR's pipeline: ``python -m facesr_arch.train -opt OPTIONS.yml [--auto_resume]``.

Distributed: ``torchrun --nproc_per_node=N -m facesr_arch.train -opt OPTIONS.yml --launcher pytorch``.
Experiments are written to ``./experiments/<name>`` under the current directory. Exit status: 0, or 2 after a
fault of the option file (one line); see :mod:`facesr_arch.cli.pipeline`.
"""
import sys

from facesr_arch.cli.pipeline import run_pipeline


def main(argv=None):
    return run_pipeline('train', argv)


if __name__ == '__main__':
    sys.exit(main())
