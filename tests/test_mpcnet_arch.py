"""MPCNet architecture: paper-size counts, shapes, noise-free prior, spectral norm placement, APFF eq. 7,
Table 1 ablations, pretrained priors through the real loading code."""
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import facesr_arch  # noqa: F401  (before basicsr)
from basicsr.utils.registry import ARCH_REGISTRY
from facesr_arch.archs.mpcnet_arch import APFFBlock, MPCNet, MPCNetDiscriminator, apff_fusion
from facesr_arch.archs.parsing_arch import FaceParseNet
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator
from facesr_arch.toolkit.checkpoints import MissingWeightsError

TINY_PARSER = dict(base_channels=4, channel_range=(4, 8), num_res_blocks=1)
TINY = dict(num_style_feat=16, narrow=1 / 32, gan_num_mlp=2, num_latent_mlp=2, num_rcab=1, parser_opt=TINY_PARSER)
ABLATIONS = {
    'paper': {},
    'woGAN': dict(use_gan_prior=False, use_adain=False),
    'woParsing': dict(use_parsing_prior=False, use_sft=False),
    'woAdaIN': dict(use_adain=False),
    'woSFT': dict(use_sft=False),
}


def num_params(net, trainable=False):
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable)


def tiny(out_size=32, **kwargs):
    torch.manual_seed(0)
    return MPCNet(out_size, **{**TINY, **kwargs})


def test_paper_size_and_large_parameter_counts():
    with torch.device('meta'):  # counts only: no memory, no initialisation time
        net = ARCH_REGISTRY.get('MPCNet')(512)  # the paper size: channel_multiplier 1, narrow 0.5
        large = ARCH_REGISTRY.get('MPCNet')(512, channel_multiplier=2, narrow=1)  # config-f width
        disc = ARCH_REGISTRY.get('MPCNetDiscriminator')(512)
    for model in (net, large):
        assert len(model.apff_blocks) == 7 and model.decoder_resolutions == [8, 16, 32, 64, 128, 256, 512]
        assert num_params(model.parsing_prior) == 31_926_035  # the same parser in both
    assert [net.to_rgb.in_channels, net.apff_blocks[0].conv_s2.in_channels] == [16, 256]
    assert num_params(net.gan_prior) == 8_764_808  # noise-free StyleGAN2 512 at that width
    assert num_params(net) == 78_447_724
    assert num_params(net, trainable=True) == 37_756_881  # priors frozen
    assert [large.to_rgb.in_channels, large.apff_blocks[0].conv_s2.in_channels] == [64, 512]
    assert num_params(large.gan_prior) == 30_276_568  # config-f 512 generator minus its 15 noise strengths
    assert num_params(large) == 213_111_270
    assert num_params(large, trainable=True) == 150_908_667
    assert num_params(disc) == 19_542_657


def test_shapes_at_512_and_tiny_sizes_with_bicubic_resize():
    narrow = MPCNet(512, num_style_feat=16, channel_multiplier=2, narrow=1 / 32, gan_num_mlp=1, num_latent_mlp=1,
                    num_rcab=1,
                    parser_opt=dict(base_channels=2, channel_range=(2, 4), num_res_blocks=1)).eval()
    with torch.no_grad():
        assert narrow(torch.rand(1, 3, 512, 512) * 2 - 1).shape == (1, 3, 512, 512)
        assert narrow(torch.rand(1, 3, 128, 128)).shape == (1, 3, 512, 512)  # resized first (3.2.1)
    net = tiny()
    out = net(torch.randn(2, 3, 24, 24))
    assert out.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match='power of two'):
        MPCNet(48)


