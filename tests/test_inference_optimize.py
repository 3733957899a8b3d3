"""The optimised inference path (``facesr_arch/archs/optimize.py``, ``archs/fused_layers.py``) computes the
trained networks' function: every method's and baseline's tiny network (BatchNorm statistics and noise strengths
made non-trivial) gives the same fp32 output within 1e-4 before and after, at batch 1 (modulation folded into
the weights where the map is larger than the weight) and 2 (modulated activations); each fused layer matches its
trained layer in both forms; the inference script and the test pipeline run it by default."""
import copy

import pytest
import torch
from torch import nn

from facesr_arch.archs import codeformer_arch
from facesr_arch.archs.gcfsr_arch import FeatureModulatedStyleConv
from facesr_arch.archs.stylegan2_arch import ConvLayer, NoiseInjection, StyleConv, ToRGB
from facesr_arch.archs import fused_layers
from facesr_arch.archs.optimize import (bake_parametrizations, fold_batch_norms, fold_weight_scales,
                                      optimize_for_inference, to_channels_last)
from facesr_arch.benchmark import configs as benchmark_configs, models as benchmark_models

TOLERANCE = 1e-4
METHODS = ['CFGPFSSR', 'GCFSR', 'MPCNet', 'PVFR', 'WNet', 'FaceGFPGAN', 'FaceGPEN', 'FaceCodeFormer']
STYLEGAN2_BASED = {'CFGPFSSR', 'GCFSR', 'MPCNet', 'PVFR', 'FaceGFPGAN', 'FaceGPEN'}
FUSED = STYLEGAN2_BASED | {'FaceCodeFormer'}  # CodeFormer: its up-sampling convolutions


def randomise_statistics(net):
    """Trained-looking BatchNorm statistics / affine parameters and noise strengths (fresh ones are identities)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.running_mean.copy_(torch.rand(c, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(c, generator=generator) - 0.5)
            elif isinstance(module, NoiseInjection):
                module.weight.fill_(0.1)


def outputs(method, net, batch=2):
    """The network's output on fixed inputs, with the same noise draws each call."""
    torch.manual_seed(0)
    forward = benchmark_models.method_forward_factory(method, net, torch.device('cpu'))(batch)
    torch.manual_seed(1)
    with torch.no_grad():
        return forward()


@pytest.mark.parametrize('method', METHODS)
def test_optimised_network_matches_trained_one(method):
    torch.manual_seed(0)
    net = benchmark_models.build_generator(benchmark_configs.method_options(method, 'tiny')['network_g']).eval()
    randomise_statistics(net)
    expected, expected_single = outputs(method, net), outputs(method, net, batch=1)
    optimised = copy.deepcopy(net)
    bn_before = sum(isinstance(m, nn.BatchNorm2d) for m in optimised.modules())
    baked = bake_parametrizations(optimised)
    folded_bn = fold_batch_norms(optimised)
    folded_scales = fold_weight_scales(optimised)
    optimize_for_inference(optimised)  # fused layers, channels_last; nothing left to fold
    assert fold_batch_norms(optimised) == 0 and fold_weight_scales(optimised) == 0
    assert fused_layers.fuse_layers(optimised) == 0  # every StyleGAN2 layer already in its inference form
    assert bake_parametrizations(optimised) == 0 and (baked > 0) == (method == 'MPCNet')  # spectral norm (3.4)
    # W-Net has up-sampling BatchNorm (eq. 14), CFGPFSSR / MPCNet parsers are facexlib-style conv + BN
    assert (folded_bn > 0) == (method in ('WNet', 'CFGPFSSR', 'MPCNet'))
    assert (folded_scales > 0) == (method in STYLEGAN2_BASED)
    fused = [m for m in optimised.modules() if type(m).__module__ == fused_layers.__name__]
    assert bool(fused) == (method in FUSED)
    assert not any(isinstance(m, (StyleConv, ToRGB, FeatureModulatedStyleConv)) for m in optimised.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in optimised.modules()) == bn_before - folded_bn
    for batch, reference in ((2, expected), (1, expected_single)):
        got = outputs(method, optimised, batch)
        assert got.shape == reference.shape
        assert torch.allclose(got, reference, atol=TOLERANCE), (batch, (got - reference).abs().max())
    assert torch.equal(outputs(method, net), expected)  # the original (sharing parametrized classes) unchanged


