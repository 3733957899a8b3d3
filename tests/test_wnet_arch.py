"""W-Net architecture: parameter counts at the paper configuration, shapes for x4 / x8 at 128 px on real
faces, the parsing output, LPF (eq. 9-11) against hand computations, SCAB attention, Table 3 switches."""
import os

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.modules import RCAB
from facesr_arch.archs.wnet_arch import (LPF, SCAB, CascadeFusion, ConvParsingBlock, ConvSelfAttention, ParsingBlock,
                                         WNet)
from facesr_arch.data.degradations import wnet_bicubic

# Table 3 switches (parsing_block, lpf, scab) -> parameters at the paper configuration (C = 64)
PAPER_PARAMS = {
    'A': ((False, False, False), 2_955_766),
    'B': ((True, False, False), 4_439_335),
    'C': ((False, True, False), 4_522_876),
    'D': ((False, False, True), 3_252_726),
    'E': ((True, False, True), 4_736_295),
    'F': ((False, True, True), 4_819_836),
    'G': ((True, True, False), 6_006_445),
    'H': ((True, True, True), 6_303_405),
}
TINY = dict(num_feat=8, num_res_blocks=1, hourglass_depth=2, upscale_stages=1, num_levels=2, num_heads=2)


def count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize('exp', sorted(PAPER_PARAMS))
def test_paper_configuration_parameter_counts(exp):
    (parsing_block, lpf, scab), expected = PAPER_PARAMS[exp]
    net = WNet(parsing_block=parsing_block, lpf=lpf, scab=scab)
    assert count(net) == expected
    assert isinstance(net.parsing, ParsingBlock if parsing_block else ConvParsingBlock)
    assert isinstance(net.w_fusions[0], LPF if lpf else CascadeFusion)
    assert isinstance(net.enc_blocks[0][0], SCAB if scab else RCAB)
    assert len(net.w_fusions) == 6 and len(net.enc_fusions) == 4  # fusions 2-7 (eq. 15-19), one per level (eq. 22)


def test_x4_and_x8_inputs_at_128px_real_faces(ffhq_small_dir):
    """Bicubic x4 / x8 LR of a real face, upsampled to 128 px; full hourglass and encoder depth, narrow width
    and one W-part stage (the 1024x1024 stage of the paper configuration is measured in the benchmark)."""
    gt = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0])).astype(np.float32) / 255
    rng = np.random.default_rng(0)
    lqs = [wnet_bicubic(gt, rng, scale=s)[0] for s in (4, 8)]
    x = torch.from_numpy(np.stack(lqs)[..., ::-1].transpose(0, 3, 1, 2).copy())
    torch.manual_seed(0)
    net = WNet(num_feat=4, num_heads=2, upscale_stages=1).eval()
    sizes = []
    net.enc_fusions[3].register_forward_hook(lambda mod, inp, out: sizes.append(tuple(out.shape[-2:])))
    with torch.no_grad():
        sr, parsing = net(x, return_parsing=True)
    assert sr.shape == (2, 3, 128, 128) and parsing.shape == (2, 3, 128, 128)
    assert sizes == [(8, 8)]  # encoder bottom, 128 -> 8 (eq. 22)
    assert torch.isfinite(sr).all()


