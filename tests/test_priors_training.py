"""Prior-training recipes through BasicSR's real pipeline: StyleGAN2 (FFHQ 512/1024, concat and noise-free
layouts) and parsing pretraining (MPCNet, CFGPFSSR FPN), shrunk; loss formulas by hand."""
import glob
import math
import os

import cv2
import numpy as np
import pytest
import torch

from helpers import REPO, deep_update, load_options, record_host_reads, run_module, tiny_training, write_options

def option_files(folder):
    return sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'options/train', folder, '*.yml')))


STYLEGAN2_OPTIONS = option_files('StyleGAN2')
PARSING_OPTIONS = option_files('Parsing')


def shrink_stylegan2(opt, lmdb_path, name):
    """A StyleGAN2 option file at 32 px with a tiny generator/discriminator; every regulariser runs."""
    overrides = {
        'name': name,
        'datasets': {
            'train': {'dataroot_gt': lmdb_path, 'gt_size': 32, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2},
            'val': {'num_samples': 2, 'num_style_feat': 16},
        },
        'network_g': {'out_size': 32, 'num_style_feat': 16, 'num_mlp': 2, 'narrow': 0.03125},
        'network_d': {'out_size': 32, 'narrow': 0.03125, 'stddev_group': 2},
        'train': {'net_d_reg_every': 2, 'path_length_every': 2},
    }
    return tiny_training(deep_update(opt, overrides), total_iter=4, checkpoint_freq=2, val_freq=2)


def run_training(opt, workdir):
    return run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))


@pytest.mark.parametrize('option_file', STYLEGAN2_OPTIONS)
def test_stylegan2_option_trains(option_file, ffhq_small_lmdb, workdir):
    name = os.path.splitext(os.path.basename(option_file))[0]
    opt = shrink_stylegan2(load_options(option_file), ffhq_small_lmdb, name)
    proc = run_training(opt, workdir)
    exp = workdir / 'experiments' / name
    assert sorted(os.listdir(exp / 'training_states')) == ['2.state', '4.state']
    ckpt = torch.load(exp / 'models' / 'net_g_4.pth', map_location='cpu', weights_only=True)
    assert set(ckpt) == {'params', 'params_ema', 'network'}  # self-describing (toolkit.checkpoints; no scales: no degradation)
    assert ckpt['network'] == {**opt['network_g']}
    assert torch.load(exp / 'models' / 'net_d_4.pth', weights_only=True)['network'] == opt['network_d']
    assert sorted(os.listdir(exp / 'visualization')) == ['sample_000', 'sample_001']
    assert {'sample_000_2.png', 'sample_000_4.png'} <= set(os.listdir(exp / 'visualization' / 'sample_000'))
    log = proc.stdout + proc.stderr
    assert 'l_d_r1' in log and 'l_g_path' in log
    state = torch.load(exp / 'training_states' / '4.state', map_location='cpu', weights_only=True)
    assert float(state['optimizers'][0]['param_groups'][0]['mean_path_length']) > 0

    if option_file.endswith('_FFHQ512.yml') and 'concat' not in option_file and 'noise-free' not in option_file:
        path = write_options(tiny_training(opt, total_iter=6, checkpoint_freq=2, val_freq=2), str(workdir))
        proc = run_module('facesr_arch.train', ['-opt', path, '--auto_resume'], cwd=str(workdir))
        assert 'Resuming training from epoch' in proc.stdout + proc.stderr
        assert '6.state' in os.listdir(exp / 'training_states')
        assert not glob.glob(str(workdir / 'experiments' / f'{name}_archived_*'))


def test_fixed_latents_and_hq_dataset(ffhq_small_dir):
    from facesr_arch.data.hq_image_dataset import FaceHQImageDataset, FaceLatentDataset
    latents = FaceLatentDataset({'num_samples': 3, 'num_style_feat': 8, 'seed': 1})
    assert torch.equal(latents[2]['latent'], FaceLatentDataset({'num_samples': 3, 'num_style_feat': 8,
                                                                'seed': 1})[2]['latent'])
    assert not torch.equal(latents[0]['latent'], latents[1]['latent'])
    assert latents[1]['lq_path'] == 'sample_001'
    faces = FaceHQImageDataset({'dataroot_gt': ffhq_small_dir, 'gt_size': 32})
    item = faces[0]
    assert set(item) == {'gt', 'key', 'gt_path'} and item['gt'].shape == (3, 32, 32)
    assert -1 <= item['gt'].min() and item['gt'].max() <= 1


