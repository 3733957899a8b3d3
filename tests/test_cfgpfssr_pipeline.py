"""CFGPFSSR option files through BasicSR's real train / test pipelines, shrunk to tiny sizes on real faces."""
import os

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.parsing_arch import FaceParseNet
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Discriminator, FaceStyleGAN2Generator
from helpers import deep_update, load_options, run_module, tiny_training, write_options

TRAIN_DIR = 'options/train/CFGPFSSR'
PAPER = f'{TRAIN_DIR}/train_CFGPFSSR_x16_FFHQ1024.yml'
ABLATIONS = [f'{TRAIN_DIR}/train_CFGPFSSR_{name}_x16_FFHQ1024.yml' for name in ('baseline', 'CS-SFT_feature', 'SFT')]
TEST = 'options/test/CFGPFSSR/test_CFGPFSSR_x16_CelebAHQ.yml'
REAL_TEST = 'options/test/CFGPFSSR/test_CFGPFSSR_x16_real.yml'
# 16x on the 128 px fixture faces: 8 px LR, prior blocks 4..64 px, tiny widths
TINY_G = {'out_size': 128, 'in_size': 8, 'num_style_feat': 16, 'narrow': 0.03125, 'num_rrdb_feat': 8,
          'num_rrdb_block': 1, 'num_rrdb_grow': 4, 'prior_num_mlp': 1}
TINY_PARSER = {'type': 'FaceParseNet', 'in_size': 64, 'min_feat_size': 32, 'base_channels': 8,
               'channel_range': [8, 8], 'num_res_blocks': 1, 'with_image_head': True}


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """Random tiny StyleGAN2 prior (at the HR size, as a 1024 px FFHQ prior) and parser checkpoints."""
    folder = tmp_path_factory.mktemp('cfgpfssr_weights')
    torch.manual_seed(0)
    prior = FaceStyleGAN2Generator(128, TINY_G['num_style_feat'], TINY_G['prior_num_mlp'], narrow=TINY_G['narrow'])
    parser_opt = {k: v for k, v in TINY_PARSER.items() if k != 'type'}
    parser = FaceParseNet(**parser_opt)
    paths = {'prior': str(folder / 'stylegan2_tiny.pth'), 'parser': str(folder / 'parsenet_tiny.pth')}
    torch.save({'params_ema': prior.state_dict()}, paths['prior'])
    torch.save(parser.state_dict(), paths['parser'])
    return paths


def tiny_options(relpath, lmdb, pretrained, total_iter=2):
    opt = tiny_training(load_options(relpath), total_iter=total_iter, checkpoint_freq=1, val_freq=total_iter)
    hq = {'dataroot_gt': lmdb, 'gt_size': 128}
    network_g = dict(TINY_G, prior_path=pretrained['prior'])
    if opt['network_g'].get('parser_opt') is not None:
        network_g['parser_opt'] = dict(TINY_PARSER, weights_path=pretrained['parser'])
    return deep_update(opt, {
        'datasets': {'train': dict(hq, num_worker_per_gpu=0), 'val': dict(hq, max_items=1)},
        'network_g': network_g,
        'network_d': {'out_size': 128, 'narrow': 0.03125},
        'train': {'perceptual_opt': {'weights_path': None}},  # random VGG16 (no weights downloadable)
    })


def train(relpath, lmdb, pretrained, workdir, total_iter=2, overrides=None):
    opt = deep_update(tiny_options(relpath, lmdb, pretrained, total_iter), overrides or {})
    run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    return opt, os.path.join(str(workdir), 'experiments', opt['name'], 'models')


