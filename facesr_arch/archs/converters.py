"""Converters of public checkpoints into facesr_arch's layouts (renaming and dropping only; no download).

``CONVERTERS[source](state_dict)`` maps a public release's names onto ours; ``NETWORKS[source](state)``
describes the network a converted state dict loads into; :func:`convert_file` reads a release file and writes
the converted checkpoint. The sources and their public files are listed in :mod:`facesr_arch.cli.convert_weights`
and ``weights/README.md``.
"""
import math
import os
import re

from ..toolkit.checkpoints import read_state_dict, write
from ..toolkit.errors import BadInputError, UnknownNameError
from .gcfsr_arch import GCFSR
from .vgg_arch import vgg_layer_names

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


def gfpgan(state):
    """GFPGAN v1.3 / v1.4 (``GFPGANv1Clean``) -> FaceGFPGAN.

    The U-Net, SFT predictors and final linear keep their names (``toRGB.N`` becomes ``to_rgbs.N``); the
    ``stylegan_decoder.*`` prior becomes ``decoder.*`` through the exact rescaling of
    :func:`stylegan2_gfpgan_clean`.
    """
    if not any(k.startswith('stylegan_decoder.') for k in state) or 'final_linear.weight' not in state:
        raise UnknownNameError('no stylegan_decoder.* / final_linear entries: is this a GFPGANv1Clean (v1.3 / v1.4) '
                               'file?')
    out = {f'decoder.{k}': v for k, v in stylegan2_gfpgan_clean(state).items()}
    for key, value in state.items():
        if not key.startswith('stylegan_decoder.'):
            out[re.sub(r'^toRGB\.', 'to_rgbs.', key)] = value
    return out


def _stylegan2_width(state, prefix=''):
    """(channel_multiplier, narrow) of a StyleGAN2 generator state from its channel counts (``stylegan2_channels``).

    ``narrow`` is read from the 4 px constant (512 * narrow channels), the multiplier from the first style conv
    at 64 px (256 * multiplier * narrow); generators below 64 px do not depend on the multiplier (2 is given).
    """
    narrow = state[f'{prefix}constant_input.weight'].shape[1] / 512
    conv64 = f'{prefix}style_convs.7.modulated_conv.weight'  # the second conv of 64 px (index 2 * 4 - 1)
    if conv64 not in state:
        return 2, narrow
    return round(state[conv64].shape[1] / (256 * narrow)), narrow


def _stylegan2_size(state, prefix=''):
    """Output side of a StyleGAN2 generator state: 4 px times 2 per ``to_rgbs`` entry."""
    return 2**(2 + sum(1 for k in state if re.match(rf'^{re.escape(prefix)}to_rgbs\.\d+\.bias$', k)))


def _num_mlp(state, prefix=''):
    return sum(1 for k in state if re.match(rf'^{re.escape(prefix)}style_mlp\.\d+\.weight$', k))


def gfpgan_network(state):
    """FaceGFPGAN's network block from a converted state (sizes read from the tensors).

    ``input_is_latent`` cannot be read from weights: the v1.3 / v1.4 value (True, GFPGAN's inference script) is
    written.
    """
    channel_multiplier, narrow = _stylegan2_width(state, 'decoder.')
    num_style_feat = state['decoder.to_rgb1.modulated_conv.modulation.weight'].shape[1]
    out_size = _stylegan2_size(state, 'decoder.')
    num_latent = 2 * int(math.log2(out_size)) - 2
    return {'type': 'FaceGFPGAN', 'out_size': out_size, 'num_style_feat': num_style_feat,
            'channel_multiplier': channel_multiplier, 'narrow': narrow, 'num_mlp': _num_mlp(state, 'decoder.'),
            'input_is_latent': True,
            'different_w': state['final_linear.weight'].shape[0] == num_latent * num_style_feat,
            # SFT on half the decoder channels predicts as many maps as the U-Net has channels, else twice as many
            'sft_half': state['condition_scale.0.2.weight'].shape[0] == state['condition_scale.0.0.weight'].shape[0]}


def gpen_g(state):
    """GPEN FullGenerator: keep ``generator.*`` (rosinality names with concatenated noise), drop the encoder."""
    generator = {k[len('generator.'):]: v for k, v in state.items() if k.startswith('generator.')}
    if not generator:
        raise UnknownNameError('no generator.* entries: is this a GPEN FullGenerator checkpoint?')
    return stylegan2_rosinality(generator)


