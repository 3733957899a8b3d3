"""Deterministic test subsets: one key list per protocol, and the check that a test set stays out of training.

None of the five papers publishes the identity of its test faces, so each list is drawn here from a fixed,
documented seed over the dataset's index range (CelebA-HQ: 30,000 faces, indices 0..29999; CelebA:
202,599 faces, 1..202599), and committed under ``keylists/`` so that every user gets the same faces
whatever their NumPy. A key names a face by its index: stems that are integers match whatever their
zero padding (``00012``, ``12`` and ``12.jpg`` are one face), other stems match exactly.

MPCNet trains its parser on 24,000 random CelebAMask-HQ (= CelebA-HQ) faces and tests on 3,000 others
(section 4.1): both lists come from one permutation (faces 0-23,999 of it train the parser, the next
3,000 test, the next 100 validate), so they cannot overlap.
"""
import os

import numpy as np

from ..toolkit.errors import BadInputError, MissingInputError, UnknownNameError
from ..toolkit.outputs import atomic_write_text
from .image_source import ImageSource, is_lmdb
from .lmdb_util import read_meta_keys

KEYLIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'keylists')

UNIVERSES = {
    'celeba_hq': (0, 30000, 5),  # first index, count, zero padding of the usual file names
    'celeba': (1, 202599, 6),
}

# name: (universe, seed, slice of the seeded permutation, what it is). A list whose first entry is another
# list's name takes the first N keys of that list (sorted), as "the first 1500 images" of PVFR's FSR set.
KEY_LISTS = {
    'mpcnet_parser_train': ('celeba_hq', 1, (0, 24000), "MPCNet's 24,000 parser-training CelebAMask-HQ faces (4.1)"),
    'mpcnet_celeba_test': ('celeba_hq', 1, (24000, 27000), 'MPCNet CelebA-Test: 3,000 CelebA-HQ faces outside '
                           'the parser-training set (4.1)'),
    'mpcnet_val100': ('celeba_hq', 1, (27000, 27100), 'MPCNet validation: 100 faces outside both'),
    'pvfr_celeba_test': ('celeba_hq', 2, (0, 2556), "PVFR's 2,556 CelebA test faces (4.1; its pose-based choice "
                         'is not published: a random draw)'),
    'pvfr_fsr_x4': ('pvfr_celeba_test', None, (0, 1500), '"the first 1500 images of CelebA Data" (PVFR 4.3)'),
    'gcfsr_celeba_hq_100': ('celeba_hq', 3, (0, 100), "GLEAN's / GCFSR's 100 CelebA-HQ test faces (list not "
                            'published: a random draw)'),
    'gcfsr_celeba_test': ('celeba_hq', 4, (0, 3000), "GFPGAN's / GCFSR's CelebA-Test: 3,000 CelebA-HQ faces"),
    'cfgpfssr_celeba_hq_1000': ('celeba_hq', 5, (0, 1000), 'CFGPFSSR: "we randomly select 1000 images from the '
                                'CelebA-HQ dataset" (4.1)'),
    'wnet_celeba_mode1': ('celeba', 6, (0, 1000), 'W-Net Training Mode I: 1000 CelebA test faces (4.1)'),
    'wnet_celeba_mode2': ('celeba', 7, (0, 100), 'W-Net Training Mode II: 100 CelebA test faces (4.1)'),
}


def normalise(key):
    """The identity of a face key: an integer stem without its zero padding, any other stem unchanged."""
    stem = os.path.splitext(os.path.basename(str(key).strip()))[0]
    return str(int(stem)) if stem.isdigit() else stem


def draw_key_list(name):
    """The keys of list ``name`` (sorted, zero-padded as the dataset's usual file names), from its seed."""
    universe, seed, (start, stop), _ = KEY_LISTS[name]
    if universe in KEY_LISTS:
        return draw_key_list(universe)[start:stop]
    first, count, pad = UNIVERSES[universe]
    order = np.random.default_rng(seed).permutation(count)[start:stop] + first
    return [f'{int(i):0{pad}d}' for i in sorted(order)]


def key_list_path(name):
    return os.path.join(KEYLIST_DIR, f'{name}.txt')


