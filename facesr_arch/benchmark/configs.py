"""The methods and configurations the benchmarks measure: each method's paper training option file, a tiny
shrink of it, larger named configurations, and the inference-only baselines (:func:`method_options`)."""
import copy
import os

from ..inference.loading import network_config
from ..utils.options import load_yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the paper configuration of each method: its main training option file
PAPER_OPTIONS = {
    'CFGPFSSR': 'options/train/CFGPFSSR/train_CFGPFSSR_x16_FFHQ1024.yml',
    'GCFSR': 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml',
    'MPCNet': 'options/train/MPCNet/train_MPCNet_FFHQ512.yml',
    'PVFR': 'options/train/PVFR/train_PVFR_FFHQ512.yml',
    'WNet': 'options/train/WNet/train_WNet_x4_CelebA_ModeI.yml',
}
# larger named configurations, where a method has one: their own training option files
LARGE_OPTIONS = {
    'MPCNet': 'options/train/MPCNet/train_MPCNet_large_FFHQ512.yml',  # config-f width (README, MPCNet)
}
CONFIGS = ('tiny', 'paper', 'large')

# baselines (GFPGAN, GPEN, CodeFormer; inference only): the network block of the public release (constructor
# defaults) and of a tiny configuration
BASELINES = {
    'FaceGFPGAN': {'paper': {'type': 'FaceGFPGAN'},
                   'tiny': {'type': 'FaceGFPGAN', 'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32,
                            'num_mlp': 2}},
    'FaceGPEN': {'paper': {'type': 'FaceGPEN'},
                 'tiny': {'type': 'FaceGPEN', 'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'num_mlp': 2}},
    'FaceCodeFormer': {'paper': {'type': 'FaceCodeFormer'},
                       'tiny': {'type': 'FaceCodeFormer', 'img_size': 64, 'nf': 32, 'emb_dim': 16, 'codebook_size': 32,
                                'dim_embd': 32, 'n_layers': 1, 'connect_list': [4, 8, 16, 32]}},
}
METHODS = sorted(PAPER_OPTIONS) + sorted(BASELINES)

_TINY_PARSER = {'type': 'FaceParseNet', 'in_size': 64, 'min_feat_size': 32, 'base_channels': 8,
                'channel_range': [8, 8], 'num_res_blocks': 1, 'weights_path': None}
# tiny configuration: option blocks whose keys replace those of the paper file
TINY = {
    'CFGPFSSR': {'network_g': {'out_size': 128, 'in_size': 8, 'num_style_feat': 16, 'narrow': 1 / 32,
                               'num_rrdb_feat': 8, 'num_rrdb_block': 1, 'num_rrdb_grow': 4, 'prior_num_mlp': 1,
                               'parser_opt': _TINY_PARSER},
                 'network_d': {'out_size': 128, 'narrow': 1 / 32}},
    'GCFSR': {'network_g': {'out_size': 64, 'narrow': 0.0625, 'num_style_feat': 32},
              'network_d': {'out_size': 64, 'narrow': 0.0625}},
    'MPCNet': {'network_g': {'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'gan_num_mlp': 1,
                             'num_latent_mlp': 1,
                             'parser_opt': {'base_channels': 8, 'channel_range': [8, 8], 'num_res_blocks': 1}},
               'network_d': {'in_size': 32, 'num_feat': 4, 'max_channels': 16}},
    'PVFR': {'network_g': {'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'num_mlp': 1},
             'network_d': {'out_size': 32, 'narrow': 1 / 32, 'num_frozen_layers': 3},
             'network_d_local': {'num_feat': 8},
             'train': {'component_crop_sizes': {'left_eye': 8, 'right_eye': 8, 'mouth': 12}}},
    'WNet': {'network_g': {'num_feat': 8, 'num_res_blocks': 1, 'hourglass_depth': 2, 'upscale_stages': 1,
                           'num_levels': 2, 'num_heads': 2}},
}


def method_options(method, config):
    """The training options of ``method`` at ``config`` ('paper', 'tiny', or 'large' for the methods in
    :data:`LARGE_OPTIONS`), with no pretrained file to load.

    Returns:
        dict: The option file's content; ``network_g`` is the inference block (pretrained-file arguments
        None), every ``weights_path`` of the loss options is None (random loss networks), as are the
        ``pretrain_*`` paths, and ``random_priors`` is true. Baselines (no option file): ``network_g`` only.
    """
    if config not in CONFIGS:
        raise ValueError(f'config must be one of {CONFIGS}, got {config!r}')
    if method in BASELINES:  # inference only: no option file
        if config not in BASELINES[method]:
            raise ValueError(f'{method} has no {config} configuration')
        return {'network_g': copy.deepcopy(BASELINES[method][config])}
    if config == 'large' and method not in LARGE_OPTIONS:
        raise ValueError(f'{method} has no large configuration (methods with one: {sorted(LARGE_OPTIONS)})')
    path = os.path.join(REPO, LARGE_OPTIONS[method] if config == 'large' else PAPER_OPTIONS[method])
    tiny = copy.deepcopy(TINY[method]) if config == 'tiny' else {}
    network_g, _, _ = network_config(opt_path=path, net_options=tiny.pop('network_g', None))
    opt = load_yaml(path)
    opt['network_g'] = network_g
    for key, block in tiny.items():
        opt[key] = {**opt[key], **block}
    opt['path'] = {k: None for k in opt.get('path', {})}
    opt['train'] = _without_weights(opt['train'])
    opt['random_priors'] = True  # no pretrained file: launchable with random priors (models/priors.py)
    return opt


def _without_weights(block):
    if isinstance(block, dict):
        return {k: None if k == 'weights_path' else _without_weights(v) for k, v in block.items()}
    return block
