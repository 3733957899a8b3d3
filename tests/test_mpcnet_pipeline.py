"""MPCNet option files through BasicSR's pipeline: a few real training iterations of the paper option and of
each Table 1 ablation (tiny sizes, real faces), the plateau scheduler halving the learning rate from the
validation reconstruction loss, and a test option run on the trained checkpoint."""
import glob
import hashlib
import inspect
import os
import re

import cv2
import pytest
import torch

from helpers import deep_update, load_options, run_module, tiny_training, write_options

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.mpcnet_arch import MPCNet
from facesr_arch.archs.parsing_arch import FaceParseNet
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator
from facesr_arch.utils.options import validate_options

DEFAULTS = {name: p.default for name, p in inspect.signature(MPCNet).parameters.items()}
TRAIN_DIR = 'options/train/MPCNet'
TEST_DIR = 'options/test/MPCNet'
TINY_PARSER = {'base_channels': 4, 'channel_range': [4, 8], 'num_res_blocks': 1}
PLATEAU_LOG = re.compile(r'reconstruction loss \(plateau scheduler\): ([0-9.]+); learning rate: ([0-9.e+-]+)')


def tiny_priors(folder):
    """Tiny random pretrained priors written to disk, loaded by MPCNet through the real weight loader."""
    torch.manual_seed(0)
    gan = FaceStyleGAN2Generator(32, 16, 2, 1, 1 / 32, noise_mode='none')
    torch.save({'params_ema': gan.state_dict()}, os.path.join(folder, 'gan_prior.pth'))
    torch.save({'params': FaceParseNet(32, **TINY_PARSER).state_dict()}, os.path.join(folder, 'parser.pth'))
    return os.path.join(folder, 'gan_prior.pth'), os.path.join(folder, 'parser.pth')


def tiny_options(relpath, workdir, lmdb, val_dir, total_iter=2):
    opt = load_options(relpath)
    validate_options(deep_update(opt, {'network_g': {'gan_prior_path': None, 'parsing_prior_path': None}}))
    gan_path, parser_path = tiny_priors(str(workdir))
    network = opt['network_g']
    tiny_net = {'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'gan_num_mlp': 2, 'num_latent_mlp': 2,
                'num_rcab': 1}
    if network['use_gan_prior']:
        tiny_net['gan_prior_path'] = gan_path
    if network['use_parsing_prior']:
        tiny_net.update(parser_opt=dict(network['parser_opt'], **TINY_PARSER), parsing_prior_path=parser_path)
    degradation = {'type': 'mpcnet_blind', 'out_size': 32}
    loss = {'weights_path': None}  # random VGGFace (the real one is a 500 MB file)
    opt = deep_update(opt, {
        'datasets': {
            'train': {'dataroot_gt': lmdb, 'gt_size': 32, 'degradation': degradation, 'batch_size_per_gpu': 2,
                      'num_worker_per_gpu': 0},
            'val': {'dataroot_gt': val_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 32,
                    'degradation': degradation, 'max_items': 2},
        },
        'network_g': tiny_net,
        'network_d': {'in_size': 32, 'num_feat': 4, 'max_channels': 16},
        # any validation after the first is "no improvement" (improvement must exceed 10 in absolute terms)
        'train': {'scheduler': {'patience': 0, 'threshold': 10.0, 'threshold_mode': 'abs'},
                  **{key: loss for key in ('perceptual_opt', 'style_opt') if opt['train'].get(key)}},
        'val': {'save_img': False},
    })
    return tiny_training(opt, total_iter=total_iter, checkpoint_freq=total_iter, val_freq=1)


