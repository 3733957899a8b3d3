"""Deterministic LQ/GT test sets for the papers' protocols, with a manifest of every image's degradation
parameters (the command line is :mod:`facesr_arch.cli.make_testset`).

Layout: OUTPUT/PROTOCOL/SUBSET/{gt,lq}/<stem>.png (and {gt,lq}.lmdb with ``lmdb``), OUTPUT/PROTOCOL/manifest.json.
GTs are the HQ images area-resized to the protocol's size and stored as 8-bit PNG; the LQ of image i is
the named degradation of that GT with the generator seeded by (seed, i). Same input, protocol and seed:
same bytes.
"""
import json
import os

import numpy as np
from tqdm import tqdm

from ..utils.safety import refuse_input_inside, staged_folder
from .image_io import ImageDecodeError, write_atomic, write_image_atomic
from .image_source import ImageSource
from .lmdb_build import create_lmdb
from .lmdb_util import key_problem
from .testset_keys import resolve_test_keys
from .testset_protocols import get_protocol, make_pair


def make_testset(input_root, output, protocol, seed=0, max_images=None, lmdb=False, overwrite=False, keys=None,
                 exclude=(), log=print, dataset=None, celeba_lists=None):
    """Write one protocol's subsets and manifest; returns the manifest path.

    ``keys`` / ``exclude`` / ``dataset`` / ``celeba_lists``: see ``facesr_arch.data.testset_keys.resolve_test_keys`` (None: every input image;
    'paper': the protocol's key list; or a list file / LMDB / folder).

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
