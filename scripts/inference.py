"""Batch inference with a trained facesr_arch method.

The command is facesr_arch/cli/inference.py: ``python scripts/inference.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('inference')