def test_paper_option_trains_priors_frozen_then_tests(ffhq_small_lmdb, pretrained, workdir):
    opt, models = train(PAPER, ffhq_small_lmdb, pretrained, workdir)
    first = torch.load(os.path.join(models, 'net_g_1.pth'), weights_only=True)['params']
    second = torch.load(os.path.join(models, 'net_g_2.pth'), weights_only=True)['params']
    assert os.path.isfile(os.path.join(models, 'net_d_2.pth'))
    prior = torch.load(pretrained['prior'], weights_only=True)['params_ema']
    parser = torch.load(pretrained['parser'], weights_only=True)
    frozen = {**{f'prior.{k}': v for k, v in prior.items() if f'prior.{k}' in second},
              **{f'parser.{k}': v for k, v in parser.items()}}
    assert len(frozen) == len([k for k in second if k.startswith(('prior.', 'parser.'))])
    for key, value in frozen.items():  # weights and BN statistics untouched by two training steps
        assert torch.equal(first[key], value) and torch.equal(second[key], value), key
    for part in ('rrdb.', 'encoder_blocks.', 'latent_head.', 'sft_layers.', 'decoder_fusions.', 'decoder_out.'):
        keys = [k for k in second if k.startswith(part)]
        assert keys and any(not torch.equal(first[k], second[k]) for k in keys), f'{part} did not train'

    test_opt = deep_update(load_options(TEST), {
        'num_gpu': 0,
        'datasets': {'test_1': {'dataroot_gt': ffhq_small_lmdb, 'gt_size': 128, 'max_items': 2}},
        'network_g': dict(TINY_G, parser_opt=dict(TINY_PARSER, weights_path=None)),
        'path': {'pretrain_network_g': os.path.join(models, 'net_g_latest.pth')},
        'val': {'metrics': {'niqe': None}},  # NIQE needs images larger than the tiny 128 px results
    })
    outputs = []
    for run in ('first', 'second'):  # the same faces restored twice give the same bytes (fixed prior noise)
        run_opt = dict(test_opt, name=f"{test_opt['name']}_{run}")
        run_module('facesr_arch.test', ['-opt', write_options(run_opt, str(workdir), 'test.yml')], cwd=str(workdir))
        results = os.path.join(str(workdir), 'results', run_opt['name'], 'visualization', 'CelebAHQ_1000_x16')
        assert len(os.listdir(results)) == 2
        outputs.append([open(os.path.join(results, name), 'rb').read() for name in sorted(os.listdir(results))])
    assert outputs[0] == outputs[1]

    # inference: two restorers built from the checkpoint (as scripts/inference.py does) agree bit for bit
    from facesr_arch.cli import inference as cli
    args = ['-i', 'in', '-o', 'out', '--device', 'cpu', '-opt', write_options(test_opt, str(workdir), 'test.yml')]
    face = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    restored = [cli.restorer_from_args(cli.build_parser().parse_args(args)).restore([face, face])
                for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(restored[0] + restored[1][:1], restored[1] + restored[0][1:]))

    # Table 2's real-image option (LQ only, no reference): the same network on a folder of LR faces
    os.makedirs(workdir / 'real')
    for i in range(2):
        cv2.imwrite(str(workdir / 'real' / f'{i}.png'), (face * 255).astype(np.uint8))
    real_opt = deep_update(load_options(REAL_TEST), {
        'num_gpu': 0, 'datasets': {'test_1': {'dataroot_lq': str(workdir / 'real'), 'lq_size': 8}},
        'network_g': test_opt['network_g'], 'path': test_opt['path'],
        'val': {'metrics': None}})  # NIQE needs images larger than the tiny 128 px results
    run_module('facesr_arch.test', ['-opt', write_options(real_opt, str(workdir), 'real.yml')], cwd=str(workdir))
    assert len(os.listdir(workdir / 'results' / real_opt['name'] / 'visualization' / 'real_old_photos')) == 2


@pytest.mark.parametrize('relpath', ABLATIONS, ids=lambda p: p.split('_')[2])
def test_ablation_option_trains(relpath, ffhq_small_lmdb, pretrained, workdir):
    # the ablation files differ from the paper file in network_g only: one step, without the validation
    # and the VGG term the paper-file run covers
    skip = {'datasets': {'val': None}, 'val': None, 'train': {'perceptual_opt': None}}
    opt, models = train(relpath, ffhq_small_lmdb, pretrained, workdir, total_iter=1, overrides=skip)
    state = torch.load(os.path.join(models, 'net_g_1.pth'), weights_only=True)['params']
    has_parser = any(k.startswith('parser.') for k in state)
    assert has_parser == opt['network_g']['use_parsing']


def test_discriminator_starts_from_converted_stylegan2(ffhq_small_lmdb, pretrained, workdir):
    """GLEAN's recipe as an option: path.pretrain_network_d names a StyleGAN2 discriminator converted from the
    rosinality layout (``convert_weights.py stylegan2_rosinality_d``); with lr 0 it is still the converted one."""
    import re
    from helpers import run_script
    torch.manual_seed(1)
    disc = FaceStyleGAN2Discriminator(128, narrow=0.03125)
    rosinality = {re.sub(r'^conv_body\.', 'convs.', k): v for k, v in disc.state_dict().items()}
    torch.save({'g_ema': {}, 'd': rosinality}, workdir / 'stylegan2-ffhq.pt')
    run_script('convert_weights.py', ['stylegan2_rosinality_d', str(workdir / 'stylegan2-ffhq.pt'),
                                      str(workdir / 'd.pth')], cwd=str(workdir))
    skip = {'datasets': {'val': None}, 'val': None, 'train': {'perceptual_opt': None, 'optim_d': {'lr': 0.0}},
            'path': {'pretrain_network_d': str(workdir / 'd.pth')}}
    _, models = train(ABLATIONS[0], ffhq_small_lmdb, pretrained, workdir, total_iter=1, overrides=skip)
    trained = torch.load(os.path.join(models, 'net_d_1.pth'), weights_only=True)['params']
    assert trained.keys() == disc.state_dict().keys()
    assert all(torch.equal(trained[k], v) for k, v in disc.state_dict().items())
