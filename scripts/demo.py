"""Train a small configuration of a method on faces made on the spot and compare it with bicubic: see
``facesr_arch/cli/demo.py`` (``python scripts/demo.py --help``)."""
from _light import run_command

if __name__ == '__main__':
    run_command('demo')