def test_w_part_fuses_at_2x_4x_8x_and_back():
    """Eq. 13-19: fusions at 2x, 4x, 8x, 4x, 2x, 1x the input (1024 -> 128 for a 128 px input)."""
    net = WNet(num_feat=4, num_res_blocks=1, hourglass_depth=2, num_levels=2, num_heads=2).eval()
    sizes = []
    for fusion in net.w_fusions:
        fusion.register_forward_hook(lambda mod, inp, out: sizes.append(out.shape[-1]))
    with torch.no_grad():
        assert net(torch.rand(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    assert sizes == [32, 64, 128, 64, 32, 16]


def test_input_size_checked():
    net = WNet(**TINY)
    with pytest.raises(ValueError, match='divisible by 4'):
        net(torch.rand(1, 3, 18, 18))
    with pytest.raises(ValueError, match='num_feat'):
        WNet(num_feat=6)


def test_parsing_block_output_and_gradient():
    torch.manual_seed(0)
    block = ParsingBlock(channels=8, num_res_blocks=1, hourglass_depth=4)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = block(x)
    assert out.shape == (2, 3, 32, 32)  # eq. 8: 3 output channels at the input size
    target = torch.zeros_like(out)
    F.mse_loss(out, target).backward()
    assert x.grad is not None and block.shallow.weight.grad.abs().sum() > 0
    # eq. 7: the attention unit is residual around F_Deep
    unit = block.attention
    torch.nn.init.zeros_(unit.project.weight)
    torch.nn.init.zeros_(unit.project.bias)
    feat = torch.randn(1, 8, 8, 8)
    assert torch.allclose(unit(feat), feat)


def _ca(module, x):
    pool, conv1, _, conv2, _ = module.attention
    s = x.mean((2, 3), keepdim=True)
    return x * torch.sigmoid(F.conv2d(F.relu(F.conv2d(s, conv1.weight, conv1.bias)), conv2.weight, conv2.bias))


def _sa(module, x):
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return x * torch.sigmoid(F.conv2d(pooled, module.conv.weight, module.conv.bias, padding=3))


def test_lpf_matches_equations_9_to_11():
    torch.manual_seed(0)
    lpf = LPF(4, reduction=2)
    f_lr, f_parsing = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)

    def conv(name, x, padding=1):
        mod = getattr(lpf, name)
        return F.conv2d(x, mod.weight, mod.bias, padding=padding)

    lr1, lr2, p = conv('conv_lr1', f_lr), conv('conv_lr2', f_lr), conv('conv_parsing', f_parsing)  # eq. 9
    att = conv('conv_att', _ca(lpf.channel_attention, lr1) + _sa(lpf.spatial_attention, lr1))  # eq. 10
    sigma = torch.sigmoid(F.conv2d(lr2 + p, lpf.pixel_attention.conv.weight, lpf.pixel_attention.conv.bias))
    pixel = sigma * lr2 + (1 - sigma) * p
    fuse1 = conv('conv_fuse1', torch.cat([att, p], 1))
    fuse2 = conv('conv_fuse2', pixel + f_lr + f_parsing, padding=0)
    expected = fuse1 + fuse2 + lr2 + p  # eq. 11
    assert torch.allclose(lpf(f_lr, f_parsing), expected, atol=1e-5)


def test_lpf_identity_weights_give_hand_value():
    """Identity 3x3 convs, zero attention convs (CA = SA = x / 2, sigma = 1/2), fuse1 = sum of its halves:
    att = a, pixel = (a + b) / 2, fuse1 = a + b, fuse2 = 1.5 (a + b), out = fuse1 + fuse2 + a + b = 3.5 (a + b)."""
    c = 3
    lpf = LPF(c, reduction=1)
    with torch.no_grad():
        for p in lpf.parameters():
            p.zero_()
        eye = torch.eye(c).view(c, c, 1, 1)
        for name in ('conv_lr1', 'conv_lr2', 'conv_parsing', 'conv_att'):
            getattr(lpf, name).weight[:, :, 1:2, 1:2] = eye
        lpf.conv_fuse1.weight[:, :c, 1:2, 1:2] = eye
        lpf.conv_fuse1.weight[:, c:, 1:2, 1:2] = eye
        lpf.conv_fuse2.weight.copy_(eye)
    a, b = torch.randn(1, c, 4, 4), torch.randn(1, c, 4, 4)
    assert torch.allclose(lpf(a, b), 3.5 * (a + b), atol=1e-6)


def test_scab_self_attention_equations():
    torch.manual_seed(0)
    attention = ConvSelfAttention(8, num_heads=4)
    x = torch.randn(2, 8, 4, 5)
    q, k, v = (proj(x).reshape(2, 4, 2, 20) for proj in (attention.query, attention.key, attention.value))
    weights = torch.softmax(q @ k.transpose(-2, -1) / 20**0.5, dim=-1)  # eq. 21, d = h * w
    expected = attention.project_out((weights @ v).reshape(2, 8, 4, 5))
    assert torch.allclose(attention(x), expected, atol=1e-6)
    assert attention.query[0].groups == 8  # depthwise 3x3 before the 1x1 (eq. 20)
    with pytest.raises(ValueError, match='heads'):
        ConvSelfAttention(6, num_heads=4)


def test_batchnorm_converts_to_syncbatchnorm():
    net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(WNet(**TINY))
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in net.modules())
    assert not any(type(m) is torch.nn.BatchNorm2d for m in net.modules())


@pytest.mark.parametrize('unet_skips', [False, True])
@pytest.mark.parametrize('global_residual', [False, True])
def test_skips_and_global_residual_are_switches_off_by_default(unet_skips, global_residual):
    """Eq. 22-23: the decoder output alone makes the image; each switch adds exactly its term and no parameter."""
    torch.manual_seed(0)
    small = dict(num_feat=4, num_res_blocks=1, hourglass_depth=2, num_levels=2, num_heads=2)
    net = WNet(**small, unet_skips=unet_skips, global_residual=global_residual).eval()
    assert count(net) == count(WNet(**small))
    plain = WNet(**small)
    assert not plain.unet_skips and not plain.global_residual
    seen = {}
    net.dec_blocks[-1].register_forward_hook(lambda m, i, out: seen.update(decoded=out))
    net.enc_down[0].register_forward_hook(lambda m, i, out: seen.update(skip=i[0]))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        sr = net(x)
        feat = seen['decoded'] + seen['skip'] if unet_skips else seen['decoded']
        expected = net.to_rgb(feat) + (x if global_residual else 0)
    assert torch.allclose(sr, expected, atol=1e-6)
