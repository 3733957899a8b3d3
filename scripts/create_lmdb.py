"""Pack an image folder into a BasicSR LMDB.

The command is facesr_arch/cli/create_lmdb.py: ``python scripts/create_lmdb.py -h``.
"""
from _light import run_command

if __name__ == '__main__':
    run_command('create_lmdb')
