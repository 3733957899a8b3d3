"""``make_testset``: write deterministic LQ/GT test sets for the papers' protocols, with a manifest of every image's
degradation parameters.

    python scripts/make_testset.py --input datasets/CelebA-HQ/celeba_hq.lmdb --protocol mpcnet_celeba_test \
        --keys paper --output datasets/testsets [--exclude-keys TRAIN_LMDB] [--seed 0] [--lmdb]
    python scripts/make_testset.py --list
    python scripts/make_testset.py --calibrate --input HQ_FACES [--protocol NAME] [--seeds 3]

Layout: OUTPUT/PROTOCOL/SUBSET/{gt,lq}/<stem>.png (and {gt,lq}.lmdb with --lmdb), OUTPUT/PROTOCOL/manifest.json.
GTs are the HQ images area-resized to the protocol's size and stored as 8-bit PNG; the LQ of image i is
the named degradation of that GT with the generator seeded by (seed, i). Same input, protocol and seed:
same bytes. Undecodable and non-square images are skipped and listed (manifest: ``skipped``), smaller ones
upsampled and listed (``upsampled``). Each set is built beside OUTPUT/PROTOCOL and renamed into place when
complete; ``--overwrite`` replaces an existing set only then, and refuses an input inside it. Read a set
back with the FacePairedDataset (dataroot_lq / dataroot_gt).
"""
import argparse
import os
import sys

from ..utils.safety import check_writable, run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='make_testset', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', help='HQ faces: image folder or BasicSR LMDB')
    parser.add_argument('--output', help='folder that receives PROTOCOL/...')
    parser.add_argument('--protocol', action='append', help='protocol name (repeatable); see --list')
    parser.add_argument('--seed', type=int, default=0, help='seed of the degradations (default 0)')
    parser.add_argument('--max-images', type=int, help='use only the first N images (of the key list, or by stem)')
    parser.add_argument('--keys', help="the test faces: 'paper' for the protocol's key list (facesr_arch/data/"
                        'keylists), or a key list file / LMDB / folder; default: every input image')
    parser.add_argument('--exclude-keys', action='append', default=[], metavar='PATH',
                        help='training faces the test set must not share (key list file, LMDB or folder; '
                        'repeatable)')
    parser.add_argument('--dataset', help='the data set of --input (celeba_hq, celeba, ffhq, ...); default: the one '
                        "the protocol's key list names (MPCNet: celeba_hq, whose parser-training faces are refused)")
    parser.add_argument('--celeba-lists', nargs=2, metavar=('IMAGE_LIST', 'LIST_EVAL_PARTITION'),
                        help="GCFSR's CelebA-Test: derive its faces from CelebA-HQ's image_list.txt and CelebA's "
                        'list_eval_partition.txt (facesr_arch/data/testset_keys.py states the rule)')
    parser.add_argument('--lmdb', action='store_true', help='also pack each gt/ and lq/ folder into an LMDB')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT/PROTOCOL')
    parser.add_argument('--list', action='store_true', help='list the protocols and their subsets')
    parser.add_argument('--calibrate', action='store_true',
                        help="print each protocol's measured Input PSNR beside the paper's Input row (writes "
                        'nothing; --protocol limits it, --max-images and --seeds size it)')
    parser.add_argument('--seeds', type=int, default=3, help='degradation seeds per face for --calibrate')
    return parser


def main(argv=None):
    """Build, list or calibrate test sets; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'make_testset', argv)


def _main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        from ..data.testset_protocols import PROTOCOLS
        for name, recipe in PROTOCOLS.items():
            subsets = ', '.join(f"{s} ({spec['gt_size']} px)" for s, spec in recipe['subsets'].items())
            tables = '/'.join(map(str, recipe['tables']))
            print(f"{name}: {recipe['paper'].split(':')[0]} Table {tables}, {recipe['num_images']} images; {subsets}")
        return 0
    if args.calibrate:
        if not args.input:
            parser.error('--calibrate needs --input (HQ faces)')
        from ..data.testset_calibration import calibrate, format_rows
        print(format_rows(calibrate(args.input, args.protocol, args.seeds, args.max_images)))
        return 0
    if not (args.input and args.output and args.protocol):
        parser.error('--input, --output and --protocol are required (or --list)')
    from ..data.testset_build import make_testset
    check_writable(args.output, 'output folder')
    for protocol in args.protocol:
        path = make_testset(args.input, args.output, protocol, args.seed, args.max_images, args.lmdb,
                            args.overwrite, args.keys, args.exclude_keys, log=lambda line: print(line, file=sys.stderr),
                            dataset=args.dataset, celeba_lists=args.celeba_lists)
        print(f'Wrote {os.path.dirname(path)} (manifest: {path})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
