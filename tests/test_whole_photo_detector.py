"""Whole photos offline: the RetinaFace detector is a release like every other pretrained file. A missing file is
one line naming the file, where it is published and where to put it, before any work (no network built, no
output folder, no warning first); the file found at its default place runs without torchvision's warnings."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from helpers import REPO

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.inference.whole_image import default_detector_path, require_detector
from facesr_arch.toolkit.checkpoints import NETWORK_KEY, MissingWeightsError

TINY_GCFSR = {'type': 'GCFSR', 'out_size': 32, 'narrow': 1 / 32, 'num_style_feat': 16}


def tiny_checkpoint(folder):
    from basicsr.utils.registry import ARCH_REGISTRY
    torch.manual_seed(0)
    options = {k: v for k, v in TINY_GCFSR.items() if k != 'type'}
    path = os.path.join(folder, 'gcfsr.pth')
    torch.save({'params': ARCH_REGISTRY.get('GCFSR')(**options).state_dict(), NETWORK_KEY: TINY_GCFSR}, path)
    return path


def inference(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'inference.py')] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_missing_detector_is_one_line_before_any_work_and_the_default_place_runs_quietly(tmp_path, shared_data):
    photos = tmp_path / 'photos'
    photos.mkdir()
    face = cv2.imread(os.path.join(shared_data, 'real_lq', 'cf_0240.png'))
    canvas = np.full((160, 200, 3), 90, np.uint8)
    canvas[20:140, 40:160] = cv2.resize(face, (120, 120), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(photos / 'group.png'), canvas)
    weights = tiny_checkpoint(str(tmp_path))
    args = ['--weights', weights, '-i', str(photos), '--device', 'cpu', '--no-progress', '--whole-image']

    proc = inference(args + ['-o', str(tmp_path / 'out')], str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('inference: error: Weight file for RetinaFace'), proc.stderr
    for part in ('weights/detection_Resnet50_Final.pth', 'https://github.com/xinntao/facexlib/releases/tag/v0.1.0',
                 'weights/README.md', '--detector'):
        assert part in lines[0], part
    assert proc.stdout == '' and not (tmp_path / 'out').exists()
    with pytest.raises(MissingWeightsError, match=r'detection_mobilenet0\.25_Final\.pth'):
        require_detector(default_detector_path('mobile0.25'), 'mobile0.25')

    from facexlib.detection.retinaface import RetinaFace
    torch.manual_seed(0)
    (tmp_path / 'weights').mkdir()
    state = RetinaFace('mobile0.25', half=False, device='cpu').state_dict()
    torch.save({f'module.{k}': v for k, v in state.items()}, tmp_path / 'weights' / 'detection_mobilenet0.25_Final.pth')
    proc = inference(args + ['-o', str(tmp_path / 'out'), '--detector-net', 'mobile0.25', '--det-threshold', '0.0',
                             '--max-faces', '1'], str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'Warning' not in proc.stderr and 'deprecated' not in proc.stderr, proc.stderr
    assert os.path.isfile(tmp_path / 'out' / 'restored_imgs' / 'group.png')
