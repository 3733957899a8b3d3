"""GCFSR: generative and controllable face super-resolution without facial or GAN priors.

He et al., "GCFSR: a Generative and Controllable Face Super Resolution Method Without Facial and GAN
Priors", CVPR 2022, arXiv:2203.07319.

Module names follow the official release so its checkpoints convert by renaming only
(``scripts/convert_weights.py``); where the paper and the release differ, the choice is noted inline.
"""
import math

import torch
from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY

from .stylegan2_arch import ConvLayer, EqualLinear, ModulatedConv2d, NoiseInjection, FusedLeakyReLU, StyleConv, \
    ToRGB, stylegan2_channels


class FeatureModulatedStyleConv(nn.Module):
    """Style-modulated conv whose output is fused with an encoder feature (paper eq. 4).

    h = sigma_gen * Conv_sm(x, w) + sigma_enc * Conv(f), with (sigma_enc, sigma_gen) made positive and of
    unit channel-wise L2 norm. As in the official release, the fusion sits between the noise injection and
    the fused bias/activation of Conv_sm.
    """

    def __init__(self, channels, num_style_feat, resample_kernel, positive_scales, use_noise=True):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(channels, channels, 3, num_style_feat, resample_kernel=resample_kernel)
        self.noise = NoiseInjection() if use_noise else None
        self.activate = FusedLeakyReLU(channels)
        self.positive_scales = positive_scales

    def forward(self, x, style, encoder_feat, scale_enc, scale_gen, noise=None):
        out = self.modulated_conv(x, style)
        if self.noise is not None:
            out = self.noise(out, noise)
        if self.positive_scales:  # eq. 4 takes |sigma|; the official code omits the absolute value
            scale_enc, scale_gen = scale_enc.abs(), scale_gen.abs()
        norm = torch.rsqrt(scale_enc**2 + scale_gen**2 + 1e-8)
        shape = (-1, out.shape[1], 1, 1)
        out = torch.addcmul(out * (scale_gen * norm).view(shape), encoder_feat, (scale_enc * norm).view(shape))
        return self.activate(out)


