"""Baselines (GFPGAN, GPEN, CodeFormer): a tiny checkpoint in each upstream release's layout and key names converts
through ``scripts/convert_weights.py``, the plugin's network matches a reference forward written here from the
published layout within 1e-4, and the converted file alone restores real faces through ``scripts/inference.py``
as each upstream inference script would: its 8-bit resize, normalisation and output quantisation, re-written
here, give the same 8-bit faces within one grey level (mean difference below 0.01)."""
import math
import os
import re

import cv2
import numpy as np
import torch
from torch.nn import functional as F

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.gfpgan_arch import FaceGFPGAN
from facesr_arch.inference.loading import build_network, network_config
from facesr_arch.toolkit.checkpoints import NETWORK_KEY
from helpers import run_script
from test_priors_convert import to_gfpgan_clean

ATOL = 1e-4


def leaky(x):
    return F.leaky_relu(x, 0.2)


def up2(x, factor=2.0):
    return F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)


def convert(tmp_path, source, checkpoint):
    """Save ``checkpoint`` as the upstream file, convert it with the CLI; returns (converted file, its content)."""
    src, dst = tmp_path / f'{source}_release.pth', tmp_path / f'{source}.pth'
    torch.save(checkpoint, src)
    run_script('convert_weights.py', [source, str(src), str(dst)], cwd=tmp_path)
    return str(dst), torch.load(dst, weights_only=True)


def upstream_input(path, side, divide_as_tensor=False):
    """An aligned face as the upstream inference scripts feed it: ``cv2.imread`` (8 bits), ``cv2.resize`` of the
    8-bit image (bilinear), BGR -> RGB, / 255 (GFPGAN and CodeFormer divide the numpy array, GPEN the uint8
    tensor), then (x - 0.5) / 0.5."""
    img = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (side, side), interpolation=cv2.INTER_LINEAR)
    rgb = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))
    x = torch.from_numpy(rgb) / 255. if divide_as_tensor else torch.from_numpy(rgb / 255.).float()
    return (x - 0.5) / 0.5


def upstream_output(tensor, truncate=False):
    """A network output (3, h, w) as the upstream scripts write it: BasicSR's ``tensor2img`` (clamp to [-1, 1],
    to [0, 1], x 255, rounded: GFPGAN, CodeFormer) or GPEN's ``tensor2img`` (x 0.5 + 0.5, clip, x 255, truncated)."""
    if truncate:
        rgb = np.clip((tensor * 0.5 + 0.5).numpy(), 0, 1) * 255.0
    else:
        rgb = ((tensor.clamp(-1, 1) + 1) / 2).numpy() * 255.0
        rgb = rgb.round()
    return rgb.astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1]


def restore_real_faces(tmp_path, weights, faces_dir, side, extra=(), upstream=None):
    """The converted file alone (no --arch, no options) restores real faces through the inference CLI; with
    ``upstream`` (a function: input path -> the 8-bit face the upstream script writes), each output equals it within
    one grey level, mean difference below 0.01."""
    out = tmp_path / 'restored'
    proc = run_script('inference.py', ['--weights', weights, '-i', faces_dir, '-o', str(out), '--device', 'cpu',
                                       '--batch-size', '2', '--no-progress', *extra], cwd=tmp_path)
    names = sorted(n for n in os.listdir(out) if n != 'inference_manifest.json')
    assert names == sorted(os.listdir(faces_dir)) and 'Done: 6 image(s)' in proc.stdout
    diffs = []
    for name in names:
        img = cv2.imread(str(out / name))
        assert img.shape == (side, side, 3) and img.std() > 0
        if upstream is not None:
            diffs.append(np.abs(img.astype(int) - upstream(os.path.join(faces_dir, name)).astype(int)))
    if upstream is not None:
        diffs = np.stack(diffs)
        assert diffs.max() <= 1 and diffs.mean() < 0.01, (diffs.max(), diffs.mean())
    return proc


