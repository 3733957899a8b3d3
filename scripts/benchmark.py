"""Benchmarks, as JSON (never run as tests).

    python scripts/benchmark.py data --input my_faces/ [--devices cpu cuda] [--output data.json]

    python scripts/benchmark.py models [--methods GCFSR PVFR] [--config tiny paper large]
        [--device cpu|cuda] [--batch-sizes 1 4 8] [--optimize] [--channels-last] [--autocast bf16|fp16] [--compile]
        [--train-step [--train-batch N] [--train-iterations N] [--train-data DIR|X.lmdb] [--train-workers N]
         [--degradation-on-device]] [--reference gfpgan] --output models.json [--markdown models.md]

``data``: pairs/s per worker for each degradation model (CPU path), CPU vs batched torch path for the
blind models at 512 px, and LMDB read throughput (facesr_arch/benchmark/data.py).

``models``: per method at its paper and a tiny configuration: parameters, FLOPs, forward latency (median),
throughput and peak memory per batch size, optionally training iterations and latency ratios to
GFPGANv1Clean-512 (facesr_arch/benchmark/models.py).

``models --train-step``: training iterations through each method's real model class
(facesr_arch/benchmark/training.py): iteration time, the share of it spent waiting for data
(``next(loader)`` + ``feed_data``, reported apart), EMA and R1 costs. With ``--train-data`` the batches come
from the method's own training dataset (its option file's ``datasets.train``, at the model's output size)
on those HQ faces, through BasicSR's dataloader with ``--train-workers`` processes (default: the option
file's ``num_worker_per_gpu``, capped at the CPU count); parsing maps and component boxes the dataset needs
are generated with random content. ``--degradation-on-device`` runs the blind degradations (MPCNet, PVFR)
batched on ``--device`` in ``feed_data`` (recorded as not applicable for the other methods). Without
``--train-data`` the batches are random in-memory tensors: no decoding or degradation, model cost only.
``--train-batch`` can be set to the paper batch size (the option file's ``batch_size_per_gpu``). Training memory:
resident state (parameters, gradients, optimiser states), activations held for backward per face, and the peak
of the iterations (CUDA allocation peak; on CPU the process RSS peak, allocator caching included).
"""
import argparse
import json
import os
import sys

import _light  # noqa: F401  (the checkout importable; facesr_arch is imported after the arguments are parsed)


def data_command(args):
    from facesr_arch.benchmark.data import run_data_benchmark
    return run_data_benchmark(args.input, pairs=args.pairs, batch_size=args.batch_size, batches=args.batches,
                              devices=args.devices, blind_size=args.size)


def models_command(args):
    from facesr_arch.benchmark.models import markdown_table, run_models_benchmark
    result = run_models_benchmark(args.methods, configs=args.config, device=args.device, batch_sizes=args.batch_sizes,
                                  warmup=args.warmup, repeats=args.repeats, fold=args.optimize,
                                  channels_last=args.channels_last or args.optimize, autocast=args.autocast, compile_net=args.compile, train_step=args.train_step,
                                  train_batch=args.train_batch, train_iterations=args.train_iterations,
                                  reference=args.reference, train_data=args.train_data,
                                  train_workers=args.train_workers,
                                  degradation_on_device=args.degradation_on_device)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(markdown_table(result))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', help='also write the JSON here')
    commands = parser.add_subparsers(dest='command', required=True)
    data = commands.add_parser('data', help='data pipeline: degradations, batched path, LMDB reads')
    data.add_argument('--input', required=True, help='HQ faces: image folder or LMDB')
    data.add_argument('--pairs', type=int, default=20, help='pairs per CPU measurement (default 20)')
    data.add_argument('--batch-size', type=int, default=16, help='batch of the batched path (default 16)')
    data.add_argument('--batches', type=int, default=3, help='timed batches per device (default 3)')
    data.add_argument('--devices', nargs='+', default=['cpu'], help='torch devices for the batched path')
    data.add_argument('--size', type=int, default=512, help='resolution of the blind comparison (default 512)')
    data.set_defaults(run=data_command)
    models = commands.add_parser('models', help='model costs: parameters, FLOPs, latency, memory, training')
    models.add_argument('--methods', nargs='+', help='registry names (default: all: the five methods and the baselines '
                        'FaceGFPGAN, FaceGPEN, FaceCodeFormer; baselines are inference only, no --train-step)')
    models.add_argument('--config', nargs='+', default=['tiny', 'paper'], choices=['tiny', 'paper', 'large'],
                        help="'large': the larger named configuration of the methods that have one (MPCNet)")
    models.add_argument('--device', default='cpu', help='cpu or cuda (default cpu)')
    models.add_argument('--batch-sizes', type=int, nargs='+', default=[1], help='default: 1')
    models.add_argument('--warmup', type=int, default=1, help='untimed forwards per batch size (default 1)')
    models.add_argument('--repeats', type=int, default=3, help='timed forwards per batch size (default 3)')
    models.add_argument('--channels-last', action='store_true', help='channels_last network and inputs')
    models.add_argument('--optimize', action='store_true', help='the optimised inference path of the inference '
                        'script: folded BatchNorm / weight scales and channels_last (default: networks as trained)')
    models.add_argument('--autocast', choices=['bf16', 'fp16'], help='mixed precision (default fp32)')
    models.add_argument('--compile', action='store_true', help='torch.compile the networks')
    models.add_argument('--train-step', action='store_true', help='also time training iterations')
    models.add_argument('--train-batch', type=int, default=2,
                        help="batch of the training iterations (default 2; set the paper's batch_size_per_gpu "
                             'to measure at the paper batch size)')
    models.add_argument('--train-iterations', type=int, default=4,
                        help='timed training iterations, after one warm-up (default 4)')
    models.add_argument('--train-data', metavar='DIR',
                        help="HQ faces (image folder or LMDB) for the training iterations, through each method's "
                             'own training dataset and BasicSR dataloader (default: in-memory random batches, '
                             'model cost only)')
    models.add_argument('--train-workers', type=int, metavar='N',
                        help="loader workers with --train-data (default: the option file's num_worker_per_gpu, "
                             'capped at the CPU count)')
    models.add_argument('--degradation-on-device', action='store_true',
                        help='with --train-data: blind degradations batched on --device in feed_data instead of '
                             'in the loader workers (not applicable to non-blind methods, recorded as such)')
    models.add_argument('--reference', choices=['gfpgan'], help='latency ratios to GFPGANv1Clean-512 (the gfpgan '
                        'package; without it, FaceGFPGAN at its paper configuration when measured in the run)')
    models.add_argument('--output', default=argparse.SUPPRESS, help='also write the JSON here')
    models.add_argument('--markdown', help='also write the markdown table here')
    models.set_defaults(run=models_command)
    args = parser.parse_args(argv)
    import facesr_arch  # noqa: F401  (registers everything)
    if args.command == 'models':
        from facesr_arch.benchmark.models import METHODS
        args.methods = args.methods or METHODS
        unknown = sorted(set(args.methods) - set(METHODS))
        if unknown:
            parser.error(f'--methods: unknown {unknown}; choose from {METHODS}')
        if args.train_data is None and (args.degradation_on_device or args.train_workers is not None):
            parser.error('--degradation-on-device and --train-workers need --train-data')
        if args.train_data is not None and not os.path.isdir(args.train_data):
            parser.error(f'--train-data: no such folder or LMDB: {args.train_data}')
    result = {'benchmark': args.command, **args.run(args)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