def test_paper_option_trains_and_the_plateau_scheduler_follows_validation(workdir, ffhq_small_lmdb, ffhq_small_dir):
    opt = tiny_options(f'{TRAIN_DIR}/train_MPCNet_FFHQ512.yml', workdir, ffhq_small_lmdb, ffhq_small_dir)
    assert opt['train']['gan_opt']['gan_type'] == 'hinge' and opt['train']['optim_g']['lr'] == 2e-4
    run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    exp = workdir / 'experiments' / opt['name']
    assert (exp / 'models' / 'net_g_2.pth').is_file() and (exp / 'models' / 'net_d_2.pth').is_file()
    log = open(glob.glob(str(exp / 'train_*.log'))[0]).read()
    for key in ('l_g_pix', 'l_g_percep', 'l_g_style', 'l_g_gan', 'l_d_real', 'l_d_fake'):
        assert key in log, key
    gan_path = opt['network_g']['gan_prior_path']  # the log names each pretrained part's file and short hash
    with open(gan_path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()[:12]
    assert (f'Pretrained part: frozen noise-free StyleGAN2 prior: loaded from {gan_path} (sha256 {sha}, '
            'network_g.gan_prior_path)') in log
    assert 'Pretrained part: frozen vggface (perceptual loss): RANDOM weights' in log
    steps = [(float(loss), float(lr)) for loss, lr in PLATEAU_LOG.findall(log)]
    # validations at iterations 1, 2 and the final one: the first sets the best, each later one halves
    assert [lr for _, lr in steps] == [2e-4, 1e-4, 5e-5]
    assert all(loss > 0 for loss, _ in steps)
    state = torch.load(exp / 'training_states' / '2.state', map_location='cpu', weights_only=False)
    assert state['schedulers'][0]['best'] == pytest.approx(steps[0][0], rel=1e-3)
    assert state['optimizers'][0]['param_groups'][0]['lr'] == 2e-4  # saved before the iteration-2 validation

    # the CelebA-Test option on the trained checkpoint: LQ/GT folders as make_testset writes them
    data = workdir / 'celeba_test'
    for sub in ('lq', 'gt'):
        os.makedirs(data / sub)
    for name in sorted(os.listdir(ffhq_small_dir))[:2]:
        img = cv2.imread(os.path.join(ffhq_small_dir, name))
        cv2.imwrite(str(data / 'gt' / name), cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(data / 'lq' / name), cv2.resize(img, (8, 8), interpolation=cv2.INTER_AREA))
    test_opt = load_options(f'{TEST_DIR}/test_MPCNet_CelebA-Test.yml')
    network = {k: v for k, v in opt['network_g'].items() if not k.endswith('_path')}
    test_opt = deep_update(test_opt, {
        'num_gpu': 0,
        'datasets': {'test_1': {'dataroot_lq': str(data / 'lq'), 'dataroot_gt': str(data / 'gt'), 'lq_size': 8,
                                'gt_size': 32}},
        'network_g': network,
        'path': {'pretrain_network_g': str(exp / 'models' / 'net_g_2.pth')},
        'val': {'metrics': {'lpips': None}},  # LPIPS weights are not on this machine
    })
    run_module('facesr_arch.test', ['-opt', write_options(test_opt, str(workdir), 'test.yml')], cwd=str(workdir))
    results = glob.glob(str(workdir / 'results' / test_opt['name'] / 'visualization' / 'CelebA-Test' / '*.png'))
    assert len(results) == 2 and cv2.imread(results[0]).shape == (32, 32, 3)
    test_log = open(glob.glob(str(workdir / 'results' / test_opt['name'] / 'test_*.log'))[0]).read()
    assert ('Pretrained part: frozen noise-free StyleGAN2 prior: from the trained checkpoint '
            f"{test_opt['path']['pretrain_network_g']} (sha256 ") in test_log


@pytest.mark.parametrize('tag', ['ablation_woGAN', 'ablation_woParsing', 'ablation_woAdaIN', 'ablation_woSFT',
                                 'large'])
def test_each_ablation_and_the_large_option_trains(tag, workdir, ffhq_small_lmdb, ffhq_small_dir):
    opt = tiny_options(f'{TRAIN_DIR}/train_MPCNet_{tag}_FFHQ512.yml', workdir, ffhq_small_lmdb,
                       ffhq_small_dir, total_iter=1)
    opt = deep_update(opt, {'val': None})
    run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    assert (workdir / 'experiments' / opt['name'] / 'models' / 'net_g_1.pth').is_file()


def test_test_options_match_their_training_networks_and_validate():
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(os.path.dirname(__file__), '..', TEST_DIR,
                                                                       '*.yml')))
    ablations = [f'test_MPCNet_ablation_{tag}_CelebA-Test.yml' for tag in ('woAdaIN', 'woGAN', 'woParsing', 'woSFT')]
    assert names == ['test_MPCNet_CelebA-Test.yml', 'test_MPCNet_Real-Test.yml'] + ablations + [
        'test_MPCNet_blur_sweep.yml', 'test_MPCNet_large_CelebA-Test.yml', 'test_MPCNet_noise_sweep.yml',
        'test_MPCNet_scale_sweep.yml']
    subsets = {'scale': 7, 'blur': 8, 'noise': 6, 'CelebA-Test': 1, 'Real-Test': 1}
    for name in names:
        opt = load_options(f'{TEST_DIR}/{name}')
        # the training file whose checkpoint it loads: experiments/<name>/models/...
        trained = opt['path']['pretrain_network_g'].split('/')[1]
        train_net = load_options(f"{TRAIN_DIR}/train_{trained}.yml")['network_g']
        built = {key: dict(DEFAULTS, **block) for key, block in (('train', train_net), ('test', opt['network_g']))}
        for key in DEFAULTS:
            assert key.endswith('_path') or built['train'][key] == built['test'][key], (name, key)
        validate_options(deep_update(opt, {'path': {'pretrain_network_g': None}}), is_train=False)
        tag = name[len('test_MPCNet_'):-len('.yml')].replace('_sweep', '').split('_')[-1]
        assert len(opt['datasets']) == subsets[tag]


