"""Inference inputs: one image file, a folder of images, or a BasicSR LMDB, as named lazy items."""
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..toolkit.errors import BadInputError, MissingInputError
from ..toolkit.inputs import IMAGE_EXTENSIONS, decode_image, images_by_stem, read_image
from ..data.lmdb_util import LmdbReader, check_lmdb_integrity, read_meta_keys


@dataclass(frozen=True)
class InputItem:
    """One input image: its output name and a function returning it as float BGR in [0, 1].

    Reading is deferred so that a corrupt file fails (and is skipped) on its own, and finished outputs
    are skipped without decoding their inputs.
    """

    key: str
    read: Callable


def _file_item(path):
    return InputItem(os.path.splitext(os.path.basename(path))[0], lambda: read_image(path))


def _lmdb_item(reader, root, key):
    return InputItem(key, lambda: decode_image(reader.get(key), os.path.join(root, key)))


def collect_inputs(path):
    """Items of an image file, a folder (image extensions only, sorted) or an LMDB folder (``data.mdb``).

    Raises:
        FileNotFoundError: ``path`` does not exist, or a folder holds no images.
        ValueError: Two images of the folder share a stem (both named): outputs are named by stem.
    """
    if os.path.isfile(path):
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            raise BadInputError(f'{path} is not an image file (extensions: {", ".join(IMAGE_EXTENSIONS)})')
        return [_file_item(path)]
    if os.path.isfile(os.path.join(path, 'data.mdb')):
        check_lmdb_integrity(path)
        reader = LmdbReader(path)
        return [_lmdb_item(reader, path, key) for key in read_meta_keys(path)]
    items = [_file_item(p) for p in images_by_stem(path).values()]
    if not items:
        raise MissingInputError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) in {path}')
    return items

