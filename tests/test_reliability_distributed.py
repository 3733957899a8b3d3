"""Distributed training through torchrun (2 CPU processes, gloo): the ranks stay in step and only rank 0
writes checkpoints and logs.

Each process runs ``facesr_arch.train`` under a test-only wrapper (the production code has no test hook):
it records every file the process opens for writing (``sys.addaudithook``) and, at every checkpoint, a
hash of that rank's network weights and optimiser step.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import torch

from helpers import REPO, deep_update, load_options, tiny_training, write_options
from test_gcfsr_pipeline import shrink

RANK_WRAPPER = '''
import hashlib, json, os, sys
rank = int(os.environ['RANK'])
report = {'writes': [], 'hashes': {}}
report_path = os.path.join(os.environ['RANK_REPORT_DIR'], f'rank{rank}.json')

def audit(event, args):
    if event == 'open' and isinstance(args[0], str) and (
            (isinstance(args[1], str) and any(c in args[1] for c in 'wax+')) or
            (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR))):
        report['writes'].append(args[0])

sys.addaudithook(audit)
import torch
from facesr_arch.models.base import FaceBaseModel
save = FaceBaseModel.save_training_state

def hashing_save(self, epoch, current_iter):
    digest = hashlib.sha256()
    for net in (self.net_g, self.net_d):
        for tensor in self.get_bare_model(net).state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
    report['hashes'][str(current_iter)] = digest.hexdigest()
    save(self, epoch, current_iter)

FaceBaseModel.save_training_state = hashing_save
from facesr_arch.train import main
try:
    main()
finally:
    with open(report_path, 'w') as f:
        json.dump(report, f)
'''


def test_two_ranks_stay_in_step_and_only_rank0_writes(ffhq_small_lmdb, workdir):
    opt = shrink(load_options('options/train/GCFSR/train_GCFSR_adv_x4-32_FFHQ512.yml'), ffhq_small_lmdb, 'ddp')
    opt = deep_update(opt, {'dist_params': {'backend': 'gloo'}, 'val': None, 'datasets': {'val': None}})
    path = write_options(tiny_training(opt, total_iter=3, checkpoint_freq=3, val_freq=100), str(workdir))
    reports = workdir / 'reports'
    reports.mkdir()
    (workdir / 'rank_wrapper.py').write_text(RANK_WRAPPER)
    torchrun = shutil.which('torchrun', path=os.path.dirname(sys.executable))
    proc = subprocess.run(
        [torchrun, '--nproc_per_node=2', '--master_port=29531', str(workdir / 'rank_wrapper.py'), '-opt', path,
         '--launcher', 'pytorch'], cwd=str(workdir), capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1', RANK_REPORT_DIR=str(reports)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    rank0, rank1 = (json.loads((reports / f'rank{r}.json').read_text()) for r in (0, 1))

    # in step: identical weights on both ranks at the checkpoint, and equal to what rank 0 saved
    assert rank0['hashes'] == rank1['hashes'] and set(rank0['hashes']) == {'3', '-1'}  # -1: the final save
    exp = workdir / 'experiments' / 'ddp'
    saved = hashlib.sha256()
    for net in ('net_g', 'net_d'):
        for tensor in torch.load(exp / 'models' / f'{net}_3.pth', map_location='cpu', weights_only=True)['params'].values():
            saved.update(tensor.numpy().tobytes())
    assert saved.hexdigest() == rank0['hashes']['3']

    # only rank 0 writes checkpoints, training states and logs
    in_exp = [p for p in rank1['writes'] if os.path.abspath(p).startswith(str(workdir / 'experiments'))]
    assert in_exp == []
    rank0_files = {os.path.relpath(p, exp) for p in rank0['writes'] if p.startswith(str(exp))}
    # checkpoints are written atomically: a temporary file in the folder, renamed to its name
    assert any(p.startswith('models/') for p in rank0_files) and (exp / 'models' / 'net_g_3.pth').is_file()
    assert any(p.startswith('training_states/') for p in rank0_files) and (exp / 'training_states' / '3.state').is_file()
    assert len(glob.glob(str(exp / 'train_ddp_*.log'))) == 1
    state = torch.load(exp / 'training_states' / '3.state', map_location='cpu', weights_only=True)
    assert len(state['rng']) == 2  # both ranks' random states, for an exact resume


def test_sync_bn_conversion_follows_device_and_option():
    from types import SimpleNamespace
    from facesr_arch.models.base import FaceBaseModel

    def convert(device, **opt):
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3), torch.nn.BatchNorm2d(3))
        return FaceBaseModel._sync_batchnorm(SimpleNamespace(opt=opt, device=torch.device(device)), net)[1]

    assert isinstance(convert('cuda'), torch.nn.SyncBatchNorm)  # default sync_bn: true
    assert type(convert('cuda', sync_bn=False)) is torch.nn.BatchNorm2d
    assert type(convert('cpu')) is torch.nn.BatchNorm2d  # PyTorch's SyncBatchNorm has no CPU kernel
