"""First-day GPU check: does every method train, validate, resume and restore faces on this GPU, how fast, and do
its optimised and compiled inference paths agree with eager? One script, in priority order, within a time budget.

Usage::

    python -m facesr_arch.benchmark.gpu_check --out gpu_check/            # one GPU, paper configurations
    python -m facesr_arch.benchmark.gpu_check --out DIR --device cpu --tiny  # smoke test anywhere

Steps, in priority order (a step starts only while its share of the budget is left; what does not fit is
recorded as skipped, with the reason):

1. ``basics`` per method: one training iteration of the method's real model class (its paper options, random
   in-memory faces, pretrained files unset), the validation forward (``model.test``), a checkpoint and training
   state written, a new model resumed from them running a second iteration, and one face restored from the
   checkpoint through the inference path (``FaceRestorer``, optimised path).
2. ``torchrun``: ``torchrun --nproc_per_node=1 -m facesr_arch.train --launcher pytorch`` on GCFSR with a few
   generated faces (2 iterations, a validation with PSNR, a checkpoint; NCCL on GPUs, gloo on CPUs).
3. ``throughput`` per method: training iterations per second and peak memory at the paper's batch size per GPU
   (the option file's ``batch_size_per_gpu``) in float32 and with ``train.mixed_precision: bf16``, and inference
   latency at batch 1 in float32 and bf16 autocast.
4. ``compile`` per method: the first batch of the optimised inference path (folded weights, channels_last) and of
   ``torch.compile`` of it, against the eager network (same weights, input and noise), within 1e-4 and
   ``inference.runner.COMPILE_TOLERANCE``.

After every item ``gpu_check.json`` and ``gpu_check.md`` in ``--out`` are rewritten (atomically), so an
interrupted run leaves its results so far. Out-of-memory and other errors are recorded per item and the check goes
on. The default budget (570 s) keeps the run under 10 minutes on one GPU; an item already running is not cut
short, so a slow item can overrun its step's share (the next steps then shrink or are skipped).
"""
import argparse
import copy
import gc
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch
import yaml
from torch.utils.data import default_collate

from ..toolkit.errors import UserError
from ..toolkit.outputs import atomic_write_text
from .configs import PAPER_OPTIONS, method_options
from .models import build_generator, inference_cost, method_forward_factory, output_deviation, prepare_network
from .timing import PeakMemory, sync_device
from .training import InMemoryFaces, build_model, real_dataset_options

# (step, cumulative share of the budget by the step's end): unused time rolls over to the later steps
STEPS = (('basics', 0.40), ('torchrun', 0.55), ('throughput', 0.85), ('compile', 1.0))
OPTIMISED_TOLERANCE = 1e-4  # the optimised path's documented agreement with the plain network in float32
TORCHRUN_METHOD = 'GCFSR'


def _sizes(method, model):
    from ..inference.specs import Controls, get_spec
    _, lq_size, out_size = get_spec(method).sizes(model.get_bare_model(model.net_g), Controls())
    return lq_size, out_size


def _batch(model, method, batch_size):
    lq_size, out_size = _sizes(method, model)
    faces = InMemoryFaces(out_size, lq_size, model.opt['train'].get('component_crop_sizes') or ())
    return default_collate([faces[i] for i in range(batch_size)])


def _finite_log(model):
    log = model.get_current_log()
    bad = {k: v for k, v in log.items() if not np.isfinite(v)}
    if bad:
        raise RuntimeError(f'non-finite losses: {bad}')
    return {k: round(v, 5) for k, v in log.items()}


