"""GCFSR end to end through BasicSR's real pipelines: every train option file (shrunk), resume, test, torchrun."""
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from helpers import REPO, deep_update, load_options, run_module, run_script, tiny_training, write_options

TINY_NET = {'out_size': 64, 'narrow': 0.0625, 'num_style_feat': 32}
TRAIN_OPTIONS = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'options/train/GCFSR/*.yml')))


def shrink(opt, lmdb_path, name):
    """The real option file at 64 px, with tiny networks, a random VGG and four iterations."""
    train_degradation = dict(opt['datasets']['train']['degradation'])
    if 'factors' in train_degradation:
        train_degradation['factors'] = [4, 8]
    overrides = {
        'name': name,
        'datasets': {
            'train': {'dataroot_gt': lmdb_path, 'gt_size': 64, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                      'degradation': train_degradation},
            'val': {'dataroot_gt': lmdb_path, 'gt_size': 64, 'max_items': 2},
        },
        'network_g': TINY_NET,
        'network_d': {'out_size': 64, 'narrow': 0.0625},
        'train': {'net_d_reg_every': 2, 'scheduler': {'milestones': [3]}},
        'val': {'metrics': {'ssim': {'type': 'calculate_ssim', 'crop_border': 0}}},
    }
    if 'perceptual_opt' in opt['train']:
        overrides['train']['perceptual_opt'] = {'weights_path': None}
    return tiny_training(deep_update(opt, overrides), total_iter=4, checkpoint_freq=2, val_freq=2)


@pytest.mark.parametrize('option_file', TRAIN_OPTIONS)
def test_train_then_auto_resume(option_file, ffhq_small_lmdb, ffhq_small_dir, workdir):
    name = os.path.splitext(os.path.basename(option_file))[0]
    opt = shrink(load_options(option_file), ffhq_small_lmdb, name)
    path = write_options(opt, str(workdir))
    run_module('facesr_arch.train', ['-opt', path], cwd=str(workdir))
    exp = workdir / 'experiments' / name
    assert sorted(os.listdir(exp / 'training_states')) == ['2.state', '4.state']
    for net in ('net_g', 'net_d'):
        assert (exp / 'models' / f'{net}_4.pth').is_file()
    ckpt = torch.load(exp / 'models' / 'net_g_4.pth', map_location='cpu', weights_only=True)
    degradation = opt['datasets']['train']['degradation']
    scales = sorted(map(float, degradation['factors'])) if 'factors' in degradation else None  # blind: none
    assert set(ckpt) == {'params', 'params_ema', 'network'} | ({'scales'} if scales else set())  # self-describing
    assert ckpt['network'] == opt['network_g'] and ckpt.get('scales') == scales
    face = os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0])
    proc = run_script('inference.py', ['--weights', str(exp / 'models' / 'net_g_4.pth'), '-i', face, '-o', 'restored',
                                       '--device', 'cpu', '--no-progress', '--upscale', '8'], cwd=str(workdir))
    assert 'Done: 1 image(s)' in proc.stdout  # the checkpoint alone rebuilds the network it was trained as
    assert len(os.listdir(exp / 'visualization')) == 2  # two validation faces saved
    log = open(glob.glob(str(exp / f'train_{name}_*.log'))[0]).read()
    assert '# psnr:' in log and '# ssim:' in log

    # resume from the latest state and continue to iteration 6
    path = write_options(tiny_training(opt, total_iter=6, checkpoint_freq=2, val_freq=2), str(workdir))
    proc = run_module('facesr_arch.train', ['-opt', path, '--auto_resume'], cwd=str(workdir))
    assert 'Resuming training from epoch' in proc.stdout + proc.stderr
    assert '6.state' in os.listdir(exp / 'training_states')
    assert not glob.glob(str(workdir / 'experiments' / f'{name}_archived_*'))  # resumed in place, not restarted