def write_key_list(name, path=None):
    """Write list ``name`` with a header naming its draw; returns the path."""
    universe, seed, (start, stop), what = KEY_LISTS[name]
    source = f'first {stop} keys of {universe}' if universe in KEY_LISTS else \
        f'keys {start}..{stop - 1} of numpy.random.default_rng({seed}).permutation of {universe}'
    path = path or key_list_path(name)
    atomic_write_text(path, f'# {name}: {what}\n# {source} (facesr_arch/data/testset_keys.py)\n'
                      + ''.join(f'{key}\n' for key in draw_key_list(name)))
    return path


def read_key_file(path):
    """Keys of a list file (one per line, '#' comments), of an LMDB's meta_info.txt, or of an image folder.

    Raises:
        FileNotFoundError: The path does not exist.
    """
    if not os.path.exists(path):
        raise MissingInputError(f'Key list {path} not found')
    if os.path.isdir(path):
        return read_meta_keys(path) if is_lmdb(path) else ImageSource(path).keys
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def protocol_keys(keys_name):
    """The committed key list of a protocol (``PROTOCOLS[name]['keys']``)."""
    return read_key_file(key_list_path(keys_name))


def select_keys(available, wanted, source_name='the key list', input_name='the input'):
    """The keys of ``available`` (input stems) that the ``wanted`` list names, in the list's order.

    Raises:
        KeyError: Some wanted faces are not in the input (count and the first few named).
    """
    by_id = {normalise(key): key for key in available}
    missing = [key for key in wanted if normalise(key) not in by_id]
    if missing:
        raise UnknownNameError(f'{len(missing)} of the {len(wanted)} faces of {source_name} are not in {input_name} '
                               f'(first: {", ".join(missing[:5])}); point --input at the whole dataset, or pass '
                               '--keys FILE with your own list')
    return [by_id[normalise(key)] for key in wanted]


def check_no_overlap(test_keys, excluded_keys, excluded_name='the excluded set'):
    """Refuse a test set that shares faces with a training (or parser-training) set.

    Raises:
        ValueError: The sets share faces (count and the first few named).
    """
    excluded = {normalise(key) for key in excluded_keys}
    shared = [key for key in test_keys if normalise(key) in excluded]
    if shared:
        raise BadInputError(f'The test set shares {len(shared)} faces with {excluded_name} (first: '
                            f'{", ".join(shared[:5])}); choose other test faces or drop them from training')


def resolve_test_keys(available, recipe, keys=None, exclude=(), input_name='the input'):
    """The input keys a protocol's test set uses, checked against the sets it must not overlap.

    Args:
        available (list[str]): Stems of the input images.
        recipe (dict): ``PROTOCOLS[name]``.
        keys (str | None): None: every input image; 'paper': the protocol's committed list; otherwise a key
            list file, an LMDB or an image folder whose keys to use.
        exclude (Sequence[str]): Key lists / LMDBs / folders of training faces; the protocol's own
            ``exclude`` lists (e.g. MPCNet's parser-training faces) are always checked.
        input_name (str): The input, for messages.

    Returns:
        tuple[list[str], str]: The keys (in list order) and a description of where they came from.

    Raises:
        ValueError: 'paper' for a protocol without a list, or an overlap with an excluded set.
        KeyError: A listed face is missing from the input.
        FileNotFoundError: A key list path does not exist.
    """
    if keys is None:
        chosen, described = list(available), 'every input image'
    elif keys == 'paper':
        if not recipe.get('keys'):
            raise BadInputError(f"This protocol has no key list ({recipe['dataset']}: the set is the images you "
                                'provide); omit --keys or pass --keys FILE')
        chosen = select_keys(available, protocol_keys(recipe['keys']), f"key list {recipe['keys']}", input_name)
        described = f"key list {recipe['keys']}"
    else:
        chosen, described = select_keys(available, read_key_file(keys), keys, input_name), keys
    for name in recipe.get('exclude', ()):
        check_no_overlap(chosen, protocol_keys(name), f'key list {name}')
    for path in exclude:
        check_no_overlap(chosen, read_key_file(path), path)
    return chosen, described
