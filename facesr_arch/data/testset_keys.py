"""Deterministic test subsets: one key list per protocol, and the check that a test set stays out of training.

None of the five papers publishes the identity of its test faces, so each list is drawn here from a fixed,
documented seed over the dataset's index range (CelebA-HQ: 30,000 faces, indices 0..29999; CelebA:
202,599 faces, 1..202599), and committed under ``keylists/`` so that every user gets the same faces
whatever their NumPy. A key names a face by its index: stems that are integers match whatever their
zero padding (``00012``, ``12`` and ``12.jpg`` are one face), other stems match exactly.

MPCNet trains its parser on 24,000 random CelebAMask-HQ (= CelebA-HQ) faces and tests on 3,000 others
(section 4.1): both lists come from one permutation (faces 0-23,999 of it train the parser, the next
3,000 test, the next 100 validate), so they cannot overlap.

One list is not drawn but derived: GFPGAN's CelebA-Test, which GCFSR reuses ("3,000 CelebA-HQ images from
its testing partition"), is the CelebA-HQ faces whose source image lies in CelebA's test partition. Two
files of the datasets define it (CelebA-HQ's ``image_list.txt``, or CelebAMask-HQ's
``CelebA-HQ-to-CelebA-mapping.txt``, maps each CelebA-HQ index to its CelebA file; CelebA's
``list_eval_partition.txt`` gives each CelebA file its partition, 2 = test); neither is redistributable,
so :func:`derive_celeba_test` builds the list on the user's machine (``--celeba-lists``). The test
partition holds 2,824 CelebA-HQ faces (the count users of the official split report: 24,183 / 2,993 /
2,824 for train / validation / test), fewer than the 3,000 the papers name. Rule: every test-partition face,
then the missing ones drawn from the validation partition (seed 4, sorted CelebA-HQ indices, first N of a
permutation): the set keeps the papers' size (FID depends on it) and every face stays outside CelebA's
training partition. A partition holding more than 3,000 would give a seeded draw of 3,000 of them.
"""
import os

import numpy as np

from .image_source import ImageSource, is_lmdb
from .lmdb_util import read_meta_keys

KEYLIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'keylists')

UNIVERSES = {
    'celeba_hq': (0, 30000, 5),  # first index, count, zero padding of the usual file names
    'celeba': (1, 202599, 6),
}

DERIVED = 'derived'  # the seed of a list derived from the datasets' own files (derive_celeba_test)
CELEBA_TEST_FILL_SEED = 4

# name: (universe, seed, slice of the seeded permutation, what it is). A list whose first entry is another
# list's name takes keys of that list: the first N (sorted) with seed None, as "the first 1500 images" of PVFR's
# FSR set, or a seeded draw of them.
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
    'gcfsr_celeba_test': ('celeba_hq', DERIVED, (0, 3000), "GFPGAN's / GCFSR's CelebA-Test: 3,000 CelebA-HQ faces "
                          "of CelebA's test partition (derived from the datasets' lists: --celeba-lists)"),
    'cfgpfssr_celeba_hq_1000': ('celeba_hq', 5, (0, 1000), 'CFGPFSSR: "we randomly select 1000 images from the '
                                'CelebA-HQ dataset" (4.1)'),
    'wnet_celeba_mode1': ('celeba', 6, (0, 1000), 'W-Net Training Mode I: 1000 CelebA test faces (4.1)'),
    'wnet_celeba_mode2': ('celeba', 7, (0, 100), 'W-Net Training Mode II: 100 CelebA test faces (4.1)'),
    'pvfr_runtime': ('pvfr_celeba_test', 8, (0, 200), 'PVFR Table 6: "hundreds of randomly selected 512 x 512 face '
                     'images" (5): 200 of its CelebA test faces'),
}


def key_list_universe(name):
    """The dataset (a name of UNIVERSES) whose faces key list ``name`` names."""
    universe = KEY_LISTS[name][0]
    return key_list_universe(universe) if universe in KEY_LISTS else universe


def dataset_name(name):
    """A user's data set name in the form UNIVERSES uses: 'CelebA-HQ' -> 'celeba_hq'.

    Raises:
        ValueError: An empty name or one with characters other than letters, digits, '-' and '_'.
    """
    norm = str(name).strip().lower().replace('-', '_')
    if not norm or not all(ch.isalnum() or ch == '_' for ch in norm):
        raise ValueError(f'--dataset {name!r}: give a data set name such as celeba_hq, celeba or ffhq')
    return norm