def _layer_outputs(layer, args, channels_last):
    torch.manual_seed(3)
    if channels_last:
        args = [a.contiguous(memory_format=torch.channels_last) if torch.is_tensor(a) and a.dim() == 4 else a
                for a in args]
    with torch.no_grad():
        return layer(*args)


@pytest.mark.parametrize('kind', ['conv', 'upsample', 'bilinear', 'concat', 'feature', 'to_rgb', 'to_rgb_bilinear',
                                  'conv_layer', 'conv_layer_down', 'nearest_upsample'])
@pytest.mark.parametrize('batch,size', [(1, 16), (1, 2), (3, 8)])  # weight folded (map > weight) / activations
@pytest.mark.parametrize('channels_last', [False, True])
def test_fused_layer_matches_trained_layer(kind, batch, size, channels_last):
    """Each inference form computes its trained layer, noise drawn at the same point of the random stream."""
    torch.manual_seed(0)
    c_in, c_out, styles = 4, 6, 8
    x, style = torch.randn(batch, c_in, size, size), torch.randn(batch, styles)
    if kind in ('conv', 'upsample', 'bilinear', 'concat'):
        layer = StyleConv(c_in, c_out, 3, styles, sample_mode='upsample' if kind != 'conv' else None,
                          resample='bilinear' if kind == 'bilinear' else 'fir', concat_feature=kind == 'concat')
        args = [x, style]
        if kind == 'concat':
            args.append(torch.randn(batch, c_out, 2 * size, 2 * size))
    elif kind == 'feature':
        layer = FeatureModulatedStyleConv(c_in, styles, (1, 3, 3, 1), positive_scales=False)
        args = [x, style, torch.randn(batch, c_in, size, size), torch.randn(batch, c_in), torch.randn(batch, c_in)]
    elif kind.startswith('to_rgb'):
        layer = ToRGB(c_in, styles, resample='bilinear' if kind.endswith('bilinear') else 'fir')
        args = [x, style, torch.randn(batch, 3, size // 2 or 1, size // 2 or 1)]
    elif kind == 'nearest_upsample':
        layer = codeformer_arch.Upsample(c_in)
    else:
        layer = ConvLayer(c_in, c_out, 3, downsample=kind.endswith('down'))
    if kind.startswith('conv_layer') or kind == 'nearest_upsample':
        args = [x]
    with torch.no_grad():
        for p in layer.parameters():  # non-trivial biases, noise strengths, styles
            p.add_(torch.rand_like(p) * 0.5)
    layer.eval()
    expected = _layer_outputs(layer, args, False)
    holder = nn.Sequential(layer)
    assert fused_layers.fuse_layers(holder) == 1
    if channels_last:
        to_channels_last(holder)
    got = _layer_outputs(holder[0], args, channels_last)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=TOLERANCE), (got - expected).abs().max()


def test_pixel_shuffle_batch_norm_fold_maps_channels():
    """conv (4C) -> PixelShuffle(2) -> BatchNorm(C): conv channel 4c + k belongs to BatchNorm channel c."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.PixelShuffle(2), nn.BatchNorm2d(2)).eval()
    randomise_statistics(block)
    x = torch.randn(2, 3, 5, 5)
    expected = block(x)
    assert fold_batch_norms(block) == 1 and isinstance(block[2], nn.Identity)
    assert torch.allclose(block(x), expected, atol=1e-5)


def test_training_mode_batch_norm_is_not_folded():
    block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))  # training mode: batch statistics
    assert fold_batch_norms(block) == 0 and isinstance(block[1], nn.BatchNorm2d)


def test_test_pipeline_uses_optimised_path_once(monkeypatch):
    """FaceBaseModel.inference_net optimises in the test pipeline only, once, unless val.optimize_inference
    is false."""
    from facesr_arch.models import base
    calls = []
    monkeypatch.setattr(base, 'optimize_for_inference', lambda net: calls.append(net) or net)
    net = nn.Conv2d(3, 3, 1)

    class Model:
        inference_net = base.FaceBaseModel.inference_net
        get_bare_model = staticmethod(lambda n: n)

        def __init__(self, is_train, val):
            self.is_train, self.net_g, self.opt = is_train, net, {'val': val}

    tested = Model(False, {})
    assert tested.inference_net() is net and tested.inference_net() is net and calls == [net]
    assert Model(True, {}).inference_net() is net and len(calls) == 1
    assert Model(False, {'optimize_inference': False}).inference_net() is net and len(calls) == 1
