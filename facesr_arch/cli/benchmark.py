"""``benchmark``: model, inference-path and data-pipeline costs, as JSON (never run as tests).

    python scripts/benchmark.py data --input my_faces/ [--devices cpu cuda] [--output data.json]

    python scripts/benchmark.py models [--methods GCFSR PVFR] [--config tiny paper large]
        [--device cpu|cuda] [--batch-sizes 1 4 8] [--optimize] [--channels-last] [--autocast bf16|fp16] [--compile]
        [--train-step [--train-batch N] [--train-iterations N] [--train-data DIR|X.lmdb] [--train-workers N]
         [--degradation-on-device]] [--reference gfpgan] [--no-machine-rate] [--threads N]
        --output models.json [--markdown models.md]

    python scripts/benchmark.py paths [--methods GCFSR FaceGFPGAN FaceGPEN FaceCodeFormer] [--config paper]
        [--gcfsr-sizes 512 1024] [--repeats 5] [--threads N] [--output paths.json] [--markdown paths.md]

``data``: pairs/s per worker for each degradation model (CPU path), CPU vs batched torch path for the
blind models at 512 px, and LMDB read throughput (facesr_arch/benchmark/data.py).

``models``: per method at its paper and a tiny configuration: parameters, FLOPs, forward latency (median),
throughput and peak memory per batch size, optionally training iterations and latency ratios to
GFPGANv1Clean-512 (facesr_arch/benchmark/models.py). Each row also carries the machine-relative figure
(facesr_arch/benchmark/machine.py): the rate of a reference convolution (3x3, 256 channels, 128x128, batch 1,
float32, the same threads) measured in the same run, the rate the network's own convolution shapes reach one
by one, and the network's achieved GFLOP/s as fractions of both (``--no-machine-rate`` skips them).

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

``paths``: the optimised inference path against the plain network (and, for GCFSR, the official release's
wiring) with the same weights, in one process with interleaved repeats: median latencies, their ratios, the
outputs' largest difference, and the machine-relative figure of each variant (facesr_arch/benchmark/paths.py).
"""
import argparse
import json
import os
import sys

from ..toolkit.errors import run_cli

PATH_METHODS = ['GCFSR', 'FaceGFPGAN', 'FaceGPEN', 'FaceCodeFormer']


def build_parser():
    parser = argparse.ArgumentParser(prog='benchmark', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', help='also write the JSON here')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --output / --markdown file')
    commands = parser.add_subparsers(dest='command', required=True)
    data = commands.add_parser('data', help='data pipeline: degradations, batched path, LMDB reads')
    data.add_argument('--input', required=True, help='HQ faces: image folder or LMDB')
    data.add_argument('--pairs', type=int, default=20, help='pairs per CPU measurement (default 20)')
    data.add_argument('--batch-size', type=int, default=16, help='batch of the batched path (default 16)')
    data.add_argument('--batches', type=int, default=3, help='timed batches per device (default 3)')
    data.add_argument('--devices', nargs='+', default=['cpu'], help='torch devices for the batched path')
    data.add_argument('--size', type=int, default=512, help='resolution of the blind comparison (default 512)')
    data.add_argument('--output', default=argparse.SUPPRESS, help='also write the JSON here')
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
                        'script: folded BatchNorm / weight scales / modulation, fused layers and channels_last '
                        '(default: networks as trained)')
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
    models.add_argument('--no-machine-rate', action='store_true',
                        help="skip the machine's reference convolution rate and the networks' own convolution "
                             'shapes (saves about one forward pass per network)')
    models.add_argument('--output', default=argparse.SUPPRESS, help='also write the JSON here')
    models.add_argument('--markdown', help='also write the markdown table here')
    paths = commands.add_parser('paths', help='optimised inference path vs plain network (and official GCFSR), '
                                'interleaved repeats')
    paths.add_argument('--methods', nargs='+', default=PATH_METHODS,
                       help=f'registry names (default: {" ".join(PATH_METHODS)})')
    paths.add_argument('--config', default='paper', choices=['tiny', 'paper'], help='default: paper')
    paths.add_argument('--gcfsr-sizes', type=int, nargs='+', metavar='SIZE',
                       help="GCFSR output sizes to measure (512: the official 512 px release's layout, "
                            'factor_norm 32; default: the configuration\'s own size)')
    paths.add_argument('--warmup', type=int, default=1, help='untimed rounds (default 1)')
    paths.add_argument('--repeats', type=int, default=5, help='timed rounds, each running every variant once '
                       '(default 5; latency: median)')
    paths.add_argument('--no-official', action='store_true', help="skip GCFSR's official-release wiring")
    paths.add_argument('--output', default=argparse.SUPPRESS, help='also write the JSON here')
    paths.add_argument('--markdown', help='also write the markdown table here')
    for sub in (models, paths):
        sub.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s own choice)')
    return parser