def protocol_dataset(recipe):
    """The data set a protocol's key list names (a name of UNIVERSES), or None for a protocol without one."""
    return key_list_universe(recipe['keys']) if recipe.get('keys') else None


def normalise(key):
    """The identity of a face key: an integer stem without its zero padding, any other stem unchanged."""
    stem = os.path.splitext(os.path.basename(str(key).strip()))[0]
    return str(int(stem)) if stem.isdigit() else stem


def draw_key_list(name):
    """The keys of list ``name`` (sorted, zero-padded as the dataset's usual file names), from its seed."""
    universe, seed, (start, stop), _ = KEY_LISTS[name]
    if seed == DERIVED:
        raise ValueError(f'Key list {name} is derived from the datasets\' own lists, not drawn: {DERIVED_HOW}')
    if universe in KEY_LISTS:
        parent = draw_key_list(universe)
        if seed is None:
            return parent[start:stop]
        return sorted(parent[i] for i in np.random.default_rng(seed).permutation(len(parent))[start:stop])
    first, count, pad = UNIVERSES[universe]
    order = np.random.default_rng(seed).permutation(count)[start:stop] + first
    return [f'{int(i):0{pad}d}' for i in sorted(order)]


def key_list_path(name):
    return os.path.join(KEYLIST_DIR, f'{name}.txt')


def write_key_list(name, path=None):
    """Write list ``name`` with a header naming its draw; returns the path."""
    universe, seed, (start, stop), what = KEY_LISTS[name]
    if universe in KEY_LISTS and seed is None:
        source = f'first {stop} keys of {universe}'
    else:
        source = f'keys {start}..{stop - 1} of numpy.random.default_rng({seed}).permutation of {universe}'
    path = path or key_list_path(name)
    with open(path, 'w') as f:
        f.write(f'# {name}: {what}\n# {source} (facesr_arch/data/testset_keys.py)\n')
        f.write(''.join(f'{key}\n' for key in draw_key_list(name)))
    return path