def test_test_pipeline_writes_images_and_psnr(ffhq_small_lmdb, workdir):
    from facesr_arch.archs.gcfsr_arch import GCFSR
    torch.manual_seed(0)
    weights = workdir / 'gcfsr_tiny.pth'
    torch.save({'params_ema': GCFSR(**TINY_NET).state_dict()}, weights)
    opt = load_options('options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml')
    datasets = {k: {'dataroot_gt': ffhq_small_lmdb, 'io_backend': {'type': 'lmdb'}, 'gt_size': 64, 'max_items': 2}
                for k in opt['datasets']}
    datasets['test_1']['degradation'] = {'factors': [4]}
    datasets['test_2']['degradation'] = {'factors': [8]}
    datasets['test_3']['degradation'] = {'factors': [16]}
    opt = deep_update(opt, {'num_gpu': 0, 'datasets': datasets, 'network_g': TINY_NET,
                            'path': {'pretrain_network_g': str(weights)}})
    proc = run_module('facesr_arch.test', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    out = proc.stdout + proc.stderr
    results = workdir / 'results' / opt['name'] / 'visualization'
    for name in ('CelebAHQ_x16', 'CelebAHQ_x32', 'CelebAHQ_x64'):
        assert len(os.listdir(results / name)) == 2
        assert f'Validation {name}' in out
    assert out.count('# psnr:') == 3 and out.count('# ssim:') == 3
    assert 'optimised inference path' in out
    # the network as trained (val.optimize_inference: false) scores the same
    opt = deep_update(opt, {'name': opt['name'] + '_as_trained', 'val': {'optimize_inference': False}})
    reference = run_module('facesr_arch.test', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    reference = reference.stdout + reference.stderr
    assert 'optimised inference path' not in reference
    scores = [re.findall(r'# (psnr|ssim): ([\d.]+)', text) for text in (out, reference)]
    assert len(scores[0]) == 6 and [k for k, _ in scores[0]] == [k for k, _ in scores[1]]
    assert all(abs(float(a) - float(b)) < 1e-3 for (_, a), (_, b) in zip(*scores))


def test_torchrun_two_cpu_processes(ffhq_small_lmdb, workdir):
    opt = shrink(load_options('options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml'), ffhq_small_lmdb, 'ddp')
    opt = deep_update(opt, {'dist_params': {'backend': 'gloo'}, 'find_unused_parameters': False})
    path = write_options(tiny_training(opt, total_iter=2, checkpoint_freq=2, val_freq=100), str(workdir))
    torchrun = shutil.which('torchrun', path=os.path.dirname(sys.executable))
    proc = subprocess.run(
        [torchrun, '--nproc_per_node=2', '--master_port=29517', '-m', 'facesr_arch.train', '-opt', path,
         '--launcher', 'pytorch'], cwd=str(workdir), capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    exp = workdir / 'experiments' / 'ddp'
    assert (exp / 'models' / 'net_g_2.pth').is_file()
    log = open(glob.glob(str(exp / 'train_ddp_*.log'))[0]).read()
    assert 'world_size: 2' in log or "'world_size': 2" in log or 'world_size: 2' in proc.stdout


def test_lazy_reg_correction(tmp_path):
    """``lazy_reg_correction``: the release's optimisers (lr * k/(k+1), betas ** (k/(k+1)); G k = 4, D k = 16);
    off by default (the paper's lr)."""
    from facesr_arch.benchmark import configs as benchmark_configs, training as benchmark_training
    opt = benchmark_configs.method_options('GCFSR', 'tiny')
    plain = benchmark_training.build_model(opt, torch.device('cpu'), str(tmp_path))
    assert [plain.optimizer_g.param_groups[0][k] for k in ('lr', 'betas')] == [2e-3, (0.0, 0.99)]
    opt = deep_update(opt, {'train': {'lazy_reg_correction': True}})
    model = benchmark_training.build_model(opt, torch.device('cpu'), str(tmp_path))
    for optimizer, k in ((model.optimizer_g, 4), (model.optimizer_d, 16)):
        group = optimizer.param_groups[0]
        assert group['lr'] == pytest.approx(2e-3 * k / (k + 1))
        assert group['betas'][0] == 0 and group['betas'][1] == pytest.approx(0.99**(k / (k + 1)))
