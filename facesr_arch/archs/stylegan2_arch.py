"""Clean (pure-PyTorch) StyleGAN2 building blocks and discriminator.

BasicSR's ``StyleGAN2Generator``/``StyleGAN2Discriminator`` rely on compiled CUDA ops (``upfirdn2d``,
``fused_leaky_relu``) with no CPU fallback for the activation. These blocks compute the same functions
with plain PyTorch ops (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020),
keep the parameter layout of the rosinality / BasicSR implementations (so public checkpoints convert by
renaming only), and run on CPU and GPU alike.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from .modules import channel_split_feature_transform


def make_resample_kernel(kernel):
    """2D FIR kernel from a 1D list (outer product), normalised to sum 1."""
    k = torch.as_tensor(kernel, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, pad, FIR-filter, downsample; the reference ``upfirdn2d`` semantics.

    With ``up > 1`` the zero insertion and the filtering are one strided transposed convolution (the polyphase
    form: no multiplications by the inserted zeros, a quarter of the work for ``up=2``), whose border is then
    cropped / padded to the reference output.

    Args:
        x (Tensor): (b, c, h, w).
        kernel (Tensor): 2D FIR kernel (kh, kw), applied as a correlation with the flipped kernel.
        up (int): Zero-insertion factor. Default: 1.
        down (int): Decimation factor. Default: 1.
        pad (tuple[int]): Padding (before, after) on both spatial axes; negative values crop.

    Returns:
        Tensor: Filtered feature map.
    """
    c = x.shape[1]
    kh, kw = kernel.shape
    pad0, pad1 = pad
    if up > 1:
        # zero insertion + full convolution == conv_transpose2d(stride=up); output sample i of the padded
        # filtering is sample i + k - 1 - pad0 of the transposed convolution (zero beyond its ends)
        weight = kernel.to(x)[None, None].expand(c, 1, kh, kw)
        x = F.conv_transpose2d(x, weight, stride=up, groups=c)
        x = F.pad(x, [pad0 - kw + 1, pad1 - kw + up, pad0 - kh + 1, pad1 - kh + up])
        return x[:, :, ::down, ::down] if down > 1 else x
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    weight = torch.flip(kernel, [0, 1]).to(x)[None, None].expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


class Blur(nn.Module):
    """FIR low-pass filter with the padding that keeps StyleGAN2's up/down-sampling aligned."""

    def __init__(self, resample_kernel, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer('kernel', make_resample_kernel(resample_kernel) * upsample_factor**2, persistent=False)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of RGB skips (``UpFirDnUpsample``)."""

    def __init__(self, resample_kernel, factor=2):
        super().__init__()
        self.register_buffer('kernel', make_resample_kernel(resample_kernel) * factor**2, persistent=False)
        self.factor = factor
        pad = self.kernel.shape[0] - factor
        self.pad = ((pad + 1) // 2 + factor - 1, pad // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU(0.2) scaled by sqrt(2), the fused activation of StyleGAN2, in plain ops."""

    def __init__(self, channels, negative_slope=0.2, scale=math.sqrt(2)):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x):
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


def fused_leaky_relu(x, bias, negative_slope=0.2, scale=math.sqrt(2)):
    """``leaky_relu(x + bias) * scale`` in two passes over ``x`` instead of three: for ``scale`` > 0 it equals
    ``leaky_relu(scale * x + scale * bias)``, one ``torch.add`` with ``alpha`` then an in-place activation."""
    shape = (1, -1) + (1, ) * (x.ndim - 2)
    return F.leaky_relu_(torch.add((bias * scale).view(shape), x, alpha=scale), negative_slope)


def scaled(weight, scale):
    """``weight * scale``: the run-time scale of equalised learning rate (StyleGAN2), skipped once folded
    into the weight (``scale`` 1, ``archs/optimize.py``)."""
    return weight if scale == 1 else weight * scale


