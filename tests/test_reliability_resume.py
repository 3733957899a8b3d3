"""Crash safety: a GCFSR run killed with SIGKILL and resumed with --auto_resume ends with the same weights
as an uninterrupted run of the same seed; non-finite losses are skipped, counted and stop the run.

What is bit-identical (CPU, num_worker_per_gpu 0, same thread count): generator, EMA and discriminator
weights, optimiser and scheduler states, the data order and every degradation draw. Not covered: runs with
DataLoader workers (BasicSR re-seeds each worker per epoch from (seed, rank, worker id), so draws after a
mid-epoch resume differ), cuDNN's non-deterministic kernels on GPUs, and a change of world size.
"""
import os
import signal
import subprocess
import sys
import time

import torch

from facesr_arch.toolkit.checkpoints import NETWORK_KEY, SCALES_KEY
from helpers import REPO, deep_update, load_options, run_module, tiny_training, write_options
from test_gcfsr_pipeline import shrink

GCFSR_ADV = 'options/train/GCFSR/train_GCFSR_adv_x4-32_FFHQ512.yml'


def _options(lmdb, name, total_iter=4):
    """GCFSR_adv shrunk (adversarial loss only: the cheapest GCFSR), hflip and random factors kept, no validation."""
    opt = shrink(load_options(GCFSR_ADV), lmdb, name)
    opt = deep_update(opt, {'val': None, 'datasets': {'val': None}})
    return tiny_training(opt, total_iter=total_iter, checkpoint_freq=2, val_freq=100)


def _final_weights(exp):
    return {net: torch.load(exp / 'models' / f'{net}_latest.pth', map_location='cpu', weights_only=True)
            for net in ('net_g', 'net_d')}


def _assert_identical(a, b):
    for net in a:
        for described in (NETWORK_KEY, SCALES_KEY):
            assert a[net].get(described) == b[net].get(described), f'{net}: {described} differ'
        for key in a[net].keys() - {NETWORK_KEY, SCALES_KEY}:
            for name, tensor in a[net][key].items():
                assert torch.equal(tensor, b[net][key][name]), f'{net}/{key}/{name} differs'


def test_sigkill_then_auto_resume_matches_uninterrupted_run(ffhq_small_lmdb, workdir):
    """6 faces, batch 2: 3 iterations per epoch. Killed after the state of iteration 2 (inside epoch 0), the
    resumed run trains iteration 3 (the last batch of epoch 0) and 4 (epoch 1, after the lr milestone)."""
    (workdir / 'ref').mkdir()
    (workdir / 'killed').mkdir()
    ref_opt = write_options(_options(ffhq_small_lmdb, 'run'), str(workdir / 'ref'))
    run_module('facesr_arch.train', ['-opt', ref_opt], cwd=str(workdir / 'ref'))
    reference = _final_weights(workdir / 'ref' / 'experiments' / 'run')

    cwd = workdir / 'killed'
    opt_path = write_options(_options(ffhq_small_lmdb, 'run'), str(cwd))
    states = cwd / 'experiments' / 'run' / 'training_states'
    # the same thread count as run_module's runs: float reductions, hence weights, depend on it
    threads = os.environ.get('FACESR_TEST_THREADS', '2')
    proc = subprocess.Popen([sys.executable, '-m', 'facesr_arch.train', '-opt', opt_path], cwd=str(cwd),
                            env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=threads),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (states / '2.state').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, 'the run ended before it could be killed'
    # whatever the kill interrupted, a newer state cut short (e.g. by a full disk) must be skipped
    (states / '4.state').write_bytes((states / '2.state').read_bytes()[:1000])

    out = run_module('facesr_arch.train', ['-opt', opt_path, '--auto_resume'], cwd=str(cwd))
    log = out.stdout + out.stderr
    assert 'Skipping unreadable training state' in log
    assert 'Resuming training from epoch: 0, iter: 2' in log
    assert 'Resuming the data order of epoch 0 after its first 2 batches' in log
    _assert_identical(reference, _final_weights(cwd / 'experiments' / 'run'))


NAN_FROM_THIRD_CALL = '''
import sys
from facesr_arch.models.face_gan_model import FaceGANModel
losses = FaceGANModel.generator_losses
calls = []

def poisoned(self, output):
    calls.append(1)
    out = losses(self, output)
    return {k: v * float('nan') for k, v in out.items()} if len(calls) >= 3 else out

FaceGANModel.generator_losses = poisoned
from facesr_arch.train import main
sys.argv = ['train'] + sys.argv[1:]
main()
'''


def test_nonfinite_losses_are_skipped_then_stop_training(ffhq_small_lmdb, workdir):
    opt = deep_update(_options(ffhq_small_lmdb, 'nan', total_iter=8), {'train': {'max_nonfinite_steps': 3}})
    path = write_options(opt, str(workdir))
    proc = subprocess.run([sys.executable, '-c', NAN_FROM_THIRD_CALL, '-opt', path], cwd=str(workdir),
                          env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2'), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert 'NonFiniteLossError: Training stopped at iteration 5: 3 consecutive iterations had non-finite losses' \
        in proc.stderr
    assert 'Iteration 3: non-finite loss (l_g_gan=nan' in proc.stderr
    models = workdir / 'experiments' / 'nan' / 'models'
    assert not (models / 'net_g_latest.pth').exists()
    good = torch.load(models / 'net_g_2.pth', map_location='cpu', weights_only=True)
    during = torch.load(models / 'net_g_4.pth', map_location='cpu', weights_only=True)  # saved in the streak
    for key in ('params', 'params_ema'):
        for name, tensor in good[key].items():
            assert torch.isfinite(tensor).all() and torch.equal(tensor, during[key][name]), name