class GPUCheck:
    """Runs the steps and keeps the results (see the module docstring).

    Args:
        out_dir (str): Where ``gpu_check.json`` / ``gpu_check.md`` are written.
        device (torch.device): The device checked.
        config (str): 'paper' or 'tiny' (the benchmark's configurations).
        methods (Sequence[str]): Methods (keys of ``PAPER_OPTIONS``).
        budget_s (float): Seconds for all steps.
        steps (Sequence[str]): Steps to run, of :data:`STEPS`.
    """

    def __init__(self, out_dir, device, config, methods, budget_s, steps):
        self.out_dir, self.device, self.config = os.path.abspath(out_dir), device, config
        self.methods, self.budget_s, self.steps = list(methods), float(budget_s), list(steps)
        self.start = time.monotonic()
        name = torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'CPU'
        self.results = {'device': str(device), 'device_name': name, 'config': config, 'budget_s': budget_s,
                        'torch': torch.__version__, 'cuda': torch.version.cuda,
                        'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'), 'steps': {s: {} for s, _ in STEPS},
                        'elapsed_s': 0.0, 'finished': False}

    # bookkeeping
    def write(self):
        self.results['elapsed_s'] = round(time.monotonic() - self.start, 1)
        atomic_write_text(os.path.join(self.out_dir, 'gpu_check.json'), json.dumps(self.results, indent=1))
        atomic_write_text(os.path.join(self.out_dir, 'gpu_check.md'), markdown(self.results))

    def deadline(self, step):
        share = dict(STEPS)[step]
        return self.start + share * self.budget_s

    def item(self, step, name, run):
        """Run one item of ``step`` unless the step's time is spent; record its result, error or skip; write."""
        if step not in self.steps:
            return
        left = self.deadline(step) - time.monotonic()
        if left <= 0:
            end = dict(STEPS)[step] * self.budget_s
            reason = f'time budget spent (step {step} ends at {end:.0f} s of {self.budget_s:.0f} s)'
            self.results['steps'][step][name] = {'status': 'skipped', 'reason': reason}
            self.write()
            return
        started = time.monotonic()
        try:
            result = {'status': 'ok', **run(left)}
        except Exception as err:  # recorded, and the check goes on with the next item
            oom = isinstance(err, torch.cuda.OutOfMemoryError)
            result = {'status': 'out of memory' if oom else 'failed', 'error': f'{type(err).__name__}: {err}'[:2000],
                      'traceback': traceback.format_exc()[-3000:]}
        finally:
            gc.collect()
            if self.device.type == 'cuda':
                torch.cuda.empty_cache()
        result['seconds'] = round(time.monotonic() - started, 2)
        self.results['steps'][step][name] = result
        self.write()

    def run(self):
        os.makedirs(self.out_dir, exist_ok=True)
        self.write()
        for method in self.methods:
            self.item('basics', method, lambda left, m=method: self.basics(m))
        self.item('torchrun', TORCHRUN_METHOD, self.torchrun)
        for method in self.methods:
            self.item('throughput', method, lambda left, m=method: self.throughput(m))
        for method in self.methods:
            self.item('compile', method, lambda left, m=method: self.compile(m))
        self.results['finished'] = True
        self.write()
        return self.results

    # the steps
    def options(self, method, **train):
        opt = method_options(method, self.config)
        opt['train'].update(train)
        return opt

    def basics(self, method):
        """Train one iteration, validate, checkpoint, resume and iterate, restore a face from the checkpoint."""
        from ..inference.loading import build_network, network_config
        from ..inference.runner import FaceRestorer
        from ..inference.specs import get_spec
        from ..utils.resume import load_training_state
        out = {}
        with tempfile.TemporaryDirectory() as work:
            torch.manual_seed(0)
            for sub in ('first', 'resumed'):
                os.makedirs(os.path.join(work, sub))
            model = build_model(self.options(method), self.device, os.path.join(work, 'first'))
            batch = _batch(model, method, 2)
            model.feed_data(batch)
            model.optimize_parameters(1)
            out['train_losses'] = _finite_log(model)
            model.feed_data(batch)
            model.test()
            if not torch.isfinite(model.output).all():
                raise RuntimeError('validation forward gave non-finite outputs')
            out['validate_output'] = list(model.output.shape)
            model.save(0, 1)
            folder = model.opt['path']['models']
            checkpoint = os.path.join(folder, 'net_g_1.pth')
            opt = self.options(method)
            opt['path'].update(pretrain_network_g=checkpoint)
            for label in ('d', 'd_local'):
                if os.path.isfile(os.path.join(folder, f'net_{label}_1.pth')):
                    opt['path'][f'pretrain_network_{label}'] = os.path.join(folder, f'net_{label}_1.pth')
            resumed = build_model(opt, self.device, os.path.join(work, 'resumed'))
            resumed.resume_training(load_training_state(os.path.join(folder, '1.state'), self.device))
            resumed.feed_data(batch)
            resumed.optimize_parameters(2)
            out['resumed_losses'] = _finite_log(resumed)
            del model, resumed
            block, weights, param_key = network_config(weights=checkpoint)
            net = build_network(block, weights, param_key, self.device)
            restorer = FaceRestorer(net, get_spec(block['type']), self.device)
            face = np.random.default_rng(0).random((restorer.in_size, restorer.in_size, 3)).astype(np.float32)
            restored = restorer.restore([face])[0]
            out['inference_output'] = list(restored.shape)
        return out

    def throughput(self, method, iterations=3):
        """Training iterations/s and peak memory at the paper's batch per GPU (fp32, bf16); inference latency."""
        batch_size = method_options(method, 'paper')['datasets']['train']['batch_size_per_gpu']
        if self.config == 'tiny':
            batch_size = min(batch_size, 2)
        out = {'batch_size': batch_size}
        for precision in ('none', 'bf16'):
            with tempfile.TemporaryDirectory() as work, PeakMemory(self.device) as memory:
                torch.manual_seed(0)
                model = build_model(self.options(method, mixed_precision=precision), self.device, work)
                batch = _batch(model, method, batch_size)
                seconds = []
                for current_iter in range(1, iterations + 2):  # the first is a warm-up
                    started = time.perf_counter()
                    model.feed_data(batch)
                    model.optimize_parameters(current_iter)
                    sync_device(self.device)
                    seconds.append(time.perf_counter() - started)
                _finite_log(model)
                del model
            median = float(np.median(seconds[1:]))
            out[f'train_{precision}'] = {'iter_per_s': round(1 / median, 3), 'iter_ms': round(median * 1e3, 1),
                                         'peak_mem_mb': round(memory.peak_mb, 1)}
        net = prepare_network(build_generator(method_options(method, self.config)['network_g']), self.device)
        for precision in (None, 'bf16'):
            cost = inference_cost(method_forward_factory(method, net, self.device), [1], self.device, warmup=1,
                                  repeats=3, autocast=precision)[1]
            out[f'inference_{precision or "fp32"}'] = {'latency_ms': cost['latency_ms'],
                                                       'peak_mem_mb': cost['peak_mem_mb']}
        return out

    def compile(self, method):
        """First-batch deviation of the optimised and the compiled paths from the eager network."""
        import torch._inductor.config as inductor_config
        from ..inference.runner import COMPILE_TOLERANCE
        inductor_config.fallback_random = True  # the eager random numbers (noise injection)
        torch.manual_seed(0)
        reference = prepare_network(build_generator(method_options(method, self.config)['network_g']), self.device)
        optimised = prepare_network(copy.deepcopy(reference), self.device, channels_last=True, fold=True)
        out = {'optimised': output_deviation(method, reference, optimised, self.device, channels_last=True)}
        started = time.perf_counter()
        compiled = prepare_network(copy.deepcopy(reference), self.device, channels_last=True, fold=True,
                                   compile_net=True)
        out['compiled'] = output_deviation(method, reference, compiled, self.device, channels_last=True)
        out['compiled']['first_batch_s'] = round(time.perf_counter() - started, 1)
        out['optimised']['equal'] = out['optimised']['max_abs'] <= OPTIMISED_TOLERANCE
        out['compiled']['equal'] = out['compiled']['max_abs'] <= COMPILE_TOLERANCE
        if not (out['optimised']['equal'] and out['compiled']['equal']):
            raise RuntimeError(f'inference paths differ from eager: {out}')
        return out

    def torchrun(self, left):
        """A 2-iteration GCFSR training through torchrun (1 process) with validation and a checkpoint."""
        from ..data.sample_faces import write_portrait_faces
        work = os.path.join(self.out_dir, 'torchrun')
        shutil.rmtree(work, ignore_errors=True)
        opt = method_options(TORCHRUN_METHOD, self.config)
        with tempfile.TemporaryDirectory() as scratch:
            probe = build_model(opt, torch.device('cpu'), scratch)
            lq_size, out_size = _sizes(TORCHRUN_METHOD, probe)
            del probe
        faces = os.path.join(work, 'faces')
        write_portrait_faces(faces, [f'{i:03d}.png' for i in range(4)], out_size)
        train, _ = real_dataset_options(opt, faces, out_size, lq_size, 4, False, work)
        train.update(batch_size_per_gpu=2, num_worker_per_gpu=0, use_shuffle=True)
        val = dict(copy.deepcopy(train), name='faces_val', phase='val', deterministic=True, max_items=2)
        for key in ('batch_size_per_gpu', 'num_worker_per_gpu', 'use_shuffle'):
            val.pop(key)
        cuda = self.device.type == 'cuda'
        with socket.socket() as sock:  # a free port for the rendezvous
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        opt.update(name='gpu_check_torchrun', num_gpu=1 if cuda else 0, datasets={'train': train, 'val': val},
                   dist_params={'backend': 'nccl' if cuda else 'gloo', 'port': port},
                   val={'val_freq': 2, 'save_img': False,
                        'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}},
                   logger={'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False,
                           'wandb': {'project': None, 'resume_id': None}})
        opt['train'].update(total_iter=2, warmup_iter=-1)
        path = os.path.join(work, 'options.yml')
        atomic_write_text(path, yaml.safe_dump(opt, sort_keys=False))
        torchrun = shutil.which('torchrun', path=os.path.dirname(sys.executable))
        launcher = [torchrun] if torchrun else [sys.executable, '-m', 'torch.distributed.run']
        command = launcher + ['--nproc_per_node=1', f'--master_port={port}', '-m', 'facesr_arch.train', '-opt', path,
                              '--launcher', 'pytorch']
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get('PYTHONPATH', '')]))
        if self.device.type == 'cuda' and self.device.index is not None:
            env['CUDA_VISIBLE_DEVICES'] = str(self.device.index)
        proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=max(30, left))
        log = proc.stdout + proc.stderr
        log_tail = log[-3000:]
        experiment = os.path.join(work, 'experiments', opt['name'])
        checkpoint = os.path.join(experiment, 'models', 'net_g_2.pth')
        if proc.returncode != 0 or not os.path.isfile(checkpoint):
            raise RuntimeError(f'torchrun exited with {proc.returncode}; checkpoint written: '
                               f'{os.path.isfile(checkpoint)}; log tail:\n{log_tail}')
        validated = 'Validation faces_val' in log
        return {'command': ' '.join(command), 'checkpoint': os.path.relpath(checkpoint, self.out_dir),
                'validated': validated}


