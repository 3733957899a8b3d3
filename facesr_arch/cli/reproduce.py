"""``reproduce``: reproduce a paper table: build its test set, run the given checkpoints, score them, and write
the paper's table beside the measured rows with the difference per cell (markdown, CSV, JSON, and a plot for sweeps).

    python scripts/reproduce.py --list
    python scripts/reproduce.py --paper mpcnet --table 4 --hq datasets/CelebA-HQ/celeba_hq.lmdb \\
        --checkpoint "MPCNet (ours)"=experiments/MPCNet_FFHQ512/models/net_g_latest.pth --out results/reproduce
    python scripts/reproduce.py --paper wnet --table 1 --hq celeba=datasets/CelebA/test --hq helen=datasets/Helen \\
        --checkpoint W-Net=net_g.pth --checkpoint-opt W-Net=options/test/WNet/test_WNet_x4_CelebA_Helen.yml
    python scripts/reproduce.py --paper gcfsr --table 1 --out results/reproduce      # parameter counts

The Input / Bicubic row (and the GT row where the paper prints one) needs no weights and is always measured.
A checkpoint row named like a paper row (or 'ours') is paired with it. A checkpoint that holds its network
description (the 'network' entry) needs nothing else; otherwise give its option file with --checkpoint-opt.
A super-resolution checkpoint is measured only on the test sets of the factors it was trained for (training
records them); for an older checkpoint that does not, give them with --checkpoint-scale NAME=4.
Test sets are cached under OUT/testsets (reused while protocol, seed, --max-images and the input files are
unchanged); restored faces under OUT/outputs; the table under OUT/<paper>_table<id>/.

Quick look: --max-images N uses the first N faces only (numbers then vary more than the paper's).
Also ``python -m facesr_arch.cli.reproduce`` and the console command ``facesr-reproduce``.
"""
import argparse
import os
import sys

from ..toolkit.errors import run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='reproduce', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--list', action='store_true', help='list every table and the protocol it is measured on')
    parser.add_argument('--paper', help='cfgpfssr, gcfsr, mpcnet, pvfr or wnet')
    parser.add_argument('--table', help='table number as printed in the paper')
    parser.add_argument('--hq', action='append', metavar='[NAME=]DIR_OR_LMDB',
                        help='HQ faces (real faces for no-reference tables); NAME=... for tables over several '
                             'datasets or protocols (e.g. helen=DIR); repeatable')
    parser.add_argument('--checkpoint', action='append', metavar='NAME=PATH', help='a method row (repeatable)')
    parser.add_argument('--checkpoint-opt', action='append', metavar='NAME=OPTION_FILE',
                        help='option file (network_g) of a checkpoint that does not describe its network')
    parser.add_argument('--checkpoint-scale', action='append', metavar='NAME=FACTOR[,FACTOR]',
                        help='upscaling factor(s) a super-resolution checkpoint was trained for, when it does not '
                             'record them (saved by an older version); it is measured only on those test sets')
    parser.add_argument('--out', help='output folder')
    parser.add_argument('--seed', type=int, default=0, help='degradation seed of the test sets (default 0)')
    parser.add_argument('--max-images', type=int, help='quick look: only the first N faces of each test set')
    parser.add_argument('--keys', help="faces of each test set: 'paper' (the protocol's key list) or a key list "
                                       'file / LMDB / folder (default: every --hq face); see make_testset.py')
    parser.add_argument('--exclude-keys', action='append', default=[], metavar='LIST',
                        help='training key list / LMDB / folder the test set must not overlap (repeatable)')
    parser.add_argument('--dataset', help='the data set of --hq (celeba_hq, celeba, ffhq, ...); see make_testset.py')
    parser.add_argument('--celeba-lists', nargs=2, metavar=('IMAGE_LIST', 'LIST_EVAL_PARTITION'),
                        help="derive GCFSR's CelebA-Test faces from CelebA-HQ's and CelebA's lists (make_testset.py)")
    parser.add_argument('--pairs', nargs=2, action='append', metavar=('[NAME=]LQ_DIR', 'GT_DIR'),
                        help='your own LQ / GT test pairs (e.g. CelebA-Test) instead of a set built from --hq; NAME: '
                             'PROTOCOL/SUBSET, protocol or dataset when the table has several sets (repeatable)')
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument('--batch-size', type=int, default=1, help='faces per forward pass (default 1)')
    parser.add_argument('--fid-ref', help='FID reference folder or .npz (default: the GT folder of each set)')
    parser.add_argument('--ifqa-weights', help='IFQA_Metric.pth (default: $TORCH_HOME/hub/pyiqa/IFQA_Metric.pth)')
    parser.add_argument('--arcface-weights', help='ArcFace checkpoint for identity similarity')
    parser.add_argument('--landmark-weights', help='facexlib FAN checkpoint for landmark distance')
    parser.add_argument('--torch-home', help='sets TORCH_HOME (where pyiqa / torchvision weights are) first')
    parser.add_argument('--progress', action='store_true', help='progress bars')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing OUT/<paper>_table<id> (whole, once the new one is complete)')
    return parser


def list_tables():
    from ..reproduce.tables import all_tables
    for table in all_tables():
        where = ', '.join(f'{p}/{s}' for p, s in table.measured_on) or 'built networks'
        print(f'{table.paper} {table.table_id} [{table.kind}]: {table.caption} -- {where}')


def main(argv=None):
    """Measure one table (or list them); returns the exit status (2 after a user error)."""
    return run_cli(_main, 'reproduce', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    if args.torch_home:
        os.environ['TORCH_HOME'] = os.path.abspath(args.torch_home)
    if args.list:
        list_tables()
        return 0
    if not (args.paper and args.table and args.out):
        build_parser().error('--paper, --table and --out are required (or --list)')
    import torch

    from ..data.testset_build import make_testset
    from ..reproduce.runner import measure, parse_pairs
    from ..reproduce.selection import parse_pair_entries
    from ..reproduce.tables import load_table
    table = load_table(args.paper, args.table)
    weights = {'ifqa': args.ifqa_weights, 'identity': args.arcface_weights, 'landmark': args.landmark_weights}
    result = measure(
        table, args.out, make_testset, hq=args.hq, checkpoints=parse_pairs(args.checkpoint, '--checkpoint'),
        checkpoint_opts=parse_pairs(args.checkpoint_opt, '--checkpoint-opt'),
        checkpoint_scales_given=parse_pairs(args.checkpoint_scale, '--checkpoint-scale'), seed=args.seed,
        max_images=args.max_images, keys=args.keys, exclude=args.exclude_keys,
        device=args.device or ('cuda' if torch.cuda.is_available() else 'cpu'),
        batch_size=args.batch_size, fid_ref=args.fid_ref, weights={k: v for k, v in weights.items() if v},
        progress=args.progress, overwrite=args.overwrite, dataset=args.dataset, celeba_lists=args.celeba_lists,
        pairs=parse_pair_entries(args.pairs))
    with open(os.path.join(result['folder'], 'table.md')) as f:
        print(f.read())
    print(f'Written: {result["folder"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
