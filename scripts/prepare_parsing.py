"""Parsing sidecars (label maps, eye/mouth boxes) for a face folder or LMDB.

The command is facesr_arch/cli/prepare_parsing.py: ``python scripts/prepare_parsing.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('prepare_parsing')
