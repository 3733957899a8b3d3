"""Parsing-map and component-box sidecars: keyed by stem, scaled to gt_size, aligned under flips."""
import copy
import json
import os

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401
from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
from facesr_arch.data.sidecars import SidecarError
from facesr_arch.utils.face_parsing import LABEL_INDEX

# boxes in the 128 px stored images (x1, y1, x2, y2); different per image so a mix-up by index shows
BOXES = {'left_eye': [30, 48, 54, 60], 'right_eye': [76, 50, 100, 62], 'mouth': [44, 88, 86, 104]}


def boxes_for(i):
    return {name: [v + 2 * i * (k % 2 == 0) for k, v in enumerate(box)] for name, box in BOXES.items()}


@pytest.fixture(scope='module')
def sidecars(ffhq_small_dir, tmp_path_factory):
    """Parsing maps stored at 256 px (another resolution than the 128 px images) and a box file."""
    root = tmp_path_factory.mktemp('sidecars')
    parsing_dir = root / 'parsing'
    parsing_dir.mkdir()
    components = {}
    for i, name in enumerate(sorted(os.listdir(ffhq_small_dir))):
        stem = os.path.splitext(name)[0]
        labels = np.full((256, 256), LABEL_INDEX['skin'], np.uint8)
        boxes = boxes_for(i)
        for component, (x1, y1, x2, y2) in boxes.items():
            labels[2 * y1:2 * y2, 2 * x1:2 * x2] = LABEL_INDEX[component]
        cv2.imwrite(str(parsing_dir / f'{stem}.png'), labels)
        components[stem] = boxes
    with open(root / 'components.json', 'w') as f:
        json.dump(components, f)
    return str(parsing_dir), str(root / 'components.json')


def make_dataset(ffhq_small_dir, sidecars, **extra):
    parsing_root, components_file = sidecars
    opt = {'dataroot_gt': ffhq_small_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 64,
           'degradation': {'type': 'wnet_bicubic', 'scale': 4}, 'use_hflip': True, 'deterministic': True,
           'parsing_root': parsing_root, 'components_file': components_file}
    opt.update(extra)
    return FaceDegradedPairDataset(opt)


def label_box(parsing, label):
    ys, xs = torch.nonzero(parsing == LABEL_INDEX[label], as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_maps_and_boxes_stay_aligned_with_the_image_under_flips(ffhq_small_dir, sidecars):
    dataset = make_dataset(ffhq_small_dir, sidecars)
    unflipped = make_dataset(ffhq_small_dir, sidecars, use_hflip=False)
    flips = []
    for index in range(len(dataset)):
        item, plain = dataset[index], unflipped[index]
        assert item['parsing'].dtype == torch.int64 and item['parsing'].shape == (64, 64)
        flipped = not torch.equal(item['gt'], plain['gt'])
        flips.append(flipped)
        if flipped:
            assert torch.equal(item['gt'], plain['gt'].flip(-1))
        for component in ('left_eye', 'right_eye', 'mouth'):
            box = item[f'box_{component}']
            assert box.dtype == torch.float32 and box.shape == (4, )
            # the box of each component encloses exactly that component's labels (64 px = stored / 2)
            assert label_box(item['parsing'], component) == pytest.approx(box.tolist(), abs=1)
        expected = [v / 2 for v in boxes_for(index)['left_eye']]
        if flipped:  # the image-left eye is the old right eye, mirrored
            right = [v / 2 for v in boxes_for(index)['right_eye']]
            expected = [64 - right[2], right[1], 64 - right[0], right[3]]
        assert item['box_left_eye'].tolist() == pytest.approx(expected)
    assert any(flips) and not all(flips)


def test_flips_do_not_mutate_cached_boxes(ffhq_small_dir, sidecars):
    dataset = make_dataset(ffhq_small_dir, sidecars)
    cached = copy.deepcopy(dataset.components._boxes)
    first = [dataset[i]['box_left_eye'] for i in range(len(dataset))]
    second = [dataset[i]['box_left_eye'] for i in range(len(dataset))]
    assert dataset.components._boxes == cached
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_missing_sidecar_names_the_key_and_file(ffhq_small_dir, sidecars, tmp_path):
    parsing_root, components_file = sidecars
    partial = tmp_path / 'parsing'
    partial.mkdir()
    for name in sorted(os.listdir(parsing_root))[1:]:
        os.symlink(os.path.join(parsing_root, name), partial / name)
    missing_stem = os.path.splitext(sorted(os.listdir(parsing_root))[0])[0]
    dataset = make_dataset(ffhq_small_dir, (str(partial), components_file))
    with pytest.raises(SidecarError, match=f"'{missing_stem}'.*{missing_stem}.png"):
        dataset[0]
    with open(components_file) as f:
        boxes = json.load(f)
    boxes.pop(missing_stem)
    with open(tmp_path / 'boxes.json', 'w') as f:
        json.dump(boxes, f)
    dataset = make_dataset(ffhq_small_dir, (parsing_root, str(tmp_path / 'boxes.json')))
    with pytest.raises(SidecarError, match=f"'{missing_stem}'.*boxes.json"):
        dataset[0]
