"""LMDB in BasicSR's layout: PNG bytes keyed by file stem, and a ``meta_info.txt`` listing the keys.

Key rule (one for the packer and every reader): a key is a file stem of printable ASCII without whitespace and
without '.'. ``meta_info.txt`` lines are ``<key>.png (h,w,c) <compression>``, split on whitespace by every
reader, and BasicSR's own LMDB readers take the text before the first '.' as the key; a stem breaking the rule
would be packed under one key and looked up under another, so ``scripts/create_lmdb.py`` refuses such files
(listed, with the rule) and the readers name a ``meta_info.txt`` line that breaks it.

Integrity: LMDB maps ``data.mdb`` into memory; reading a page past the end of a truncated file kills the
process with SIGBUS, without a message. :func:`check_lmdb_integrity` compares the file's size with the size
the environment records (its last page) before any data page is read.
"""
import os
import re

import lmdb

from ..toolkit.errors import BadInputError, MissingInputError, UnknownNameError, UserError

_BAD_KEY_CHARS = re.compile(r'[^\x21-\x7e]|\.')


class LmdbIntegrityError(UserError, ValueError):
    """An LMDB folder whose ``data.mdb`` is truncated or not an LMDB file."""


def key_problem(key):
    """Why ``key`` cannot be a BasicSR LMDB key (see the module docstring), or None when it can."""
    if not key:
        return 'empty name'
    if not key.isascii():
        return 'not ASCII'
    bad = sorted(set(_BAD_KEY_CHARS.findall(key)))
    if bad:
        shown = ', '.join(repr(c) for c in bad)
        return (f'contains {shown} (meta_info.txt is split on whitespace and BasicSR reads keys up to the first '
                "'.'; LMDB keys are printable ASCII without whitespace or '.')")
    return None


def check_lmdb_integrity(lmdb_path):
    """Raise :class:`LmdbIntegrityError` unless ``data.mdb`` holds every page the environment records.

    Opening reads only the two meta pages at the start of the file, so a truncated file is detected here
    instead of by a SIGBUS at the first read of a missing page. The environment stays open for this process
    (see :func:`open_lmdb`).
    """
    open_lmdb(lmdb_path)


def _open_checked(lmdb_path):
    data = os.path.join(lmdb_path, 'data.mdb')
    size = os.path.getsize(data)
    try:
        env = lmdb.open(lmdb_path, readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as err:
        raise LmdbIntegrityError(f'{data} is not a readable LMDB file ({" ".join(str(err).split())}, '
                                 f'{size} bytes); rebuild it with scripts/create_lmdb.py') from None
    needed = (env.info()['last_pgno'] + 1) * env.stat()['psize']
    if size < needed:
        env.close()
        raise LmdbIntegrityError(f'{data} is truncated: {size} bytes, the LMDB records {needed} (an interrupted '
                                 'copy or a full disk?); copy it again or rebuild it with scripts/create_lmdb.py')
    return env


def read_meta_keys(lmdb_path):
    """Keys listed in ``meta_info.txt`` of a BasicSR LMDB: the first field of each line minus its '.png'."""
    meta = os.path.join(lmdb_path, 'meta_info.txt')
    if not os.path.isdir(lmdb_path) or not os.path.isfile(os.path.join(lmdb_path, 'data.mdb')):
        raise MissingInputError(f'{lmdb_path} is not an LMDB folder (no data.mdb); create it with '
                                'scripts/create_lmdb.py --input IMAGES --output X.lmdb')
    if not os.path.isfile(meta):
        raise MissingInputError(f'{meta} is missing: BasicSR LMDBs list their keys there '
                                '(scripts/create_lmdb.py writes it)')
    keys = []
    with open(meta, encoding='ascii', errors='replace') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            stem, ext = os.path.splitext(fields[0])
            well_formed = ext == '.png' and (len(fields) == 1 or fields[1].startswith('('))
            problem = key_problem(stem) if well_formed else 'expected "<key>.png (h,w,c) <compression>"'
            if problem:
                raise BadInputError(f'{meta} line {number} ({line.strip()[:80]!r}): {problem}; this LMDB was not made '
                                    'by scripts/create_lmdb.py, which refuses such names: rename the images and '
                                    'rebuild it')
            keys.append(stem)
    if not keys:
        raise BadInputError(f'{meta} lists no keys')
    return keys


_ENVIRONMENTS = {}


def open_lmdb(lmdb_path):
    """One read-only environment per (process, path): LMDB refuses a second open of a path in a process,
    and an environment must not cross a fork, so DataLoader workers each open their own."""
    key = (os.getpid(), os.path.abspath(lmdb_path))
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = _open_checked(lmdb_path)  # refuses a truncated data.mdb (SIGBUS otherwise)
    return _ENVIRONMENTS[key]


class LmdbReader:
    """Read-only access to one BasicSR LMDB, opened lazily in the process that reads."""

    def __init__(self, lmdb_path):
        self.lmdb_path = lmdb_path

    def get(self, key):
        with open_lmdb(self.lmdb_path).begin(write=False) as txn:
            value = txn.get(key.encode('ascii'))
        if value is None:
            raise UnknownNameError(f'Key {key!r} is listed in {self.lmdb_path}/meta_info.txt but has no data in the '
                                   'LMDB; rebuild it with scripts/create_lmdb.py')
        return value


def check_lmdb_keys(lmdb_path, keys):
    """Raise a KeyError naming the keys of ``keys`` (from ``meta_info.txt``) absent from the LMDB.

    Runs once when a dataset is built, so a stale ``meta_info.txt`` fails before training, not at the
    first unlucky batch. Reads no values (zero-copy buffers).
    """
    with open_lmdb(lmdb_path).begin(write=False, buffers=True) as txn:
        missing = [key for key in keys if txn.get(key.encode('ascii')) is None]
    if missing:
        raise UnknownNameError(f'{len(missing)} key(s) listed in {lmdb_path}/meta_info.txt have no data in the LMDB, '
                               f'e.g. {missing[:5]}; rebuild it with scripts/create_lmdb.py')
