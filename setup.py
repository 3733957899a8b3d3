"""facesr_arch: face super-resolution and blind face restoration methods as a BasicSR plugin."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

here = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(here, name)) as f:
        return f.read()


def requirements():
    # torch/torchvision/basicsr are installed by the Makefile in a fixed order (see requirements.txt);
    # pytest, pytest-xdist and selenium are the test suite's
    lines = [line.split('#')[0].strip() for line in read('requirements.txt').splitlines()]
    return [line for line in lines if line and not line.startswith(('pytest', 'basicsr', 'selenium'))]


def compat_module():
    """facesr_arch/_compat.py loaded as a file (importing the package would import torch and BasicSR)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('_facesr_arch_compat', os.path.join(here, 'facesr_arch', '_compat.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithStartupHook(build_py):
    """Also installs ``facesr_arch_compat.pth`` in site-packages, so ``import basicsr`` works before
    ``import facesr_arch`` (see facesr_arch/_compat.py)."""

    def run(self):
        super().run()
        # an editable install (pip install -e .) packs its wheel from install_lib, a regular one from build_lib
        target = self.distribution.get_command_obj('install').install_lib if self.editable_mode else self.build_lib
        os.makedirs(target, exist_ok=True)
        compat_module().install_startup_hook(target)

    def get_outputs(self, *args, **kwargs):
        return super().get_outputs(*args, **kwargs) + [os.path.join(self.build_lib, compat_module().STARTUP_FILE)]


setup(
    cmdclass={'build_py': BuildWithStartupHook},
    name='facesr_arch',
    version=read('VERSION').strip(),
    description='CFGPFSSR, GCFSR, MPCNet, PVFR and W-Net for BasicSR: train, test and compare face SR / restoration',
    long_description=read('README.md'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['facesr_arch', 'facesr_arch.*']),
    # the test protocols' key lists and the papers' tables (reproduce/tables.py)
    package_data={'facesr_arch.data': ['keylists/*.txt'], 'facesr_arch.reproduce': ['tables/*.yaml']},
    python_requires='>=3.9',
    install_requires=requirements(),
    license='Apache-2.0',
    # one console command per module of facesr_arch/cli, started by facesr_commands.py (arguments parsed before
    # torch is imported); the scripts/ wrappers run the same modules
    py_modules=['facesr_commands'],
    entry_points={'console_scripts': [
        'facesr-inference=facesr_commands:inference',
        'facesr-benchmark=facesr_commands:benchmark',
        'facesr-metrics=facesr_commands:calculate_metrics',
        'facesr-compare-grid=facesr_commands:compare_grid',
        'facesr-convert-weights=facesr_commands:convert_weights',
        'facesr-create-lmdb=facesr_commands:create_lmdb',
        'facesr-make-testset=facesr_commands:make_testset',
        'facesr-modulation-sweep=facesr_commands:modulation_sweep',
        'facesr-prepare-parsing=facesr_commands:prepare_parsing',
        'facesr-reproduce=facesr_commands:reproduce',
    ]},
)
