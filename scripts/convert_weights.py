"""Import public checkpoints into facesr_arch's layouts (renaming and dropping only; no download).

Usage::

    python scripts/convert_weights.py SOURCE SRC.pth DST.pth [--key KEY]

SOURCE (see weights/README.md for the public files):

========================  ====================================================================================
stylegan2_rosinality      rosinality / NVIDIA-converted StyleGAN2 generator (``stylegan2-ffhq-config-f.pt``,
                          key ``g_ema``) -> FaceStyleGAN2Generator(1024, channel_multiplier=2)
stylegan2_rosinality_d    its discriminator (key ``d``) -> FaceStyleGAN2Discriminator
stylegan2_basicsr         GFPGAN's / BasicSR's fused StyleGAN2 prior (``StyleGAN2_512_Cmul1_FFHQ_*.pth``,
                          ``params_ema``) -> FaceStyleGAN2Generator(512, channel_multiplier=1)
stylegan2_basicsr_d       BasicSR StyleGAN2Discriminator -> FaceStyleGAN2Discriminator
stylegan2_gfpgan_clean    GFPGAN's clean StyleGAN2 (``StyleGAN2GeneratorClean``; alone, or the ``stylegan_decoder``
                          of ``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth``, ``params_ema``) ->
                          FaceStyleGAN2Generator(512, channel_multiplier=2, resample='bilinear'), exact rescaling
gpen_g                    GPEN-BFR-512 generator (``GPEN-BFR-512.pth``): its StyleGAN2 part ->
                          FaceStyleGAN2Generator(512, noise_mode='concat'); GPEN's encoder is dropped
gpen_d                    GPEN-BFR-512 discriminator (``GPEN-BFR-512-D.pth``) -> FaceStyleGAN2Discriminator
gcfsr                     official GCFSR releases (1024 ``params_ema``, blind 512) -> GCFSR; the file also holds
                          the network block (out_size, blind, positive_scales: false, factor_norm)
arcface_resnet18          GFPGAN ``arcface_resnet18.pth`` -> FaceArcFace('resnet18') (drops ``module.``)
facexlib                  facexlib parsing_parsenet / parsing_bisenet / recognition_arcface_ir_se50 (as is)
torchvision_vgg           torchvision vgg16/vgg19 ImageNet files -> FaceVGGFeatureExtractor (``features.*``)
vggface                   VGGFace ``vgg_face_dag.pth`` (conv1_1 ... conv5_3, RGB input) -> vgg_type='vggface'
========================  ====================================================================================

The output file holds ``{'params': state_dict}`` (plus ``'network'``, the network block, for sources that
name one) and is loaded with ``weights_only=True``.
"""
import argparse
import math
import os
import re

import _light  # noqa: F401  (the checkout importable; torch and facesr_arch are imported where used: fast --help)

# persistent FIR-kernel buffers of the reference implementations; ours are rebuilt from the constructor
_KERNEL_BUFFER = re.compile(r'(^|\.)kernel$')


def _drop_buffers(state):
    """Drop fixed noise maps (``noises.*``) and FIR-kernel buffers."""
    return {k: v for k, v in state.items() if not k.startswith('noises.') and not _KERNEL_BUFFER.search(k)}


def _noise_strength_to_module(state, convs=r'(style_conv1|style_convs\.\d+)'):
    """BasicSR keeps a style conv's noise strength in ``<conv>.weight``; ours lives in ``<conv>.noise.weight``."""
    pattern = re.compile(rf'^{convs}\.weight$')
    return {(pattern.sub(r'\1.noise.weight', k) if pattern.match(k) else k): v for k, v in state.items()}


