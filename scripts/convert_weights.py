"""Import public checkpoints into facesr_arch's layouts.

The command is facesr_arch/cli/convert_weights.py: ``python scripts/convert_weights.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('convert_weights')
