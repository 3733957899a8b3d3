"""scripts/convert_weights.py: tiny checkpoints in each public layout convert, load strictly and compute the same
(GCFSR: tests/test_gcfsr_official.py)."""
import re

import pytest
import torch
from torch.nn import functional as F

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Discriminator, FaceStyleGAN2Generator, ModulatedConv2d
from facesr_arch.archs.vgg_arch import FaceVGGFeatureExtractor
from facesr_arch.toolkit.checkpoints import read_state_dict
from helpers import run_script
from facesr_arch.archs.converters import CONVERTERS, convert_file

KERNEL = torch.tensor([[1., 3, 3, 1]]).T @ torch.tensor([[1., 3, 3, 1]]) / 64


def tiny_generator(**kwargs):
    torch.manual_seed(0)
    return FaceStyleGAN2Generator(32, num_style_feat=16, num_mlp=2, narrow=1 / 32, **kwargs).eval()


def to_rosinality(state):
    """Our generator names written the way rosinality's Generator names them (plus its buffers)."""
    renames = [(r'^style_mlp\.', 'style.'), (r'^constant_input\.weight$', 'input.input'),
               (r'^style_conv1\.modulated_conv\.', 'conv1.conv.'), (r'^style_conv1\.', 'conv1.'),
               (r'^to_rgb1\.modulated_conv\.', 'to_rgb1.conv.'),
               (r'^style_convs\.(\d+)\.modulated_conv\.', r'convs.\1.conv.'), (r'^style_convs\.', 'convs.'),
               (r'^to_rgbs\.(\d+)\.modulated_conv\.', r'to_rgbs.\1.conv.')]
    out = {}
    for key, value in state.items():
        for pattern, replacement in renames:
            if re.match(pattern, key):
                key = re.sub(pattern, replacement, key)
                break
        out[key] = value
    out.update({'convs.0.conv.blur.kernel': KERNEL * 4, 'to_rgbs.0.upsample.kernel': KERNEL * 4,
                'noises.noise_0': torch.randn(1, 1, 4, 4)})
    return out


def to_basicsr(state):
    """Our names -> BasicSR fused StyleGAN2Generator (noise strength in ``<conv>.weight``) plus buffers."""
    out = {re.sub(r'\.noise\.weight$', '.weight', k): v for k, v in state.items()}
    out.update({'style_convs.0.modulated_conv.smooth.kernel': KERNEL, 'noises.noise0': torch.randn(1, 1, 4, 4)})
    return out


def outputs(net, **kwargs):
    torch.manual_seed(1)
    z = torch.randn(2, 16)
    noise = [torch.randn(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)] if net.noise_mode == 'random' else None
    return net(z, noise=noise, **kwargs)


@pytest.mark.parametrize('source,make,key', [('stylegan2_rosinality', to_rosinality, 'g_ema'),
                                             ('stylegan2_basicsr', to_basicsr, 'params_ema')])
def test_stylegan2_generators(tmp_path, source, make, key):
    reference = tiny_generator()
    for conv in [reference.style_conv1, *reference.style_convs]:
        torch.nn.init.constant_(conv.noise.weight, 0.3)
    src, dst = tmp_path / 'src.pt', tmp_path / 'dst.pth'
    torch.save({key: make(reference.state_dict()), 'other': {}}, src)
    run_script('convert_weights.py', [source, str(src), str(dst)], cwd=tmp_path)
    loaded = tiny_generator()
    loaded.load_state_dict(read_state_dict(str(dst), 'test', ''), strict=True)
    assert torch.equal(outputs(loaded), outputs(reference))


def to_gfpgan_clean(net):
    """A random checkpoint in GFPGAN's ``StyleGAN2GeneratorClean`` layout with the structure of ``net``.

    Clean names: mapping ``nn.Linear`` at ``style_mlp.1, 3, ...`` (leaky ReLUs between), plain ``modulation``
    linears, modulated-conv weights stored divided by sqrt(fan_in), noise strength ``<conv>.weight`` and bias
    ``<conv>.bias`` (1, c, 1, 1) on the style conv, stored ``noises.noise{i}``.
    """
    torch.manual_seed(2)
    state = {}
    for key, value in net.state_dict().items():
        if m := re.match(r'^style_mlp\.(\d+)\.(weight|bias)$', key):
            key = f'style_mlp.{2 * int(m.group(1)) - 1}.{m.group(2)}'
            value = torch.randn_like(value) / (value.shape[1]**0.5 if value.ndim == 2 else 10)
        elif key.endswith('modulation.weight'):
            value = torch.randn_like(value) / value.shape[1]**0.5
        elif key.endswith('modulation.bias'):
            value = 1 + 0.1 * torch.randn_like(value)
        elif key.endswith('modulated_conv.weight'):
            value = torch.randn_like(value) / value[0, 0].numel()**0.5
        elif key.endswith('.noise.weight'):
            key, value = key.replace('.noise.weight', '.weight'), torch.full_like(value, 0.3)
        elif key.endswith('.activate.bias'):
            key, value = key.replace('.activate.bias', '.bias'), 0.1 * torch.randn(1, value.numel(), 1, 1)
        else:  # constant input, ToRGB biases
            value = torch.randn_like(value)
        state[key] = value
    state['noises.noise0'] = torch.randn(1, 1, 4, 4)
    return state


