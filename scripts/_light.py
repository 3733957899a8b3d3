"""Start-up of the scripts: the checkout importable, and arguments parsed before anything heavy is imported.

``import facesr_arch`` imports torch and BasicSR and registers every part (seconds); a script's ``--help`` and
argument errors should not wait for that. :func:`light_module` loads a module of the package whose top level
imports nothing heavy (a command line's argument parser) without running the package's ``__init__`` files.
"""
import importlib
import os
import sys
import types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIGHT = '_facesr_arch_light'

if REPO not in sys.path:  # python scripts/NAME.py from the checkout, no PYTHONPATH needed
    sys.path.insert(1, REPO)


def light_module(name):
    """The package module ``name`` (e.g. 'inference.cli') loaded under bare parent packages.

    Its top level and its relative imports must import nothing heavy; the real ``facesr_arch`` is imported
    as usual once the arguments are parsed.
    """
    parts = name.split('.')
    for depth in range(len(parts)):
        package = '.'.join([_LIGHT] + parts[:depth])
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [os.path.join(REPO, 'facesr_arch', *parts[:depth])]
            sys.modules[package] = module
    return importlib.import_module(f'{_LIGHT}.{name}')


def run_command(name):
    """Run the command ``facesr_arch.cli.<name>``: its arguments are parsed first, with the module loaded light
    (``--help`` and argument errors answer before torch is imported), then the real module's ``main`` runs.

    A command module keeps a light top level (standard library imports only) and provides ``build_parser()``
    and ``main(argv=None)`` returning the exit status.
    """
    light_module(f'cli.{name}').build_parser().parse_args()
    module = importlib.import_module(f'facesr_arch.cli.{name}')
    sys.exit(module.main())
