"""Write deterministic LQ/GT test sets for the papers' protocols, with a manifest of every image's
degradation parameters.

    python scripts/make_testset.py --input datasets/CelebA-HQ/celeba_hq_test.lmdb --protocol mpcnet_celeba_test \
        --output datasets/testsets [--seed 0] [--max-images 3000] [--lmdb]
    python scripts/make_testset.py --list

Layout: OUTPUT/PROTOCOL/SUBSET/{gt,lq}/<stem>.png (and {gt,lq}.lmdb with --lmdb), OUTPUT/PROTOCOL/manifest.json.
GTs are the HQ images area-resized to the protocol's size and stored as 8-bit PNG; the LQ of image i is
the named degradation of that GT with the generator seeded by (seed, i). Same input, protocol and seed:
same bytes. Read a set back with the FacePairedDataset (dataroot_lq / dataroot_gt).
"""
import argparse
import json
import os
import shutil
import sys


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', help='HQ faces: image folder or BasicSR LMDB')
    parser.add_argument('--output', help='folder that receives PROTOCOL/...')
    parser.add_argument('--protocol', action='append', help='protocol name (repeatable); see --list')
    parser.add_argument('--seed', type=int, default=0, help='seed of the degradations (default 0)')
    parser.add_argument('--max-images', type=int, help='use only the first N images (sorted by stem)')
    parser.add_argument('--lmdb', action='store_true', help='also pack each gt/ and lq/ folder into an LMDB')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT/PROTOCOL')
    parser.add_argument('--list', action='store_true', help='list the protocols and their subsets')
    return parser


if __name__ == '__main__':
    build_parser().parse_args()  # --help and argument errors before the heavy imports below

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # noqa: E402
import facesr_arch  # noqa: E402,F401
from facesr_arch.data.degradations import apply_degradation  # noqa: E402
from facesr_arch.data.image_io import write_atomic, write_image_atomic  # noqa: E402
from facesr_arch.data.image_source import ImageSource  # noqa: E402
from facesr_arch.data.testset_protocols import PROTOCOLS  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # noqa: E402
from create_lmdb import create_lmdb  # noqa: E402


def to_uint8(img):
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def make_testset(input_root, output, protocol, seed=0, max_images=None, lmdb=False, overwrite=False):
    """Write one protocol's subsets and manifest; returns the manifest path.

    Raises:
        KeyError: Unknown protocol.
        FileExistsError: OUTPUT/PROTOCOL exists and ``overwrite`` is False.
    """
    if protocol not in PROTOCOLS:
        raise KeyError(f'Unknown protocol {protocol!r}; known: {sorted(PROTOCOLS)}')
    root = os.path.join(output, protocol)
    if os.path.exists(root):
        if not overwrite:
            raise FileExistsError(f'{root} exists; pass --overwrite to replace it')
        shutil.rmtree(root)
    source = ImageSource(input_root)
    keys = source.keys[:max_images] if max_images else source.keys
    manifest = {'protocol': protocol, 'seed': seed, 'num_images': len(keys), 'subsets': {}}
    for subset, (gt_size, degradation) in PROTOCOLS[protocol].items():
        records = {}
        for index, key in enumerate(tqdm(keys, desc=f'{protocol}/{subset}', unit='img')):
            hq = source.read(key)
            if hq.shape[:2] != (gt_size, gt_size):
                hq = cv2.resize(hq, (gt_size, gt_size), interpolation=cv2.INTER_AREA)
            gt = to_uint8(hq)
            lq, record = apply_degradation(gt.astype(np.float32) / 255.0, np.random.default_rng([seed, index]),
                                           degradation)
            write_image_atomic(os.path.join(root, subset, 'gt', f'{key}.png'), gt)
            write_image_atomic(os.path.join(root, subset, 'lq', f'{key}.png'), to_uint8(lq))
            records[key] = record
        if lmdb:
            for part in ('gt', 'lq'):
                create_lmdb(os.path.join(root, subset, part), os.path.join(root, subset, f'{part}.lmdb'))
        manifest['subsets'][subset] = {'gt_size': gt_size, 'degradation': degradation, 'images': records}
    path = os.path.join(root, 'manifest.json')
    write_atomic(path, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return path


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, subsets in PROTOCOLS.items():
            print(f"{name}: {', '.join(f'{s} ({size} px)' for s, (size, _) in subsets.items())}")
        return 0
    if not (args.input and args.output and args.protocol):
        parser.error('--input, --output and --protocol are required (or --list)')
    try:
        for protocol in args.protocol:
            path = make_testset(args.input, args.output, protocol, args.seed, args.max_images, args.lmdb,
                                args.overwrite)
            print(f'Wrote {os.path.dirname(path)} (manifest: {path})')
    except (KeyError, FileExistsError, FileNotFoundError) as err:
        print(f'make_testset: error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
