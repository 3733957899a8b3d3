"""Every quick-start option file (options/train/<Method>/quickstart_*.yml) through `make demo METHOD=...`: make's
command line runs the demo at one iteration, which trains the file through BasicSR's pipeline
(facesr_arch.train), validates on the held-out faces and writes the report and figure (GCFSR, the default, in
test_demo.py). The files say where they differ from the paper and declare random frozen priors."""
import glob
import json
import os
import re

import pytest
import yaml

from helpers import REPO, make_demo_args

from facesr_arch.cli import demo
from facesr_arch.quickstart.options import METHODS, QUICKSTART_OPTIONS

# the methods whose quick start leaves pretrained priors random (declared with random_priors: true)
RANDOM_PRIORS = {'CFGPFSSR', 'MPCNet', 'PVFR'}
PRIOR_KEYS = ('prior_path', 'gan_prior_path', 'parsing_prior_path')


def test_each_method_has_one_quickstart_file_that_says_where_it_differs():
    files = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'options/train/*/quickstart_*.yml')))
    assert files == sorted(QUICKSTART_OPTIONS.values()) and set(METHODS) == set(QUICKSTART_OPTIONS)
    for method, path in QUICKSTART_OPTIONS.items():
        text = open(os.path.join(REPO, path)).read()
        opt = yaml.safe_load(text)
        assert opt['network_g']['type'] == method and opt['num_gpu'] == 0
        assert text.count('quick start') >= 5, path  # each change marked beside it
        header = text.split('\nname:')[0]
        paper_file = re.search(r'(train_[\w.-]+\.yml)', header).group(1)  # the paper's file it departs from
        assert os.path.isfile(os.path.join(REPO, os.path.dirname(path), paper_file)) and 'paper' in header
        assert opt['name'] == f'{method}_quickstart'
        declared = opt.get('random_priors') is True
        assert declared == (method in RANDOM_PRIORS), path
        if declared:
            assert 'RANDOM' in header, path  # said in the header, not only in the key
            assert all(opt['network_g'].get(key) is None for key in PRIOR_KEYS)


@pytest.mark.parametrize('method', sorted(set(METHODS) - {'GCFSR'}))
def test_make_demo_trains_validates_and_reports_each_method(method, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', os.environ.get('FACESR_TEST_THREADS', '2'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    out = tmp_path / 'demo'
    args = make_demo_args(METHOD=method, ITERS=1, DEMO_OUTPUT=out)
    assert args == ['--method', method, '--iters', '1', '--output', str(out)]
    assert demo.main(args) == 0
    printed = capsys.readouterr().out
    line = re.search(rf'held-out (x\d+ )?PSNR: (bicubic|degraded input) ([\d.]+) dB \| {method} ([\d.]+) dB '
                     r'\(2 faces not trained on, (\d+) px, RGB\)', printed)
    assert line, printed[-2000:]
    restoration = line.group(2) == 'degraded input'
    assert restoration == (method in ('MPCNet', 'PVFR')) and bool(line.group(1)) != restoration
    with open(out / 'report' / 'metrics.json') as f:
        report = json.load(f)
    assert list(report['summary']) == [line.group(2), method] and len(report['common_images']) == 2
    assert f"{report['summary'][method]['psnr']:.2f}" == line.group(4)
    figure = out / ('heldout_degraded.png' if restoration else f'heldout_{line.group(1).strip()}.png')
    assert figure.is_file()
    log = open(glob.glob(str(out / 'experiments' / f'{method}_demo' / 'train_*.log'))[0]).read()
    assert 'Validation HeldOut' in log and 'iter:       1' in log