def stylegan2_rosinality(state):
    """rosinality generator (``style.N``, ``input.input``, ``conv1.conv``, ``convs.N``) -> ours."""
    renames = [(r'^style\.', 'style_mlp.'), (r'^input\.input$', 'constant_input.weight'),
               (r'^conv1\.conv\.', 'style_conv1.modulated_conv.'), (r'^conv1\.', 'style_conv1.'),
               (r'^to_rgb1\.conv\.', 'to_rgb1.modulated_conv.'), (r'^convs\.(\d+)\.conv\.', r'style_convs.\1.modulated_conv.'),
               (r'^convs\.(\d+)\.', r'style_convs.\1.'), (r'^to_rgbs\.(\d+)\.conv\.', r'to_rgbs.\1.modulated_conv.')]
    out = {}
    for key, value in _drop_buffers(state).items():
        for pattern, replacement in renames:
            new_key = re.sub(pattern, replacement, key)
            if new_key != key:
                key = new_key
                break
        out[key] = value
    return out


def stylegan2_rosinality_d(state):
    """rosinality / GPEN discriminator (``convs.N``) -> FaceStyleGAN2Discriminator (``conv_body.N``)."""
    return {re.sub(r'^convs\.', 'conv_body.', k): v for k, v in _drop_buffers(state).items()}


def stylegan2_basicsr(state):
    """BasicSR / GFPGAN fused StyleGAN2Generator -> ours (noise strengths move into ``noise.weight``)."""
    return _noise_strength_to_module(_drop_buffers(state))


def stylegan2_basicsr_d(state):
    """BasicSR StyleGAN2Discriminator -> ours (same names; kernel buffers dropped)."""
    return _drop_buffers(state)


def stylegan2_gfpgan_clean(state, lr_mlp=0.01):
    """GFPGAN ``StyleGAN2GeneratorClean`` -> FaceStyleGAN2Generator(resample='bilinear', lr_mlp=lr_mlp).

    The clean layout computes the same function with another parametrisation; each tensor is rescaled so
    that ours reproduces it exactly (leaky ReLU is positively homogeneous):

    - mapping MLP ``style_mlp.{2i+1}`` (``nn.Linear`` then a plain leaky ReLU) -> ``style_mlp.{i+1}``
      (equalised lr ``lr_mlp / sqrt(n)`` on the weight, ``lr_mlp`` on the bias, activation times sqrt(2)):
      weight ``* sqrt(n) / (sqrt(2) lr_mlp)``, bias ``/ (sqrt(2) lr_mlp)``;
    - ``modulation`` (``nn.Linear``) -> equalised-lr linear: weight ``* sqrt(fan_in)``;
    - modulated-conv ``weight`` (stored already divided by sqrt(fan_in)) -> ``* sqrt(c_in k^2)``;
    - style conv ``lrelu(sqrt(2) conv + weight * noise + bias)`` -> ``sqrt(2) lrelu(conv + noise.weight *
      noise + activate.bias)``: ``<conv>.weight`` -> ``<conv>.noise.weight / sqrt(2)``, ``<conv>.bias``
      (1, c, 1, 1) -> ``<conv>.activate.bias / sqrt(2)`` (c,);
    - ``constant_input``, ToRGB biases: unchanged; stored ``noises.*`` dropped.

    A GFPGANv1Clean file's ``stylegan_decoder.*`` entries are taken and the rest (its U-Net, SFT
    conditions) dropped. Converted weights fine-tune with equalised-lr dynamics, not GFPGAN's plain ones.

    Args:
        state (dict): The clean generator's (or a GFPGANv1Clean's) state dict.
        lr_mlp (float): The ``lr_mlp`` the converted file is loaded with (the generator's default).
            Default: 0.01.

    Returns:
        dict: State dict of FaceStyleGAN2Generator(..., resample='bilinear').
    """
    decoder = {k[len('stylegan_decoder.'):]: v for k, v in state.items() if k.startswith('stylegan_decoder.')}
    state = _drop_buffers(decoder or state)
    sqrt2 = math.sqrt(2)
    out = {}
    for key, value in state.items():
        if m := re.match(r'^style_mlp\.(\d+)\.(weight|bias)$', key):
            index, param = int(m.group(1)), m.group(2)
            scale = math.sqrt(value.shape[1]) if param == 'weight' else 1.0
            out[f'style_mlp.{(index + 1) // 2}.{param}'] = value * (scale / (sqrt2 * lr_mlp))
        elif key.endswith('modulation.weight'):
            out[key] = value * math.sqrt(value.shape[1])
        elif key.endswith('modulated_conv.weight'):
            out[key] = value * math.sqrt(value[0, 0].numel())
        elif m := re.match(r'^(style_conv1|style_convs\.\d+)\.(weight|bias)$', key):
            name = 'noise.weight' if m.group(2) == 'weight' else 'activate.bias'
            out[f'{m.group(1)}.{name}'] = value.flatten() / sqrt2
        else:
            out[key] = value
    return out