@ARCH_REGISTRY.register()
class GCFSR(nn.Module):
    """GCFSR encoder-generator (paper section 3, Figure 3).

    The input is the LR face bicubic-upsampled to the output size (section 3.3). A stride-2 encoder
    extracts features f^(i) from the output size down to ``min_feat_size`` (eq. 1); conv + FC layers on
    the topmost feature estimate W+ codes (eq. 2); the generator starts from the topmost feature instead
    of a constant (eq. 3) and, at every level, fuses a conv of the encoder feature with the generated one
    under channel scaling vectors predicted from the upscaling factor (feature modulation, eq. 4); tRGB
    skips sum to the output (eq. 5).

    Args:
        out_size (int): Output size 2^u (512 or 1024 in the paper). Default: 1024.
        num_style_feat (int): Latent code size. Default: 512.
        channel_multiplier (int): StyleGAN2 channel multiplier. Default: 2.
        narrow (float): Channel width ratio (tiny test models use < 1). Default: 1.
        resample_kernel (tuple[int]): FIR kernel for up/down-sampling. Default: (1, 3, 3, 1).
        min_feat_size (int): Size 2^l of the topmost encoder feature, "the minimum input size" (3.4):
            16 covers 64x at 1024 and 32x at 512. Default: 16.
        blind (bool): Blind face restoration variant (section 4, "Effectiveness on BFR"): the factor is
            fixed to ``blind_factor`` and the forward pass takes only the image. Its latent head is twice as
            wide, as in the official blind release. Default: False.
        blind_factor (float): The constant condition of the blind variant, as fed to the modulation layers
            (already normalised). Default: 1.
        positive_scales (bool): Take |sigma| before the normalisation of eq. 4. True is the paper's equation,
            the default for training from scratch (section 3.4 asks the scaling vectors "to be positive"); the
            official release omits the absolute value, so its checkpoints need False:
            ``scripts/convert_weights.py gcfsr`` stores ``positive_scales: false`` in the converted file's
            network block, which every loading path uses. Default: True.
        factor_norm (float): The divisor of the upscaling factor: the network is called with s and feeds the
            condition s / ``factor_norm`` to its modulation layers (section 3.5 normalises s to [0, 1]): 64 for
            the 1024 px model (s up to 64), 32 for the official 512 px release (s up to 32). It is the one place
            this value lives: datasets yield the raw s, inference passes the raw s, and the value travels with
            the network in its checkpoint. Default: 64.
        style_modulation (bool): Estimate W+ from the encoder (eq. 2). False is the "without style
            modulation" ablation of Figure 7: one learned constant code per layer. Default: True.
        use_noise (bool): Per-pixel noise injection in the style convs (StyleGAN2). Default: True.
    """

    def __init__(self, out_size=1024, num_style_feat=512, channel_multiplier=2, narrow=1.0,
                 resample_kernel=(1, 3, 3, 1), min_feat_size=16, blind=False, blind_factor=1.0,
                 positive_scales=True, factor_norm=64.0, style_modulation=True, use_noise=True):
        super().__init__()
        log_size, log_min = int(math.log2(out_size)), int(math.log2(min_feat_size))
        if 2**log_size != out_size or 2**log_min != min_feat_size or not 4 <= log_min < log_size <= 10:
            raise ValueError(f'GCFSR needs powers of two with 16 <= min_feat_size < out_size <= 1024, '
                             f'got out_size={out_size}, min_feat_size={min_feat_size}')
        channels = stylegan2_channels(channel_multiplier, narrow)
        self.out_size, self.min_feat_size = out_size, min_feat_size
        self.num_style_feat = num_style_feat
        self.blind, self.blind_factor = blind, blind_factor
        if not factor_norm > 0:
            raise ValueError(f'GCFSR factor_norm must be positive, got {factor_norm}')
        self.factor_norm = float(factor_norm)
        levels = [2**i for i in range(log_size, log_min - 1, -1)]  # encoder order: out_size ... min_feat_size
        self.levels = levels
        # one latent per style conv and tRGB, shared as in StyleGAN2: 2 at the top, 2 per further level
        self.num_latent = 2 * len(levels)

        # encoder (eq. 1)
        self.conv_body_first = ConvLayer(3, channels[out_size], 3)
        self.conv_body_down = nn.ModuleList(
            ConvLayer(channels[2 * res], channels[res], 3, downsample=True, resample_kernel=resample_kernel)
            for res in levels[1:])
        top = channels[min_feat_size]
        self.final_conv = ConvLayer(top, top, 3)

        # latent codes in W+ (eq. 2)
        self.style_modulation = style_modulation
        if style_modulation:
            head_channels = channels[min_feat_size // 4] // (1 if blind else 2)
            self.final_down1 = ConvLayer(top, channels[min_feat_size // 2], 3, downsample=True,
                                         resample_kernel=resample_kernel)
            self.final_down2 = ConvLayer(channels[min_feat_size // 2], head_channels, 3, downsample=True,
                                         resample_kernel=resample_kernel)
            feat_size = min_feat_size // 4
            self.final_linear = EqualLinear(head_channels * feat_size * feat_size, num_style_feat * self.num_latent,
                                            activation='fused_lrelu')
        else:
            self.constant_latent = nn.Parameter(torch.randn(1, self.num_latent, num_style_feat))

        # feature modulation (eq. 4): factor -> channel scaling vectors, and Conv(f^(i)) per level
        self.condition_scale1 = nn.ModuleList(EqualLinear(1, channels[res], bias_init_val=1) for res in levels)
        self.condition_scale2 = nn.ModuleList(EqualLinear(1, channels[res], bias_init_val=1) for res in levels)
        self.condition_shift = nn.ModuleList(ConvLayer(channels[res], channels[res], 3, activate=False)
                                             for res in levels)

        # generator (eq. 3, 5), from the topmost level upwards
        self.style_conv1 = FeatureModulatedStyleConv(top, num_style_feat, resample_kernel, positive_scales, use_noise)
        self.to_rgb1 = ToRGB(top, num_style_feat, upsample=False, resample_kernel=resample_kernel)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = top
        for res in levels[-2::-1]:
            self.style_convs.append(StyleConv(in_channels, channels[res], 3, num_style_feat, sample_mode='upsample',
                                              resample_kernel=resample_kernel, use_noise=use_noise))
            self.style_convs.append(
                FeatureModulatedStyleConv(channels[res], num_style_feat, resample_kernel, positive_scales, use_noise))
            self.to_rgbs.append(ToRGB(channels[res], num_style_feat, resample_kernel=resample_kernel))
            in_channels = channels[res]

    def forward(self, x, factor=None, noise=None):
        """Restore a face.

        Args:
            x (Tensor): LR face bicubic-upsampled to ``out_size``, (b, 3, out_size, out_size), in [-1, 1].
            factor (Tensor | float | None): Conditional upscaling factor s (e.g. 16 for 16x), shape (b,), (b, 1)
                or scalar; the condition is s / ``factor_norm`` (section 3.5). Values between the training factors
                give the continuous control of section 3.6. Ignored (may be None) by the blind variant.
            noise (list[Tensor] | None): Noise per style conv (bottom-up); None draws fresh noise.

        Returns:
            Tensor: (b, 3, out_size, out_size) restored face.
        """
        b = x.shape[0]
        if x.shape[-2:] != (self.out_size, self.out_size):
            raise ValueError(f'GCFSR expects {self.out_size}x{self.out_size} inputs (the LR face bicubic-upsampled '
                             f'to the output size), got {tuple(x.shape[-2:])}')
        if self.blind or factor is None:
            if not self.blind:
                raise ValueError(f'GCFSR needs the conditional upscaling factor s (fed as s / {self.factor_norm:g})')
            condition = torch.as_tensor(self.blind_factor, dtype=x.dtype, device=x.device)
        else:
            condition = torch.as_tensor(factor, dtype=x.dtype, device=x.device) / self.factor_norm
        factor = condition.reshape(-1, 1).expand(b, 1)

        feat = self.conv_body_first(x)
        encoder_feats = [feat]
        for down in self.conv_body_down:
            feat = down(feat)
            encoder_feats.append(feat)
        shifts = [conv(f) for conv, f in zip(self.condition_shift, encoder_feats)][::-1]
        scales_enc = [linear(factor) for linear in self.condition_scale2][::-1]
        scales_gen = [linear(factor) for linear in self.condition_scale1][::-1]

        if self.style_modulation:
            latent = self.final_linear(self.final_down2(self.final_down1(feat)).flatten(1))
            latent = latent.view(b, self.num_latent, self.num_style_feat)
        else:
            latent = self.constant_latent.expand(b, -1, -1)
        noise = noise if noise is not None else [None] * (1 + len(self.style_convs))

        out = self.style_conv1(self.final_conv(feat), latent[:, 0], shifts[0], scales_enc[0], scales_gen[0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, (up_conv, fuse_conv, to_rgb) in enumerate(
                zip(self.style_convs[::2], self.style_convs[1::2], self.to_rgbs), start=1):
            i = 2 * level - 1
            out = up_conv(out, latent[:, i], noise[i])
            out = fuse_conv(out, latent[:, i + 1], shifts[level], scales_enc[level], scales_gen[level], noise[i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip
