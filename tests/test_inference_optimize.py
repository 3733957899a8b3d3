"""The optimised inference path (``facesr_arch/archs/optimize.py``) computes the trained networks' function:
every method's tiny network (BatchNorm statistics and noise strengths made non-trivial) gives the same fp32
output within 1e-4 before and after; the inference script and the test pipeline run it by default."""
import copy

import pytest
import torch
from torch import nn

from facesr_arch.archs.stylegan2_arch import NoiseInjection
from facesr_arch.archs.optimize import (bake_parametrizations, fold_batch_norms, fold_weight_scales,
                                           optimize_for_inference)
from facesr_arch.benchmark import models as benchmark_models

TOLERANCE = 1e-4
METHODS = ['CFGPFSSR', 'GCFSR', 'MPCNet', 'PVFR', 'WNet']


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
    net = benchmark_models.build_generator(benchmark_models.method_options(method, 'tiny')['network_g']).eval()
    randomise_statistics(net)
    expected = outputs(method, net)
    optimised = copy.deepcopy(net)
    bn_before = sum(isinstance(m, nn.BatchNorm2d) for m in optimised.modules())
    baked = bake_parametrizations(optimised)
    folded_bn = fold_batch_norms(optimised)
    folded_scales = fold_weight_scales(optimised)
    optimize_for_inference(optimised)  # channels_last; nothing left to fold
    assert fold_batch_norms(optimised) == 0 and fold_weight_scales(optimised) == 0
    assert bake_parametrizations(optimised) == 0 and (baked > 0) == (method == 'MPCNet')  # spectral norm (3.4)
    # W-Net has up-sampling BatchNorm (eq. 14), CFGPFSSR / MPCNet parsers are facexlib-style conv + BN
    assert (folded_bn > 0) == (method in ('WNet', 'CFGPFSSR', 'MPCNet'))
    assert (folded_scales > 0) == (method != 'WNet')  # the four StyleGAN2-based methods
    assert sum(isinstance(m, nn.BatchNorm2d) for m in optimised.modules()) == bn_before - folded_bn
    got = outputs(method, optimised)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=TOLERANCE), (got - expected).abs().max()
    assert torch.equal(outputs(method, net), expected)  # the original (sharing parametrized classes) unchanged


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
