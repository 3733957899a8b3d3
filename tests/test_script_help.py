"""Every script answers --help from the checkout without PYTHONPATH, before torch, BasicSR or the package are
imported (python -X importtime lists every module a run imports); the wall times are recorded, not asserted."""
import glob
import os
import subprocess
import sys
import time

import pytest

from helpers import REPO

SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'scripts', '*.py'))
                 if not os.path.basename(p).startswith('_'))
HEAVY = ('torch', 'torchvision', 'basicsr', 'facesr_arch', 'pyiqa', 'facexlib')


def imported_modules(importtime_log):
    """Top-level names of the modules in a ``-X importtime`` log ('import time: self | cumulative | name')."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith('import time:') and '|' in line:
            names.add(line.rsplit('|', 1)[1].strip().split('.')[0])
    return names


@pytest.mark.parametrize('script', SCRIPTS)
def test_help_before_heavy_imports(script, tmp_path, record_property):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-X', 'importtime', os.path.join(REPO, 'scripts', script), '--help'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    record_property('help_seconds', round(seconds, 3))
    print(f'{script} --help: {seconds:.2f} s')
    assert proc.returncode == 0 and 'usage:' in proc.stdout, proc.stderr[-3000:]
    assert not imported_modules(proc.stderr) & set(HEAVY)
