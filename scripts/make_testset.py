"""Deterministic LQ/GT test sets for the papers' protocols.

The command is facesr_arch/cli/make_testset.py: ``python scripts/make_testset.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('make_testset')
