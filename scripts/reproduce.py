"""Reproduce a paper table.

The command is facesr_arch/cli/reproduce.py: ``python scripts/reproduce.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('reproduce')
