"""The optimised inference path: one trained network turned into an inference-only one that computes the same
function faster. Used by the inference script (``FaceRestorer``), the test pipeline (``FaceBaseModel.test``
outside training) and ``scripts/benchmark.py models``.

Exact rewrites (fp32 outputs equal within 1e-4, ``tests/test_inference_optimize.py``):
    - BatchNorm in eval mode is an affine map per channel, folded into the convolution before it: a conv
      directly followed by BatchNorm in an ``nn.Sequential``, conv -> PixelShuffle -> BatchNorm (W-Net's
      up-sampling, eq. 14) and facexlib's ``ConvLayer`` (conv2d -> norm, the parsing networks).
    - Parametrized weights (MPCNet's spectral normalisation) are replaced by their eval-mode value, which
      every forward would otherwise recompute.
    - The equalised-learning-rate scales of StyleGAN2 layers (weights multiplied by 1/sqrt(fan_in) and
      ``lr_mul`` at every forward so that Adam sees unit-variance parameters) are multiplied into the
      stored weights once.
    - The StyleGAN2 layers (``ConvLayer``, ``StyleConv``, GCFSR's ``FeatureModulatedStyleConv``, ``ToRGB``)
      are replaced by inference forms that compute them in fewer passes over the feature maps: modulation,
      demodulation, output scales, gains and biases folded into the weights once per call or into one
      epilogue pass (``archs/fused_layers.py``).
    - channels_last memory format of the convolution weights (and of the inputs, see ``to_channels_last``).
Approximate, opt-in: autocast (bf16 / fp16), whose tolerance is documented in the README; ``torch.compile``.

An optimised network is for inference only: its state dict no longer matches the checkpoint layout.
"""
import torch
from torch import nn
from torch.nn.utils import parametrize

from .fused_layers import fuse_layers
from .stylegan2_arch import EqualConv2d, EqualLinear, ModulatedConv2d


def to_channels_last(net):
    """Put the 4-D parameters and buffers of ``net`` in channels_last format, in place.

    ``Module.to(memory_format=...)`` refuses modules with parameters of other ranks (StyleGAN2's 5-D
    modulated-convolution weights), so only the 4-D tensors (convolution kernels) are converted.
    """
    for tensor in list(net.parameters()) + list(net.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)


def fold_batch_norm(conv, bn, group=1):
    """Fold eval-mode ``bn`` into ``conv`` in place: ``bn(conv(x)) == conv'(x)``.

    Args:
        conv (nn.Conv2d): The convolution whose output ``bn`` normalises.
        bn (nn.BatchNorm2d): Its BatchNorm, with running statistics.
        group (int): Conv output channels per BatchNorm channel (r^2 when a PixelShuffle(r) sits between:
            conv channel ``c * r^2 + k`` becomes channel ``c``). Default: 1.
    """
    with torch.no_grad():
        scale = bn.running_var.add(bn.eps).rsqrt()
        shift = -bn.running_mean * scale
        if bn.affine:
            scale, shift = scale * bn.weight, shift * bn.weight + bn.bias
        scale, shift = scale.repeat_interleave(group), shift.repeat_interleave(group)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = shift if conv.bias is None else conv.bias * scale + shift
        conv.bias = nn.Parameter(bias, requires_grad=False)


def _is_eval_batch_norm(module):
    return isinstance(module, nn.BatchNorm2d) and not module.training and module.track_running_stats


def fold_batch_norms(net):
    """Fold every eval-mode BatchNorm that follows a convolution into it (patterns in the module docstring).

    Returns:
        int: Number of BatchNorm layers folded (each replaced by ``nn.Identity``).
    """
    folded = 0
    for module in list(net.modules()):
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for i, (_, conv) in enumerate(children):
                if not isinstance(conv, nn.Conv2d):
                    continue
                following = children[i + 1:i + 3]
                if following and _is_eval_batch_norm(following[0][1]):
                    fold_batch_norm(conv, following[0][1])
                    setattr(module, following[0][0], nn.Identity())
                    folded += 1
                elif (len(following) == 2 and isinstance(following[0][1], nn.PixelShuffle)
                      and _is_eval_batch_norm(following[1][1])):
                    fold_batch_norm(conv, following[1][1], group=following[0][1].upscale_factor**2)
                    setattr(module, following[1][0], nn.Identity())
                    folded += 1
        conv, norm = getattr(module, 'conv2d', None), getattr(module, 'norm', None)  # facexlib ConvLayer
        if (isinstance(conv, nn.Conv2d) and getattr(norm, 'norm_type', None) == 'bn'
                and _is_eval_batch_norm(norm.norm)):
            fold_batch_norm(conv, norm.norm)
            norm.norm = nn.Identity()
            folded += 1
    return folded


def bake_parametrizations(net):
    """Replace parametrized weights (MPCNet's spectral normalisation, ``torch.nn.utils.parametrizations``) by
    their current value: in eval mode spectral norm divides the weight by the same sigma (from the stored
    power-iteration vectors) at every forward, so the quotient is computed once here.

    The value becomes the parametrization's stored tensor and its parametrizations identities. The module
    keeps its (parametrized) class: ``parametrize.remove_parametrizations`` would delete the property from
    a class that deep copies of the network share.

    Returns:
        int: Number of parametrized tensors baked.
    """
    baked = 0
    with torch.no_grad():
        for module in net.modules():
            if not parametrize.is_parametrized(module):
                continue
            for name, parametrizations in module.parametrizations.items():
                if all(isinstance(p, nn.Identity) for p in parametrizations):
                    continue
                value = getattr(module, name).detach().clone()
                for i in range(len(parametrizations)):
                    parametrizations[i] = nn.Identity()
                parametrizations.original.data = value
                baked += 1
    return baked


def fold_weight_scales(net):
    """Multiply the run-time weight scales of equalised-learning-rate layers into their weights, once.

    Returns:
        int: Number of layers changed (their forward then skips the multiplications by 1).
    """
    folded = 0
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (EqualConv2d, EqualLinear, ModulatedConv2d)) and module.scale != 1:
                module.weight.mul_(module.scale)
                module.scale = 1.0
                folded += 1
            if isinstance(module, EqualLinear) and module.lr_mul != 1:
                if module.bias is not None:
                    module.bias.mul_(module.lr_mul)
                module.lr_mul = 1.0
    return folded


def optimize_for_inference(net, channels_last=True, fold=True, compile_net=False):
    """Prepare a trained network for inference only (in place; returns the network to call).

    Args:
        net (nn.Module): The network, weights loaded.
        channels_last (bool): channels_last convolution weights; feed channels_last inputs too. Default: True.
        fold (bool): Bake parametrizations, fold BatchNorm and equalised-learning-rate scales into the weights,
            and swap in the fused StyleGAN2 layers. Default: True.
        compile_net (bool): Return ``torch.compile(net)``. Default: False.

    Returns:
        nn.Module: The prepared network (the compiled wrapper when ``compile_net``).
    """
    net.eval()
    if fold:
        bake_parametrizations(net)
        fold_batch_norms(net)
        fold_weight_scales(net)
        fuse_layers(net)
    net.requires_grad_(False)
    if channels_last:
        to_channels_last(net)
    return torch.compile(net) if compile_net else net