def test_gan_prior_is_noise_free_and_restoration_deterministic_in_eval():
    net = tiny().eval()
    assert net.gan_prior.noise_mode == 'none'
    assert not any('noise' in name for name, _ in net.gan_prior.named_parameters())
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_spectral_norm_on_every_trained_conv_and_discriminator_conv_only():
    net = tiny()
    priors = {id(m) for prior in (net.gan_prior, net.parsing_prior) for m in prior.modules()}
    trained_convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and id(m) not in priors]
    assert len(trained_convs) > 20
    assert all(parametrize.is_parametrized(m, 'weight') for m in trained_convs)
    assert not any(parametrize.is_parametrized(m) for prior in (net.gan_prior, net.parsing_prior)
                   for m in prior.modules())  # pretrained priors keep their weights
    disc = MPCNetDiscriminator(32, num_feat=4, max_channels=16)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(parametrize.is_parametrized(m, 'weight') for m in convs)
    assert disc(torch.randn(3, 3, 32, 32)).shape == (3, 1)
    plain = tiny(use_spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_apff_equation_7_against_hand_computation():
    g2 = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    s2 = torch.tensor([0.0, 1.0, -1.0, 2.0]).view(1, 4, 1, 1)
    guide = torch.tensor([0.0, 1.0, 0.0, 3.0]).view(1, 4, 1, 1)
    # source axis: channel k pairs with channel k + 2; softmax over each pair
    w0 = 1 / (1 + torch.exp(torch.tensor(0.0 - 0.0)))  # pair (0, 0) -> 0.5, 0.5
    w1 = 1 / (1 + torch.exp(torch.tensor(3.0 - 1.0)))  # pair (1, 3) -> e^1 / (e^1 + e^3)
    gate = torch.tensor([w0, w1, 1 - w0, 1 - w1]).view(1, 4, 1, 1)
    expected = (g2 - s2) * gate + s2  # eq. 7
    assert torch.allclose(apff_fusion(g2, s2, guide, 'source'), expected)
    assert torch.allclose(expected.flatten(), torch.tensor([0.5, 1.0 + 1 / (1 + 2.718281828**2), 1.0,
                                                            2.0 + 2 * (1 - 1 / (1 + 2.718281828**2))]), atol=1e-5)
    e = torch.exp(guide.flatten())
    channel_gate = (e / e.sum()).view(1, 4, 1, 1)
    assert torch.allclose(apff_fusion(g2, s2, guide, 'channel'), (g2 - s2) * channel_gate + s2)
    with pytest.raises(ValueError, match='softmax_axis'):
        apff_fusion(g2, s2, guide, 'spatial')


def test_apff_block_guide_is_sft_of_concat():
    torch.manual_seed(0)
    block = APFFBlock(8, 3, num_rcab=1).eval()
    spatial, gan, parse = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4), torch.randn(1, 3, 4, 4)
    refined = block.rcabs(spatial)
    aligned = (gan - gan.mean((2, 3), keepdim=True)) / gan.var((2, 3), keepdim=True, unbiased=False).add(1e-5).sqrt()
    aligned = aligned * refined.var((2, 3), keepdim=True, unbiased=False).add(1e-5).sqrt() + refined.mean((2, 3),
                                                                                                     keepdim=True)
    alpha, beta = block.sft.predict(parse)
    guide = alpha * torch.cat([block.conv_g1(aligned), block.conv_s1(refined)], 1) + beta  # eq. 4-6
    expected = apff_fusion(block.conv_g2(aligned), block.conv_s2(refined), guide)
    assert torch.allclose(block(spatial, gan, parse), expected, atol=1e-5)


@pytest.mark.parametrize('name', sorted(ABLATIONS))
def test_ablations_build_and_train(name):
    net = tiny(**ABLATIONS[name])
    assert (net.gan_prior is not None) == ABLATIONS[name].get('use_gan_prior', True)
    assert (net.parsing_prior is not None) == ABLATIONS[name].get('use_parsing_prior', True)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    before = (net(x) - y).abs().mean().item()
    for _ in range(3):
        optimizer.zero_grad()
        loss = (net(x) - y).abs().mean()
        loss.backward()
        optimizer.step()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)  # no dead branch
    assert (net(x) - y).abs().mean().item() < before


def test_invalid_ablation_combinations():
    with pytest.raises(ValueError, match='use_adain needs the GAN prior'):
        tiny(use_gan_prior=False)
    with pytest.raises(ValueError, match='use_sft needs the parsing prior'):
        tiny(use_parsing_prior=False)
    with pytest.raises(ValueError, match='min_feat_size=4'):
        tiny(parser_opt=dict(TINY_PARSER, min_feat_size=8))


def test_pretrained_priors_load_through_the_weight_loader(tmp_path):
    torch.manual_seed(1)
    gan = FaceStyleGAN2Generator(32, 16, 2, 1, 1 / 32, noise_mode='none')  # pretrained noise-free (3.2.2)
    parser = FaceParseNet(32, **TINY_PARSER)
    torch.save({'params_ema': gan.state_dict()}, tmp_path / 'gan.pth')
    torch.save({'params': parser.state_dict()}, tmp_path / 'parser.pth')
    net = tiny(gan_prior_path=str(tmp_path / 'gan.pth'), parsing_prior_path=str(tmp_path / 'parser.pth'))
    for prior, source in ((net.gan_prior, gan), (net.parsing_prior, parser)):
        for (name, value), (_, ref) in zip(prior.state_dict().items(), source.state_dict().items()):
            assert torch.equal(value, ref), name
        assert not any(p.requires_grad for p in prior.parameters())
    net.train()
    assert not net.gan_prior.training and not net.parsing_prior.training and net.apff_blocks.training
    with pytest.raises(MissingWeightsError, match='MPCNet StyleGAN2 prior'):
        tiny(gan_prior_path=str(tmp_path / 'missing.pth'))
    with pytest.raises(MissingWeightsError, match='MPCNet parsing prior'):
        tiny(parsing_prior_path=str(tmp_path / 'missing.pth'))


def test_a_prior_trained_with_noise_needs_drop_prior_noise(tmp_path):
    torch.manual_seed(2)
    noisy = FaceStyleGAN2Generator(32, 16, 2, 1, 1 / 32, noise_mode='random')  # e.g. a converted public prior
    torch.save({'params_ema': noisy.state_dict()}, tmp_path / 'noisy.pth')
    with pytest.raises(ValueError, match='drop_prior_noise'):
        tiny(gan_prior_path=str(tmp_path / 'noisy.pth'))
    net = tiny(gan_prior_path=str(tmp_path / 'noisy.pth'), drop_prior_noise=True)
    kept = {k: v for k, v in noisy.state_dict().items() if not k.endswith('.noise.weight')}
    assert len(kept) < len(noisy.state_dict())  # exactly the noise strengths are dropped
    assert net.gan_prior.state_dict().keys() == kept.keys()
    assert all(torch.equal(net.gan_prior.state_dict()[k], v) for k, v in kept.items())
