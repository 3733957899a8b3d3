"""scripts/prepare_parsing.py on the real FFHQ faces with a random-weight parser, as a user runs it."""
import json
import os

import cv2
import numpy as np
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.parsing_arch import FaceParseNet
from helpers import REPO, run_script

import sys
sys.path.insert(0, os.path.join(REPO, 'scripts'))
from prepare_parsing import component_boxes  # noqa: E402


def test_component_boxes_by_hand():
    labels = np.zeros((10, 12), np.uint8)
    labels[2:4, 1:3] = 4  # left_eye
    labels[7, 5:9] = 12  # upper_lip
    boxes = component_boxes(labels)
    assert boxes == {'left_eye': [1, 2, 3, 4], 'right_eye': None, 'mouth': [5, 7, 9, 8]}


def test_sidecars_on_real_faces(ffhq_dir, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / 'parser.pth'
    torch.save({'params': FaceParseNet(in_size=64, min_feat_size=32, with_image_head=True).state_dict()}, weights)
    out, boxes = tmp_path / 'parsing', tmp_path / 'boxes.json'
    run_script('prepare_parsing.py', ['--input', ffhq_dir, '--output', str(out), '--weights', str(weights),
                                      '--size', '64', '--boxes', str(boxes)], cwd=tmp_path)
    stems = sorted(os.path.splitext(n)[0] for n in os.listdir(ffhq_dir))
    assert sorted(os.path.splitext(n)[0] for n in os.listdir(out)) == stems
    labels = cv2.imread(str(out / f'{stems[0]}.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (1024, 1024) and labels.dtype == np.uint8 and labels.max() < 19
    assert set(json.loads(boxes.read_text())) == set(stems)
