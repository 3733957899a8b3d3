"""Test with BasicSR's pipeline: ``python -m facesr_arch.test -opt OPTIONS.yml``; results go to ./results.

Exit status: 0, or 2 after a fault of the option file or its inputs (one line); see
:mod:`facesr_arch.cli.pipeline`.
"""
import sys

from facesr_arch.cli.pipeline import run_pipeline


def main(argv=None):
    return run_pipeline('test', argv)


if __name__ == '__main__':
    sys.exit(main())
