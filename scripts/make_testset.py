"""Write deterministic LQ/GT test sets for the papers' protocols, with a manifest of every image's
degradation parameters.

    python scripts/make_testset.py --input datasets/CelebA-HQ/celeba_hq_test.lmdb --protocol mpcnet_celeba_test \
        --output datasets/testsets [--seed 0] [--max-images 3000] [--lmdb]
    python scripts/make_testset.py --list

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

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import facesr_arch  # noqa: E402,F401
from facesr_arch.data.degradations import apply_degradation  # noqa: E402
from facesr_arch.data.image_io import ImageDecodeError, write_atomic, write_image_atomic  # noqa: E402
from facesr_arch.data.image_source import ImageSource  # noqa: E402
from facesr_arch.data.lmdb_util import key_problem  # noqa: E402
from facesr_arch.data.testset_protocols import PROTOCOLS  # noqa: E402
from facesr_arch.utils.safety import check_writable, refuse_input_inside, run_cli, staged_folder  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from create_lmdb import create_lmdb  # noqa: E402


def to_uint8(img):
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def make_testset(input_root, output, protocol, seed=0, max_images=None, lmdb=False, overwrite=False, log=print):
    """Write one protocol's subsets and manifest; returns the manifest path.

    The set is built in a temporary folder beside OUTPUT/PROTOCOL and renamed into place when complete: an
    existing set (``overwrite``) is replaced only then, and a failed run leaves nothing behind. An image that
    cannot be decoded, or that is not square (resizing it would distort the face), is skipped and listed
    (``log`` and the manifest's ``skipped``); one smaller than a subset's size is upsampled and listed under
    ``upsampled``.

    Raises:
        KeyError: Unknown protocol.
        FileExistsError: OUTPUT/PROTOCOL exists and ``overwrite`` is False.
        UnsafeOutputError: The input lies inside OUTPUT/PROTOCOL, or the output cannot be written.
        ValueError: No input image could be used.
    """
    if protocol not in PROTOCOLS:
        raise KeyError(f'Unknown protocol {protocol!r}; known: {sorted(PROTOCOLS)}')
    root = os.path.join(output, protocol)
    refuse_input_inside([input_root], root, 'test set')
    with staged_folder(root, overwrite) as staging:
        source = ImageSource(input_root)
        keys = source.keys[:max_images] if max_images else source.keys
        skipped, upsampled = {}, {}
        if lmdb:
            skipped.update({key: f'{source.path(key)}: name {key_problem(key)}' for key in keys if key_problem(key)})
        manifest = {'protocol': protocol, 'seed': seed, 'subsets': {}}
        for subset, (gt_size, degradation) in PROTOCOLS[protocol].items():
            records = {}
            for index, key in enumerate(tqdm(keys, desc=f'{protocol}/{subset}', unit='img')):
                hq = _read_square(source, key, skipped)
                if hq is None:
                    continue
                if hq.shape[0] < gt_size:
                    upsampled.setdefault(key, f'{source.path(key)}: {hq.shape[0]} px, upsampled to {gt_size} px')
                if hq.shape[:2] != (gt_size, gt_size):
                    hq = cv2.resize(hq, (gt_size, gt_size), interpolation=cv2.INTER_AREA)
                gt = to_uint8(hq)
                lq, record = apply_degradation(gt.astype(np.float32) / 255.0, np.random.default_rng([seed, index]),
                                               degradation)
                write_image_atomic(os.path.join(staging, subset, 'gt', f'{key}.png'), gt)
                write_image_atomic(os.path.join(staging, subset, 'lq', f'{key}.png'), to_uint8(lq))
                records[key] = record
            if not records:
                raise ValueError(f'None of the {len(keys)} images of {input_root} could be used: '
                                 + '; '.join(list(skipped.values())[:3]))
            if lmdb:
                for part in ('gt', 'lq'):
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', help='HQ faces: image folder or BasicSR LMDB')
    parser.add_argument('--output', help='folder that receives PROTOCOL/...')
    parser.add_argument('--protocol', action='append', help='protocol name (repeatable); see --list')
    parser.add_argument('--seed', type=int, default=0, help='seed of the degradations (default 0)')
    parser.add_argument('--max-images', type=int, help='use only the first N images (sorted by stem)')
    parser.add_argument('--lmdb', action='store_true', help='also pack each gt/ and lq/ folder into an LMDB')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT/PROTOCOL')
    parser.add_argument('--list', action='store_true', help='list the protocols and their subsets')
    args = parser.parse_args(argv)
    if args.list:
        for name, subsets in PROTOCOLS.items():
            print(f"{name}: {', '.join(f'{s} ({size} px)' for s, (size, _) in subsets.items())}")
        return 0
    if not (args.input and args.output and args.protocol):
        parser.error('--input, --output and --protocol are required (or --list)')
    check_writable(args.output, 'output folder')
    for protocol in args.protocol:
        path = make_testset(args.input, args.output, protocol, args.seed, args.max_images, args.lmdb,
                            args.overwrite, log=lambda line: print(line, file=sys.stderr))
        print(f'Wrote {os.path.dirname(path)} (manifest: {path})')
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main, 'make_testset'))
