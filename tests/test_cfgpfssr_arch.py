"""CFGPFSSR architecture: paper-size shapes and counts, Table 3 switches, frozen priors, prior loading."""
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.cfgpfssr_arch import CFGPFSSR
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator
from facesr_arch.toolkit.checkpoints import MissingWeightsError

PAPER_PARSER = {'type': 'FaceParseNet', 'in_size': 512, 'min_feat_size': 32, 'with_image_head': True}
TINY_PARSER = {'type': 'FaceParseNet', 'in_size': 64, 'min_feat_size': 32, 'base_channels': 8,
               'channel_range': [8, 8], 'num_res_blocks': 1}
# 16x at a tiny width: 8 -> 128 px, prior blocks at 4..64 px, encoder f_0 (8 px) and f_1 (4 px, N = 1)
TINY = dict(out_size=128, in_size=8, num_style_feat=16, narrow=1 / 32, num_rrdb_feat=8, num_rrdb_block=1,
            num_rrdb_grow=4, prior_num_mlp=1, parser_opt=TINY_PARSER)
VARIANTS = {  # Table 3 rows and the plain-SFT comparison
    'baseline': dict(use_encoder_features=False, use_parsing=False),
    'CS-SFT_feature': dict(use_encoder_features=True, use_parsing=False),
    'CFGPFSSR': dict(use_encoder_features=True, use_parsing=True),
    'SFT': dict(use_encoder_features=True, use_parsing=True, channel_split=False),
}


def count(net, trainable=False):
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable)


def face_lr(size=8, batch=1):
    """Real-looking LR input: a smooth random face-sized blob in [-1, 1]."""
    torch.manual_seed(0)
    return torch.nn.functional.interpolate(torch.rand(batch, 3, 4, 4), size=size, mode='bilinear') * 2 - 1


# (total, trainable) parameters at the paper configuration (64 -> 1024, config-f prior, ParseNet FPN), per
# decoder reading; the frozen prior (mapping MLP and blocks) and, where used, the parser are the difference
PAPER_COUNTS = {
    'glean': {'baseline': (114_061_391, 83_691_331), 'CS-SFT_feature': (142_379_087, 112_009_027),
              'CFGPFSSR': (167_867_653, 116_194_339), 'SFT': (180_450_533, 128_777_219)},
    'half': {'baseline': (116_850_634, 86_574_051), 'CS-SFT_feature': (145_168_330, 114_891_747),
             'CFGPFSSR': (170_636_640, 119_056_803), 'SFT': (183_210_272, 131_630_435)},
}
# prior blocks and the sizes where D_1.. fuse a prior feature with a pixel shuffle after them
LAYOUT_SIZES = {'glean': ([4, 8, 16, 32, 64, 128, 256, 512, 1024], [128, 256, 512]),
                'half': ([4, 8, 16, 32, 64, 128, 256, 512], [64, 128, 256, 512])}


@pytest.mark.parametrize('layout', sorted(PAPER_COUNTS))
@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_paper_configuration_64_to_1024(variant, layout):
    # the meta device gives exact shapes and counts at full size without the minutes of CPU compute
    with torch.device('meta'):
        net = CFGPFSSR(parser_opt=PAPER_PARSER, decoder_layout=layout, **VARIANTS[variant]).eval()
        out = net(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 3, 1024, 1024)
    assert (count(net), count(net, trainable=True)) == PAPER_COUNTS[layout][variant]
    # block mapping of section 4: E1..E4 down to 4 px; the decoder reading decides the prior's extent
    assert len(net.encoder_blocks) == 4 and (net.block_sizes, net.decoder_sizes) == LAYOUT_SIZES[layout]
    expected = {'baseline': [], 'CS-SFT_feature': [4, 8, 16, 32]}.get(variant, net.block_sizes)
    assert sorted(map(int, net.sft_layers)) == expected


