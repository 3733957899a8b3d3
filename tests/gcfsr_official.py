"""Helpers of ``tests/test_gcfsr_official.py`` around the official GCFSR networks
(``facesr_arch/benchmark/official_gcfsr.py``): random official-layout weights and fixed noise."""
import torch

from facesr_arch.benchmark.official_gcfsr import OfficialGCFSR, OfficialStyleConv, official_channels  # noqa: F401


def random_official(out_size, blind=False, narrow=1 / 32, num_style_feat=16, noise_strength=0.0, seed=0):
    """A random official-layout network whose condition MLP yields negative sigmas (where |sigma| matters)."""
    torch.manual_seed(seed)
    net = OfficialGCFSR(out_size, num_style_feat=num_style_feat, narrow=narrow, blind=blind).eval()
    with torch.no_grad():
        for linear in [*net.condition_scale1, *net.condition_scale2]:
            linear.weight.normal_(0, 2)
            linear.bias.normal_(0, 1)
        for conv in [net.style_conv1, *net.style_convs]:
            conv.weight.fill_(noise_strength)
    return net


def noise_maps(net, batch=1, seed=1):
    """Fixed noise for every style conv of an official network, bottom-up: 16 px, then two per level above."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [16] + [2**i for i in range(5, net.log_size + 1) for _ in range(2)]
    return [torch.randn(batch, 1, s, s, generator=generator) for s in sizes]