def _check(parser, args):
    """Argument checks that need the method lists (after ``import facesr_arch``)."""
    from ..benchmark.configs import METHODS
    if args.command == 'models':
        args.methods = args.methods or METHODS
        if args.train_data is None and (args.degradation_on_device or args.train_workers is not None):
            parser.error('--degradation-on-device and --train-workers need --train-data')
        if args.train_data is not None and not os.path.isdir(args.train_data):
            parser.error(f'--train-data: no such folder or LMDB: {args.train_data}')
    if args.command in ('models', 'paths'):
        unknown = sorted(set(args.methods) - set(METHODS))
        if unknown:
            parser.error(f'--methods: unknown {unknown}; choose from {METHODS}')
        if args.threads is not None and args.threads < 1:
            parser.error('--threads must be at least 1')
    if args.command == 'paths' and args.gcfsr_sizes:
        bad = [s for s in args.gcfsr_sizes if s not in (32, 64, 128, 256, 512, 1024)]
        if bad:
            parser.error(f'--gcfsr-sizes: {bad} are not powers of two in 32..1024')


def _write(path, text):
    from ..toolkit.outputs import atomic_write_text
    atomic_write_text(path, text)


def main(argv=None):
    """Run one benchmark and print its JSON; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'benchmark', argv)


def _main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import torch

    import facesr_arch  # noqa: F401  (registers everything)
    _check(parser, args)
    from ..toolkit.outputs import check_output
    inputs = [getattr(args, 'input', None), getattr(args, 'train_data', None)]
    for path, what in ((args.output, 'JSON output'), (getattr(args, 'markdown', None), 'markdown output')):
        if path:  # checked before the minutes of measuring
            check_output(path, inputs, overwrite=args.overwrite, what=what)
    if getattr(args, 'threads', None):
        torch.set_num_threads(args.threads)
    markdown = None
    if args.command == 'data':
        from ..benchmark.data import run_data_benchmark
        result = run_data_benchmark(args.input, pairs=args.pairs, batch_size=args.batch_size, batches=args.batches,
                                    devices=args.devices, blind_size=args.size)
    elif args.command == 'models':
        from ..benchmark.models import markdown_table, run_models_benchmark
        result = run_models_benchmark(
            args.methods, configs=args.config, device=args.device, batch_sizes=args.batch_sizes, warmup=args.warmup,
            repeats=args.repeats, fold=args.optimize, channels_last=args.channels_last or args.optimize,
            autocast=args.autocast, compile_net=args.compile, train_step=args.train_step,
            train_batch=args.train_batch, train_iterations=args.train_iterations, reference=args.reference,
            train_data=args.train_data, train_workers=args.train_workers,
            degradation_on_device=args.degradation_on_device, machine=not args.no_machine_rate)
        markdown = markdown_table(result) if args.markdown else None
    else:
        from ..benchmark.paths import markdown_table, run_paths_benchmark
        result = run_paths_benchmark(args.methods, config=args.config, gcfsr_sizes=args.gcfsr_sizes,
                                     warmup=args.warmup, repeats=args.repeats, official=not args.no_official)
        markdown = markdown_table(result) if args.markdown else None
    text = json.dumps({'benchmark': args.command, **result}, indent=1)
    print(text)
    if args.output:
        _write(args.output, text + '\n')
    if markdown is not None:
        _write(args.markdown, markdown)
    return 0


if __name__ == '__main__':
    sys.exit(main())