def test_stylegan2_iteration_never_reads_the_device(ffhq_small_lmdb, tmp_path, monkeypatch):
    """An iteration with lazy R1 and the lazy path-length penalty both due reads no tensor on the host."""
    from facesr_arch.benchmark.training import build_model
    opt = shrink_stylegan2(load_options(STYLEGAN2_OPTIONS[0]), ffhq_small_lmdb, 'sync')
    torch.manual_seed(0)
    model = build_model(opt, torch.device('cpu'), str(tmp_path))
    model.feed_data({'gt': torch.rand(2, 3, 32, 32) * 2 - 1})
    model.optimize_parameters(1)
    reads = record_host_reads(monkeypatch)
    model.optimize_parameters(2)
    monkeypatch.undo()
    assert reads == []
    log = model.get_current_log()
    assert {'l_d_r1', 'l_g_path', 'mean_path_length'} <= set(log) and log['mean_path_length'] > 0


def test_style_mixing_and_path_length_by_hand():
    from types import SimpleNamespace

    from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator
    from facesr_arch.models.stylegan2_model import FaceStyleGAN2Model
    torch.manual_seed(0)
    net = FaceStyleGAN2Generator(16, num_style_feat=8, num_mlp=1, narrow=0.03125)
    optimizer = torch.optim.Adam(net.parameters())
    optimizer.param_groups[0]['mean_path_length'] = 0.5
    model = SimpleNamespace(net_g=net, device=torch.device('cpu'), mixing_prob=1.0, path_length_decay=0.01,
                            optimizer_g=optimizer, get_bare_model=lambda n: n)
    z = FaceStyleGAN2Model.random_latents(model, 3)
    assert z.shape == (3, net.num_latent, 8)
    switches = (z[:, 1:] != z[:, :-1]).any(2).any(0).nonzero().flatten()
    assert len(switches) == 1  # one crossover layer, shared by the batch
    model.mixing_prob = 0.0
    z = FaceStyleGAN2Model.random_latents(model, 2)
    assert torch.equal(z, z[:, :1].expand_as(z))

    images, latents = net(z, return_latents=True)
    torch.manual_seed(1)
    penalty, lengths = FaceStyleGAN2Model.path_length_penalty(model, images, latents)
    torch.manual_seed(1)
    noise = torch.randn_like(images) / math.sqrt(16 * 16)
    expected_lengths = []
    for i in range(2):  # ||J_w^T y|| per sample, summed over W+ codes and averaged as in StyleGAN2
        grad, = torch.autograd.grad((images[i] * noise[i]).sum(), latents, retain_graph=True)
        expected_lengths.append(grad[i].pow(2).sum(1).mean().sqrt())
    expected_lengths = torch.stack(expected_lengths)
    assert torch.allclose(lengths, expected_lengths, atol=1e-6)
    mean = 0.5 + 0.01 * (expected_lengths.mean().item() - 0.5)
    assert float(optimizer.param_groups[0]['mean_path_length']) == pytest.approx(mean)
    assert penalty.item() == pytest.approx(((expected_lengths - mean)**2).mean().item(), rel=1e-5)


@pytest.fixture(scope='module')
def synthetic_parsing(ffhq_small_dir, tmp_path_factory):
    """Label maps for the small FFHQ faces: skin, eyes, brows, nose and lips drawn as ellipses (128 px)."""
    from facesr_arch.utils.face_parsing import LABEL_INDEX
    folder = tmp_path_factory.mktemp('parsing')
    shapes = [('skin', (64, 68), (40, 52)), ('left_brow', (46, 48), (10, 3)), ('right_brow', (82, 48), (10, 3)),
              ('left_eye', (46, 56), (8, 4)), ('right_eye', (82, 56), (8, 4)), ('nose', (64, 72), (6, 10)),
              ('upper_lip', (64, 88), (12, 3)), ('lower_lip', (64, 94), (12, 4))]
    for name in sorted(os.listdir(ffhq_small_dir)):
        labels = np.zeros((128, 128), np.uint8)
        for label, centre, axes in shapes:
            cv2.ellipse(labels, centre, axes, 0, 0, 360, LABEL_INDEX[label], -1)
        cv2.imwrite(str(folder / f'{os.path.splitext(name)[0]}.png'), labels)
    return str(folder)