def gpen(state):
    """GPEN FullGenerator -> FaceGPEN: ``ecd{i}.0.*`` -> ``encoder.{i}.*``, ``final_linear.0.*`` -> ``final_linear.*``,
    ``generator.*`` as :func:`gpen_g`; stored FIR kernels dropped."""
    out = {f'generator.{k}': v for k, v in gpen_g(state).items()}
    for key, value in _drop_buffers(state).items():
        if m := re.match(r'^ecd(\d+)\.0\.(.+)$', key):
            out[f'encoder.{m.group(1)}.{m.group(2)}'] = value
        elif key.startswith('final_linear.0.'):
            out[key.replace('final_linear.0.', 'final_linear.', 1)] = value
        elif not key.startswith('generator.'):
            raise UnknownNameError(f'unexpected GPEN FullGenerator entry {key!r}')
    return out


def gpen_network(state):
    """FaceGPEN's network block from a converted state (sizes read from the tensors)."""
    channel_multiplier, narrow = _stylegan2_width(state, 'generator.')
    return {'type': 'FaceGPEN', 'out_size': _stylegan2_size(state, 'generator.'),
            'num_style_feat': state['final_linear.weight'].shape[0], 'num_mlp': _num_mlp(state, 'generator.'),
            'channel_multiplier': channel_multiplier, 'narrow': narrow}


def codeformer(state):
    """CodeFormer release -> FaceCodeFormer: the same names (checked: the VQGAN encoder, codebook, Transformer)."""
    required = ('encoder.blocks.0.weight', 'quantize.embedding.weight', 'position_emb', 'feat_emb.weight',
                'idx_pred_layer.1.weight', 'generator.blocks.0.weight')
    missing = [k for k in required if k not in state]
    if missing:
        raise UnknownNameError(f'no {missing} entries: is this a CodeFormer (codeformer.pth) file?')
    return dict(state)