# ----------------------------------------------------------------------------------------------------------- GFPGAN
GFPGAN_TINY = dict(out_size=32, num_style_feat=16, channel_multiplier=2, narrow=1 / 32, num_mlp=2)
# a few names of GFPGANv1Clean's state dict (GFPGAN v1.3 / v1.4 releases) that the layout below must produce
GFPGAN_KEYS = ('conv_body_first.weight', 'conv_body_down.0.conv1.weight', 'conv_body_down.2.skip.weight',
               'final_conv.bias', 'final_linear.weight', 'conv_body_up.0.conv2.bias', 'toRGB.2.weight',
               'condition_scale.1.0.weight', 'condition_shift.2.2.bias', 'stylegan_decoder.style_mlp.3.weight',
               'stylegan_decoder.constant_input.weight', 'stylegan_decoder.style_conv1.weight',
               'stylegan_decoder.style_convs.5.modulated_conv.modulation.bias', 'stylegan_decoder.to_rgbs.2.bias')


def gfpgan_release(net):
    """A random GFPGANv1Clean ``params_ema`` with the structure of ``net`` (a FaceGFPGAN) in upstream names."""
    decoder = to_gfpgan_clean(net.decoder)
    torch.manual_seed(3)
    state = {f'stylegan_decoder.{k}': v for k, v in decoder.items()}
    for key, value in net.state_dict().items():
        if not key.startswith('decoder.'):
            fan_in = value[0].numel() if value.ndim > 1 else 10
            state[re.sub(r'^to_rgbs\.', 'toRGB.', key)] = torch.randn_like(value) / fan_in**0.5
    return state