class ScaledLeakyReLU(nn.Module):
    """Leaky ReLU(0.2) times sqrt(2), for layers without bias."""

    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu_(x * math.sqrt(2), self.negative_slope)  # == leaky_relu(x) * sqrt(2), one pass less


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time by 1/sqrt(fan_in) * lr_mul).

    Args:
        in_channels (int): Input features.
        out_channels (int): Output features.
        bias (bool): Learn an additive bias. Default: True.
        bias_init_val (float): Initial bias value. Default: 0.
        lr_mul (float): Learning-rate multiplier (0.01 for the mapping MLP). Default: 1.
        activation (str | None): 'fused_lrelu' or None. Default: None.
    """

    def __init__(self, in_channels, out_channels, bias=True, bias_init_val=0, lr_mul=1, activation=None):
        super().__init__()
        if activation not in ('fused_lrelu', None):
            raise ValueError(f"EqualLinear activation must be 'fused_lrelu' or None, got {activation!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lr_mul = lr_mul
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_channels, ), float(bias_init_val))) if bias else None

    def forward(self, x):
        bias = None if self.bias is None else scaled(self.bias, self.lr_mul)
        if self.activation == 'fused_lrelu':
            out = F.linear(x, scaled(self.weight, self.scale))
            return fused_leaky_relu(out, bias) if bias is not None else F.leaky_relu_(out * math.sqrt(2), 0.2)
        return F.linear(x, scaled(self.weight, self.scale), bias=bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, bias_init_val=0):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels, ), float(bias_init_val))) if bias else None

    def forward(self, x):
        return F.conv2d(x, scaled(self.weight, self.scale), bias=self.bias, stride=self.stride, padding=self.padding)


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d (+ activation), the discriminator / encoder conv of StyleGAN2.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        downsample (bool): Blur then stride-2 convolution. Default: False.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        bias (bool): Learn a bias (inside the fused activation when ``activate``). Default: True.
        activate (bool): Apply the (fused) leaky ReLU. Default: True.
    """

    def __init__(self, in_channels, out_channels, kernel_size, downsample=False, resample_kernel=(1, 3, 3, 1),
                 bias=True, activate=True):
        layers = []
        if downsample:
            pad = (len(resample_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(resample_kernel, pad=((pad + 1) // 2, pad // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                        bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


RESAMPLE_MODES = ('fir', 'bilinear')


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (eq. 1-3 of Karras et al. 2020), batched without per-sample loops.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        num_style_feat (int): Style vector size.
        demodulate (bool): Normalise each output filter to unit L2 norm. Default: True.
        sample_mode (str | None): 'upsample', 'downsample' or None. Default: None.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        eps (float): Demodulation epsilon. Default: 1e-8.
        resample (str): How ``sample_mode`` resamples: 'fir' (StyleGAN2: strided (transposed) convolution
            with the FIR blur) or 'bilinear' (GFPGAN's clean StyleGAN2: bilinear interpolation by 2 or 1/2,
            ``align_corners=False``, then a plain same-size convolution; no blur). Default: 'fir'.
    """

    def __init__(self, in_channels, out_channels, kernel_size, num_style_feat, demodulate=True, sample_mode=None,
                 resample_kernel=(1, 3, 3, 1), eps=1e-8, resample='fir'):
        super().__init__()
        if sample_mode not in ('upsample', 'downsample', None):
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        if resample not in RESAMPLE_MODES:
            raise ValueError(f'resample must be one of {RESAMPLE_MODES}, got {resample!r}')
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.sample_mode, self.eps, self.resample = demodulate, sample_mode, eps, resample
        # the FIR path resamples inside the convolution; the bilinear path interpolates the input first
        self.fir_sample_mode = sample_mode if resample == 'fir' else None
        self.interpolate_factor = None
        if resample == 'bilinear':
            self.interpolate_factor = {'upsample': 2.0, 'downsample': 0.5}.get(sample_mode)
        taps = len(resample_kernel)
        if self.fir_sample_mode == 'upsample':
            pad = (taps - 2) - (kernel_size - 1)
            self.smooth = Blur(resample_kernel, pad=((pad + 1) // 2 + 1, pad // 2 + 1), upsample_factor=2)
        elif self.fir_sample_mode == 'downsample':
            pad = (taps - 2) + (kernel_size - 1)
            self.smooth = Blur(resample_kernel, pad=((pad + 1) // 2, pad // 2))
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.modulation = EqualLinear(num_style_feat, in_channels, bias=True, bias_init_val=1)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x, style):
        """Modulated convolution of ``x`` (b, in_channels, h, w) with styles (b, num_style_feat).

        Two formulations, equal up to float rounding, chosen per call by measured cost: modulating the
        activations (``x * s`` -> one convolution with the shared weight -> ``* demod``) when the batch is
        above one (grouped convolutions over the batch are slow), the feature map is small (per-sample
        weights would cost more than scaling the activations) or in channels_last format (the optimised
        inference path: GCFSR 1024, batch 1, 2689 -> 2142 ms); else, one contiguous sample at high
        resolution, the convolution with the modulated weight (GCFSR 1024: 2951 vs 3713 ms).
        """
        b, _, h, w = x.shape
        style = self.modulation(style)
        if (b > 1 or h * w <= self.out_channels * self.kernel_size**2
                or x.is_contiguous(memory_format=torch.channels_last)):
            return self.forward_modulated_activations(x, style)
        return self.forward_grouped(x, style)

    def forward_grouped(self, x, style):
        """Per-sample modulated (and demodulated) weights, one grouped convolution; ``style`` is (b, c_in)."""
        x = self.interpolate(x)
        b, c, h, w = x.shape
        weight = scaled(self.weight, self.scale) * style.view(b, 1, c, 1, 1)  # (b, c_out, c_in, k, k)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(b, self.out_channels, 1, 1, 1)
        k = self.kernel_size
        if self.fir_sample_mode == 'upsample':
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channels, k, k)
            out = F.conv_transpose2d(x.reshape(1, b * c, h, w), weight, padding=0, stride=2, groups=b)
            return self.smooth(out.view(b, self.out_channels, *out.shape[2:]))
        weight = weight.reshape(b * self.out_channels, c, k, k)
        if self.fir_sample_mode == 'downsample':
            x = self.smooth(x)
            out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), weight, stride=2, groups=b)
        else:
            out = F.conv2d(x.reshape(1, b * c, h, w), weight, padding=self.padding, groups=b)
        return out.view(b, self.out_channels, *out.shape[2:])

    def forward_modulated_activations(self, x, style):
        """Styles scale the input channels, the shared weight convolves, demodulation scales the outputs.

        The demodulation factors need no modulated weight: sum_{i,k} (s_i w_oik)^2 = (s^2 @ sum_k w_oik^2)_o.
        ``style`` is (b, c_in).
        """
        b, c = style.shape
        weight = scaled(self.weight[0], self.scale)  # (c_out, c_in, k, k)
        x = self.interpolate(x) * style.view(b, c, 1, 1)
        if self.fir_sample_mode == 'upsample':
            out = self.smooth(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        elif self.fir_sample_mode == 'downsample':
            out = F.conv2d(self.smooth(x), weight, stride=2)
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt(style.pow(2) @ weight.pow(2).sum([2, 3]).t() + self.eps)
            out = out * demod.view(b, self.out_channels, 1, 1)
        return out

    def interpolate(self, x):
        """The bilinear resampling of the input ('bilinear' ``resample`` with a ``sample_mode``); else ``x``."""
        if self.interpolate_factor is None:
            return x
        return F.interpolate(x, scale_factor=self.interpolate_factor, mode='bilinear', align_corners=False)


class NoiseInjection(nn.Module):
    """Per-pixel Gaussian noise scaled by a learned scalar (StyleGAN2 'noise' input)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()
        return torch.addcmul(x, noise, self.weight)  # x + weight * noise in one pass


class FeatureConcatInjection(nn.Module):
    """GPEN's concatenated "noise": ``cat([x, weight * feature])`` with a learned scalar weight.

    PVFR eq. 3 (after GPEN, Yang et al. CVPR 2021) replaces StyleGAN2's noise inputs by encoder feature maps
    concatenated to the style-conv output, so the layer after it sees twice the channels.
    """

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, feature):
        if feature is None or feature.shape[0] != x.shape[0] or feature.shape[2:] != x.shape[2:]:
            got = None if feature is None else tuple(feature.shape)
            raise ValueError(f'concatenated-noise layer needs a feature map of batch/size {x.shape[0]}x'
                             f'{tuple(x.shape[2:])}, got {got}')
        return torch.cat([x, self.weight * feature], dim=1)


class StyleConv(nn.Module):
    """Modulated conv + noise + fused bias/activation.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size.
        num_style_feat (int): Style vector size.
        demodulate (bool): Demodulate weights. Default: True.
        sample_mode (str | None): 'upsample', 'downsample' or None. Default: None.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        use_noise (bool): Inject per-pixel noise. Default: True.
        concat_feature (bool): Instead of noise, concatenate a given feature map of ``out_channels`` channels
            (GPEN / PVFR eq. 3); the output then has ``2 * out_channels`` channels and ``noise`` in
            ``forward`` is that feature map (required). Overrides ``use_noise``. Default: False.
        resample (str): 'fir' or 'bilinear', see :class:`ModulatedConv2d`. Default: 'fir'.
    """

    def __init__(self, in_channels, out_channels, kernel_size, num_style_feat, demodulate=True, sample_mode=None,
                 resample_kernel=(1, 3, 3, 1), use_noise=True, concat_feature=False, resample='fir'):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, kernel_size, num_style_feat, demodulate,
                                              sample_mode, resample_kernel, resample=resample)
        if concat_feature:
            self.noise = FeatureConcatInjection()
        else:
            self.noise = NoiseInjection() if use_noise else None
        self.out_channels = out_channels * (2 if concat_feature else 1)
        self.activate = FusedLeakyReLU(self.out_channels)

    def forward(self, x, style, noise=None):
        out = self.modulated_conv(x, style)
        if self.noise is not None:
            out = self.noise(out, noise)
        return self.activate(out)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB, adding the upsampled previous RGB skip.

    Args:
        in_channels (int): Input channels.
        num_style_feat (int): Style vector size.
        upsample (bool): Upsample the skip 2x. Default: True.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        out_channels (int): Image channels. Default: 3.
        resample (str): Skip upsampling: 'fir' (StyleGAN2's FIR ``Upsample``) or 'bilinear' (GFPGAN's clean
            StyleGAN2, ``align_corners=False``). Default: 'fir'.
    """

    def __init__(self, in_channels, num_style_feat, upsample=True, resample_kernel=(1, 3, 3, 1), out_channels=3,
                 resample='fir'):
        super().__init__()
        if resample not in RESAMPLE_MODES:
            raise ValueError(f'resample must be one of {RESAMPLE_MODES}, got {resample!r}')
        self.upsample = None
        if upsample:
            self.upsample = (Upsample(resample_kernel) if resample == 'fir' else
                             nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False))
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


def stylegan2_channels(channel_multiplier=2, narrow=1.0):
    """Feature channels per resolution of the StyleGAN2 config-f family (and GFPGAN's ``narrow``)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {res: int(ch * narrow) for res, ch in base.items()}


class ResBlock(nn.Module):
    """Residual down-sampling block of the StyleGAN2 discriminator."""

    def __init__(self, in_channels, out_channels, resample_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, resample_kernel=resample_kernel)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, resample_kernel=resample_kernel,
                              bias=False, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


@ARCH_REGISTRY.register()
class FaceStyleGAN2Discriminator(nn.Module):
    """StyleGAN2 discriminator (residual), pure PyTorch.

    Args:
        out_size (int): Input image size (power of two, 16..1024).
        channel_multiplier (int): Channel multiplier of config-f (2) or the narrow config (1). Default: 2.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        stddev_group (int | str): Minibatch-stddev group size (StyleGAN2: 4; a batch that is no multiple of it
            uses one group of one); 'batch': one group of the whole batch on each device, as GPEN's
            discriminator computes it (``group = batch``); 0 disables the minibatch-stddev feature (GCFSR's
            official discriminator has none). Default: 4.
        narrow (float): Channel width ratio. Default: 1.
        num_frozen_layers (int): Freeze the first N layers (FreezeD, Mo et al. 2020; PVFR sections 3.3
            and 4.2 freeze five). Layers count in forward order: the 1x1 input conv, then each ResBlock.
            Default: 0.
    """

    def __init__(self, out_size, channel_multiplier=2, resample_kernel=(1, 3, 3, 1), stddev_group: 'int | str' = 4, narrow=1,
                 num_frozen_layers=0):
        super().__init__()
        channels = stylegan2_channels(channel_multiplier, narrow)
        log_size = int(math.log2(out_size))
        if 2**log_size != out_size or out_size not in channels:
            raise ValueError(f'FaceStyleGAN2Discriminator out_size must be a power of two in 16..1024, got {out_size}')
        conv_body = [ConvLayer(3, channels[out_size], 1)]
        in_channels = channels[out_size]
        for i in range(log_size, 2, -1):
            out_channels = channels[2**(i - 1)]
            conv_body.append(ResBlock(in_channels, out_channels, resample_kernel))
            in_channels = out_channels
        self.conv_body = nn.Sequential(*conv_body)
        if not (stddev_group == 'batch' or isinstance(stddev_group, int) and stddev_group >= 0):
            raise ValueError(f"stddev_group must be a group size >= 0 or 'batch', got {stddev_group!r}")
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(in_channels + (1 if stddev_group else 0), channels[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, channels[4], activation='fused_lrelu'),
            EqualLinear(channels[4], 1),
        )
        if not 0 <= num_frozen_layers <= len(self.conv_body):
            raise ValueError(f'num_frozen_layers must be in 0..{len(self.conv_body)}, got {num_frozen_layers}')
        self.num_frozen_layers = num_frozen_layers
        for layer in list(self.conv_body)[:num_frozen_layers]:
            layer.requires_grad_(False)

    def forward(self, x):
        out = self.conv_body(x)
        if self.stddev_group:
            b, c, h, w = out.shape
            group = b if self.stddev_group == 'batch' else min(b, self.stddev_group)
            if b % group:
                group = 1
            stddev = out.view(group, -1, 1, c, h, w)
            stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
            out = torch.cat([out, stddev.repeat(group, 1, h, w)], 1)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))


class PixelNorm(nn.Module):
    """Normalise each latent to unit root-mean-square (the first layer of the mapping MLP)."""

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ConstantInput(nn.Module):
    """The learned constant 4x4 starting feature of StyleGAN2."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch):
        return self.weight.repeat(batch, 1, 1, 1)


NOISE_MODES = ('random', 'none', 'concat')


@ARCH_REGISTRY.register()
class FaceStyleGAN2Generator(nn.Module):
    """StyleGAN2 generator (config-f synthesis network with mapping MLP), pure PyTorch.

    Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020. One class serves every
    method that uses a face StyleGAN2 prior: CFGPFSSR's GAN Prior Bank (features conditioned by SFT / CS-SFT,
    eq. 5-6), MPCNet's noise-free GAN blocks (section 3.2.2, ``noise_mode='none'``), PVFR's generator with
    encoder features concatenated in place of noise (eq. 3, the GPEN layout, ``noise_mode='concat'``) and
    plain StyleGAN2 prior training.

    Layers, in forward order, for output size 2^n (n = log2(out_size)):
    ``constant_input`` (or ``start_feature``) at 4x4 -> ``style_conv1`` (4x4) -> ``to_rgb1``; then for each
    resolution r = 8 .. out_size: ``style_convs[2k]`` (2x upsampling), ``style_convs[2k + 1]``, ``to_rgbs[k]``.
    There are ``num_conv_layers = 2n - 3`` style convs and ``num_latent = 2n - 2`` W+ codes (the tRGB layer
    of a resolution shares its code with the first conv of the next, as in the reference implementation).
    Parameter names follow BasicSR's ``StyleGAN2Generator`` except that noise strengths live in
    ``<conv>.noise.weight``; ``scripts/convert_weights.py`` maps public checkpoints onto them.

    Args:
        out_size (int): Output size, a power of two in 8..1024 (128..1024 in the papers).
        num_style_feat (int): Latent size. Default: 512.
        num_mlp (int): Layers of the mapping MLP (8 in StyleGAN2). Default: 8.
        channel_multiplier (int): 2 = config-f (FFHQ 1024 releases; also the clean priors of GFPGAN v1.2, v1.3
            and v1.4), 1 = the narrower prior of the original GFPGAN v1 (``GFPGANv1.pth``, arch 'original').
            Default: 2.
        narrow (float): Extra channel width ratio (GFPGAN's ``narrow``). Default: 1.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        lr_mlp (float): Learning-rate multiplier of the mapping MLP (0.01 in StyleGAN). Default: 0.01.
        noise_mode (str): 'random' (StyleGAN2 per-pixel noise with learned strengths), 'none' (no noise
            inputs at all; MPCNet 3.2.2) or 'concat' (the output of every style conv is concatenated with
            an external feature map of the same size and channel count, scaled by a learned scalar, so the
            next layer and the tRGB layers see twice the channels; PVFR eq. 3 / GPEN). Default: 'random'.
        out_channels (int): Image channels. Default: 3.
        resample (str): Up-sampling of the style convs and RGB skips: 'fir' (StyleGAN2's transposed
            convolution with FIR blur) or 'bilinear' (GFPGAN's ``StyleGAN2GeneratorClean``, the prior of
            GFPGANv1Clean / GFPGAN v1.3-1.4: bilinear 2x interpolation, ``align_corners=False``, then a plain
            3x3 modulated conv; bilinear skips; no blur). With 'bilinear' this class computes the clean
            generator's function: its checkpoints convert by an exact rescaling
            (``convert_weights.py stylegan2_gfpgan_clean``). Default: 'fir'.

    Attributes:
        channels (dict[int, int]): Style-conv output channels per resolution.
        feature_channels (dict[int, int]): Channels of the per-resolution features (``return_features``,
            SFT targets): ``channels`` doubled in 'concat' mode.
        num_latent (int): Number of W+ codes.
        num_conv_layers (int): Number of style convs (= length of a ``noise`` list).
    """

    def __init__(self, out_size, num_style_feat=512, num_mlp=8, channel_multiplier=2, narrow=1.0,
                 resample_kernel=(1, 3, 3, 1), lr_mlp=0.01, noise_mode='random', out_channels=3, resample='fir'):
        super().__init__()
        log_size = int(math.log2(out_size)) if out_size > 0 else 0
        if 2**log_size != out_size or not 8 <= out_size <= 1024:
            raise ValueError(f'FaceStyleGAN2Generator out_size must be a power of two in 8..1024, got {out_size}')
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        self.out_size, self.log_size = out_size, log_size
        self.num_style_feat, self.noise_mode = num_style_feat, noise_mode
        self.num_latent = 2 * log_size - 2
        self.num_conv_layers = 2 * log_size - 3
        self.resolutions = [2**i for i in range(2, log_size + 1)]
        self.channels = {res: ch for res, ch in stylegan2_channels(channel_multiplier, narrow).items()
                         if res <= out_size}
        widen = 2 if noise_mode == 'concat' else 1
        self.feature_channels = {res: ch * widen for res, ch in self.channels.items()}

        self.style_mlp = nn.Sequential(PixelNorm(), *[
            EqualLinear(num_style_feat, num_style_feat, bias=True, lr_mul=lr_mlp, activation='fused_lrelu')
            for _ in range(num_mlp)
        ])
        self.constant_input = ConstantInput(self.channels[4])
        conv_options = dict(resample_kernel=resample_kernel, use_noise=noise_mode == 'random',
                            concat_feature=noise_mode == 'concat', resample=resample)
        self.style_conv1 = StyleConv(self.channels[4], self.channels[4], 3, num_style_feat, **conv_options)
        self.to_rgb1 = ToRGB(self.feature_channels[4], num_style_feat, upsample=False, resample_kernel=resample_kernel,
                             out_channels=out_channels, resample=resample)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = self.feature_channels[4]
        for res in self.resolutions[1:]:
            self.style_convs.append(
                StyleConv(in_channels, self.channels[res], 3, num_style_feat, sample_mode='upsample', **conv_options))
            self.style_convs.append(
                StyleConv(self.feature_channels[res], self.channels[res], 3, num_style_feat, **conv_options))
            self.to_rgbs.append(ToRGB(self.feature_channels[res], num_style_feat, resample_kernel=resample_kernel,
                                      out_channels=out_channels, resample=resample))
            in_channels = self.feature_channels[res]

    def map_styles(self, z):
        """Mapping MLP: latent z (..., num_style_feat) -> w (same shape)."""
        shape = z.shape
        return self.style_mlp(z.reshape(-1, shape[-1])).view(shape)

    @torch.no_grad()
    def mean_latent(self, num_samples=4096):
        """Average w of ``num_samples`` random z (the truncation centre), shape (1, num_style_feat)."""
        z = torch.randn(num_samples, self.num_style_feat, device=self.constant_input.weight.device)
        return self.map_styles(z).mean(0, keepdim=True)

    def to_w_plus(self, styles, input_is_latent=False, truncation=1.0, truncation_latent=None):
        """Turn the ``styles`` argument of :meth:`forward` into W+ codes (b, num_latent, num_style_feat)."""
        if styles.ndim == 2:
            styles = styles[:, None]
        if styles.ndim != 3 or styles.shape[1] not in (1, self.num_latent) or styles.shape[2] != self.num_style_feat:
            raise ValueError(f'styles must be (b, {self.num_style_feat}) or (b, {self.num_latent}, '
                             f'{self.num_style_feat}) (W+), got {tuple(styles.shape)}')
        latent = styles if input_is_latent else self.map_styles(styles)
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError('truncation < 1 needs truncation_latent (see mean_latent)')
            latent = truncation_latent.view(1, 1, -1) + truncation * (latent - truncation_latent.view(1, 1, -1))
        return latent.expand(-1, self.num_latent, -1)

    def forward(self, styles, input_is_latent=False, noise=None, truncation=1.0, truncation_latent=None,
                start_feature=None, conditions=None, concat_features=None, return_features=False,
                return_latents=False, condition_after='first_conv'):
        """Synthesise an image.

        Args:
            styles (Tensor): (b, num_style_feat): one code for every layer; or (b, num_latent, num_style_feat):
                one code per layer (W+; style mixing is done by the caller building W+).
            input_is_latent (bool): ``styles`` are already w (skip the mapping MLP). Default: False (z).
            noise (list[Tensor | None] | None): 'random' mode only: per-conv noise (b or 1, 1, r, r), None
                entries (or None) draw fresh Gaussian noise. Default: None.
            truncation (float): Truncation psi; < 1 needs ``truncation_latent``. Default: 1.
            truncation_latent (Tensor | None): Truncation centre w, e.g. :meth:`mean_latent`. Default: None.
            start_feature (Tensor | None): (b, channels[4], 4, 4) feature replacing the learned constant
                (e.g. from an encoder). Default: None (constant).
            conditions (dict[int, tuple[Tensor, Tensor]] | None): Spatial conditions {resolution: (scale,
                shift)}, applied to the output of the first style conv of that resolution by
                :func:`~facesr_arch.archs.modules.channel_split_feature_transform`: scale/shift of
                ``feature_channels[r]`` channels give SFT (CFGPFSSR eq. 5), of ``feature_channels[r] // 2``
                channels give CS-SFT (eq. 6: leading channels pass, trailing channels modulated). Shapes
                (b, m, r, r). Default: None.
            concat_features (dict[int, Tensor] | None): 'concat' mode only, required: {resolution: (b,
                channels[r], r, r)} for every resolution 4..out_size; both style convs of a resolution
                concatenate the same map (GPEN). Default: None.
            return_features (bool): Also return {resolution: feature (b, feature_channels[r], r, r)}, the
                output of the last style conv of each resolution. Default: False.
            return_latents (bool): Also return the W+ codes used (b, num_latent, num_style_feat).
                Default: False.
            condition_after (str): Where ``conditions`` apply: 'first_conv' (after the upsampling conv, as
                above; GFPGAN) or 'last_conv' (the block output, which then feeds the next resolution and
                is the returned feature; CFGPFSSR eq. 3-6, g_k = CS-SFT(j_k)). At 4x4 both are the single
                conv. Default: 'first_conv'.

        Returns:
            Tensor | tuple: The image (b, out_channels, out_size, out_size), unnormalised (about [-1, 1]);
            when ``return_features`` and/or ``return_latents`` is set, a tuple ``(image, features)``,
            ``(image, latents)`` or ``(image, features, latents)`` in that order.
        """
        latent = self.to_w_plus(styles, input_is_latent, truncation, truncation_latent)
        batch = latent.shape[0]
        conditions = conditions or {}
        unknown = sorted(set(conditions) - set(self.resolutions))
        if unknown:
            raise ValueError(f'conditions given for resolutions {unknown}; this generator has {self.resolutions}')
        if condition_after not in ('first_conv', 'last_conv'):
            raise ValueError(f"condition_after must be 'first_conv' or 'last_conv', got {condition_after!r}")
        layer_inputs = self._layer_inputs(batch, noise, concat_features)

        if start_feature is None:
            out = self.constant_input(batch)
        else:
            expected = (batch, self.channels[4], 4, 4)
            if tuple(start_feature.shape) != expected:
                raise ValueError(f'start_feature must be {expected}, got {tuple(start_feature.shape)}')
            out = start_feature
        features = {}

        def condition(res, feat):
            if res not in conditions:
                return feat
            scale, shift = conditions[res]
            return channel_split_feature_transform(feat, scale, shift)

        out = condition(4, self.style_conv1(out, latent[:, 0], layer_inputs[0]))
        features[4] = out
        skip = self.to_rgb1(out, latent[:, 1])
        for k, res in enumerate(self.resolutions[1:]):
            out = self.style_convs[2 * k](out, latent[:, 2 * k + 1], layer_inputs[2 * k + 1])
            if condition_after == 'first_conv':
                out = condition(res, out)
            out = self.style_convs[2 * k + 1](out, latent[:, 2 * k + 2], layer_inputs[2 * k + 2])
            if condition_after == 'last_conv':
                out = condition(res, out)
            features[res] = out
            skip = self.to_rgbs[k](out, latent[:, 2 * k + 3], skip)

        extras = ([features] if return_features else []) + ([latent] if return_latents else [])
        return (skip, *extras) if extras else skip

    def _layer_inputs(self, batch, noise, concat_features):
        """Per style-conv second input: noise (or None) in 'random' mode, the feature map in 'concat' mode."""
        conv_resolutions = [4] + [res for res in self.resolutions[1:] for _ in range(2)]
        if self.noise_mode == 'concat':
            missing = [res for res in self.resolutions if concat_features is None or res not in concat_features]
            if missing:
                raise ValueError(f"noise_mode='concat' needs concat_features for resolutions {missing}")
            return [concat_features[res] for res in conv_resolutions]
        if concat_features is not None:
            raise ValueError(f"concat_features given but noise_mode is {self.noise_mode!r}, not 'concat'")
        if noise is None or self.noise_mode == 'none':
            if noise is not None:
                raise ValueError("noise given but noise_mode='none' has no noise inputs")
            return [None] * self.num_conv_layers
        if len(noise) != self.num_conv_layers:
            raise ValueError(f'noise must list {self.num_conv_layers} tensors (or None), got {len(noise)}')
        return list(noise)
