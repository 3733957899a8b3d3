"""Inference says what it feeds each method, refuses an LQ that does not fit GCFSR's input, and is reproducible:
the same --seed writes the same bytes (GCFSR's noise inputs are random), another seed other bytes."""
import os

import cv2
import numpy as np
import torch

import facesr_arch  # noqa: F401  (registers the architectures)
from facesr_arch.archs.gcfsr_arch import GCFSR
from facesr_arch.cli import inference as cli
from facesr_arch.toolkit.checkpoints import NETWORK_KEY

TINY = {'out_size': 128, 'narrow': 0.0625, 'num_style_feat': 32}


def noisy_checkpoint(path):
    """A tiny GCFSR whose noise inputs matter (trained noise strengths are non-zero; a fresh network's are 0)."""
    torch.manual_seed(0)
    state = GCFSR(**TINY).state_dict()
    state = {k: torch.full_like(v, 0.5) if k.endswith('noise.weight') else v for k, v in state.items()}
    torch.save({'params_ema': state, NETWORK_KEY: {'type': 'GCFSR', **TINY}}, path)
    return str(path)


def faces(folder, sides):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for side in sides:
        cv2.imwrite(os.path.join(folder, f'face_{side}.png'), rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    return str(folder)


def restore(weights, inputs, out, *extra):
    return cli.main(['--weights', weights, '-i', inputs, '-o', str(out), '--device', 'cpu', '--no-progress',
                     '--overwrite', *extra])


def read_bytes(folder):
    return {name: open(os.path.join(folder, name), 'rb').read() for name in sorted(os.listdir(folder))
            if name != 'inference_manifest.json'}


def test_same_seed_same_bytes(tmp_path, capsys):
    weights = noisy_checkpoint(tmp_path / 'g.pth')
    inputs = faces(tmp_path / 'in', [32, 16])
    for name, seed in (('a', '3'), ('b', '3'), ('c', '4')):
        assert restore(weights, inputs, tmp_path / name, '--seed', seed, '--batch-size', '2') == 0
    a, b, c = (read_bytes(tmp_path / name) for name in 'abc')
    assert len(a) == 2 and a == b and a != c
    out = capsys.readouterr().out
    assert 'seed 3)' in out
    assert 'GCFSR: 32 px inputs -> bicubic to 128 px; factor s = 4 (output 128 px / input 32 px); condition fed = ' \
           '0.0625' in out
    assert 'GCFSR: 16 px inputs -> bicubic to 128 px; factor s = 8 (output 128 px / input 16 px); condition fed = ' \
           '0.125' in out


def test_lq_at_the_output_size_is_refused_unless_its_factor_is_given(tmp_path, capsys):
    weights = noisy_checkpoint(tmp_path / 'g.pth')
    inputs = faces(tmp_path / 'in', [128])
    assert restore(weights, inputs, tmp_path / 'out') == 1
    out = capsys.readouterr().out
    assert ("face_128: 128 px input is already at GCFSR's output size (128 px), so its factor is unknown: give "
            '--upscale F (the factor it was downscaled by) or --strength S') in out
    assert restore(weights, inputs, tmp_path / 'out_x16', '--upscale', '16') == 0  # other settings: own folder
    assert 'factor s = 16 (--upscale); condition fed = 0.25' in capsys.readouterr().out
    assert restore(weights, inputs, tmp_path / 'out_s100', '--strength', '100') == 0
    assert 'factor s = 100 (--strength, outside the trained 4-64: clipped); condition fed = 1' in \
        capsys.readouterr().out
