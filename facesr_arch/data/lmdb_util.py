"""LMDB in BasicSR's layout: PNG bytes keyed by file stem, and a ``meta_info.txt`` listing the keys."""
import os

import lmdb


def read_meta_keys(lmdb_path):
    """Keys listed in ``meta_info.txt`` of a BasicSR LMDB: the first field of each line minus its '.png'."""
    meta = os.path.join(lmdb_path, 'meta_info.txt')
    if not os.path.isdir(lmdb_path) or not os.path.isfile(os.path.join(lmdb_path, 'data.mdb')):
        raise FileNotFoundError(f'{lmdb_path} is not an LMDB folder (no data.mdb); create it with '
                                'scripts/create_lmdb.py --input IMAGES --output X.lmdb')
    if not os.path.isfile(meta):
        raise FileNotFoundError(f'{meta} is missing: BasicSR LMDBs list their keys there '
                                '(scripts/create_lmdb.py writes it)')
    with open(meta) as f:
        keys = [os.path.splitext(line.split()[0])[0] for line in f if line.strip()]
    if not keys:
        raise ValueError(f'{meta} lists no keys')
    return keys


_ENVIRONMENTS = {}


def open_lmdb(lmdb_path):
    """One read-only environment per (process, path): LMDB refuses a second open of a path in a process,
    and an environment must not cross a fork, so DataLoader workers each open their own."""
    key = (os.getpid(), os.path.abspath(lmdb_path))
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = lmdb.open(lmdb_path, readonly=True, lock=False, readahead=False, meminit=False)
    return _ENVIRONMENTS[key]


class LmdbReader:
    """Read-only access to one BasicSR LMDB, opened lazily in the process that reads."""

    def __init__(self, lmdb_path):
        self.lmdb_path = lmdb_path

    def get(self, key):
        with open_lmdb(self.lmdb_path).begin(write=False) as txn:
            value = txn.get(key.encode('ascii'))
        if value is None:
            raise KeyError(f'Key {key!r} is listed in {self.lmdb_path}/meta_info.txt but has no data in the LMDB; '
                           'rebuild it with scripts/create_lmdb.py')
        return value


def check_lmdb_keys(lmdb_path, keys):
    """Raise a KeyError naming the keys of ``keys`` (from ``meta_info.txt``) absent from the LMDB.

    Runs once when a dataset is built, so a stale ``meta_info.txt`` fails before training, not at the
    first unlucky batch. Reads no values (zero-copy buffers).
    """
    with open_lmdb(lmdb_path).begin(write=False, buffers=True) as txn:
        missing = [key for key in keys if txn.get(key.encode('ascii')) is None]
    if missing:
        raise KeyError(f'{len(missing)} key(s) listed in {lmdb_path}/meta_info.txt have no data in the LMDB, e.g. '
                       f'{missing[:5]}; rebuild it with scripts/create_lmdb.py')