def gpen_g(state):
    """GPEN FullGenerator: keep ``generator.*`` (rosinality names with concatenated noise), drop the encoder."""
    generator = {k[len('generator.'):]: v for k, v in state.items() if k.startswith('generator.')}
    if not generator:
        raise KeyError('no generator.* entries: is this a GPEN FullGenerator checkpoint?')
    return stylegan2_rosinality(generator)


def gcfsr(state):
    """Official GCFSR release (``GCFSR`` / ``GCFSR_blind``) -> GCFSR: noise strengths into ``noise.weight``.

    The release's stored noise maps (``noises.*``) and FIR-kernel buffers are dropped; every other tensor
    keeps its name.
    """
    return _noise_strength_to_module(_drop_buffers(state))


# the official GCFSR releases' encoder stops at 16 px ("the minimum input size", paper 3.4)
GCFSR_MIN_FEAT_SIZE = 16


def _conv_width(state, prefix):
    """Output channels of the conv layer (a ``ConvLayer`` sequence) named ``prefix``."""
    widths = [v.shape[0] for k, v in state.items() if k.startswith(f'{prefix}.') and v.ndim == 4]
    if len(widths) != 1:
        raise KeyError(prefix)
    return widths[0]


def gcfsr_network(state):
    """The GCFSR constructor options of a converted official release, read from its tensor shapes.

    - ``out_size``: 16 px times 2 per encoder down-sampling (``conv_body_down.*``);
    - ``narrow`` / ``channel_multiplier``: the 16 px width is 512 * narrow, the 64 px one 256 * multiplier *
      narrow (StyleGAN2 config-f widths);
    - ``num_style_feat``: ``final_linear`` outputs one code per latent (2 per level);
    - ``blind``: the blind release's latent head keeps the full 4 px width, the conditional one halves it;
    - ``positive_scales: false``: the release normalises sigma without the absolute value of eq. 4;
    - ``factor_norm``: out_size / 16, the largest factor of its training set (s / 64 at 1024 px, s / 32 for
      the 512 px release; official ``cond_norm``).

    Raises:
        ValueError: The state is not a GCFSR release this reading covers (checked by loading it strictly).
    """
    from facesr_arch.archs.gcfsr_arch import GCFSR
    try:
        num_down = 1 + max(int(m.group(1)) for k in state if (m := re.match(r'^conv_body_down\.(\d+)\.', k)))
        out_size = GCFSR_MIN_FEAT_SIZE * 2**num_down
        narrow = _conv_width(state, 'final_conv') / 512
        level_64 = int(math.log2(out_size)) - 6  # index of the 64 px level in the encoder order
        multiplier = 2
        if level_64 >= 0:
            multiplier = round(_conv_width(state, f'condition_shift.{level_64}') / (256 * narrow))
        num_latent = 2 * (num_down + 1)
        num_style_feat = state['final_linear.weight'].shape[0] // num_latent
        blind = _conv_width(state, 'final_down2') == _conv_width(state, 'final_down1')
    except (KeyError, ValueError) as err:
        raise ValueError(f'not an official GCFSR state dict ({err!r} missing or malformed)') from err
    block = {'type': 'GCFSR', 'out_size': out_size, 'num_style_feat': num_style_feat,
             'channel_multiplier': multiplier, 'narrow': narrow, 'min_feat_size': GCFSR_MIN_FEAT_SIZE, 'blind': blind,
             'positive_scales': False, 'factor_norm': float(out_size // GCFSR_MIN_FEAT_SIZE)}
    options = {k: v for k, v in block.items() if k != 'type'}
    try:
        GCFSR(**options).load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f'the converted GCFSR weights do not load into GCFSR({options}): {err}') from err
    return block


def arcface_resnet18(state):
    """GFPGAN ResNetArcFace file (possibly saved from DataParallel) -> FaceArcFace('resnet18').net."""
    return {k.removeprefix('module.'): v for k, v in state.items()}


def facexlib(state):
    """facexlib parsing / recognition files load as they are (strictly, into the wrapped facexlib classes)."""
    return dict(state)


def torchvision_vgg(state):
    """torchvision VGG: keep ``features.*`` (the classifier is never used)."""
    return {k: v for k, v in state.items() if k.startswith('features.')}


def vggface(state):
    """VGGFace ``vgg_face_dag`` names (``conv3_2.weight``) -> torchvision ``features.<index>.*`` of VGG16."""
    from facesr_arch.archs.vgg_arch import vgg_layer_names
    names = vgg_layer_names('vggface')
    out = {}
    for key, value in state.items():
        layer, _, param = key.rpartition('.')
        if layer.startswith('conv'):
            if layer not in names:
                raise KeyError(f'unexpected VGGFace layer {layer!r}')
            out[f'features.{names.index(layer)}.{param}'] = value
    if len(out) != 26:
        raise KeyError(f'expected the 13 conv layers of VGG16 (26 tensors), found {len(out)}')
    return out


CONVERTERS = {fn.__name__: fn for fn in (stylegan2_rosinality, stylegan2_rosinality_d, stylegan2_basicsr,
                                          stylegan2_basicsr_d, stylegan2_gfpgan_clean, gpen_g, gcfsr,
                                          arcface_resnet18, facexlib, torchvision_vgg, vggface)}
CONVERTERS['gpen_d'] = stylegan2_rosinality_d
DEFAULT_KEYS = {'stylegan2_rosinality': 'g_ema', 'stylegan2_rosinality_d': 'd'}
# source -> fn(converted state) -> network block {'type': registry name, **constructor options}, written under
# the checkpoint's NETWORK_KEY so that inference rebuilds the right network from the file alone
NETWORKS = {'gcfsr': gcfsr_network}


def convert_file(source, src, dst, key=None):
    """Read ``src`` (weights_only), convert with ``CONVERTERS[source]``, write ``{'params': state}`` to ``dst``.

    Sources with an entry in ``NETWORKS`` also store the network block they load into under ``NETWORK_KEY``.
    """
    import torch

    from facesr_arch.utils.weights import NETWORK_KEY
    if source not in CONVERTERS:
        raise ValueError(f'unknown source {source!r}; choose from {sorted(CONVERTERS)}')
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError('refusing to overwrite the source checkpoint; give another output path')
    ckpt = torch.load(src, map_location='cpu', weights_only=True)
    key = key or DEFAULT_KEYS.get(source)
    if key is not None:
        if key not in ckpt:
            raise KeyError(f'{src} has no {key!r} entry (it has {sorted(ckpt)[:10]})')
        ckpt = ckpt[key]
    else:
        for candidate in ('params_ema', 'params', 'state_dict'):
            if isinstance(ckpt.get(candidate), dict):
                ckpt = ckpt[candidate]
                break
    state = CONVERTERS[source](ckpt)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    ckpt = {'params': state}
    if source in NETWORKS:
        ckpt[NETWORK_KEY] = NETWORKS[source](state)
    tmp = f'{dst}.tmp'
    torch.save(ckpt, tmp)
    os.replace(tmp, dst)
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', choices=sorted(CONVERTERS))
    parser.add_argument('src', help='public checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--key', default=None, help='entry holding the state dict (default: per source)')
    args = parser.parse_args(argv)
    state = convert_file(args.source, args.src, args.dst, args.key)
    print(f'{args.source}: wrote {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