def codeformer_network(state):
    """FaceCodeFormer's network block from a release state (sizes read from the tensors).

    The encoder has 3 L + 7 blocks for L levels (a conv; two ResBlocks per level, a downsampling between levels,
    two attention blocks at the last; ResBlock, attention, ResBlock, GroupNorm, conv); the last ResBlock of level
    l is block 3 l + 2 (3 l + 3 at the last level, after its first attention), giving its multiplier. The head
    count is not readable from the weights: the release's 8 (``inference_codeformer.py``) is written.
    """
    num_blocks = 1 + max(int(m.group(1)) for k in state if (m := re.match(r'^encoder\.blocks\.(\d+)\.', k)))
    num_levels = (num_blocks - 7) // 3
    nf = state['encoder.blocks.0.weight'].shape[0]
    ch_mult = [state[f'encoder.blocks.{3 * level + 2 + (level == num_levels - 1)}.conv2.weight'].shape[0] // nf
               for level in range(num_levels)]
    codebook = state['quantize.embedding.weight']
    return {'type': 'FaceCodeFormer', 'img_size': math.isqrt(state['position_emb'].shape[0]) * 2**(num_levels - 1),
            'nf': nf, 'ch_mult': ch_mult, 'emb_dim': codebook.shape[1], 'codebook_size': codebook.shape[0],
            'dim_embd': state['position_emb'].shape[1], 'n_head': 8,
            'n_layers': 1 + max(int(m.group(1)) for k in state if (m := re.match(r'^ft_layers\.(\d+)\.', k))),
            'connect_list': sorted(int(m.group(1)) for k in state
                                   if (m := re.match(r'^fuse_convs_dict\.(\d+)\.scale\.0\.weight$', k))),
            'adain': True}


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
        raise UnknownNameError(prefix)
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
        raise BadInputError(f'not an official GCFSR state dict ({err!r} missing or malformed)') from err
    block = {'type': 'GCFSR', 'out_size': out_size, 'num_style_feat': num_style_feat,
             'channel_multiplier': multiplier, 'narrow': narrow, 'min_feat_size': GCFSR_MIN_FEAT_SIZE, 'blind': blind,
             'positive_scales': False, 'factor_norm': float(out_size // GCFSR_MIN_FEAT_SIZE)}
    options = {k: v for k, v in block.items() if k != 'type'}
    try:
        GCFSR(**options).load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BadInputError(f'the converted GCFSR weights do not load into GCFSR({options}): {err}') from err
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
    names = vgg_layer_names('vggface')
    out = {}
    for key, value in state.items():
        layer, _, param = key.rpartition('.')
        if layer.startswith('conv'):
            if layer not in names:
                raise UnknownNameError(f'unexpected VGGFace layer {layer!r}')
            out[f'features.{names.index(layer)}.{param}'] = value
    if len(out) != 26:
        raise UnknownNameError(f'expected the 13 conv layers of VGG16 (26 tensors), found {len(out)}')
    return out


CONVERTERS = {fn.__name__: fn for fn in (stylegan2_rosinality, stylegan2_rosinality_d, stylegan2_basicsr,
                                          stylegan2_basicsr_d, stylegan2_gfpgan_clean, gfpgan, gpen, gpen_g, codeformer,
                                          gcfsr,
                                          arcface_resnet18, facexlib, torchvision_vgg, vggface)}
CONVERTERS['gpen_d'] = stylegan2_rosinality_d
DEFAULT_KEYS = {'stylegan2_rosinality': 'g_ema', 'stylegan2_rosinality_d': 'd'}
# source -> fn(converted state) -> network block {'type': registry name, **constructor options}, written under
# the checkpoint's network entry so that inference rebuilds the right network from the file alone
NETWORKS = {'gcfsr': gcfsr_network, 'gfpgan': gfpgan_network, 'gpen': gpen_network, 'codeformer': codeformer_network}


# where each source's public file is published (the full list: weights/README.md)
RELEASES = {
    'stylegan2_rosinality': 'rosinality/stylegan2-pytorch (README: stylegan2-ffhq-config-f.pt)',
    'stylegan2_rosinality_d': 'rosinality/stylegan2-pytorch (README: stylegan2-ffhq-config-f.pt)',
    'stylegan2_basicsr': 'TencentARC/GFPGAN v0.1.0 release (StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth)',
    'stylegan2_basicsr_d': 'XPixelGroup/BasicSR model zoo (StyleGAN2 discriminators)',
    'stylegan2_gfpgan_clean': 'TencentARC/GFPGAN v1.3.0 / v1.3.4 releases (GFPGANv1.3.pth / GFPGANv1.4.pth)',
    'gfpgan': 'TencentARC/GFPGAN v1.3.0 / v1.3.4 releases (GFPGANv1.3.pth / GFPGANv1.4.pth)',
    'gpen': 'yangxy/GPEN README, model zoo (GPEN-BFR-512.pth, GPEN-BFR-256.pth)',
    'gpen_g': 'yangxy/GPEN README, model zoo (GPEN-BFR-512.pth)',
    'gpen_d': 'yangxy/GPEN README, model zoo (GPEN-BFR-512-D.pth)',
    'codeformer': 'sczhou/CodeFormer v0.1.0 release (codeformer.pth)',
    'gcfsr': 'hejingwenhejingwen/GCFSR README (the 1024 px and blind 512 px models)',
    'arcface_resnet18': 'TencentARC/GFPGAN v0.1.0 release (arcface_resnet18.pth)',
    'facexlib': 'xinntao/facexlib v0.1.0 / v0.2.0 / v0.2.2 releases',
    'torchvision_vgg': 'torchvision (VGG16_Weights / VGG19_Weights.IMAGENET1K_V1: vgg16-397923af.pth, '
                       'vgg19-dcbb9e9d.pth)',
    'vggface': 'VGGFace PyTorch port by S. Albanie (robots.ox.ac.uk/~albanie/pytorch-models.html: vgg_face_dag.pth)',
}


def convert_file(source, src, dst, key=None):
    """Read ``src`` (weights_only), convert with ``CONVERTERS[source]``, write ``{'params': state}`` to ``dst``.

    Sources with an entry in ``NETWORKS`` also store the network block they load into. Reading and writing go
    through ``toolkit.checkpoints``: a bad or missing file is one line (a missing release names where it is
    published), and the output is written atomically.
    """
    if source not in CONVERTERS:
        raise BadInputError(f'unknown source {source!r}; choose from {sorted(CONVERTERS)}')
    if os.path.realpath(src) == os.path.realpath(dst):
        raise BadInputError('refusing to overwrite the source checkpoint; give another output path')
    how_to_get = (f'The {source} release is published at {RELEASES[source]}: download it (e.g. into weights/), '
                  'then convert it; weights/README.md lists every public file and where it goes.')
    state = CONVERTERS[source](read_state_dict(src, f'the {source} release', how_to_get,
                                               param_key=key or DEFAULT_KEYS.get(source)))
    write(dst, state, network=NETWORKS[source](state) if source in NETWORKS else None)
    return state
