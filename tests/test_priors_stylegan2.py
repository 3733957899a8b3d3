"""FaceStyleGAN2Generator: paper-size parameter counts, W / W+, noise modes, SFT / CS-SFT conditions, features."""
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from basicsr.utils.registry import ARCH_REGISTRY
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator


def num_params(net):
    return sum(p.numel() for p in net.parameters())


def tiny(**kwargs):
    torch.manual_seed(0)
    return FaceStyleGAN2Generator(32, num_style_feat=16, num_mlp=2, narrow=1 / 32, **kwargs)


@pytest.mark.parametrize('out_size,channel_multiplier,expected', [
    (512, 1, 24_860_935), (512, 2, 30_276_583), (1024, 1, 24_900_764),
    (1024, 2, 30_370_060),  # = the official config-f FFHQ 1024 generator (rosinality count)
])
def test_paper_size_parameter_counts(out_size, channel_multiplier, expected):
    net = ARCH_REGISTRY.get('FaceStyleGAN2Generator')(out_size, channel_multiplier=channel_multiplier)
    assert num_params(net) == expected
    assert net.num_latent == 2 * (out_size.bit_length() - 1) - 2


def test_noise_free_and_concat_layouts_at_512():
    plain = FaceStyleGAN2Generator(512)
    no_noise = FaceStyleGAN2Generator(512, noise_mode='none')
    assert num_params(plain) - num_params(no_noise) == plain.num_conv_layers  # one strength per conv
    assert not any('noise' in name for name, _ in no_noise.named_parameters())
    gpen = FaceStyleGAN2Generator(512, noise_mode='concat')  # GPEN-BFR-512 layout
    assert num_params(gpen) == 55_821_735
    assert gpen.feature_channels[512] == 2 * gpen.channels[512] == 128


def test_outputs_features_and_latents():
    net = tiny()
    image, features, latents = net(torch.randn(2, 16), return_features=True, return_latents=True)
    assert image.shape == (2, 3, 32, 32)
    assert {res: tuple(f.shape) for res, f in features.items()} == {
        res: (2, net.channels[res], res, res) for res in (4, 8, 16, 32)}
    assert latents.shape == (2, 8, 16)
    image_only, feats_only = net(torch.randn(1, 16), return_features=True)
    assert image_only.shape == (1, 3, 32, 32) and 32 in feats_only


def test_single_w_equals_repeated_w_plus_and_truncation():
    net = tiny(noise_mode='none').eval()
    w = net.map_styles(torch.randn(2, 16))
    same = net(w, input_is_latent=True)
    assert torch.allclose(same, net(w[:, None].repeat(1, net.num_latent, 1), input_is_latent=True), atol=1e-6)
    w_plus = w[:, None].repeat(1, net.num_latent, 1).clone()
    w_plus[:, -1] = torch.randn(16)  # change only the last tRGB code
    assert not torch.allclose(same, net(w_plus, input_is_latent=True))
    mean = net.mean_latent(64)
    centred = net(w, input_is_latent=True, truncation=0.0, truncation_latent=mean)
    assert torch.allclose(centred[0], centred[1], atol=1e-5)  # psi = 0 -> everyone is the mean face
    with pytest.raises(ValueError, match='truncation_latent'):
        net(w, input_is_latent=True, truncation=0.5)
    with pytest.raises(ValueError, match='W\\+'):
        net(torch.randn(2, 3, 16))


def test_random_noise_fixed_noise_and_no_noise():
    net = tiny()
    for conv in [net.style_conv1, *net.style_convs]:
        torch.nn.init.constant_(conv.noise.weight, 0.5)
    z = torch.randn(1, 16)
    assert not torch.allclose(net(z), net(z))  # fresh noise each call
    noise = [torch.randn(1, 1, r, r) for r in [4, 8, 8, 16, 16, 32, 32]]
    assert torch.allclose(net(z, noise=noise), net(z, noise=noise))
    with pytest.raises(ValueError, match='7 tensors'):
        net(z, noise=noise[:3])
    quiet = tiny(noise_mode='none')
    assert torch.allclose(quiet(z), quiet(z))
    with pytest.raises(ValueError, match="noise_mode='none'"):
        quiet(z, noise=noise)


def test_sft_and_cs_sft_conditions_and_start_feature():
    net = tiny(noise_mode='none')
    z = torch.randn(1, 16)
    _, base = net(z, return_features=True)
    # identity SFT at 8 px changes nothing
    ident = {8: (torch.ones(1, 16, 8, 8), torch.zeros(1, 16, 8, 8))}
    assert torch.allclose(net(z, conditions=ident, return_features=True)[1][32], base[32], atol=1e-6)
    # CS-SFT at the last resolution: the leading half of the conv output is untouched
    scale, shift = torch.randn(1, 8, 32, 32), torch.randn(1, 8, 32, 32)
    net_conv_out = {}
    net.style_convs[-2].register_forward_hook(lambda m, i, o: net_conv_out.setdefault('raw', o))
    hooked = net.style_convs[-1].register_forward_hook(lambda m, i, o: net_conv_out.setdefault('in', i[0]))
    net(z, conditions={32: (scale, shift)})
    hooked.remove()
    raw, modulated = net_conv_out['raw'], net_conv_out['in']
    assert torch.equal(modulated[:, :8], raw[:, :8])
    assert torch.allclose(modulated[:, 8:], raw[:, 8:] * scale + shift)
    with pytest.raises(ValueError, match='resolutions'):
        net(z, conditions={64: (scale, shift)})
    start = torch.randn(1, 16, 4, 4)
    assert not torch.allclose(net(z, start_feature=start), net(z))
    with pytest.raises(ValueError, match='start_feature'):
        net(z, start_feature=torch.randn(1, 16, 8, 8))


def test_concat_mode_uses_external_features():
    net = tiny(noise_mode='concat')
    for conv in [net.style_conv1, *net.style_convs]:
        torch.nn.init.constant_(conv.noise.weight, 1.0)
    z = torch.randn(2, 16)
    feats = {res: torch.randn(2, net.channels[res], res, res) for res in (4, 8, 16, 32)}
    image, features = net(z, concat_features=feats, return_features=True)
    assert image.shape == (2, 3, 32, 32)
    assert features[32].shape == (2, 32, 32, 32)
    changed = {**feats, 16: torch.randn(2, net.channels[16], 16, 16)}
    assert not torch.allclose(net(z, concat_features=changed), image)
    with pytest.raises(ValueError, match='concat_features for resolutions \\[32\\]'):
        net(z, concat_features={res: f for res, f in feats.items() if res != 32})
    with pytest.raises(ValueError, match='concat_features given'):
        tiny()(z, concat_features=feats)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match='power of two'):
        FaceStyleGAN2Generator(500)
    with pytest.raises(ValueError, match='noise_mode'):
        FaceStyleGAN2Generator(64, noise_mode='gpen')
