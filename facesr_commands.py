"""Start-up of every facesr_arch command: arguments parsed before anything heavy is imported.

``import facesr_arch`` imports torch and BasicSR and registers every part (seconds); a command's ``--help``
and argument errors should not wait for that. This module lives beside the package, not inside it (importing
anything inside ``facesr_arch`` runs the package's ``__init__``), and is what the console commands of
``pip install .`` (setup.py) and the ``scripts/`` wrappers call.

:func:`light_module` loads a module of the package whose top level imports nothing heavy (a command's
argument parser) without running the package's ``__init__`` files; :func:`run_command` parses the arguments
with it, then runs the real command module's ``main``.
"""
import importlib
import os
import sys
import types

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'facesr_arch')
_LIGHT = '_facesr_arch_light'


def light_module(name):
    """The package module ``name`` (e.g. 'cli.inference') loaded under bare parent packages.

    Every package of facesr_arch is bare under the light name (its ``__init__`` is not run), so the module's
    top level and its relative imports, also into sibling packages (``from ..metrics.catalog import ...``),
    load those modules alone; they must import nothing heavy. The real ``facesr_arch`` is imported as usual
    once the arguments are parsed.
    """
    for folder, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if not d.startswith(('.', '_'))]
        if '__init__.py' not in files:
            continue
        relative = os.path.relpath(folder, PACKAGE_DIR)
        package = '.'.join([_LIGHT] + ([] if relative == os.curdir else relative.split(os.sep)))
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [folder]
            sys.modules[package] = module
    return importlib.import_module(f'{_LIGHT}.{name}')


def run_command(name, argv=None):
    """Run the command ``facesr_arch.cli.<name>`` and return its exit status: the arguments are parsed first,
    with the module loaded light (``--help`` and argument errors answer before torch is imported), then the
    real module's ``main`` runs.

    A command module keeps a light top level (standard library imports only) and provides ``build_parser()``
    and ``main(argv=None)`` returning the exit status.
    """
    light_module(f'cli.{name}').build_parser().parse_args(argv)
    module = importlib.import_module(f'facesr_arch.cli.{name}')
    return module.main(argv)


# the console commands of setup.py, one per module of facesr_arch/cli
def benchmark():
    return run_command('benchmark')


def calculate_metrics():
    return run_command('calculate_metrics')


def compare_grid():
    return run_command('compare_grid')


def convert_weights():
    return run_command('convert_weights')


def create_lmdb():
    return run_command('create_lmdb')


def inference():
    return run_command('inference')


def make_testset():
    return run_command('make_testset')


def modulation_sweep():
    return run_command('modulation_sweep')


def prepare_parsing():
    return run_command('prepare_parsing')


def reproduce():
    return run_command('reproduce')
