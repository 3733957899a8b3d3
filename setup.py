"""facesr_arch: face super-resolution and blind face restoration methods as a BasicSR plugin."""
import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(here, name)) as f:
        return f.read()


def requirements():
    # torch/torchvision/basicsr are installed by the Makefile in a fixed order (see requirements.txt)
    lines = [line.split('#')[0].strip() for line in read('requirements.txt').splitlines()]
    return [line for line in lines if line and not line.startswith(('pytest', 'basicsr'))]


setup(
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
    entry_points={'console_scripts': ['facesr-inference=facesr_arch.inference.cli:main',
                                     'facesr-metrics=facesr_arch.metrics.cli:main']},
)
