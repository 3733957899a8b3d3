"""Test helpers shared by the suite: tiny option files from the real ones, and real pipeline runs."""
import copy
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('FACESR_SHARED_DATA', os.path.join(REPO, '..', 'shared', 'data'))
# the layout of the shared data (CI): folder -> (file names, side, portrait_faces options), generated where absent
SAMPLE_DATA_LAYOUT = {
    'ffhq_hq': ([f'{i:05d}.png' for i in range(10)], 1024, {}),
    'real_lq': (['cf_0143.png', 'cf_0240.png', 'cf_0342.png'] + [f'lq_{i:02d}.png' for i in range(21)], 512,
                {'low_quality': True}),
    'real_lq_gray': ([f'gray_{i:02d}.png' for i in range(13)], 512, {'low_quality': True, 'gray': True}),
}


def make_sample_data(root):
    """A folder laid out like the shared test data, with faces made from scikit-image's portrait; returns it."""
    from facesr_arch.data.sample_faces import write_portrait_faces
    for seed, (folder, (names, size, options)) in enumerate(SAMPLE_DATA_LAYOUT.items()):
        write_portrait_faces(os.path.join(root, folder), names, size, seed=seed, **options)
    return root


def load_options(relpath):
    """A real option file of the repository, parsed (e.g. 'options/train/GCFSR/train_GCFSR_....yml')."""
    with open(os.path.join(REPO, relpath)) as f:
        return yaml.safe_load(f)


def deep_update(opt, overrides):
    """Return a copy of ``opt`` with nested ``overrides`` applied (a None value deletes the key)."""
    out = copy.deepcopy(opt)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tiny_training(opt, total_iter=4, checkpoint_freq=2, val_freq=2):
    """Settings every tiny training run shares: CPU, few iterations, frequent checkpoints, no loggers, and
    pretrained parts (priors, loss networks) allowed to keep random weights where no file is given."""
    return deep_update(opt, {
        'num_gpu': 0,
        'random_priors': True,
        'train': {'total_iter': total_iter},
        'val': {'val_freq': val_freq},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': checkpoint_freq, 'use_tb_logger': False,
                   'wandb': {'project': None}},
    })


def write_options(opt, folder, name='options.yml'):
    path = os.path.join(folder, name)
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


def run_module(module, args, cwd, timeout=600, env=None, check=True):
    """Run ``python -m module args`` in ``cwd`` with the repository importable; returns CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
                    OMP_NUM_THREADS=os.environ.get('FACESR_TEST_THREADS', '2'))
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, '-m', module] + list(args), cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'python -m {module} {" ".join(args)} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def run_script(script, args, cwd, timeout=600, check=True):
    """Run ``python scripts/<script>`` like a user would."""
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', script)] + list(args), cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


HOST_READS = ('item', 'tolist', 'numpy', '__bool__', '__float__', '__int__', '__index__')


def record_host_reads(monkeypatch):
    """From now until ``monkeypatch.undo()``, every read of a tensor's value on the host (a host-device sync on
    GPUs: ``.item()``, ``bool(t)``, ``float(t)``, ...) appends the method's name to the returned list."""
    import torch
    reads = []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *args, _name=name, _original=original, **kwargs:
                            reads.append(_name) or _original(self, *args, **kwargs))
    return reads
