"""Write deterministic LQ/GT test sets for the papers' protocols, with a manifest of every image's
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
import json
import os
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


if __name__ == '__main__':
    build_parser().parse_args()  # --help and argument errors before the heavy imports below

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # noqa: E402
import facesr_arch  # noqa: E402,F401
from facesr_arch.data.image_io import ImageDecodeError, write_atomic, write_image_atomic  # noqa: E402
from facesr_arch.data.image_source import ImageSource  # noqa: E402
from facesr_arch.data.lmdb_util import key_problem  # noqa: E402
from facesr_arch.data.testset_keys import resolve_test_keys  # noqa: E402
from facesr_arch.data.testset_protocols import PROTOCOLS, get_protocol, make_pair  # noqa: E402
from facesr_arch.utils.safety import check_writable, refuse_input_inside, run_cli, staged_folder  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # noqa: E402
from create_lmdb import create_lmdb  # noqa: E402


def make_testset(input_root, output, protocol, seed=0, max_images=None, lmdb=False, overwrite=False, keys=None,
                 exclude=(), log=print, dataset=None, celeba_lists=None):
    """Write one protocol's subsets and manifest; returns the manifest path.

    ``keys`` / ``exclude`` / ``dataset`` / ``celeba_lists``: see ``facesr_arch.data.testset_keys.resolve_test_keys``
    (None: every input image; 'paper': the protocol's key list; or a list file / LMDB / folder).

    The set is built in a temporary folder beside OUTPUT/PROTOCOL and renamed into place when complete: an
    existing set (``overwrite``) is replaced only then, and a failed run leaves nothing behind. An image that
    cannot be decoded, or that is not square (resizing it would distort the face), is skipped and listed
    (``log`` and the manifest's ``skipped``); one smaller than a subset's size is upsampled and listed under
    ``upsampled``.

    Raises:
        KeyError: Unknown protocol, or a listed face missing from the input.
        ValueError: The test faces overlap an excluded (training) set.
        FileExistsError: OUTPUT/PROTOCOL exists and ``overwrite`` is False.
        UnsafeOutputError: The input lies inside OUTPUT/PROTOCOL, or the output cannot be written.
        ValueError: No input image could be used.
    """
    recipe = get_protocol(protocol)
    root = os.path.join(output, protocol)
    refuse_input_inside([input_root], root, 'test set')
    with staged_folder(root, overwrite) as staging:
        source = ImageSource(input_root)
        keys, key_source = resolve_test_keys(source.keys, recipe, keys, exclude, input_root, dataset,
                                             celeba_lists)
        keys = keys[:max_images] if max_images else keys
        skipped, upsampled = {}, {}
        if lmdb:
            skipped.update({key: f'{source.path(key)}: name {key_problem(key)}' for key in keys if key_problem(key)})
        manifest = {'protocol': protocol, 'seed': seed, 'keys': key_source, 'subsets': {}}
        for subset, spec in recipe['subsets'].items():
            gt_size, degradation = spec['gt_size'], spec['degradation']
            records = {}
            for index, key in enumerate(tqdm(keys, desc=f'{protocol}/{subset}', unit='img')):
                face = _read_square(source, key, skipped)
                if face is None:
                    continue
                if recipe['reference'] and face.shape[0] < gt_size:
                    upsampled.setdefault(key, f'{source.path(key)}: {face.shape[0]} px, upsampled to {gt_size} px')
                gt, lq, record = make_pair(face, spec, np.random.default_rng([seed, index]), recipe['reference'])
                if gt is not None:
                    write_image_atomic(os.path.join(staging, subset, 'gt', f'{key}.png'), gt)
                write_image_atomic(os.path.join(staging, subset, 'lq', f'{key}.png'), lq)
                records[key] = record
            if not records:
                raise ValueError(f'None of the {len(keys)} images of {input_root} could be used: '
                                 + '; '.join(list(skipped.values())[:3]))
            if lmdb:
                for part in ('gt', 'lq') if recipe['reference'] else ('lq', ):
                    create_lmdb(os.path.join(staging, subset, part), os.path.join(staging, subset, f'{part}.lmdb'))
            manifest['subsets'][subset] = {'gt_size': gt_size, 'degradation': degradation, 'images': records}
        manifest.update(num_images=len(keys) - len(skipped), skipped=skipped, upsampled=upsampled)
        for kind, reasons in (('skipped', skipped), ('warning', upsampled)):
            for reason in reasons.values():
                log(f'{kind}: {reason}')
        write_atomic(os.path.join(staging, 'manifest.json'), json.dumps(manifest, indent=1, sort_keys=True).encode())
    return os.path.join(root, 'manifest.json')


def _read_square(source, key, skipped):
    """The HQ image of ``key``, or None (reason recorded in ``skipped``) if it is undecodable or not square."""
    if key in skipped:
        return None
    try:
        hq = source.read(key)
    except ImageDecodeError as err:
        skipped[key] = str(err)
        return None
    if hq.shape[0] != hq.shape[1]:
        skipped[key] = (f'{source.path(key)}: {hq.shape[1]}x{hq.shape[0]} is not square; the protocols take '
                        'aligned square faces (resizing would distort it)')
        return None
    return hq


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, recipe in PROTOCOLS.items():
            subsets = ', '.join(f"{s} ({spec['gt_size']} px)" for s, spec in recipe['subsets'].items())
            tables = '/'.join(map(str, recipe['tables']))
            print(f"{name}: {recipe['paper'].split(':')[0]} Table {tables}, {recipe['num_images']} images; {subsets}")
        return 0
    if args.calibrate:
        if not args.input:
            parser.error('--calibrate needs --input (HQ faces)')
        from facesr_arch.data.testset_calibration import calibrate, format_rows
        print(format_rows(calibrate(args.input, args.protocol, args.seeds, args.max_images)))
        return 0
    if not (args.input and args.output and args.protocol):
        parser.error('--input, --output and --protocol are required (or --list)')
    check_writable(args.output, 'output folder')
    for protocol in args.protocol:
        path = make_testset(args.input, args.output, protocol, args.seed, args.max_images, args.lmdb,
                            args.overwrite, args.keys, args.exclude_keys, log=lambda line: print(line, file=sys.stderr),
                            dataset=args.dataset, celeba_lists=args.celeba_lists)
        print(f'Wrote {os.path.dirname(path)} (manifest: {path})')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main, 'make_testset'))
