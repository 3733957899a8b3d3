"""scripts/convert_weights.py: tiny checkpoints in each public layout convert, load strictly and compute the same."""
import re
import sys

import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.gcfsr_arch import GCFSR
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Discriminator, FaceStyleGAN2Generator
from facesr_arch.archs.vgg_arch import FaceVGGFeatureExtractor
from facesr_arch.utils.weights import load_state_dict
from helpers import REPO, run_script

sys.path.insert(0, f'{REPO}/scripts')
from convert_weights import CONVERTERS, convert_file  # noqa: E402

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
    loaded.load_state_dict(load_state_dict(str(dst), 'test', ''), strict=True)
    assert torch.equal(outputs(loaded), outputs(reference))


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


def test_gcfsr_official_layout(tmp_path):
    torch.manual_seed(0)
    reference = GCFSR(out_size=64, narrow=0.0625, num_style_feat=32).eval()
    official = to_basicsr(reference.state_dict())
    num_levels = len(reference.levels)
    for name in ('condition_scale1', 'condition_scale2'):  # the release's unused size-8 entries
        official[f'{name}.{num_levels}.weight'] = torch.randn(32, 1)
        official[f'{name}.{num_levels}.bias'] = torch.ones(32)
    official[f'condition_shift.{num_levels}.0.weight'] = torch.randn(32, 32, 3, 3)
    torch.save({'params_ema': official}, tmp_path / 'gcfsr.pth')
    state = convert_file('gcfsr', str(tmp_path / 'gcfsr.pth'), str(tmp_path / 'ours.pth'))
    loaded = GCFSR(out_size=64, narrow=0.0625, num_style_feat=32).eval()
    loaded.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    noise = [torch.randn(1, 1, r, r) for r in reference_noise_sizes(reference)]
    assert torch.equal(loaded(x, 0.25, noise=noise), reference(x, 0.25, noise=noise))


def reference_noise_sizes(net):
    sizes = [net.min_feat_size]
    for res in net.levels[::-1][1:]:
        sizes += [res, res]
    return sizes


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