def clean_forward(state, z, noise, num_mlp):
    """GFPGAN's clean StyleGAN2 synthesis from its published math, one style code for every layer.

    Pixel-norm, then ``num_mlp`` (linear, leaky ReLU 0.2); a modulated conv modulates the stored weight by
    ``modulation(w)``, demodulates (style convs), bilinearly upsamples its input 2x first (``upsample``) and
    convolves each sample; a style conv is ``lrelu(sqrt(2) conv + weight * noise + bias)``; ToRGB adds its
    bias and the bilinearly upsampled skip.
    """
    w = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(num_mlp):
        w = F.leaky_relu(F.linear(w, state[f'style_mlp.{2 * i + 1}.weight'], state[f'style_mlp.{2 * i + 1}.bias']),
                         0.2)

    def up2(x):
        return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)

    def modulated_conv(prefix, x, demodulate, upsample):
        style = F.linear(w, state[f'{prefix}.modulated_conv.modulation.weight'],
                         state[f'{prefix}.modulated_conv.modulation.bias'])
        weight = state[f'{prefix}.modulated_conv.weight'] * style[:, None, :, None, None]
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
        x = up2(x) if upsample else x
        return torch.cat([F.conv2d(x[i:i + 1], weight[i], padding=weight.shape[-1] // 2) for i in range(len(x))])

    def style_conv(prefix, x, layer_noise, upsample=False):
        out = modulated_conv(prefix, x, True, upsample) * 2**0.5
        return F.leaky_relu(out + state[f'{prefix}.weight'] * layer_noise + state[f'{prefix}.bias'], 0.2)

    def to_rgb(prefix, x, skip=None):
        out = modulated_conv(prefix, x, False, False) + state[f'{prefix}.bias']
        return out if skip is None else out + up2(skip)

    out = style_conv('style_conv1', state['constant_input.weight'].repeat(len(z), 1, 1, 1), noise[0])
    skip = to_rgb('to_rgb1', out)
    for k in range(len(noise) // 2):
        out = style_conv(f'style_convs.{2 * k}', out, noise[2 * k + 1], upsample=True)
        out = style_conv(f'style_convs.{2 * k + 1}', out, noise[2 * k + 2])
        skip = to_rgb(f'to_rgbs.{k}', out, skip)
    return skip


def test_stylegan2_gfpgan_clean(tmp_path):
    """A GFPGANv1Clean-style file (decoder under ``stylegan_decoder.``) converts, loads strictly, computes the same."""
    clean = to_gfpgan_clean(tiny_generator(resample='bilinear'))
    gfpgan = {f'stylegan_decoder.{k}': v for k, v in clean.items()}
    gfpgan.update({'conv_body_first.weight': torch.randn(4, 3, 1, 1), 'condition_scale.0.0.bias': torch.randn(4)})
    torch.save({'params_ema': gfpgan}, tmp_path / 'GFPGANv1.4.pth')
    run_script('convert_weights.py', ['stylegan2_gfpgan_clean', str(tmp_path / 'GFPGANv1.4.pth'),
                                      str(tmp_path / 'ours.pth')], cwd=tmp_path)
    loaded = FaceStyleGAN2Generator(32, num_style_feat=16, num_mlp=2, narrow=1 / 32, resample='bilinear').eval()
    loaded.load_state_dict(read_state_dict(str(tmp_path / 'ours.pth'), 'test', ''), strict=True)
    torch.manual_seed(1)
    noise = [torch.randn(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]
    # batch 2 runs the modulated-activations formulation everywhere, batch 1 the grouped one at 16 and 32 px
    for z in (torch.randn(2, 16), torch.randn(1, 16)):
        with torch.no_grad():
            expected = clean_forward(clean, z, noise, num_mlp=2)
            assert torch.allclose(loaded(z, noise=noise), expected, atol=1e-5, rtol=1e-4)
    fir = FaceStyleGAN2Generator(32, num_style_feat=16, num_mlp=2, narrow=1 / 32).eval()
    fir.load_state_dict(loaded.state_dict(), strict=True)  # same parameters, different up-sampling
    assert not torch.allclose(fir(z, noise=noise), expected, atol=1e-3)


@pytest.mark.parametrize('sample_mode', ['upsample', 'downsample'])
def test_bilinear_modulated_conv_formulations_agree(sample_mode):
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, 3, 8, sample_mode=sample_mode, resample='bilinear')
    assert not hasattr(conv, 'smooth')
    x, style = torch.randn(2, 6, 8, 8), conv.modulation(torch.randn(2, 8))
    grouped = conv.forward_grouped(x, style)
    size = 16 if sample_mode == 'upsample' else 4
    assert grouped.shape == (2, 5, size, size)
    assert torch.allclose(conv.forward_modulated_activations(x, style), grouped, atol=1e-5)
    with pytest.raises(ValueError, match='resample'):
        ModulatedConv2d(6, 5, 3, 8, resample='nearest')


def test_gpen_generator_and_discriminators(tmp_path):
    reference = tiny_generator(noise_mode='concat')
    for conv in [reference.style_conv1, *reference.style_convs]:
        torch.nn.init.constant_(conv.noise.weight, 0.7)
    gpen = {f'generator.{k}': v for k, v in to_rosinality(reference.state_dict()).items()}
    gpen.update({'ecd0.0.weight': torch.randn(4, 3, 1, 1), 'final_linear.weight': torch.randn(16, 64)})
    torch.save(gpen, tmp_path / 'gpen.pth')
    state = convert_file('gpen_g', str(tmp_path / 'gpen.pth'), str(tmp_path / 'g.pth'))
    loaded = tiny_generator(noise_mode='concat')
    loaded.load_state_dict(state, strict=True)
    feats = {res: torch.randn(2, reference.channels[res], res, res) for res in (4, 8, 16, 32)}
    assert torch.equal(outputs(loaded, concat_features=feats), outputs(reference, concat_features=feats))

    torch.manual_seed(0)
    disc = FaceStyleGAN2Discriminator(32, narrow=1 / 32).eval()
    rosinality_d = {re.sub(r'^conv_body\.', 'convs.', k): v for k, v in disc.state_dict().items()}
    rosinality_d['convs.1.conv2.0.kernel'] = KERNEL
    for source in ('gpen_d', 'stylegan2_rosinality_d', 'stylegan2_basicsr_d'):
        payload = rosinality_d if source != 'stylegan2_basicsr_d' else dict(disc.state_dict(), **{
            'conv_body.1.skip.0.kernel': KERNEL})
        torch.save({'d': payload} if source == 'stylegan2_rosinality_d' else payload, tmp_path / 'd.pth')
        converted = convert_file(source, str(tmp_path / 'd.pth'), str(tmp_path / f'{source}.pth'))
        other = FaceStyleGAN2Discriminator(32, narrow=1 / 32).eval()
        other.load_state_dict(converted, strict=True)
        images = torch.randn(4, 3, 32, 32)
        assert torch.equal(other(images), disc(images))


def test_arcface_vgg_and_vggface(tmp_path):
    from facesr_arch.archs.arcface_arch import ArcFaceResNet
    net = ArcFaceResNet()
    torch.save({f'module.{k}': v for k, v in net.state_dict().items()}, tmp_path / 'arc.pth')
    ArcFaceResNet().load_state_dict(convert_file('arcface_resnet18', str(tmp_path / 'arc.pth'),
                                                 str(tmp_path / 'arc_out.pth')), strict=True)
    # VGGFace dag names, conv layers + fully connected ones that are dropped
    torch.manual_seed(0)
    ours = FaceVGGFeatureExtractor(['relu5_3'], vgg_type='vggface')
    dag = {f'{name}.{p}': getattr(layer, p) for name, layer in ours.vgg_net.named_children()
           if name.startswith('conv') for p in ('weight', 'bias')}
    dag.update({'fc6.weight': torch.randn(8, 8), 'fc8.bias': torch.randn(8)})
    torch.save(dag, tmp_path / 'vgg_face_dag.pth')
    convert_file('vggface', str(tmp_path / 'vgg_face_dag.pth'), str(tmp_path / 'vggface.pth'))
    loaded = FaceVGGFeatureExtractor(['relu5_3'], vgg_type='vggface', weights_path=str(tmp_path / 'vggface.pth'))
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(loaded(x)['relu5_3'], ours(x)['relu5_3'])
    with pytest.raises(ValueError, match='overwrite'):
        convert_file('facexlib', str(tmp_path / 'arc.pth'), str(tmp_path / 'arc.pth'))
    assert set(CONVERTERS) >= {'torchvision_vgg', 'facexlib', 'gpen_d'}
