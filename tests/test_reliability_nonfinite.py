"""Non-finite losses in the methods with their own training step (MPCNet, PVFR, W-Net): each method's real
option file, shrunk as its pipeline test does, trains one good iteration, then its losses are poisoned with
NaN from the 2nd iteration on. The run must stop with NonFiniteLossError after ``train.max_nonfinite_steps``
skipped iterations, and every network saved during the streak (weights, EMA, BatchNorm statistics) must equal
the last good checkpoint: no optimiser, EMA or running-statistics update happens on a skipped iteration."""
import os
import subprocess
import sys

import pytest
import torch

from facesr_arch.toolkit.checkpoints import NETWORK_KEY, SCALES_KEY

from helpers import REPO, deep_update, load_options, write_options
from test_mpcnet_pipeline import tiny_options as tiny_mpcnet_options
from test_pvfr import TRAIN_OPTION as PVFR_OPTION
from test_pvfr import components_file  # noqa: F401  (fixture)
from test_pvfr import tiny_pvfr_options
from test_wnet_training import parsing_dir, vgg19_file  # noqa: F401  (fixtures)
from test_wnet_training import tiny_pipeline_options as tiny_wnet_options

# argv: <model module:Class> <loss module:Class.method> -opt <file>. The loss method's result (a tensor or a
# dict of tensors) is multiplied by NaN from the model's 2nd training iteration on.
POISON_FROM_SECOND_ITERATION = '''
import importlib, sys

def resolve(spec):
    module, name = spec.split(':')
    obj = importlib.import_module(module)
    for part in name.split('.'):
        owner, obj = obj, getattr(obj, part)
    return owner, name.split('.')[-1], obj

model_cls = resolve(sys.argv[1])[2]
loss_owner, loss_name, loss = resolve(sys.argv[2])
optimize = model_cls.optimize_parameters
state = {'iter': 0}

def optimize_parameters(self, current_iter):
    state['iter'] = current_iter
    return optimize(self, current_iter)

def poisoned(self, *args, **kwargs):
    out = loss(self, *args, **kwargs)
    if state['iter'] < 2:
        return out
    return type(out)((k, v * float('nan')) for k, v in out.items()) if isinstance(out, dict) else out * float('nan')

model_cls.optimize_parameters = optimize_parameters
setattr(loss_owner, loss_name, poisoned)
from facesr_arch.train import main
sys.argv = ['train'] + sys.argv[3:]
main()
'''

MAX_STEPS = 2  # iteration 1 good, 2 skipped (checkpoint saved in the streak), 3 skipped: stop


def _mpcnet(workdir, request):
    opt = tiny_mpcnet_options('options/train/MPCNet/train_MPCNet_FFHQ512.yml', workdir,
                              request.getfixturevalue('ffhq_small_lmdb'), request.getfixturevalue('ffhq_small_dir'))
    return opt, 'facesr_arch.models.mpcnet_model:MPCNetModel', \
        'facesr_arch.models.mpcnet_model:MPCNetModel.generator_losses', ['net_g', 'net_d']


def _pvfr(workdir, request):
    opt = tiny_pvfr_options(load_options(PVFR_OPTION), request.getfixturevalue('ffhq_small_dir'),
                            request.getfixturevalue('components_file'), str(workdir), size=64)
    # only the generator's losses are poisoned: the local discriminators must be skipped with them
    return opt, 'facesr_arch.models.pvfr_model:PVFRModel', 'facesr_arch.models.pvfr_model:PVFRModel.generator_losses', \
        ['net_g', 'net_d', 'net_d_local']


def _wnet(workdir, request):
    opt = tiny_wnet_options(os.path.join(REPO, 'options/train/WNet/train_WNet_x4_CelebA_ModeI.yml'),
                            request.getfixturevalue('ffhq_small_dir'), request.getfixturevalue('parsing_dir'),
                            request.getfixturevalue('vgg19_file'))
    # the pixel and parsing losses (MSE); the network has BatchNorm layers
    return opt, 'facesr_arch.models.wnet_model:WNetModel', 'basicsr.losses.basic_loss:MSELoss.forward', ['net_g']


@pytest.mark.parametrize('method', [_mpcnet, _pvfr, _wnet], ids=['MPCNet', 'PVFR', 'WNet'])
def test_nonfinite_losses_skip_every_update_then_stop(method, workdir, request):
    opt, model_cls, loss, nets = method(workdir, request)
    opt = deep_update(opt, {'name': 'nan', 'val': None, 'datasets': {'val': None},
                            'train': {'total_iter': 6, 'max_nonfinite_steps': MAX_STEPS},
                            'logger': {'save_checkpoint_freq': 1}})
    path = write_options(opt, str(workdir))
    proc = subprocess.run([sys.executable, '-c', POISON_FROM_SECOND_ITERATION, model_cls, loss, '-opt', path],
                          cwd=str(workdir), env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2'),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert (f'NonFiniteLossError: Training stopped at iteration 3: {MAX_STEPS} consecutive iterations had '
            'non-finite losses') in proc.stderr, proc.stderr[-3000:]
    assert 'Iteration 2: non-finite loss (' in proc.stderr
    models = workdir / 'experiments' / 'nan' / 'models'
    assert not (models / 'net_g_3.pth').exists() and not (models / 'net_g_latest.pth').exists()
    for net in nets:
        good = torch.load(models / f'{net}_1.pth', map_location='cpu', weights_only=True)
        during = torch.load(models / f'{net}_2.pth', map_location='cpu', weights_only=True)  # saved in the streak
        assert good.keys() == during.keys()
        for key in good.keys() - {NETWORK_KEY, SCALES_KEY}:  # the description (options, scales) beside the weights
            for name, tensor in good[key].items():
                assert torch.isfinite(tensor).all(), f'{net}/{key}/{name}'
                assert torch.equal(tensor, during[key][name]), f'{net}/{key}/{name} changed during the streak'
