"""scripts/prepare_parsing.py on the real FFHQ faces with a random-weight parser, as a user runs it."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.parsing_arch import FaceParseNet
from helpers import run_script
from facesr_arch.utils.face_parsing import component_boxes, landmark_boxes


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


def test_landmark_boxes_by_hand():
    points = np.zeros((68, 2))
    points[36:42] = [[10, 20], [14, 19], [18, 20], [22, 21], [14, 22], [18, 21]]  # image-left eye, 12 px wide
    points[42:48] = [[40, 20], [44, 20], [48, 20], [52, 20], [44, 20], [48, 20]]  # image-right eye
    points[48:68] = [[30, 50], [40, 56]] * 10  # mouth, 10 x 6 px
    boxes = landmark_boxes(points, 64, 64)
    # square, centred on the points' box centre, half side 1.4 (eyes) / 1.2 (mouth) x half the larger extent
    assert boxes['left_eye'] == [7, 12, 25, 29]  # centre (16, 20.5), half 8.4
    assert boxes['right_eye'] == [37, 11, 55, 29]  # centre (46, 20), half 8.4
    assert boxes['mouth'] == [29, 47, 41, 59]  # centre (35, 53), half 6
    corner = landmark_boxes(np.full((68, 2), 63.9), 64, 48)  # coincident points past the bottom edge
    assert corner['mouth'] == [62, 46, 64, 48]
    with pytest.raises(ValueError, match='68'):
        landmark_boxes(points[:60], 64, 64)


def test_landmark_boxes_on_real_faces(ffhq_dir, tmp_path):
    """``--landmarks`` with a random-weight 98-point FAN file (the WFLW layout) on two real faces."""
    from facexlib.alignment import FAN
    torch.manual_seed(0)
    faces = tmp_path / 'faces'
    faces.mkdir()
    for name in sorted(os.listdir(ffhq_dir))[:2]:
        shutil.copy(os.path.join(ffhq_dir, name), faces / name)
    parser_weights, fan_weights = tmp_path / 'parser.pth', tmp_path / 'fan.pth'
    torch.save({'params': FaceParseNet(in_size=64, min_feat_size=32, with_image_head=True).state_dict()},
               parser_weights)
    torch.save({'state_dict': FAN(num_modules=1, num_landmarks=98, device='cpu').state_dict()}, fan_weights)
    boxes_path = tmp_path / 'boxes.json'
    run_script('prepare_parsing.py', ['--input', str(faces), '--output', str(tmp_path / 'parsing'), '--weights',
                                      str(parser_weights), '--size', '64', '--boxes', str(boxes_path),
                                      '--landmarks', str(fan_weights)], cwd=tmp_path)
    boxes = json.loads(boxes_path.read_text())
    assert set(boxes) == {os.path.splitext(n)[0] for n in os.listdir(faces)}
    for entry in boxes.values():
        assert set(entry) == {'left_eye', 'right_eye', 'mouth'}
        for x1, y1, x2, y2 in entry.values():
            assert 0 <= x1 < x2 <= 1024 and 0 <= y1 < y2 <= 1024