def test_eq8_reading_mse_is_the_default_and_l1_the_switch():
    """Eq. 8: the paper option's pixel and feature terms are squared errors, one VGGFace pass giving eq. 10's
    gram term too; the literal L1 reading is the L1Loss / criterion l1 switch and changes only those terms."""
    from basicsr.losses import build_loss
    train = load_options(f'{TRAIN_DIR}/train_MPCNet_FFHQ512.yml')['train']
    assert 'style_opt' not in train and train['perceptual_opt']['style_weight'] > 0
    torch.manual_seed(0)
    out, gt = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    pixel = build_loss(train['pixel_opt'])
    assert torch.allclose(pixel(out, gt), ((out - gt)**2).mean())
    literal = build_loss(dict(train['pixel_opt'], type='L1Loss'))
    assert torch.allclose(literal(out, gt), (out - gt).abs().mean())
    features = {k: v for k, v in train['perceptual_opt'].items() if k != 'type'}
    mse = build_loss({'type': 'FacePerceptualLoss', **features, 'weights_path': None})
    l1 = build_loss({'type': 'FacePerceptualLoss', **features, 'weights_path': None, 'criterion': 'l1',
                     'style_weight': 0})
    l1.vgg.load_state_dict(mse.vgg.state_dict())
    feats_out, feats_gt = mse.vgg(out), mse.vgg(gt)
    weight = features['perceptual_weight']
    expected_mse = weight * sum(((feats_out[k] - feats_gt[k])**2).mean() for k in feats_out)
    expected_l1 = weight * sum((feats_out[k] - feats_gt[k]).abs().mean() for k in feats_out)
    percep, style = mse(out, gt)
    assert torch.allclose(percep, expected_mse, rtol=1e-4) and style is not None and style > 0
    percep, style = l1(out, gt)
    assert torch.allclose(percep, expected_l1, rtol=1e-4) and style is None
