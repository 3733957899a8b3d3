"""A labelled comparison grid LR | methods | GT: see ``python scripts/compare_grid.py -h``."""
from _light import run_command

if __name__ == '__main__':
    run_command('compare_grid')