def test_glean_decoder_passes_the_hr_prior_block_to_the_output():
    """'glean': D0 pixel-shuffles f_0 to 2 x in_size and the out_size prior feature enters the output conv, so
    changing the largest prior block changes the image; 'half' never runs a prior block at out_size."""
    torch.manual_seed(0)
    net = CFGPFSSR(**TINY).eval()
    assert isinstance(net.decoder_first[1], torch.nn.PixelShuffle) and net.prior_size == net.out_size
    x = face_lr()
    with torch.no_grad():
        before = net(x)
        net.prior.style_convs[-1].modulated_conv.weight.add_(0.5)  # the out_size block's last conv
        assert not torch.allclose(net(x), before, atol=1e-4)
    half = CFGPFSSR(**TINY, decoder_layout='half')
    assert half.prior_size == TINY['out_size'] // 2 and max(half.block_sizes) == TINY['out_size'] // 2
    with pytest.raises(ValueError, match='decoder_layout'):
        CFGPFSSR(**TINY, decoder_layout='gleam')


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_tiny_variants_build_and_run(variant):
    torch.manual_seed(0)
    net = CFGPFSSR(**TINY, **VARIANTS[variant])
    out = net(face_lr(8, batch=2))
    assert out.shape == (2, 3, 128, 128) and torch.isfinite(out).all()
    modulated = sorted(map(int, net.sft_layers))
    expected = {'baseline': [], 'CS-SFT_feature': [4]}.get(variant, [4, 8, 16, 32, 64, 128])
    assert modulated == expected
    assert (net.parser is not None) == VARIANTS[variant]['use_parsing']
    for res, layer in net.sft_layers.items():
        channels = net.prior.feature_channels[int(res)]
        assert layer.num_modulated == (channels if variant == 'SFT' else channels // 2)


def test_frozen_prior_and_parser_get_no_gradient_while_the_rest_does():
    torch.manual_seed(0)
    net = CFGPFSSR(**TINY).train()
    assert not net.prior.training and not net.parser.training  # BN statistics of the parser stay fixed
    net(face_lr(8, batch=2)).square().mean().backward()
    for name, param in net.named_parameters():
        frozen = name.startswith(('prior.', 'parser.'))
        assert param.requires_grad != frozen, name
        if frozen:
            assert param.grad is None, name
    for part in (net.rrdb, net.encoder_blocks, net.latent_head, net.sft_layers, net.decoder_fusions, net.decoder_out):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_prior_loads_from_a_larger_stylegan2_and_missing_files_are_named(tmp_path):
    torch.manual_seed(1)
    stylegan = FaceStyleGAN2Generator(128, TINY['num_style_feat'], 1, narrow=TINY['narrow'])  # the HR size
    path = tmp_path / 'stylegan2_tiny.pth'
    torch.save({'params_ema': stylegan.state_dict()}, path)
    net = CFGPFSSR(**TINY, prior_path=str(path))
    for key, value in net.prior.state_dict().items():
        assert torch.equal(value, stylegan.state_dict()[key]), key
    with pytest.raises(MissingWeightsError, match='missing_prior.pth'):
        CFGPFSSR(**TINY, prior_path=str(tmp_path / 'missing_prior.pth'))
    smaller = FaceStyleGAN2Generator(32, TINY['num_style_feat'], 1, narrow=TINY['narrow'])
    torch.save(smaller.state_dict(), tmp_path / 'small.pth')
    with pytest.raises(KeyError, match='at least 128 px'):
        CFGPFSSR(**TINY, prior_path=str(tmp_path / 'small.pth'))
    half = CFGPFSSR(**TINY, prior_path=str(path), decoder_layout='half')  # its 128 px block is dropped
    assert all(torch.equal(v, stylegan.state_dict()[k]) for k, v in half.prior.state_dict().items())


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match='parser_opt'):
        CFGPFSSR(**dict(TINY, parser_opt=None))
    with pytest.raises(ValueError, match='powers of two'):
        CFGPFSSR(**dict(TINY, in_size=12))
    with pytest.raises(ValueError, match='8x8 LR faces'):
        CFGPFSSR(**TINY)(face_lr(16))


def test_outputs_deterministic_across_calls_and_builds():
    """Fixed prior noise: the same face gives the same output on every call and from every build of the weights
    (the noise maps are drawn from a fixed seed, whatever the global random state)."""
    torch.manual_seed(0)
    net = CFGPFSSR(**TINY).eval()
    torch.manual_seed(123)
    other = CFGPFSSR(**TINY).eval()
    other.load_state_dict(net.state_dict(), strict=True)  # the noise maps are not part of checkpoints
    x = face_lr(batch=2)
    with torch.no_grad():
        first = net(x)
        torch.manual_seed(7)
        assert torch.equal(net(x), first) and torch.equal(other(x), first)
    assert not any(k.startswith('prior_noise') for k in net.state_dict())
