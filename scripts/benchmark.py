"""Benchmarks, as JSON (never run as tests).

    python scripts/benchmark.py data --input ../shared/data/ffhq_hq [--devices cpu cuda] [--output data.json]

``data``: pairs/s per worker for each degradation model (CPU path), CPU vs batched torch path for the
blind models at 512 px, and LMDB read throughput (facesr_arch/data/benchmark.py).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import facesr_arch  # noqa: E402,F401


def data_command(args):
    from facesr_arch.data.benchmark import run_data_benchmark
    return run_data_benchmark(args.input, pairs=args.pairs, batch_size=args.batch_size, batches=args.batches,
                              devices=args.devices, blind_size=args.size)


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
    args = parser.parse_args(argv)
    result = {'benchmark': args.command, **args.run(args)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        with open(args.output, 'w') as f:
            f.write(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