def read_key_file(path):
    """Keys of a list file (one per line, '#' comments), of an LMDB's meta_info.txt, or of an image folder.

    Raises:
        FileNotFoundError: The path does not exist.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'Key list {path} not found')
    if os.path.isdir(path):
        return read_meta_keys(path) if is_lmdb(path) else ImageSource(path).keys
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


DERIVED_HOW = ("pass --celeba-lists IMAGE_LIST LIST_EVAL_PARTITION (CelebA-HQ's image_list.txt or CelebAMask-HQ's "
               "CelebA-HQ-to-CelebA-mapping.txt, and CelebA's list_eval_partition.txt), or --keys FILE")


def is_derived(keys_name):
    """True for a key list derived from the datasets' files on the user's machine (not committed)."""
    return KEY_LISTS[keys_name][1] == DERIVED


def protocol_keys(keys_name, celeba_lists=None):
    """The key list of a protocol (``PROTOCOLS[name]['keys']``): the committed file, or for a derived list
    (:func:`is_derived`) the list derived from ``celeba_lists`` = (image list, partition list).

    Raises:
        ValueError: A derived list without ``celeba_lists``.
    """
    return paper_keys(keys_name, celeba_lists)[0]


def paper_keys(keys_name, celeba_lists=None):
    """:func:`protocol_keys` with a description of where they came from: (keys, description)."""
    if is_derived(keys_name):
        if not celeba_lists:
            raise ValueError(f'Key list {keys_name} is derived from the datasets\' own lists: {DERIVED_HOW}')
        return derive_celeba_test(*celeba_lists, count=KEY_LISTS[keys_name][2][1])
    return read_key_file(key_list_path(keys_name)), f'key list {keys_name}'


# ------------------------------------------------------------------------------ CelebA's evaluation partition

CELEBA_PARTITIONS = {'train': 0, 'validation': 1, 'test': 2}


def read_celeba_hq_mapping(path):
    """CelebA-HQ index -> CelebA image identity, from CelebA-HQ's ``image_list.txt`` (columns ``idx orig_idx
    orig_file proc_md5 final_md5``) or CelebAMask-HQ's ``CelebA-HQ-to-CelebA-mapping.txt`` (``idx orig_idx
    orig_file``): a header line naming the columns, then one face per line.

    Raises:
        ValueError: No header with ``idx`` and ``orig_file``, or a malformed line (file and line named).
    """
    mapping = {}
    with open(path) as f:
        lines = [(n, line.split()) for n, line in enumerate(f, 1) if line.strip()]
    if not lines or not {'idx', 'orig_file'} <= set(lines[0][1]):
        raise ValueError(f'{path}: expected a header naming the columns idx and orig_file (CelebA-HQ\'s '
                         'image_list.txt or CelebAMask-HQ\'s CelebA-HQ-to-CelebA-mapping.txt)')
    header = lines[0][1]
    idx_col, file_col = header.index('idx'), header.index('orig_file')
    for number, fields in lines[1:]:
        if len(fields) <= max(idx_col, file_col) or not fields[idx_col].isdigit():
            raise ValueError(f'{path} line {number}: expected {len(header)} columns ({" ".join(header)})')
        mapping[int(fields[idx_col])] = normalise(fields[file_col])
    return mapping


def read_celeba_partition(path):
    """CelebA image identity -> partition (0 train, 1 validation, 2 test), from ``list_eval_partition.txt``
    (``000001.jpg 0`` per line; a CSV with the header ``image_id,partition`` is read too).

    Raises:
        ValueError: A malformed line (file and line named).
    """
    partition = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.replace(',', ' ').split()
            if not fields or fields == ['image_id', 'partition']:
                continue
            if len(fields) != 2 or fields[1] not in ('0', '1', '2'):
                raise ValueError(f'{path} line {number}: expected "<CelebA file> <0|1|2>", got {line.strip()!r}')
            partition[normalise(fields[0])] = int(fields[1])
    return partition


def celeba_hq_partition(image_list, eval_partition, partition='test'):
    """The CelebA-HQ indices (sorted) whose CelebA source image is in CelebA's ``partition``.

    Raises:
        ValueError: A CelebA-HQ face whose CelebA file the partition list does not name.
    """
    mapping, parts = read_celeba_hq_mapping(image_list), read_celeba_partition(eval_partition)
    unknown = sorted(i for i, name in mapping.items() if name not in parts)
    if unknown:
        raise ValueError(f'{len(unknown)} CelebA-HQ faces of {image_list} have a CelebA file that {eval_partition} '
                         f'does not list (first: CelebA-HQ {unknown[0]} -> {mapping[unknown[0]]}); are they '
                         "CelebA's list_eval_partition.txt and CelebA-HQ's image_list.txt?")
    wanted = CELEBA_PARTITIONS[partition]
    return sorted(i for i, name in mapping.items() if parts[name] == wanted)


def derive_celeba_test(image_list, eval_partition, count=3000, seed=CELEBA_TEST_FILL_SEED):
    """CelebA-Test as GFPGAN and GCFSR describe it: ``count`` CelebA-HQ faces of CelebA's test partition.

    Rule (module docstring): every test-partition face; if there are fewer than ``count``, the rest drawn from
    the validation partition (first of ``numpy.random.default_rng(seed).permutation`` over its sorted indices);
    if there are more, a draw of ``count`` of them by the same generator.

    Args:
        image_list (str): CelebA-HQ's image_list.txt (or CelebA-HQ-to-CelebA-mapping.txt).
        eval_partition (str): CelebA's list_eval_partition.txt.
        count (int): Faces wanted. Default: 3000.
        seed (int): Seed of the fill / draw. Default: 4.

    Returns:
        tuple[list[str], str]: CelebA-HQ keys (5-digit, sorted) and a sentence saying how they were chosen.
    """
    test = celeba_hq_partition(image_list, eval_partition, 'test')
    rng = np.random.default_rng(seed)
    if len(test) >= count:
        chosen = sorted(test[i] for i in rng.permutation(len(test))[:count])
        how = f'{count} of the {len(test)} test-partition faces (numpy.random.default_rng({seed}) draw)'
    else:
        validation = celeba_hq_partition(image_list, eval_partition, 'validation')
        if len(test) + len(validation) < count:
            raise ValueError(f'CelebA\'s test and validation partitions hold {len(test) + len(validation)} CelebA-HQ '
                             f'faces, fewer than {count}')
        fill = [validation[i] for i in rng.permutation(len(validation))[:count - len(test)]]
        chosen = sorted(test + fill)
        how = (f'all {len(test)} test-partition faces and {count - len(test)} of the {len(validation)} '
               f'validation-partition faces (numpy.random.default_rng({seed}) draw)')
    pad = UNIVERSES['celeba_hq'][2]
    return [f'{i:0{pad}d}' for i in chosen], f'CelebA-Test from {image_list} and {eval_partition}: {how}'


def select_keys(available, wanted, source_name='the key list', input_name='the input'):
    """The keys of ``available`` (input stems) that the ``wanted`` list names, in the list's order.

    Raises:
        KeyError: Some wanted faces are not in the input (count and the first few named).
    """
    by_id = {normalise(key): key for key in available}
    missing = [key for key in wanted if normalise(key) not in by_id]
    if missing:
        raise KeyError(f'{len(missing)} of the {len(wanted)} faces of {source_name} are not in {input_name} '
                       f'(first: {", ".join(missing[:5])}); point --input at the whole dataset, or pass '
                       '--keys FILE with your own list')
    return [by_id[normalise(key)] for key in wanted]


def check_no_overlap(test_keys, excluded_keys, excluded_name='the excluded set', hint=''):
    """Refuse a test set that shares faces with a training (or parser-training) set.

    Args:
        hint (str): Appended to the message (e.g. how to say the input is another data set).

    Raises:
        ValueError: The sets share faces (count and the first few named).
    """
    excluded = {normalise(key) for key in excluded_keys}
    shared = [key for key in test_keys if normalise(key) in excluded]
    if shared:
        raise ValueError(f'The test set shares {len(shared)} faces with {excluded_name} (first: '
                         f'{", ".join(shared[:5])}); choose other test faces or drop them from training{hint}')


def resolve_test_keys(available, recipe, keys=None, exclude=(), input_name='the input', dataset=None,
                      celeba_lists=None):
    """The input keys a protocol's test set uses, checked against the sets it must not overlap.

    A key list names faces of one data set by index (CelebA-HQ 0..29999): integer stems of another data
    set (FFHQ's 00000.png) are other faces that happen to share the numbers. ``dataset`` says which data
    set the input is; the protocol's own key list ('paper') and its ``exclude`` lists (MPCNet's
    parser-training CelebA-HQ faces) apply only to an input of their data set.

    Args:
        available (list[str]): Stems of the input images.
        recipe (dict): ``PROTOCOLS[name]``.
        keys (str | None): None: every input image; 'paper': the protocol's committed list; otherwise a key
            list file, an LMDB or an image folder whose keys to use.
        exclude (Sequence[str]): Key lists / LMDBs / folders of training faces; the protocol's own
            ``exclude`` lists (e.g. MPCNet's parser-training faces) are always checked.
        input_name (str): The input, for messages.
        dataset (str | None): The input's data set (``--dataset``: celeba_hq, celeba, ffhq, ...); None: the
            data set of the protocol's key list (CelebA-HQ for MPCNet's protocols).
        celeba_lists (tuple[str, str] | None): CelebA-HQ's image list and CelebA's partition list, which
            derive a derived key list (GCFSR's CelebA-Test, :func:`derive_celeba_test`) for 'paper'.

    Returns:
        tuple[list[str], str]: The keys (in list order) and a description of where they came from.

    Raises:
        ValueError: 'paper' for a protocol without a list or on an input of another data set, or an overlap
            with an excluded set.
        KeyError: A listed face is missing from the input.
        FileNotFoundError: A key list path does not exist.
    """
    own = protocol_dataset(recipe)
    dataset = dataset_name(dataset) if dataset else own
    if celeba_lists:
        if not (recipe.get('keys') and is_derived(recipe['keys'])):
            raise ValueError(f"--celeba-lists derives GFPGAN's CelebA-Test; this protocol ({recipe['dataset']}) does "
                             'not take its faces from it: omit --celeba-lists')
        if keys not in (None, 'paper'):
            raise ValueError(f'--celeba-lists derives the test faces; it cannot be combined with --keys {keys}')
        keys = 'paper'
    if keys == 'paper' and own and dataset != own:
        raise ValueError(f"--keys paper takes key list {recipe['keys']}, which names {own} faces, but the input "
                         f'is --dataset {dataset}; omit --keys (every input face) or pass --keys FILE')
    if keys is None:
        chosen, described = list(available), 'every input image'
    elif keys == 'paper':
        if not recipe.get('keys'):
            raise ValueError(f"This protocol has no key list ({recipe['dataset']}: the set is the images you "
                             'provide); omit --keys or pass --keys FILE')
        wanted, described = paper_keys(recipe['keys'], celeba_lists)
        chosen = select_keys(available, wanted, f"key list {recipe['keys']}", input_name)
    else:
        chosen, described = select_keys(available, read_key_file(keys), keys, input_name), keys
    for name in recipe.get('exclude', ()):
        universe = key_list_universe(name)
        if universe == dataset:
            check_no_overlap(chosen, protocol_keys(name), f'key list {name}',
                             f'; integer names are read as {universe} indices: if {input_name} is another data set, '
                             'say which with --dataset NAME (e.g. --dataset ffhq)')
    for path in exclude:
        check_no_overlap(chosen, read_key_file(path), path)
    return chosen, described
