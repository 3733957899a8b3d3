"""A user's own method beside the built-in ones: an architecture defined here (written to a file of its own, as a
user would keep it, and registered in BasicSR's ARCH_REGISTRY by that file), declared by an ``inference:`` block
of its option file, runs through batch inference and scripts/reproduce.py (whose metrics are the
calculate_metrics report); bad declarations and undeclared architectures fail with one line saying what to do."""
import json
import os
import textwrap

import cv2
import numpy as np
import pytest
import torch
import yaml


import facesr_arch  # noqa: F401  (before basicsr)
from basicsr.utils.registry import ARCH_REGISTRY
from facesr_arch.data.preprocess import prepare_face, tensor_to_image
from facesr_arch.cli import inference as cli
from facesr_arch.cli import reproduce
from facesr_arch.inference import register_method
from facesr_arch.inference.loading import network_config
from facesr_arch.inference.own_method import import_method_file
from facesr_arch.toolkit.checkpoints import NETWORK_KEY


# the user's file: a x4 super-resolution network fed [0, 1] faces of 32 px and the factor divided by 8
OWN_ARCH = textwrap.dedent('''
    import torch
    from torch import nn
    from basicsr.utils.registry import ARCH_REGISTRY


    @ARCH_REGISTRY.register()
    class TinyOwnSR(nn.Module):
        def __init__(self, num_feat=8, in_size=32):
            super().__init__()
            self.in_size, self.out_size = in_size, 4 * in_size
            self.body = nn.Sequential(nn.Conv2d(4, num_feat, 3, 1, 1), nn.ReLU(), nn.Conv2d(num_feat, 48, 3, 1, 1))
            self.up = nn.PixelShuffle(4)

        def forward(self, x, factor):
            condition = factor.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[-2:])
            return torch.sigmoid(self.up(self.body(torch.cat([x, condition], 1))))
''')
DECLARATION = {'import': 'tiny_own_sr.py', 'task': 'fsr', 'input_size': 'in_size', 'output_size': 'out_size',
               'mean': [0.0, 0.0, 0.0], 'std': [1.0, 1.0, 1.0], 'condition': 'upscale', 'condition_norm': 8}


@pytest.fixture(scope='module')
def own_method(tmp_path_factory):
    """The user's folder: the architecture file, its option file and a checkpoint trained elsewhere (params only)."""
    folder = tmp_path_factory.mktemp('own_method')
    (folder / 'tiny_own_sr.py').write_text(OWN_ARCH)
    option_file = folder / 'test_TinyOwnSR.yml'
    option_file.write_text(yaml.safe_dump({'name': 'TinyOwnSR', 'network_g': {'type': 'TinyOwnSR', 'num_feat': 8},
                                           'inference': DECLARATION}, sort_keys=False))
    module = import_method_file(str(folder / 'tiny_own_sr.py'))
    torch.manual_seed(0)
    net = module.TinyOwnSR(num_feat=8)
    weights = str(folder / 'tiny_own_sr.pth')
    torch.save({'params': net.state_dict()}, weights)
    return {'opt': str(option_file), 'weights': weights, 'net': net.eval(), 'folder': folder}


@pytest.fixture(autouse=True)
def no_metric_weights(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))


def test_inference_feeds_the_declared_size_normalisation_and_condition(own_method, ffhq_small_dir, tmp_path):
    faces = tmp_path / 'faces'
    faces.mkdir()
    name = sorted(os.listdir(ffhq_small_dir))[0]
    lr = cv2.resize(cv2.imread(os.path.join(ffhq_small_dir, name)), (32, 32), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(faces / name), lr)
    out = tmp_path / 'out'
    assert cli.main(['-opt', own_method['opt'], '--weights', own_method['weights'], '-i', str(faces), '-o', str(out),
                     '--device', 'cpu', '--no-progress', '--upscale', '4']) == 0
    restored = cv2.imread(str(out / name))
    x = prepare_face(lr.astype(np.float32) / 255, 32, None, (0, 0, 0), (1, 1, 1))[None]
    with torch.no_grad():
        expected = tensor_to_image(own_method['net'](x, torch.full((1, 1), 4 / 8))[0], (0, 0, 0), (1, 1, 1))
    assert restored.shape == (128, 128, 3) and np.abs(restored.astype(int) - expected.astype(int)).max() <= 1


def test_reproduce_measures_it_beside_the_paper_rows(own_method, ffhq_small_dir, tmp_path, capsys):
    out = tmp_path / 'reproduce'
    assert reproduce.main(['--paper', 'wnet', '--table', '3', '--out', str(out), '--device', 'cpu', '--hq',
                           ffhq_small_dir, '--max-images', '1', '--checkpoint', f'TinyOwnSR={own_method["weights"]}',
                           '--checkpoint-opt', f'TinyOwnSR={own_method["opt"]}',
                           '--checkpoint-scale', 'TinyOwnSR=4']) == 0
    with open(out / 'wnet_table3' / 'table.json') as f:
        rows = {r['method']: r for r in json.load(f)['rows']}
    mine = rows['TinyOwnSR']
    assert mine['paper'] is None and all(isinstance(mine['measured'][k], float) for k in ('psnr', 'ssim'))
    report = out / 'wnet_table3' / 'metrics' / 'wnet_celeba_mode2' / 'x4' / 'metrics.json'
    with open(report) as f:
        assert 'TinyOwnSR' in json.load(f)['summary']
    assert 'measured (no paper row)' in capsys.readouterr().out


@ARCH_REGISTRY.register()
class TinyUndeclaredSR(torch.nn.Module):
    """Registered, never declared: inference cannot know how to feed it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, 1, 1)


def test_undeclared_or_badly_declared_architectures_fail_clearly(own_method, tmp_path):
    weights = str(tmp_path / 'undeclared.pth')
    torch.save({'params': TinyUndeclaredSR().state_dict(), NETWORK_KEY: {'type': 'TinyUndeclaredSR'}}, weights)
    with pytest.raises(ValueError, match='inference: block in its option file'):
        network_config(weights=weights)
    bad = tmp_path / 'bad.yml'
    for block, message in (({**DECLARATION, 'size': 32}, r"unknown keys \['size'\]"),
                           ({k: v for k, v in DECLARATION.items() if k != 'task'}, 'task missing'),
                           ({**DECLARATION, 'import': 'absent.py'}, 'absent.py not found')):
        bad.write_text(yaml.safe_dump({'network_g': {'type': 'TinyOwnSR'}, 'inference': block}))
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            network_config(opt_path=str(bad))
    with pytest.raises(ValueError, match='already declared'):
        register_method('TinyOwnSR', 'bfr', 32, 32)
    with pytest.raises(ValueError, match='method of this package'):
        register_method('GCFSR', 'fsr', 16, 64)
