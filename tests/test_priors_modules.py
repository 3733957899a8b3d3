"""Shared blocks: SFT / CS-SFT, AdaIN, channel attention + RCAB, spatial attention, against hand computations."""
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.modules import (RCAB, AdaIN, ChannelAttention, SFTLayer, SpatialAttention,
                                       adaptive_instance_norm, channel_split_feature_transform,
                                       spatial_feature_transform)


def test_sft_and_cs_sft_formulas():
    feat = torch.randn(2, 6, 5, 5)
    scale, shift = torch.randn(2, 6, 5, 5), torch.randn(2, 6, 5, 5)
    assert torch.allclose(spatial_feature_transform(feat, scale, shift), feat * scale + shift)
    half_scale, half_shift = scale[:, :3], shift[:, :3]
    out = channel_split_feature_transform(feat, half_scale, half_shift)
    assert torch.equal(out[:, :3], feat[:, :3])  # eq. 6: Identity(j^split0)
    assert torch.allclose(out[:, 3:], feat[:, 3:] * half_scale + half_shift)
    with pytest.raises(ValueError, match='CS-SFT'):
        channel_split_feature_transform(feat, torch.ones(2, 7, 5, 5), torch.ones(2, 7, 5, 5))


@pytest.mark.parametrize('channel_split', [False, True])
def test_sft_layer_resizes_condition_and_splits(channel_split):
    torch.manual_seed(0)
    layer = SFTLayer(cond_channels=4, feat_channels=8, hidden_channels=6, channel_split=channel_split)
    feat, cond = torch.randn(1, 8, 16, 16), torch.randn(1, 4, 8, 8)
    scale, shift = layer.predict(cond, feat.shape[-2:])
    assert scale.shape == (1, 4 if channel_split else 8, 16, 16)
    out = layer(feat, cond)
    assert out.shape == feat.shape
    if channel_split:
        assert torch.equal(out[:, :4], feat[:, :4])
        assert torch.allclose(out[:, 4:], feat[:, 4:] * scale + shift)
    else:
        assert torch.allclose(out, feat * scale + shift)


def test_sft_layer_residual_scale_is_identity_at_zero():
    layer = SFTLayer(3, 4, residual_scale=True)
    for branch in (layer.scale_branch, layer.shift_branch):
        torch.nn.init.zeros_(branch[2].weight)
        torch.nn.init.zeros_(branch[2].bias)
    feat = torch.randn(1, 4, 6, 6)
    assert torch.allclose(layer(feat, torch.randn(1, 3, 6, 6)), feat)


def test_adain_matches_hand_statistics():
    content, style = torch.randn(2, 3, 8, 8) * 3 + 1, torch.randn(2, 3, 4, 4) * 0.5 - 2
    out = AdaIN(eps=0)(content, style)
    assert torch.allclose(out.mean((2, 3)), style.mean((2, 3)), atol=1e-5)
    assert torch.allclose(out.std((2, 3), unbiased=False), style.std((2, 3), unbiased=False), atol=1e-4)
    c = content[0, 0]
    hand = (c - c.mean()) / c.std(unbiased=False) * style[0, 0].std(unbiased=False) + style[0, 0].mean()
    assert torch.allclose(out[0, 0], hand, atol=1e-5)
    with pytest.raises(ValueError, match='AdaIN'):
        adaptive_instance_norm(content, torch.randn(2, 4, 4, 4))


def test_channel_attention_rcab_and_spatial_attention():
    torch.manual_seed(0)
    x = torch.randn(2, 32, 6, 6)
    ca = ChannelAttention(32, reduction=16)
    weights = torch.sigmoid(ca.attention[3](torch.relu(ca.attention[1](x.mean((2, 3), keepdim=True)))))
    assert torch.allclose(ca(x), x * weights, atol=1e-6)
    rcab = RCAB(32, reduction=16, res_scale=0.5)
    assert torch.allclose(rcab(x), x + 0.5 * rcab.body(x), atol=1e-6)
    # two 3x3 convs (32->32) + CA (32->2->32)
    assert sum(p.numel() for p in rcab.parameters()) == 2 * (32 * 32 * 9 + 32) + (32 * 2 + 2) + (2 * 32 + 32)
    sa = SpatialAttention(7)
    pooled = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True)[0]], 1)
    assert torch.allclose(sa(x), x * torch.sigmoid(sa.conv(pooled)), atol=1e-6)
    with pytest.raises(ValueError, match='odd'):
        SpatialAttention(4)