def clean_decoder(state, codes, noise, conditions):
    """GFPGAN's clean StyleGAN2 decoder (``StyleGAN2GeneratorCSFT``), W+ codes given as w: ``codes[:, i]`` is the
    code of the i-th layer (convs and ToRGBs interleaved); CS-SFT on the trailing half of the channels after the
    first (upsampling) conv of every resolution from 8 px."""
    def modulated_conv(prefix, x, code, demodulate, upsample=False):
        style = F.linear(code, state[f'{prefix}.modulated_conv.modulation.weight'],
                         state[f'{prefix}.modulated_conv.modulation.bias'])
        weight = state[f'{prefix}.modulated_conv.weight'] * style[:, None, :, None, None]
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
        x = up2(x) if upsample else x
        return torch.cat([F.conv2d(x[i:i + 1], weight[i], padding=1 if demodulate else 0) for i in range(len(x))])

    def style_conv(prefix, x, code, layer_noise, upsample=False):
        out = modulated_conv(prefix, x, code, True, upsample) * 2**0.5
        return leaky(out + state[f'{prefix}.weight'] * layer_noise + state[f'{prefix}.bias'])

    def to_rgb(prefix, x, code, skip=None):
        out = modulated_conv(prefix, x, code, False) + state[f'{prefix}.bias']
        return out if skip is None else out + up2(skip)

    out = style_conv('style_conv1', state['constant_input.weight'].repeat(len(codes), 1, 1, 1), codes[:, 0], noise[0])
    skip = to_rgb('to_rgb1', out, codes[:, 1])
    for k in range(len(noise) // 2):
        out = style_conv(f'style_convs.{2 * k}', out, codes[:, 2 * k + 1], noise[2 * k + 1], upsample=True)
        scale, shift = conditions[2 * k], conditions[2 * k + 1]
        half = out.shape[1] // 2
        out = torch.cat([out[:, :half], out[:, half:] * scale + shift], 1)
        out = style_conv(f'style_convs.{2 * k + 1}', out, codes[:, 2 * k + 2], noise[2 * k + 2])
        skip = to_rgb(f'to_rgbs.{k}', out, codes[:, 2 * k + 3], skip)
    return skip


def gfpgan_reference(state, x, noise):
    """GFPGANv1Clean's forward (v1.3 / v1.4 configuration) from its published layout, on upstream key names."""
    def conv(prefix, feat, padding=1):
        return F.conv2d(feat, state[f'{prefix}.weight'], state.get(f'{prefix}.bias'), padding=padding)

    def res_block(prefix, feat, factor):
        out = leaky(conv(f'{prefix}.conv2', up2(leaky(conv(f'{prefix}.conv1', feat)), factor)))
        return out + conv(f'{prefix}.skip', up2(feat, factor), padding=0)

    num_levels = sum(1 for k in state if re.match(r'^conv_body_down\.\d+\.conv1\.weight$', k))
    feat = leaky(conv('conv_body_first', x, padding=0))
    skips = []
    for i in range(num_levels):
        feat = res_block(f'conv_body_down.{i}', feat, 0.5)
        skips.insert(0, feat)
    feat = leaky(conv('final_conv', feat))
    codes = F.linear(feat.flatten(1), state['final_linear.weight'], state['final_linear.bias'])
    codes = codes.view(len(x), 2 * num_levels + 2, -1)  # different_w: one w per decoder layer
    conditions = []
    for i in range(num_levels):
        feat = res_block(f'conv_body_up.{i}', feat + skips[i], 2.0)
        for branch in ('condition_scale', 'condition_shift'):
            conditions.append(conv(f'{branch}.{i}.2', leaky(conv(f'{branch}.{i}.0', feat))))
    decoder = {k[len('stylegan_decoder.'):]: v for k, v in state.items() if k.startswith('stylegan_decoder.')}
    return clean_decoder(decoder, codes, noise, conditions)


def test_gfpgan_release_converts_and_matches_reference(tmp_path):
    torch.manual_seed(0)
    release = gfpgan_release(FaceGFPGAN(**GFPGAN_TINY))
    assert set(GFPGAN_KEYS) <= set(release)
    weights, converted = convert(tmp_path, 'gfpgan', {'params_ema': release})
    assert converted[NETWORK_KEY] == {'type': 'FaceGFPGAN', **GFPGAN_TINY, 'input_is_latent': True,
                                      'different_w': True, 'sft_half': True}
    block, _, _ = network_config(weights=weights)
    net = build_network(block, weights)
    torch.manual_seed(1)
    noise = [torch.randn(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]
    for x in (torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1):  # both modulated-conv forms
        with torch.no_grad():
            expected = gfpgan_reference(release, x, noise)
            assert (net(x, noise=noise) - expected).abs().max() < ATOL
            image, rgbs = net(x, noise=noise, return_rgbs=True)
        assert [r.shape[-1] for r in rgbs] == [8, 16, 32] and torch.equal(image, net(x, noise=noise))


def test_gfpgan_restores_real_faces(tmp_path, ffhq_small_dir):
    torch.manual_seed(0)
    release = gfpgan_release(FaceGFPGAN(**GFPGAN_TINY))
    for key in release:  # no noise injection, so the output does not depend on the random noise drawn
        if re.match(r'^stylegan_decoder\.style_convs?[.\d]*\.weight$', key) and release[key].ndim == 1:
            release[key] = torch.zeros_like(release[key])
    weights, _ = convert(tmp_path, 'gfpgan', {'params_ema': release})
    noise = [torch.zeros(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]

    def upstream(path):  # GFPGANer.enhance(has_aligned=True): 128 px faces resized to the 32 px network
        with torch.no_grad():
            return upstream_output(gfpgan_reference(release, upstream_input(path, 32)[None], noise)[0])
    proc = restore_real_faces(tmp_path, weights, ffhq_small_dir, 32, upstream=upstream)
    assert 'FaceGFPGAN: 6 input(s)' in proc.stdout and 'input 32 px, output 32 px' in proc.stdout
    assert 'FaceGFPGAN: 128 px inputs -> bilinear (8-bit, OpenCV) to 32 px' in proc.stdout


# ------------------------------------------------------------------------------------------------------------- GPEN
GPEN_TINY = dict(out_size=64, num_style_feat=16, num_mlp=2, channel_multiplier=2, narrow=1 / 32)
FIR = torch.tensor([1., 3, 3, 1])
FIR_2D = torch.outer(FIR, FIR) / 64
# names of GPEN's FullGenerator state dict (GPEN-BFR-512.pth) that the layout below must produce
GPEN_KEYS = ('ecd0.0.0.weight', 'ecd0.0.1.bias', 'ecd1.0.0.kernel', 'ecd1.0.1.weight', 'ecd4.0.2.bias',
             'final_linear.0.weight', 'final_linear.0.bias', 'generator.style.1.weight', 'generator.input.input',
             'generator.conv1.conv.weight', 'generator.conv1.noise.weight', 'generator.conv1.activate.bias',
             'generator.convs.0.conv.blur.kernel', 'generator.convs.7.conv.modulation.weight',
             'generator.to_rgbs.3.conv.weight', 'generator.to_rgbs.0.upsample.kernel', 'generator.to_rgb1.bias')


def gpen_release(net):
    """A random GPEN FullGenerator state dict with the structure of ``net`` (a FaceGPEN) in GPEN's names."""
    torch.manual_seed(4)
    state = {}
    for key, value in net.state_dict().items():
        value = torch.randn_like(value)
        if key.endswith('noise.weight'):
            value = value.abs() * 0.5
        if m := re.match(r'^encoder\.(\d+)\.(.+)$', key):
            state[f'ecd{m.group(1)}.0.{m.group(2)}'] = value
        elif key.startswith('final_linear.'):
            state[key.replace('final_linear.', 'final_linear.0.')] = value
        else:  # our generator names -> rosinality's
            name = key[len('generator.'):]
            for pattern, repl in ((r'^style_mlp\.', 'style.'), (r'^constant_input\.weight$', 'input.input'),
                                  (r'^style_conv1\.modulated_conv\.', 'conv1.conv.'), (r'^style_conv1\.', 'conv1.'),
                                  (r'^to_rgb1\.modulated_conv\.', 'to_rgb1.conv.'),
                                  (r'^style_convs\.(\d+)\.modulated_conv\.', r'convs.\1.conv.'),
                                  (r'^style_convs\.', 'convs.'),
                                  (r'^to_rgbs\.(\d+)\.modulated_conv\.', r'to_rgbs.\1.conv.')):
                if re.match(pattern, name):
                    name = re.sub(pattern, repl, name)
                    break
            state[f'generator.{name}'] = value
    # the persistent FIR buffers of GPEN's Blur / Upsample modules
    for i in range(1, int(math.log2(net.out_size)) - 1):
        state[f'ecd{i}.0.0.kernel'] = FIR_2D
    for k in range(int(math.log2(net.out_size)) - 2):
        state[f'generator.convs.{2 * k}.conv.blur.kernel'] = FIR_2D * 4
        state[f'generator.to_rgbs.{k}.upsample.kernel'] = FIR_2D * 4
    return state


def upfirdn(x, kernel, up, down, pad0, pad1):
    """upfirdn2d by definition: insert up-1 zeros, pad (negative crops), correlate with the flipped kernel, decimate."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    weight = torch.flip(kernel, [0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, weight, groups=c)[:, :, ::down, ::down]


def fused_lrelu(x, bias):
    return 2**0.5 * leaky(x + bias.view(1, -1, 1, 1) if x.ndim == 4 else x + bias)


def gpen_reference(state, x):
    """GPEN's FullGenerator forward (rosinality StyleGAN2 with concatenated encoder features) from its layout."""
    def equal_conv(prefix, feat, stride=1, padding=0):
        weight = state[f'{prefix}.weight']
        return F.conv2d(feat, weight / math.sqrt(weight[0].numel()), stride=stride, padding=padding)

    def equal_linear(prefix, v, lr_mul=1.0):
        weight = state[f'{prefix}.weight']
        return F.linear(v, weight * lr_mul / math.sqrt(weight.shape[1]), None), state[f'{prefix}.bias'] * lr_mul

    num_down = sum(1 for k in state if re.match(r'^ecd\d+\.0\.0\.kernel$', k))
    feat = fused_lrelu(equal_conv('ecd0.0.0', x), state['ecd0.0.1.bias'])
    features = [feat]
    for i in range(1, num_down + 1):  # blur (pad 2, 2) then stride-2 3x3 conv, fused lrelu
        feat = upfirdn(feat, FIR_2D, 1, 1, 2, 2)
        feat = fused_lrelu(equal_conv(f'ecd{i}.0.1', feat, stride=2), state[f'ecd{i}.0.2.bias'])
        features.append(feat)
    z = fused_lrelu(*equal_linear('final_linear.0', feat.flatten(1)))
    w = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, 1 + sum(1 for k in state if re.match(r'^generator\.style\.\d+\.weight$', k))):
        w = fused_lrelu(*equal_linear(f'generator.style.{i}', w, lr_mul=0.01))
    g = {k[len('generator.'):]: v for k, v in state.items() if k.startswith('generator.')}

    def modulated(prefix, feat, demodulate=True, upsample=False):
        style = F.linear(w, g[f'{prefix}.modulation.weight'] / math.sqrt(w.shape[1]), g[f'{prefix}.modulation.bias'])
        weight = g[f'{prefix}.weight'][0]
        weight = weight[None] / math.sqrt(weight[0].numel()) * style[:, None, :, None, None]
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
        outs = []
        for i in range(len(feat)):
            if upsample:  # transposed conv stride 2, then blur with pad (1, 1) and kernel * 4
                out = F.conv_transpose2d(feat[i:i + 1], weight[i].transpose(0, 1), stride=2)
                outs.append(upfirdn(out, FIR_2D * 4, 1, 1, 1, 1))
            else:
                outs.append(F.conv2d(feat[i:i + 1], weight[i], padding=weight.shape[-1] // 2))
        return torch.cat(outs)

    def styled(prefix, feat, encoder_feat, upsample=False):
        out = modulated(f'{prefix}.conv', feat, upsample=upsample)
        out = torch.cat([out, g[f'{prefix}.noise.weight'] * encoder_feat], 1)
        return fused_lrelu(out, g[f'{prefix}.activate.bias'])

    def to_rgb(prefix, feat, skip=None):
        out = modulated(f'{prefix}.conv', feat, demodulate=False) + g[f'{prefix}.bias']
        return out if skip is None else out + upfirdn(skip, FIR_2D * 4, 2, 1, 2, 1)

    features = features[::-1]  # 4 px first
    out = styled('conv1', g['input.input'].repeat(len(x), 1, 1, 1), features[0])
    skip = to_rgb('to_rgb1', out)
    for k, encoder_feat in enumerate(features[1:]):
        out = styled(f'convs.{2 * k}', out, encoder_feat, upsample=True)
        out = styled(f'convs.{2 * k + 1}', out, encoder_feat)
        skip = to_rgb(f'to_rgbs.{k}', out, skip)
    return skip


def test_gpen_release_converts_and_matches_reference(tmp_path):
    from facesr_arch.archs.gpen_arch import FaceGPEN
    release = gpen_release(FaceGPEN(**GPEN_TINY))
    assert set(GPEN_KEYS) <= set(release)
    weights, converted = convert(tmp_path, 'gpen', release)
    assert converted[NETWORK_KEY] == {'type': 'FaceGPEN', **GPEN_TINY}
    block, _, _ = network_config(weights=weights)
    net = build_network(block, weights)
    for x in (torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1):
        with torch.no_grad():
            expected = gpen_reference(release, x)
            assert expected.std() > 0.1 and (net(x) - expected).abs().max() < ATOL


def test_gpen_restores_real_faces(tmp_path, ffhq_small_dir):
    from facesr_arch.archs.gpen_arch import FaceGPEN
    release = gpen_release(FaceGPEN(**GPEN_TINY))
    weights, _ = convert(tmp_path, 'gpen', release)

    def upstream(path):  # GPEN's FaceGAN.process: resize, to tensor, forward, tensor2img (truncating)
        with torch.no_grad():
            return upstream_output(gpen_reference(release, upstream_input(path, 64, True)[None])[0], truncate=True)
    proc = restore_real_faces(tmp_path, weights, ffhq_small_dir, 64, upstream=upstream)
    assert 'FaceGPEN: 6 input(s)' in proc.stdout


# ------------------------------------------------------------------------------------------------------- CodeFormer
# the release's layout (6 levels, multipliers 1 2 2 4 4 8, attention at the token grid) at 64 px, 32 base channels
CODEFORMER_TINY = dict(img_size=64, nf=32, ch_mult=[1, 2, 2, 4, 4, 8], emb_dim=16, codebook_size=32, dim_embd=32,
                       n_head=8, n_layers=2, connect_list=[4, 8, 16, 32], adain=True)
# names of the CodeFormer release's state dict (codeformer.pth, params_ema) that the layout must produce
CODEFORMER_KEYS = ('encoder.blocks.0.weight', 'encoder.blocks.1.norm1.weight', 'encoder.blocks.3.conv.weight',
                   'encoder.blocks.4.conv_out.weight', 'encoder.blocks.17.q.weight', 'encoder.blocks.19.proj_out.bias',
                   'encoder.blocks.21.k.weight', 'encoder.blocks.23.weight', 'encoder.blocks.24.bias',
                   'quantize.embedding.weight', 'position_emb', 'feat_emb.weight',
                   'ft_layers.0.self_attn.in_proj_weight', 'ft_layers.1.self_attn.out_proj.bias',
                   'ft_layers.1.linear1.weight', 'ft_layers.0.norm2.bias', 'idx_pred_layer.0.weight',
                   'idx_pred_layer.1.weight', 'generator.blocks.2.v.weight', 'generator.blocks.7.norm.weight',
                   'generator.blocks.8.conv.weight', 'generator.blocks.9.conv_out.weight', 'generator.blocks.24.weight',
                   'fuse_convs_dict.16.encode_enc.conv_out.weight', 'fuse_convs_dict.32.scale.2.bias',
                   'fuse_convs_dict.4.shift.0.weight')


def codeformer_release(net):
    """A random CodeFormer ``params_ema`` with the structure of ``net`` (names are the release's)."""
    torch.manual_seed(5)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith('norm1.weight') or key.endswith('norm2.weight') or key.endswith('norm.weight') or \
                re.match(r'^(encoder|generator)\.blocks\.23\.weight$', key) or key == 'idx_pred_layer.0.weight':
            value = 1 + 0.1 * torch.randn_like(value)
        elif value.ndim > 1:
            value = torch.randn_like(value) / value[0].numel()**0.5
        else:
            value = 0.1 * torch.randn_like(value)
        state[key] = value
    return state


def codeformer_reference(state, x, w, num_heads):
    """CodeFormer's forward (inference: AdaIN on, fidelity w) from the release's layout and block indices."""
    def conv(prefix, feat, stride=1, padding=1):
        return F.conv2d(feat, state[f'{prefix}.weight'], state[f'{prefix}.bias'], stride=stride, padding=padding)

    def norm(prefix, feat):
        return F.group_norm(feat, 32, state[f'{prefix}.weight'], state[f'{prefix}.bias'], eps=1e-6)

    def swish(feat):
        return feat * torch.sigmoid(feat)

    def res_block(prefix, feat):
        out = conv(f'{prefix}.conv1', swish(norm(f'{prefix}.norm1', feat)))
        out = conv(f'{prefix}.conv2', swish(norm(f'{prefix}.norm2', out)))
        return out + (conv(f'{prefix}.conv_out', feat, padding=0) if f'{prefix}.conv_out.weight' in state else feat)

    def attn_block(prefix, feat):
        b, c, h, wd = feat.shape
        normed = norm(f'{prefix}.norm', feat)
        q, k, v = (conv(f'{prefix}.{n}', normed, padding=0).reshape(b, c, h * wd) for n in 'qkv')
        weights = torch.softmax(torch.bmm(q.permute(0, 2, 1), k) * c**-0.5, dim=2)
        return feat + conv(f'{prefix}.proj_out', torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, h, wd), padding=0)

    def block(prefix, feat):
        if f'{prefix}.q.weight' in state:
            return attn_block(prefix, feat)
        if f'{prefix}.norm1.weight' in state:
            return res_block(prefix, feat)
        if f'{prefix}.conv.weight' in state:  # down: pad right/bottom + stride 2; up: nearest x2 + conv
            if prefix.startswith('encoder'):
                return conv(f'{prefix}.conv', F.pad(feat, (0, 1, 0, 1)), stride=2, padding=0)
            return conv(f'{prefix}.conv', F.interpolate(feat, scale_factor=2.0, mode='nearest'))
        if state[f'{prefix}.weight'].ndim == 1:
            return norm(prefix, feat)
        return conv(prefix, feat)

    def layer_norm(prefix, feat):
        return F.layer_norm(feat, feat.shape[-1:], state[f'{prefix}.weight'], state[f'{prefix}.bias'])

    def linear(prefix, feat):
        return F.linear(feat, state[f'{prefix}.weight'], state.get(f'{prefix}.bias'))

    # the release's tables, for 512 px: fuse_encoder_block {'512': 2, ..., '32': 14, '16': 18},
    # fuse_generator_block {'16': 6, '32': 9, ..., '512': 21}; here the same indices at 64 px (sizes / 8)
    encoder_block = {64: 2, 32: 5, 16: 8, 8: 11, 4: 14, 2: 18}
    generator_block = {2: 6, 4: 9, 8: 12, 16: 15, 32: 18, 64: 21}
    connect = sorted(int(k.split('.')[1]) for k in state if re.match(r'^fuse_convs_dict\.\d+\.scale\.0\.weight$', k))
    enc = {}
    for i in range(25):
        x = block(f'encoder.blocks.{i}', x)
        enc.update({size: x for size in connect if encoder_block[size] == i})
    lq_feat = x
    b, c, h, wd = x.shape
    pos = state['position_emb'].unsqueeze(1).repeat(1, b, 1)
    tokens = linear('feat_emb', lq_feat.flatten(2).permute(2, 0, 1))
    dim = tokens.shape[-1]
    for n in range(sum(1 for k in state if k.endswith('self_attn.in_proj_weight'))):
        p = f'ft_layers.{n}'
        t2 = layer_norm(f'{p}.norm1', tokens)
        qk = t2 + pos
        wq, wk, wv = state[f'{p}.self_attn.in_proj_weight'].chunk(3)
        bq, bk, bv = state[f'{p}.self_attn.in_proj_bias'].chunk(3)

        def heads(t):  # (L, b, dim) -> (b, heads, L, dim / heads)
            return t.reshape(t.shape[0], b, num_heads, dim // num_heads).permute(1, 2, 0, 3)
        q, k, v = heads(F.linear(qk, wq, bq)), heads(F.linear(qk, wk, bk)), heads(F.linear(t2, wv, bv))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // num_heads), dim=-1) @ v
        att = att.permute(2, 0, 1, 3).reshape(-1, b, dim)
        tokens = tokens + linear(f'{p}.self_attn.out_proj', att)
        tokens = tokens + linear(f'{p}.linear2', F.gelu(linear(f'{p}.linear1', layer_norm(f'{p}.norm2', tokens))))
    logits = linear('idx_pred_layer.1', layer_norm('idx_pred_layer.0', tokens)).permute(1, 0, 2)
    _, top = torch.topk(torch.softmax(logits, dim=2), 1, dim=2)
    quant = state['quantize.embedding.weight'][top.view(-1)].view(b, h, wd, -1).permute(0, 3, 1, 2)

    def mean_std(feat):
        var = feat.view(b, feat.shape[1], -1).var(dim=2) + 1e-5
        return feat.view(b, feat.shape[1], -1).mean(dim=2).view(b, -1, 1, 1), var.sqrt().view(b, -1, 1, 1)
    (q_mean, q_std), (l_mean, l_std) = mean_std(quant), mean_std(lq_feat)
    x = (quant - q_mean) / q_std * l_std + l_mean  # AdaIN (inference_codeformer.py: adain=True)
    for i in range(25):
        x = block(f'generator.blocks.{i}', x)
        for size in connect:
            if generator_block[size] == i and w > 0:
                p = f'fuse_convs_dict.{size}'
                feat = res_block(f'{p}.encode_enc', torch.cat([enc[size], x], 1))
                scale = conv(f'{p}.scale.2', F.leaky_relu(conv(f'{p}.scale.0', feat), 0.2))
                shift = conv(f'{p}.shift.2', F.leaky_relu(conv(f'{p}.shift.0', feat), 0.2))
                x = x + w * (x * scale + shift)
    return x, logits


def test_codeformer_release_converts_and_matches_reference(tmp_path):
    from facesr_arch.archs.codeformer_arch import FaceCodeFormer
    release = codeformer_release(FaceCodeFormer(**CODEFORMER_TINY))
    assert set(CODEFORMER_KEYS) <= set(release)
    weights, converted = convert(tmp_path, 'codeformer', {'params_ema': release})
    assert converted[NETWORK_KEY] == {'type': 'FaceCodeFormer', **CODEFORMER_TINY}
    block, _, _ = network_config(weights=weights)
    net = build_network(block, weights)
    torch.manual_seed(6)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        outputs = {}
        for w in (0.0, 0.5, 1.0):
            expected, logits = codeformer_reference(release, x, w, num_heads=8)
            out, our_logits = net(x, w=w, return_logits=True)
            assert (our_logits - logits).abs().max() < ATOL and (out - expected).abs().max() < ATOL
            outputs[w] = out
        assert len(set(logits.argmax(2).flatten().tolist())) > 2  # several codes are looked up
        assert (outputs[0.0] - outputs[1.0]).abs().max() > 0.01  # w matters
        # one w per image (the inference CLI's form) equals the scalar calls
        assert torch.allclose(net(x, w=torch.tensor([[0.0], [1.0]])), torch.cat([outputs[0.0][:1], outputs[1.0][1:]]),
                              atol=1e-6)


def test_codeformer_restores_real_faces_with_fidelity(tmp_path, ffhq_small_dir):
    from facesr_arch.archs.codeformer_arch import FaceCodeFormer
    release = codeformer_release(FaceCodeFormer(**CODEFORMER_TINY))
    weights, _ = convert(tmp_path, 'codeformer', {'params_ema': release})

    def upstream(path):  # inference_codeformer.py --has_aligned -w 0.7
        with torch.no_grad():
            return upstream_output(codeformer_reference(release, upstream_input(path, 64)[None], 0.7, 8)[0][0])
    proc = restore_real_faces(tmp_path, weights, ffhq_small_dir, 64, extra=['--fidelity', '0.7'], upstream=upstream)
    assert 'FaceCodeFormer: 6 input(s)' in proc.stdout
    bad = run_script('inference.py', ['--weights', weights, '-i', ffhq_small_dir, '-o', str(tmp_path / 'bad'),
                                      '--fidelity', '1.5', '--device', 'cpu'], cwd=tmp_path, check=False)
    assert bad.returncode != 0 and 'must be in [0, 1]' in bad.stderr


def test_optimised_and_autocast_paths(tmp_path):
    """The inference CLI's default path (folded scales, channels_last) equals each baseline within 1e-4; bf16
    autocast runs and stays close."""
    import copy

    from facesr_arch.archs.codeformer_arch import FaceCodeFormer
    from facesr_arch.archs.gpen_arch import FaceGPEN
    from facesr_arch.archs.optimize import optimize_for_inference
    torch.manual_seed(7)
    noise = [torch.randn(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]
    cases = [(FaceGFPGAN(**GFPGAN_TINY), 32, {'noise': noise}), (FaceGPEN(**GPEN_TINY), 64, {}),
             (FaceCodeFormer(**CODEFORMER_TINY), 64, {'w': torch.tensor([[0.5], [1.0]])})]
    for net, side, kwargs in cases:
        net.eval().requires_grad_(False)
        optimised = optimize_for_inference(copy.deepcopy(net))
        x = torch.rand(2, 3, side, side) * 2 - 1
        with torch.no_grad():
            reference = net(x, **kwargs)
            fast = optimised(x.contiguous(memory_format=torch.channels_last), **kwargs)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                half = optimised(x.contiguous(memory_format=torch.channels_last), **kwargs).float()
        assert (fast - reference).abs().max() < ATOL * max(1.0, reference.abs().max().item()), type(net).__name__
        assert torch.isfinite(half).all() and half.shape == reference.shape


def test_whole_image_mode_with_converted_codeformer(tmp_path, ffhq_small_dir):
    """--whole-image (random-weight RetinaFace, threshold 0) detects, restores with w and pastes back."""
    import numpy as np
    from facexlib.detection.retinaface import RetinaFace

    from facesr_arch.archs.codeformer_arch import FaceCodeFormer
    weights, _ = convert(tmp_path, 'codeformer', {'params_ema': codeformer_release(FaceCodeFormer(**CODEFORMER_TINY))})
    torch.manual_seed(0)
    detector = str(tmp_path / 'retinaface_mobile.pth')
    torch.save({f'module.{k}': v for k, v in RetinaFace('mobile0.25', device='cpu').state_dict().items()}, detector)
    photos = tmp_path / 'photos'
    photos.mkdir()
    canvas = np.full((200, 260, 3), 90, np.uint8)
    canvas[36:164, 66:194] = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0]))
    cv2.imwrite(str(photos / 'photo.png'), canvas)
    out = tmp_path / 'out'
    run_script('inference.py', ['--weights', weights, '-i', str(photos), '-o', str(out), '--device', 'cpu',
                                '--no-progress', '--whole-image', '--detector', detector,
                                '--detector-net', 'mobile0.25', '--det-threshold', '0.0', '--max-faces', '1',
                                '--fidelity', '1'], cwd=tmp_path)
    assert cv2.imread(str(out / 'restored_imgs' / 'photo.png')).shape == (200, 260, 3)
    faces = sorted(os.listdir(out / 'restored_faces'))
    assert len(faces) == 1 and cv2.imread(str(out / 'restored_faces' / faces[0])).shape == (64, 64, 3)


def test_codeformer_decoder_keeps_the_input_layout():
    """The looked-up codes (a permuted view) enter the decoder in the encoder's layout: contiguous as in CodeFormer's
    own code (whose float32 error at 512 px is several times smaller than with channels_last convolutions), and
    channels_last on the optimised path."""
    from facesr_arch.archs.codeformer_arch import FaceCodeFormer
    torch.manual_seed(0)
    net = FaceCodeFormer(**CODEFORMER_TINY).eval()
    layouts = []
    net.generator.blocks[0].register_forward_pre_hook(
        lambda module, args: layouts.append((args[0].is_contiguous(),
                                             args[0].is_contiguous(memory_format=torch.channels_last))))
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        net(x)
        net(x.contiguous(memory_format=torch.channels_last))
    assert layouts == [(True, False), (False, True)]
