"""W-Net training: the model's losses (parsing map vs the binarised HR map, key regions), every Table 3
ablation training in process, and a real few-iteration run of every W-Net option file through BasicSR's
train / test pipelines on real faces with synthetic parsing sidecars."""
import copy
import glob
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.modules import RCAB
from facesr_arch.archs.wnet_arch import LPF, SCAB, CascadeFusion, ConvParsingBlock, ParsingBlock
from facesr_arch.models.wnet_model import WNetModel
from facesr_arch.utils.face_parsing import skin_mask
from helpers import REPO, deep_update, load_options, tiny_training, write_options
from test_wnet_losses import synthetic_labels

TINY_NET = {'num_feat': 8, 'num_res_blocks': 1, 'hourglass_depth': 2, 'upscale_stages': 1, 'num_levels': 2,
            'num_heads': 2}
# the paper's option files (the quick-start file is exercised by tests/test_quickstart.py)
TRAIN_FILES = sorted(f for f in glob.glob(os.path.join(REPO, 'options/train/WNet/*.yml'))
                     if not os.path.basename(f).startswith('quickstart_'))
TEST_FILES = sorted(glob.glob(os.path.join(REPO, 'options/test/WNet/*.yml')))


def real_batch(folder, size=32, count=2):
    """Real faces resized to ``size`` as [0, 1] RGB tensors, their bicubic x4 inputs, synthetic labels."""
    names = sorted(os.listdir(folder))[:count]
    gt = [cv2.resize(cv2.imread(os.path.join(folder, n)), (size, size), interpolation=cv2.INTER_AREA) for n in names]
    gt = torch.from_numpy(np.stack(gt)[..., ::-1].transpose(0, 3, 1, 2).copy()).float() / 255
    lq = F.interpolate(F.interpolate(gt, scale_factor=0.25, mode='bicubic'), size=size, mode='bicubic').clamp(0, 1)
    labels = torch.from_numpy(np.stack([synthetic_labels(size, seed) for seed in range(count)]))
    return {'lq': lq, 'gt': gt, 'parsing': labels}


def build_model(option_file, network=None, train=None):
    opt = load_options(option_file)
    opt = deep_update(opt, {'num_gpu': 0, 'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1,
                            'network_g': dict(network or {}, **TINY_NET),
                            # the VGG term is covered by the loss tests and the pipeline runs
                            'train': {'key_region_opt': {'weights_path': None, 'perceptual_weight': 0}}})
    if train:
        opt['train'].update(train)  # deep_update would keep the file's value for None
    return WNetModel(opt)


@pytest.mark.parametrize('option_file', [f for f in TRAIN_FILES if 'ablation' in f] +
                         ['options/train/WNet/train_WNet_x4_CelebA_ModeII.yml'])
