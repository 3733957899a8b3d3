"""The one compatibility shim facesr_arch needs, installed before the first ``import basicsr``.

PyPI ``basicsr`` 1.4.2 (``basicsr/data/degradations.py``) imports
``torchvision.transforms.functional_tensor.rgb_to_grayscale``. That private module was removed from
torchvision (0.17+); the same function lives in ``torchvision.transforms.functional``. We register an
import hook that answers the old name with an alias module, only when torchvision no longer has it.

The hook is installed when ``facesr_arch`` is imported, and at interpreter start-up by the ``.pth`` file
``facesr_arch_compat.pth`` (:data:`STARTUP_LINE`) that ``pip install`` puts in site-packages (setup.py) and the
Makefile's targets put in their environment (``python facesr_arch/_compat.py --install``): with it,
``import basicsr`` works before ``import facesr_arch`` too. This module imports nothing heavy (no torch), so
the start-up hook costs nothing until the old name is imported.
"""
import importlib.abc
import importlib.util
import os
import sys
import sysconfig

ALIASED = 'torchvision.transforms.functional_tensor'
STARTUP_FILE = 'facesr_arch_compat.pth'
# one .pth line (site.py runs lines starting with 'import'): loads this file without importing the package
# (whose __init__ imports torch and BasicSR); silent where facesr_arch is not importable, and a checkout whose
# _compat.py predates the hook (an eager torchvision import) is left alone
STARTUP_LINE = ("import importlib.util as _u, os as _o; _s = _u.find_spec('facesr_arch'); "
                "_p = _s and _o.path.join(_s.submodule_search_locations[0], '_compat.py'); "
                "_p = _p and _o.path.isfile(_p) and 'STARTUP_LINE' in open(_p).read() and _p; "
                "_c = _p and _u.spec_from_file_location('_facesr_arch_compat', _p); "
                "_c and _c.loader.exec_module(_u.module_from_spec(_c))\n")


class _AliasLoader(importlib.abc.Loader):

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from torchvision.transforms import functional
        module.rgb_to_grayscale = functional.rgb_to_grayscale


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Last on ``sys.meta_path``: consulted only when no other finder has ``ALIASED`` (current torchvision)."""

    facesr_arch_alias = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname != ALIASED:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader())


def install_torchvision_alias():
    """Answer ``import torchvision.transforms.functional_tensor`` with an alias if torchvision lacks it. Idempotent."""
    if not any(getattr(finder, 'facesr_arch_alias', False) for finder in sys.meta_path):
        sys.meta_path.append(_AliasFinder())


def install_startup_hook(site_dir=None):
    """Write :data:`STARTUP_FILE` into ``site_dir`` (default: this interpreter's site-packages). Idempotent.

    Returns:
        str: The file's path.
    """
    path = os.path.join(site_dir or sysconfig.get_paths()['purelib'], STARTUP_FILE)
    if not (os.path.isfile(path) and open(path).read() == STARTUP_LINE):
        with open(path, 'w') as f:
            f.write(STARTUP_LINE)
    return path


install_torchvision_alias()

if __name__ == '__main__' and sys.argv[1:] == ['--install']:
    print(f'import hook: {install_startup_hook()}')
