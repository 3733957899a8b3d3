"""GCFSR's modulation strip: one face restored at several conditional factors.

The command is facesr_arch/cli/modulation_sweep.py: ``python scripts/modulation_sweep.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('modulation_sweep')