def shrink_parsing(opt, lmdb_path, parsing_root, name):
    """A parsing option file at 64 px with a tiny FaceParseNet, keeping its degradation type."""
    datasets = {}
    for phase in ('train', 'val'):
        degradation = {'out_size': 64} if opt['datasets'][phase]['degradation']['type'] == 'mpcnet_blind' else {}
        datasets[phase] = {'dataroot_gt': lmdb_path, 'parsing_root': parsing_root, 'gt_size': 64,
                           'degradation': degradation}
    datasets['train'].update({'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2})
    datasets['val']['max_items'] = 2
    overrides = {
        'name': name, 'datasets': datasets,
        'network_g': {'in_size': 64, 'base_channels': 8, 'channel_range': [8, 16], 'num_res_blocks': 1},
        'val': {'save_img': True},
    }
    if opt['network_g']['min_feat_size'] < 32:
        overrides['network_g']['min_feat_size'] = 16
    return tiny_training(deep_update(opt, overrides), total_iter=4, checkpoint_freq=2, val_freq=2)


@pytest.mark.parametrize('option_file', PARSING_OPTIONS)
def test_parsing_option_trains_and_resumes(option_file, ffhq_small_lmdb, synthetic_parsing, workdir):
    name = os.path.splitext(os.path.basename(option_file))[0]
    opt = shrink_parsing(load_options(option_file), ffhq_small_lmdb, synthetic_parsing, name)
    proc = run_training(opt, workdir)
    exp = workdir / 'experiments' / name
    assert sorted(os.listdir(exp / 'training_states')) == ['2.state', '4.state']
    ckpt = torch.load(exp / 'models' / 'net_g_4.pth', map_location='cpu', weights_only=True)
    from facesr_arch.archs.parsing_arch import FaceParseNet
    FaceParseNet(**{k: v for k, v in opt['network_g'].items() if k != 'type'}).load_state_dict(ckpt['params'])
    log = proc.stdout + proc.stderr
    assert '# mean_iou:' in log and '# pixel_accuracy:' in log and 'l_ce' in log
    maps = sorted(os.listdir(exp / 'visualization' / opt['datasets']['val']['name']))
    assert len(maps) >= 4 and maps[0].endswith('_2.png')  # two faces at iterations 2 and 4 (+ BasicSR's final)
    labels = cv2.imread(str(exp / 'visualization' / opt['datasets']['val']['name'] / maps[0]), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (64, 64) and labels.max() < 19

    if 'MPCNet' in option_file:
        path = write_options(tiny_training(opt, total_iter=6, checkpoint_freq=2, val_freq=2), str(workdir))
        proc = run_module('facesr_arch.train', ['-opt', path, '--auto_resume'], cwd=str(workdir))
        assert 'Resuming training from epoch' in proc.stdout + proc.stderr
        assert '6.state' in os.listdir(exp / 'training_states')


def test_parsing_scores_by_hand():
    from facesr_arch.models.parsing_model import confusion_matrix, parsing_scores
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 1]])
    scores = parsing_scores(confusion_matrix(pred, target))
    # class 0: TP 1, union 3; class 1: TP 3, union 4; class 2: TP 2, union 3; absent classes ignored
    assert scores['mean_iou'] == pytest.approx((1 / 3 + 3 / 4 + 2 / 3) / 3)
    assert scores['pixel_accuracy'] == pytest.approx(6 / 8)


def test_parsing_dataset_flip_swaps_left_and_right(ffhq_small_dir, synthetic_parsing):
    from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
    from facesr_arch.utils.face_parsing import LABEL_INDEX
    opt = {'dataroot_gt': ffhq_small_dir, 'parsing_root': synthetic_parsing, 'gt_size': 64,
           'degradation': {'type': 'mpcnet_blind', 'out_size': 64}, 'deterministic': True}
    plain = FaceDegradedPairDataset(opt)[0]
    for seed in range(20):  # find a seed whose draw flips
        item = FaceDegradedPairDataset(dict(opt, use_hflip=True, seed=seed))[0]
        if not torch.equal(item['gt'], plain['gt']):
            break
    assert torch.equal(item['gt'], plain['gt'].flip(-1))
    left = plain['parsing'] == LABEL_INDEX['left_eye']
    assert left.any() and (item['parsing'].flip(-1)[left] == LABEL_INDEX['right_eye']).all()
    assert item['lq'].shape == (3, 64, 64) and plain['parsing'].dtype == torch.int64