def test_each_table3_variant_builds_and_trains(option_file, ffhq_small_dir):
    torch.manual_seed(0)
    model = build_model(option_file)
    switches = load_options(option_file)['network_g']
    net = model.net_g
    assert isinstance(net.parsing, ParsingBlock if switches['parsing_block'] else ConvParsingBlock)
    assert isinstance(net.w_fusions[0], LPF if switches['lpf'] else CascadeFusion)
    assert isinstance(net.enc_blocks[0][0], SCAB if switches['scab'] else RCAB)
    before = copy.deepcopy(model.net_g.state_dict())
    model.feed_data(real_batch(ffhq_small_dir))
    model.optimize_parameters(1)
    assert set(model.log_dict) == {'l_pix', 'l_parsing', 'l_key_region'}
    assert all(np.isfinite(v) and v > 0 for v in model.log_dict.values())
    changed = [k for k, v in model.net_g.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any(k.startswith('parsing.') for k in changed) and any(k.startswith('enc_blocks.') for k in changed)


@pytest.mark.parametrize('target_scale', [4, None])
def test_parsing_loss_targets_the_lr_parsing_map_or_the_binarised_hr_map(ffhq_small_dir, target_scale):
    """Section 4.2: the binarised HR map bicubic-downsampled to the LR size (x4) and, as the LR face, bicubic
    back to the size the parsing block predicts; ``parsing_target_scale: null`` targets the binarised map."""
    torch.manual_seed(0)
    option_file = 'options/train/WNet/train_WNet_x4_CelebA_ModeI.yml'
    assert load_options(option_file)['train']['parsing_target_scale'] == 4
    model = build_model(option_file, train={'parsing_target_scale': target_scale})
    batch = real_batch(ffhq_small_dir)
    net = copy.deepcopy(model.net_g)
    sr, parsing = net(batch['lq'], return_parsing=True)
    skin = torch.from_numpy(skin_mask(batch['parsing'].numpy())).unsqueeze(1)  # section 3.1: skin = 1, rest 0
    assert 0 < skin.mean() < 1
    target = skin
    if target_scale:
        low = F.interpolate(skin, size=(8, 8), mode='bicubic', align_corners=False, antialias=True).clamp(0, 1)
        target = F.interpolate(low, size=(32, 32), mode='bicubic', align_corners=False).clamp(0, 1)
        assert 0 < ((target > 0) & (target < 1)).float().mean()  # soft, as a bicubic LR map is
    expected_parsing = F.mse_loss(parsing, target.expand(-1, 3, -1, -1))  # eq. 25, lambda_par = 1
    expected_pixel = F.mse_loss(sr, batch['gt'])  # eq. 24, lambda_pixel = 1
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert model.log_dict['l_parsing'] == pytest.approx(expected_parsing.item(), rel=1e-4)
    assert model.log_dict['l_pix'] == pytest.approx(expected_pixel.item(), rel=1e-4)
    assert model.cri_key_region.loss_weight == 0.5  # lambda_key (section 4.2)
    model.test()
    visuals = model.get_current_visuals()  # [0, 1] images are passed through, not mapped from [-1, 1]
    assert torch.equal(visuals['gt'], batch['gt'])

    model.feed_data({'lq': batch['lq'], 'gt': batch['gt']})
    with pytest.raises(ValueError, match='parsing_root'):
        model.optimize_parameters(2)


@pytest.fixture(scope='module')
def parsing_dir(ffhq_small_dir, tmp_path_factory):
    """Synthetic 128 px label maps named by the stems of the small FFHQ faces."""
    out = tmp_path_factory.mktemp('wnet_parsing')
    for seed, name in enumerate(sorted(os.listdir(ffhq_small_dir))):
        cv2.imwrite(str(out / (os.path.splitext(name)[0] + '.png')), synthetic_labels(128, seed).astype(np.uint8))
    return str(out)


@pytest.fixture(scope='module')
def vgg19_file(tmp_path_factory):
    """A random VGG19 checkpoint in torchvision's layout, loaded by the key-region loss's real loading code."""
    from torchvision.models import vgg19
    path = str(tmp_path_factory.mktemp('weights') / 'vgg19_random.pth')
    torch.save({f'features.{k}': v for k, v in vgg19(weights=None).features.state_dict().items()}, path)
    return path


def tiny_pipeline_options(option_file, ffhq_small_dir, parsing_dir, vgg19_file):
    data = {'dataroot_gt': ffhq_small_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 32}
    opt = tiny_training(load_options(os.path.relpath(option_file, REPO)), total_iter=2, checkpoint_freq=2,
                        val_freq=2)
    return deep_update(opt, {
        'datasets': {
            'train': dict(data, parsing_root=parsing_dir, batch_size_per_gpu=2, num_worker_per_gpu=0),
            'val': dict(data, max_items=1),
        },
        'network_g': TINY_NET,
        'train': {'key_region_opt': {'weights_path': vgg19_file}},
    })


@pytest.mark.parametrize('option_file', TRAIN_FILES + TEST_FILES, ids=os.path.basename)
def test_option_files_validate(option_file, workdir):
    """What ``facesr_arch.train`` / ``test`` check before building anything (types, keys, loss and dataset
    options); a test file whose trained checkpoint is absent fails naming it."""
    from facesr_arch.utils.options import OptionError, validate_options
    opt = load_options(os.path.relpath(option_file, REPO))
    if '/train/' in option_file:
        validate_options(opt, is_train=True)
    else:
        with pytest.raises(OptionError, match=opt['path']['pretrain_network_g']):
            validate_options(opt, is_train=False)


def test_option_files_train_and_test_through_the_pipelines(ffhq_small_dir, parsing_dir, vgg19_file, workdir):
    """The x4 / x8, Mode I / II train files: 2 iterations, validation and checkpoints through
    ``facesr_arch.train``; the test files: evaluation of the trained Mode I / Mode II checkpoints through
    ``facesr_arch.test``. One interpreter runs them all (the entries' ``main``), so imports are paid once.
    The ablation files differ from the x4 Mode II file only in the Table 3 switches; each of them trains in
    ``test_each_table3_variant_builds_and_trains``."""
    paired_dir = workdir / 'paired'  # LQ / GT folders as scripts/make_testset.py writes them (x4, back to size)
    for sub in ('lq', 'gt'):
        os.makedirs(paired_dir / sub)
    for name in sorted(os.listdir(ffhq_small_dir))[:2]:
        gt = cv2.resize(cv2.imread(os.path.join(ffhq_small_dir, name)), (32, 32), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(paired_dir / 'gt' / name), gt)
        lq = cv2.resize(cv2.resize(gt, (8, 8), interpolation=cv2.INTER_CUBIC), (32, 32), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(paired_dir / 'lq' / name), lq)
    runs = []
    names = {}
    for path in [f for f in TRAIN_FILES if 'ablation' not in f]:
        opt = tiny_pipeline_options(path, ffhq_small_dir, parsing_dir, vgg19_file)
        runs.append(('train', write_options(opt, str(workdir), os.path.basename(path)), opt['name']))
    for path in TEST_FILES:
        opt = load_options(os.path.relpath(path, REPO))
        metrics = {k: v for k, v in opt['val']['metrics'].items() if k in ('psnr', 'ssim')}  # no LPIPS/ArcFace/FAN files
        if opt['datasets']['test_1']['type'] == 'FacePairedDataset':  # Mode II: fixed LQ / GT folders
            data = {'dataroot_lq': str(paired_dir / 'lq'), 'dataroot_gt': str(paired_dir / 'gt'), 'lq_size': 32,
                    'max_items': 2}
        else:
            data = {'dataroot_gt': ffhq_small_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 32, 'max_items': 2}
        opt = deep_update(opt, {'num_gpu': 0, 'network_g': TINY_NET, 'datasets': {'test_1': data, 'test_2': data},
                                'val': {'metrics': None}})
        opt['val']['metrics'] = metrics
        names[opt['name']] = [block['name'] for block in opt['datasets'].values()]
        runs.append(('test', write_options(opt, str(workdir), os.path.basename(path)), opt['name']))
    assert len(runs) == 8
    driver = ('import sys, importlib\n'
              'for entry, path in zip(sys.argv[1::2], sys.argv[2::2]):\n'
              '    sys.argv = [entry, "-opt", path]\n'
              '    importlib.import_module(f"facesr_arch.{entry}").main()\n')
    args = [a for entry, path, _ in runs for a in (entry, path)]
    proc = subprocess.run([sys.executable, '-c', driver] + args, cwd=workdir, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    for entry, _, name in runs:
        if entry == 'train':
            models = workdir / 'experiments' / name / 'models'
            assert (models / 'net_g_2.pth').is_file(), name
            state = torch.load(models / 'net_g_2.pth', map_location='cpu', weights_only=True)['params']
            assert any(k.startswith('enc_fusions.') for k in state)
        else:
            for dataset in names[name]:
                images = glob.glob(str(workdir / 'results' / name / 'visualization' / dataset / '*.png'))
                assert len(images) == 2, (name, dataset)
                assert cv2.imread(images[0]).shape == (32, 32, 3)
