"""`import basicsr` before `import facesr_arch` (notebooks, GFPGAN / CodeFormer next to the plugin): the start-up
hook facesr_arch_compat.pth (facesr_arch/_compat.py, installed by setup.py and the Makefile) aliases the torchvision
module PyPI basicsr 1.4.2 imports; each order runs in a fresh interpreter."""
import importlib.util
import os
import subprocess
import sys

import pytest

from helpers import REPO


def compat():
    spec = importlib.util.spec_from_file_location('compat_under_test', os.path.join(REPO, 'facesr_arch', '_compat.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(code, site_dir=None):
    prefix = f'import site; site.addsitedir({str(site_dir)!r}); ' if site_dir else ''
    return subprocess.run([sys.executable, '-c', prefix + code], env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def site_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('site')
    path = compat().install_startup_hook(str(folder))
    assert compat().install_startup_hook(str(folder)) == path  # idempotent
    assert os.listdir(folder) == ['facesr_arch_compat.pth']
    return folder


@pytest.mark.parametrize('order', [('basicsr', 'facesr_arch'), ('facesr_arch', 'basicsr')])
def test_both_import_orders(order, site_dir):
    code = (f'import {order[0]}, {order[1]}; from basicsr.utils.registry import ARCH_REGISTRY; '
            'assert "GCFSR" in ARCH_REGISTRY; print("ok")')
    proc = run(code, site_dir)
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', proc.stderr[-2000:]


def test_hook_is_free_until_used(site_dir):
    proc = run('import sys; print(sorted(m for m in ("torch", "torchvision", "basicsr", "facesr_arch") '
               'if m in sys.modules))', site_dir)
    assert proc.returncode == 0 and proc.stdout.strip() == '[]', proc.stderr[-2000:]


def test_package_import_installs_the_alias_without_the_hook():
    proc = run('import facesr_arch, torchvision.transforms.functional_tensor as f; print(callable(f.rgb_to_grayscale))')
    assert proc.returncode == 0 and proc.stdout.strip() == 'True', proc.stderr[-2000:]
