"""Metric tables for result folders vs a GT folder.

The command is facesr_arch/cli/calculate_metrics.py: ``python scripts/calculate_metrics.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('calculate_metrics')
