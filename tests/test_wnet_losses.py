"""W-Net's key-region loss (eq. 26-28): region masks, zero outside the masks, hand-computed values."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.losses.key_region_loss import KeyRegionLoss, region_masks
from facesr_arch.utils.face_parsing import KEY_REGIONS, LABEL_INDEX, binary_mask, key_region_mask


def synthetic_labels(size=32, seed=0):
    """A face-like label map: skin with brows, eyes, nose, lips, mouth; hair on top; random jitter."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.int64)
    s = size / 32
    dy, dx = rng.integers(-1, 2, size=2)

    def box(name, y0, y1, x0, x1):
        labels[int((y0 + dy) * s):int((y1 + dy) * s), int((x0 + dx) * s):int((x1 + dx) * s)] = LABEL_INDEX[name]

    box('hair', 0, 6, 4, 28)
    box('skin', 6, 30, 6, 26)
    box('left_brow', 10, 11, 9, 14)
    box('right_brow', 10, 11, 18, 23)
    box('left_eye', 12, 14, 10, 14)
    box('right_eye', 12, 14, 18, 22)
    box('nose', 14, 20, 14, 18)
    box('upper_lip', 22, 23, 12, 20)
    box('mouth', 23, 24, 12, 20)
    box('lower_lip', 24, 25, 12, 20)
    return labels


def test_region_masks_match_the_label_table():
    labels = np.stack([synthetic_labels(32, seed) for seed in range(2)])
    masks = region_masks(torch.from_numpy(labels))
    assert masks.shape == (2, 4, 32, 32) and masks.dtype == torch.float32
    for i, region in enumerate(KEY_REGIONS):
        assert np.array_equal(masks[:, i].numpy(), binary_mask(labels, KEY_REGIONS[region]))
    assert np.array_equal(masks.amax(1).numpy(), key_region_mask(labels))
    assert masks.sum() > 0


def test_key_region_loss_is_zero_outside_the_masks():
    torch.manual_seed(0)
    labels = torch.from_numpy(np.stack([synthetic_labels(32, 0), synthetic_labels(32, 1)]))
    masks = region_masks(labels)
    inside = masks.amax(1, keepdim=True)
    target = torch.rand(2, 3, 32, 32)
    pred = target + (1 - inside) * torch.randn(2, 3, 32, 32)  # differs everywhere outside the key regions
    loss = KeyRegionLoss(loss_weight=0.5)  # random VGG19 up to relu2_2 (no weight file in tests)
    assert loss(pred, target, masks).item() == 0.0
    changed = target + inside * 0.1  # differs inside them
    assert loss(changed, target, masks).item() > 0


def test_key_region_loss_hand_values():
    torch.manual_seed(0)
    labels = torch.from_numpy(synthetic_labels(32)).unsqueeze(0)
    masks = region_masks(labels)
    pred, target = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)

    pixel_only = KeyRegionLoss(loss_weight=0.5, perceptual_weight=0)
    hand = sum(((masks[:, r:r + 1] * (pred - target))**2).mean() for r in range(4))  # eq. 24 per region, eq. 28
    assert torch.allclose(pixel_only(pred, target, masks), 0.5 * hand)

    full = KeyRegionLoss(loss_weight=0.5)
    vgg = full.perceptual.vgg
    percep = sum(F.mse_loss(vgg(masks[:, r:r + 1] * pred)['relu2_2'], vgg(masks[:, r:r + 1] * target)['relu2_2'])
                 for r in range(4))  # eq. 26 per region
    assert torch.allclose(full(pred, target, masks), 0.5 * (hand + percep), rtol=1e-5)


def test_key_region_loss_checks_its_inputs():
    with pytest.raises(ValueError, match='unknown regions'):
        KeyRegionLoss(regions=['eyes', 'ears'])
    loss = KeyRegionLoss(perceptual_weight=0, regions=['eyes', 'mouth'])
    with pytest.raises(ValueError, match='2 regions'):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.ones(1, 4, 8, 8))
