"""Images by key from an LMDB (BasicSR layout) or a folder, for every dataset of the package."""
import os

from ..toolkit.errors import BadInputError, MissingInputError, UnknownNameError
from ..toolkit.inputs import decode_image, images_by_stem
from .lmdb_util import LmdbReader, check_lmdb_keys, read_meta_keys


def is_lmdb(path):
    """True for a BasicSR LMDB folder (holds ``data.mdb``)."""
    return os.path.isfile(os.path.join(path, 'data.mdb'))


class ImageSource:
    """Decoded images (float32 BGR in [0, 1]) keyed by file stem, from an LMDB or an image folder.

    Args:
        root (str): ``*.lmdb`` folder with ``meta_info.txt``, or a folder of images.
        backend (str | None): 'lmdb' or 'disk'; None detects an LMDB by its ``data.mdb``.

    Raises:
        FileNotFoundError: Missing folder, or a folder without images.
        KeyError: ``meta_info.txt`` lists keys the LMDB does not hold (named in the message).
        ValueError: Two images of the folder share a stem (both named); a truncated LMDB.
    """

    def __init__(self, root, backend=None):
        self.root = root
        self.backend = backend or ('lmdb' if is_lmdb(root) else 'disk')
        if self.backend == 'lmdb':
            self.keys = read_meta_keys(root)
            check_lmdb_keys(root, self.keys)
            self._reader = LmdbReader(root)
        elif self.backend == 'disk':
            self._paths = images_by_stem(root)
            self.keys = sorted(self._paths)
            if not self.keys:
                raise MissingInputError(f'No images found in {root}')
        else:
            raise BadInputError(f"io_backend.type must be 'disk' or 'lmdb', got {self.backend!r}")

    def path(self, key):
        """A name for the image in messages and results: the file path, or ``<lmdb>/<key>`` (whose stem is the key,
        as BasicSR's test loop names its outputs by the stem of this path)."""
        return self._paths[key] if self.backend == 'disk' else os.path.join(self.root, key)

    def read(self, key):
        if self.backend == 'lmdb':
            return decode_image(self._reader.get(key), self.path(key))
        if key not in self._paths:
            raise UnknownNameError(f'No image with stem {key!r} in {self.root}')
        with open(self._paths[key], 'rb') as f:
            return decode_image(f.read(), self._paths[key])


def limit_keys(keys, opt):
    """The first ``opt['max_items']`` keys (all when unset): the small-subset option every dataset shares."""
    return list(keys)[:opt['max_items']] if opt.get('max_items') else list(keys)


def normalisation(opt):
    """(mean, std) of a dataset block; the default 0.5 / 0.5 maps [0, 1] images to [-1, 1]."""
    return opt.get('mean', [0.5, 0.5, 0.5]), opt.get('std', [0.5, 0.5, 0.5])