def _cell(value):
    return '' if value is None else str(value)


def markdown(results):
    """The results as markdown: one table per step, skipped and failed items with their reason."""
    lines = [f"# GPU check: {results['device_name']} ({results['device']})", '',
             f"torch {results['torch']}, CUDA {results['cuda']}, {results['config']} configurations, budget "
             f"{results['budget_s']:.0f} s, elapsed {results['elapsed_s']} s"
             f"{'' if results['finished'] else ' (running or interrupted)'}.", '']
    steps = results['steps']
    lines += ['## 1. Train, validate, resume, restore', '', '| method | status | s | losses (first iteration) |',
              '|---|---|---|---|']
    for method, r in steps['basics'].items():
        detail = r.get('train_losses') or r.get('error') or r.get('reason', '')
        lines.append(f"| {method} | {r['status']} | {_cell(r.get('seconds'))} | {str(detail)[:200]} |")
    lines += ['', '## 2. torchrun --nproc_per_node=1', '']
    for method, r in steps['torchrun'].items():
        detail = (f", validated: {r['validated']}, {r['checkpoint']}" if r['status'] == 'ok'
                  else f": {r.get('error') or r.get('reason')}")
        lines.append(f"- {method}: {r['status']}{detail}")
    lines += ['', '## 3. Throughput', '', '| method | batch | fp32 it/s | fp32 peak MiB | bf16 it/s | bf16 peak MiB '
              '| inference fp32 ms | inference bf16 ms | status |', '|---|---|---|---|---|---|---|---|---|']
    for method, r in steps['throughput'].items():
        if r['status'] != 'ok':
            lines.append(f"| {method} | | | | | | | | {r['status']}: {(r.get('error') or r.get('reason'))[:150]} |")
            continue
        fp32, bf16 = r['train_none'], r['train_bf16']
        lines.append(f"| {method} | {r['batch_size']} | {fp32['iter_per_s']} | {fp32['peak_mem_mb']} | "
                     f"{bf16['iter_per_s']} | {bf16['peak_mem_mb']} | {r['inference_fp32']['latency_ms']} | "
                     f"{r['inference_bf16']['latency_ms']} | ok |")
    lines += ['', '## 4. Optimised and compiled paths vs eager (first batch, max abs difference)', '',
              '| method | optimised | compiled | compile + first batch s | status |', '|---|---|---|---|---|']
    for method, r in steps['compile'].items():
        if 'optimised' in r:
            lines.append(f"| {method} | {r['optimised']['max_abs']} | {r['compiled']['max_abs']} | "
                         f"{r['compiled']['first_batch_s']} | {r['status']} |")
        else:
            lines.append(f"| {method} | | | | {r['status']}: {(r.get('error') or r.get('reason'))[:150]} |")
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='folder for gpu_check.json / gpu_check.md (and torchrun/)')
    parser.add_argument('--device', default='cuda', help='cuda, cuda:N or cpu (default: cuda)')
    parser.add_argument('--tiny', action='store_true', help='tiny configurations (smoke test) instead of the papers\'')
    parser.add_argument('--methods', nargs='+', default=sorted(PAPER_OPTIONS), choices=sorted(PAPER_OPTIONS))
    parser.add_argument('--steps', nargs='+', default=[s for s, _ in STEPS], choices=[s for s, _ in STEPS],
                        help='steps to run (default: all, in priority order)')
    parser.add_argument('--budget-s', type=float, default=570.0, help='seconds for all steps (default: 570)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserError('--device cuda: no CUDA GPU is visible to torch (give --device cpu for a smoke test)')
    if args.budget_s < 0:
        raise UserError(f'--budget-s must be >= 0, got {args.budget_s}')
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    import facesr_arch  # noqa: F401  (registries)
    results = GPUCheck(args.out, device, 'tiny' if args.tiny else 'paper', args.methods, args.budget_s,
                       args.steps).run()
    print(markdown(results))
    failed = [f'{step}/{name}' for step, items in results['steps'].items() for name, r in items.items()
              if r['status'] not in ('ok', 'skipped')]
    if failed:
        print(f'gpu_check: {len(failed)} item(s) failed: {", ".join(failed)}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except UserError as err:
        print(f'gpu_check: error: {err}', file=sys.stderr)
        sys.exit(2)
