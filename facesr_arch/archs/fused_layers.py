"""Inference-only forms of the StyleGAN2 layers and of CodeFormer's up-sampling: the same functions as the trained
layers in fewer passes over the feature maps (and, for the up-sampling, fewer multiplications). ``optimize.fuse_layers`` swaps them in (``optimize_for_inference``); each is built from a
trained layer whose equalised-learning-rate scales may already be folded, and keeps its call signature.

What changes (fp32 outputs equal within 1e-4, ``tests/test_inference_optimize.py``):
    - The output gain sqrt(2) of StyleGAN2's fused activation is carried by the weights and biases: for a
      positive gain, ``leaky_relu(a) * g == leaky_relu(a * g)``.
    - Modulated convolutions, batch 1 and a feature map larger than the weight: the style (input channels),
      the demodulation, GCFSR's generator scale (output channels) and the gain are multiplied into the weight
      once per call (c_out x c_in x k x k values instead of passes over c x h x w); the bias goes into the
      convolution (or the blur after a transposed convolution). Otherwise the style scales the activations,
      one convolution with the shared weight runs, and one ``addcmul`` applies the per-sample output scale and
      the bias together. The demodulation needs no modulated weight: sum_ik (s_i w_oik)^2 = (s^2 @ sum_k w_ok^2).
    - The remaining terms (noise, GCFSR's encoder shift) are added in place, then one in-place leaky ReLU.
    - ToRGB's 1x1 modulated convolution of a channels_last map is one batched matrix product with the bias.
    - Blurs are depthwise convolutions whose symmetric padding is the convolution's own (no padded copy).
    - CodeFormer's nearest 2x up-sampling + 3x3 convolution is one 2x2 convolution at the input resolution whose
      output channels are the four output phases (16 instead of 36 multiply-adds per input pixel and channel
      pair, no up-sampled copy of the input), then interleaved.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from .codeformer_arch import Upsample as NearestUpsampleConv
from .gcfsr_arch import FeatureModulatedStyleConv
from .stylegan2_arch import (Blur, EqualConv2d, FeatureConcatInjection, FusedLeakyReLU, NoiseInjection,
                                    ScaledLeakyReLU, StyleConv, ToRGB)


def _blur_parameters(blur, channels):
    """(depthwise weight (channels, 1, kh, kw), (pad before, pad after)) of a :class:`Blur`."""
    kernel = torch.flip(blur.kernel, [0, 1])
    weight = kernel[None, None].expand(channels, 1, *kernel.shape).contiguous()
    return weight, tuple(blur.pad)


def depthwise_blur(x, weight, pad, bias=None):
    """``upfirdn2d(x, kernel, pad=pad)`` as one depthwise convolution (padding inside it when symmetric)."""
    pad0, pad1 = pad
    if pad0 == pad1 and pad0 >= 0:
        return F.conv2d(x, weight.to(x.dtype), bias, padding=pad0, groups=x.shape[1])
    return F.conv2d(F.pad(x, [pad0, pad1, pad0, pad1]), weight.to(x.dtype), bias, groups=x.shape[1])


def _activation_gain(activation):
    """(gain, negative slope) of a StyleGAN2 activation layer, or (1, None) without one."""
    if isinstance(activation, FusedLeakyReLU):
        return activation.scale, activation.negative_slope
    if isinstance(activation, ScaledLeakyReLU):
        return math.sqrt(2), activation.negative_slope
    return 1.0, None


class FusedConvLayer(nn.Module):
    """A ``ConvLayer`` ([Blur] + EqualConv2d + activation) as [depthwise blur] + one convolution with its bias
    and gain + in-place leaky ReLU."""

    def __init__(self, layer):
        super().__init__()
        blur = next((m for m in layer if isinstance(m, Blur)), None)
        conv = next(m for m in layer if isinstance(m, EqualConv2d))
        activation = next((m for m in layer if isinstance(m, (FusedLeakyReLU, ScaledLeakyReLU))), None)
        gain, self.negative_slope = _activation_gain(activation)
        with torch.no_grad():
            weight = conv.weight * (conv.scale * gain)
            bias = conv.bias
            if isinstance(activation, FusedLeakyReLU):
                bias = activation.bias if bias is None else bias + activation.bias
            self.register_buffer('weight', weight.detach().clone())
            self.register_buffer('bias', None if bias is None else (bias * gain).detach().clone())
        self.stride, self.padding = conv.stride, conv.padding
        self.blur_pad = None
        if blur is not None:
            blur_weight, self.blur_pad = _blur_parameters(blur, conv.weight.shape[1])
            self.register_buffer('blur_weight', blur_weight)

    def forward(self, x):
        if self.blur_pad is not None:
            x = depthwise_blur(x, self.blur_weight, self.blur_pad)
        out = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return out if self.negative_slope is None else F.leaky_relu_(out, self.negative_slope)


class FusedModulatedConv(nn.Module):
    """The modulated convolution of a ``StyleConv`` with its output scale and bias applied in the same pass.

    Args:
        modulated_conv (ModulatedConv2d): The trained layer ('fir' up-sampling or none; 'bilinear' resampling).
    """

    def __init__(self, modulated_conv):
        super().__init__()
        if modulated_conv.fir_sample_mode == 'downsample':
            raise ValueError('FusedModulatedConv has no down-sampling form (generators only up-sample)')
        self.modulation = modulated_conv.modulation
        self.demodulate, self.eps = modulated_conv.demodulate, modulated_conv.eps
        self.padding = modulated_conv.padding
        self.upsample = modulated_conv.fir_sample_mode == 'upsample'
        self.interpolate = modulated_conv.interpolate
        with torch.no_grad():
            weight = (modulated_conv.weight[0] * modulated_conv.scale).detach()  # (c_out, c_in, k, k)
            self.register_buffer('weight_square_sum', weight.pow(2).sum([2, 3]))  # (c_out, c_in)
            # stored as the convolution reads it: (c_in, c_out, k, k) for the transposed one (no copy per call)
            self.register_buffer('weight', (weight.transpose(0, 1) if self.upsample else weight).contiguous())
        if self.upsample:
            blur_weight, self.blur_pad = _blur_parameters(modulated_conv.smooth, weight.shape[0])
            self.register_buffer('blur_weight', blur_weight)

    def output_scale(self, style):
        """Style (b, c_in) -> demodulation factors (b, c_out), or None without demodulation."""
        if not self.demodulate:
            return None
        return torch.rsqrt(style.pow(2) @ self.weight_square_sum.t() + self.eps)

    def _convolve(self, x, weight, bias):
        if self.upsample:
            out = F.conv_transpose2d(x, weight, stride=2)
            return depthwise_blur(out, self.blur_weight, self.blur_pad, bias)
        return F.conv2d(x, weight, bias, padding=self.padding)

    def forward(self, x, style, out_scale, bias):
        """``modulated_conv(x, style) * out_scale + bias``.

        Args:
            x (Tensor): (b, c_in, h, w).
            style (Tensor): (b, num_style_feat).
            out_scale (Tensor | float): Per-output-channel factor (b, c_out), or a positive scalar gain.
            bias (Tensor): (c_out, ).

        Returns:
            Tensor: (b, c_out, h', w'), a new tensor (safe to modify in place).
        """
        x = self.interpolate(x)
        s = self.modulation(style)
        demod = self.output_scale(s)
        scale = out_scale if demod is None else demod * out_scale
        if not torch.is_tensor(scale):
            scale = torch.full_like(s[:, :1], scale).expand(-1, self.weight_square_sum.shape[0])
        b = x.shape[0]
        if b == 1 and self.weight.numel() <= x[0].numel():
            factors = torch.outer(s[0], scale[0]) if self.upsample else torch.outer(scale[0], s[0])
            weight = self.weight * factors[:, :, None, None]
            return self._convolve(x, weight.to(x.dtype), bias.to(x.dtype))
        out = self._convolve(x * s.view(b, -1, 1, 1).to(x.dtype), self.weight.to(x.dtype), None)
        return torch.addcmul(bias.view(1, -1, 1, 1).to(out.dtype), out, scale.view(b, -1, 1, 1).to(out.dtype))


class FusedStyleConv(nn.Module):
    """A ``StyleConv`` (modulated conv + noise or concatenated feature + fused bias/activation) for inference.

    Same call as the trained layer: ``(x, style, noise=None)``; the noise is drawn as the trained layer draws
    it (same shape, same point of the random stream) when not given.
    """

    def __init__(self, style_conv):
        super().__init__()
        self.conv = FusedModulatedConv(style_conv.modulated_conv)
        self.gain, self.negative_slope = _activation_gain(style_conv.activate)
        self.concat = isinstance(style_conv.noise, FeatureConcatInjection)
        self.noise_weight = style_conv.noise.weight if style_conv.noise is not None else None
        bias = style_conv.activate.bias.detach() * self.gain
        c = self.conv.weight_square_sum.shape[0]
        self.register_buffer('bias', bias[:c].clone())
        self.register_buffer('concat_bias', bias[c:].clone() if self.concat else None)

    def forward(self, x, style, noise=None):
        out = self.conv(x, style, self.gain, self.bias)
        if self.concat:
            if noise is None or noise.shape[0] != out.shape[0] or noise.shape[2:] != out.shape[2:]:
                got = None if noise is None else tuple(noise.shape)
                raise ValueError(f'concatenated-noise layer needs a feature map of batch/size {out.shape[0]}x'
                                 f'{tuple(out.shape[2:])}, got {got}')
            feature = torch.addcmul(self.concat_bias.view(1, -1, 1, 1), noise, self.noise_weight * self.gain)
            out = torch.cat([out, feature], dim=1)
        elif self.noise_weight is not None:
            add_noise(out, noise, self.noise_weight * self.gain)
        return F.leaky_relu_(out, self.negative_slope)


def add_noise(out, noise, coefficient):
    """``out += coefficient * noise`` in place; noise (b or 1, 1, h, w) drawn like :class:`NoiseInjection`
    when None. ``coefficient``: (1, ) or (b, c, 1, 1)."""
    if noise is None:
        noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
    out.addcmul_(noise.to(out.dtype), coefficient.to(out.dtype))


class FusedFeatureModulatedStyleConv(nn.Module):
    """GCFSR's ``FeatureModulatedStyleConv`` (paper eq. 4) for inference: the generator scale sigma_gen, the
    demodulation and the gain in the modulated convolution's weight (batch 1) or its one epilogue pass, then
    noise and sigma_enc * shift added in place, then the in-place leaky ReLU. Same call as the trained layer."""

    def __init__(self, layer):
        super().__init__()
        self.conv = FusedModulatedConv(layer.modulated_conv)
        self.gain, self.negative_slope = _activation_gain(layer.activate)
        self.noise_weight = layer.noise.weight if isinstance(layer.noise, NoiseInjection) else None
        self.positive_scales = layer.positive_scales
        self.register_buffer('bias', layer.activate.bias.detach() * self.gain)

    def forward(self, x, style, encoder_feat, scale_enc, scale_gen, noise=None):
        if self.positive_scales:
            scale_enc, scale_gen = scale_enc.abs(), scale_gen.abs()
        norm = torch.rsqrt(scale_enc**2 + scale_gen**2 + 1e-8) * self.gain
        scale_gen, scale_enc = scale_gen * norm, scale_enc * norm
        out = self.conv(x, style, scale_gen, self.bias)
        shape = (-1, out.shape[1], 1, 1)
        if self.noise_weight is not None:
            add_noise(out, noise, (self.noise_weight * scale_gen).view(shape))
        out.addcmul_(encoder_feat.to(out.dtype), scale_enc.view(shape).to(out.dtype))
        return F.leaky_relu_(out, self.negative_slope)


class FusedToRGB(nn.Module):
    """``ToRGB`` (1x1 modulated conv without demodulation, bias, up-sampled skip) for inference: on a
    channels_last map the modulated 1x1 convolution is one batched matrix product (b, h*w, c_in) @ (b, c_in,
    c_out) with the bias, read in place of the map, no modulated copy of it."""

    def __init__(self, to_rgb):
        super().__init__()
        conv = to_rgb.modulated_conv
        if conv.kernel_size != 1 or conv.demodulate or conv.sample_mode is not None:
            raise ValueError('FusedToRGB needs a 1x1 modulated convolution without demodulation or resampling')
        self.modulation = conv.modulation
        self.register_buffer('weight', (conv.weight[0, :, :, 0, 0] * conv.scale).detach().clone())  # (c_out, c_in)
        self.register_buffer('bias', to_rgb.bias.detach().view(-1).clone())
        self.upsample = to_rgb.upsample

    def forward(self, x, style, skip=None):
        b, c, h, w = x.shape
        weight = (self.weight[None] * self.modulation(style)[:, None, :]).to(x.dtype)  # (b, c_out, c_in)
        bias = self.bias.to(x.dtype)
        if x.is_contiguous(memory_format=torch.channels_last):
            rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view of the channels_last map
            out = torch.baddbmm(bias.view(1, 1, -1), rows, weight.transpose(1, 2))
            out = out.view(b, h, w, -1).permute(0, 3, 1, 2)
        else:
            out = F.conv2d(x.reshape(1, b * c, h, w), weight.reshape(-1, c, 1, 1), groups=b)
            out = out.view(b, -1, h, w) + bias.view(1, -1, 1, 1)
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


# per output phase a (even / odd row) of a nearest 2x up-sampling followed by a 3x3 correlation: the 3x3 taps u
# that fall on each of the two input rows the phase reads (row i - 1 + a + s for s = 0, 1)
_NEAREST_PHASE_TAPS = torch.tensor([[[1., 0, 0], [0, 1, 1]], [[1., 1, 0], [0, 0, 1]]])


class PolyphaseUpsampleConv(nn.Module):
    """``conv3x3(nearest_upsample_2x(x))`` (CodeFormer's ``Upsample``, padding 1) as one 2x2 convolution of ``x``
    (padding 1) with 4 x c_out channels, output phase (a, b) at rows / columns offset by (a, b), interleaved.

    Output row 2i + a reads up-sampled rows 2i + a - 1 .. 2i + a + 1, i.e. input rows i - 1 + a and i + a with
    the taps summed as :data:`_NEAREST_PHASE_TAPS` says; the same holds for columns."""

    def __init__(self, upsample):
        super().__init__()
        conv = upsample.conv
        with torch.no_grad():
            taps = _NEAREST_PHASE_TAPS.to(conv.weight)
            weight = torch.einsum('asu,btv,oiuv->aboist', taps, taps, conv.weight)
            self.register_buffer('weight', weight.reshape(-1, *weight.shape[3:]).contiguous())
            self.register_buffer('bias', None if conv.bias is None else conv.bias.detach().repeat(4))
        self.out_channels = conv.weight.shape[0]

    def forward(self, x):
        n, _, h, w = x.shape
        phases = F.conv2d(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype), padding=1)
        c = self.out_channels
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = x.new_empty(n, c, 2 * h, 2 * w).contiguous(memory_format=layout)
        for a in (0, 1):
            for b in (0, 1):
                phase = 2 * a + b
                out[:, :, a::2, b::2] = phases[:, phase * c:(phase + 1) * c, a:a + h, b:b + w]
        return out


def fuse_layers(net):
    """Replace the StyleGAN2 layers and CodeFormer's up-sampling convolutions of ``net`` by their inference forms,
    in place (weight scales folded or not).

    Returns:
        int: Number of layers replaced.
    """
    from ..archs.stylegan2_arch import ConvLayer
    replaced = 0
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            fused = None
            if isinstance(child, ConvLayer):
                fused = FusedConvLayer(child)
            elif isinstance(child, FeatureModulatedStyleConv):
                fused = FusedFeatureModulatedStyleConv(child)
            elif isinstance(child, StyleConv) and child.modulated_conv.fir_sample_mode != 'downsample':
                fused = FusedStyleConv(child)
            elif isinstance(child, ToRGB):
                fused = FusedToRGB(child)
            elif isinstance(child, NearestUpsampleConv):
                fused = PolyphaseUpsampleConv(child)
            if fused is not None:
                setattr(module, name, fused)
                replaced += 1
    return replaced
