"""The official GCFSR networks (github.com/hejingwenhejingwen/GCFSR, ``basicsr/archs/gcfsr_arch.py``: ``GCFSR`` and
``GCFSR_blind``), rebuilt on this package's StyleGAN2 layers (the release's own ops need CUDA): the reference of
``benchmark.py paths`` (the official wiring's inference time on CPU) and of ``tests/test_gcfsr_official.py``
(the converted checkpoints compute the release's function).

What the release does and these classes repeat:
- one condition entry (``condition_scale1/2``, ``condition_shift``) per level from out_size down to 16 px;
- ``StyleConv_norm_scale_shift``: modulated conv, ``+ weight * noise``, then ``out * s1 + shift * s2`` with
  (s1, s2) = (scale1, scale2) / sqrt(scale1^2 + scale2^2 + 1e-8) (no absolute value), then bias + leaky ReLU;
- the latent head halves the 4 px width (conditional model) or keeps it (blind model);
- the blind model fixes the condition to 1; the conditional one takes ``in_size`` = scale / cond_norm
  (``inference_gcfsr.py``: scale / 64 for the 1024 px model; ``train_gcfsr_gan.yml``: cond_norm 32 at 512 px);
- ``forward`` returns ``(image, None)``.
The release hard-codes the latent head's input as 2 * 4 * 512 (4 * 4 * 512 blind), which is its width at
``narrow`` 1; here it is computed from the widths so that narrow test models build.
"""
import math

import torch
from torch import nn

from ..archs.stylegan2_arch import ConvLayer, EqualLinear, FusedLeakyReLU, ModulatedConv2d, ToRGB


def official_channels(channel_multiplier, narrow):
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {str(k): int(v * narrow) for k, v in base.items()}


class OfficialStyleConv(nn.Module):
    """BasicSR's StyleConv (noise strength ``weight``), optionally with the release's scale/shift fusion."""

    def __init__(self, in_channels, out_channels, num_style_feat, sample_mode=None, fuse=False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 3, num_style_feat, sample_mode=sample_mode)
        self.weight = nn.Parameter(torch.zeros(1))
        self.activate = FusedLeakyReLU(out_channels)
        self.fuse = fuse

    def forward(self, x, style, noise=None, scale1=None, scale2=None, shift=None):
        out = self.modulated_conv(x, style)
        if noise is None:
            b, _, h, w = out.shape
            noise = out.new_empty(b, 1, h, w).normal_()
        out = out + self.weight * noise
        if self.fuse:
            norm = torch.rsqrt(scale1**2 + scale2**2 + 1e-8)
            scale1, scale2 = scale1 * norm, scale2 * norm
            out = out * scale1.view(-1, out.size(1), 1, 1) + shift * scale2.view(-1, out.size(1), 1, 1)
        return self.activate(out)


class OfficialGCFSR(nn.Module):
    """The release's ``GCFSR`` (``blind=False``) or ``GCFSR_blind`` (``blind=True``)."""

    def __init__(self, out_size, num_style_feat=512, channel_multiplier=2, narrow=1, blind=False):
        super().__init__()
        self.num_style_feat, self.blind = num_style_feat, blind
        channels = official_channels(channel_multiplier, narrow)
        self.log_size = int(math.log(out_size, 2))
        self.num_latent = (self.log_size - 2) * 2 - 2

        self.conv_body_first = ConvLayer(3, channels[f'{out_size}'], 3, bias=True, activate=True)
        in_channels = channels[f'{out_size}']
        self.conv_body_down = nn.ModuleList()
        for i in range(self.log_size - 1, 2 + 1, -1):
            out_channels = channels[f'{2**i}']
            self.conv_body_down.append(ConvLayer(in_channels, out_channels, 3, downsample=True))
            in_channels = out_channels

        self.final_conv = ConvLayer(channels['16'], channels['16'], 3)
        self.final_down1 = ConvLayer(channels['16'], channels['8'], 3, downsample=True)
        head = channels['4'] if blind else channels['4'] // 2
        self.final_down2 = ConvLayer(channels['8'], head, 3, downsample=True)
        self.final_linear = EqualLinear(head * 4 * 4, num_style_feat * self.num_latent, bias=True,
                                        activation='fused_lrelu')

        self.condition_scale1, self.condition_scale2 = nn.ModuleList(), nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(self.log_size, 2 + 1, -1):
            ch = channels[f'{2**i}']
            self.condition_scale1.append(EqualLinear(1, ch, bias=True, bias_init_val=1, activation=None))
            self.condition_scale2.append(EqualLinear(1, ch, bias=True, bias_init_val=1, activation=None))
            self.condition_shift.append(ConvLayer(ch, ch, 3, bias=True, activate=False))

        self.style_conv1 = OfficialStyleConv(channels['16'], channels['16'], num_style_feat, fuse=True)
        self.to_rgb1 = ToRGB(channels['16'], num_style_feat, upsample=False)
        self.num_layers = (self.log_size - 2 - 2) * 2 + 1
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            resolution = 2**((layer_idx + 5) // 2)
            self.noises.register_buffer(f'noise{layer_idx}', torch.randn(1, 1, resolution, resolution))
        in_channels = channels['16']
        for i in range(3 + 2, self.log_size + 1):
            out_channels = channels[f'{2**i}']
            self.style_convs.append(OfficialStyleConv(in_channels, out_channels, num_style_feat, 'upsample'))
            self.style_convs.append(OfficialStyleConv(out_channels, out_channels, num_style_feat, fuse=True))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat, upsample=True))
            in_channels = out_channels

    def forward(self, x, in_size=None, noise=None):
        if noise is None:
            noise = [None] * self.num_layers
        if self.blind:
            in_size = torch.ones(1, device=x.device)
        feat = self.conv_body_first(x)
        scales1 = [self.condition_scale1[0](in_size)]
        scales2 = [self.condition_scale2[0](in_size)]
        shifts = [self.condition_shift[0](feat)]
        j = 1
        for down in self.conv_body_down:
            feat = down(feat)
            if j < len(self.condition_scale1):
                scales1.append(self.condition_scale1[j](in_size))
                scales2.append(self.condition_scale2[j](in_size))
                shifts.append(self.condition_shift[j](feat))
                j += 1
        scales1, scales2, shifts = scales1[::-1], scales2[::-1], shifts[::-1]
        b = feat.size(0)
        latent = self.final_linear(self.final_down2(self.final_down1(feat)).view(b, -1))
        latent = latent.view(-1, self.num_latent, self.num_style_feat)
        out = self.style_conv1(self.final_conv(feat), latent[:, 0], noise=noise[0], scale1=scales1[0],
                               scale2=scales2[0], shift=shifts[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = j = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2], noise[1::2],
                                                        noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2, scale1=scales1[j], scale2=scales2[j], shift=shifts[j])
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
            j += 1
        return skip, None
