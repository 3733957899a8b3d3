"""Pack an image folder into a BasicSR LMDB: PNG bytes keyed by file stem, plus ``meta_info.txt``.

Unreadable images, and files whose stem cannot be a BasicSR LMDB key (printable ASCII without whitespace or
'.', see :mod:`facesr_arch.data.lmdb_util`), are listed and skipped; the map size is computed from the encoded
data; an existing output is never overwritten unless ``overwrite`` is given. The LMDB is built in a temporary
folder beside the output and renamed into place when complete (an older one is removed only then).
The command line is :mod:`facesr_arch.cli.create_lmdb`.
"""
import os

import cv2
import lmdb
import numpy as np
from tqdm import tqdm

from ..toolkit.errors import BadInputError, MissingInputError
from ..toolkit.inputs import ImageDecodeError, images_by_stem, read_image
from ..toolkit.outputs import atomic_write_text, check_output, staged_folder
from .lmdb_util import key_problem


def encode_png(path, compress_level):
    """Decode any supported image and re-encode it as 8-bit (or 16-bit) 3-channel PNG."""
    img, bit_depth = read_image(path, return_bit_depth=True)
    peak, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    img = np.clip(np.round(img * peak), 0, peak).astype(dtype)
    ok, buf = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
    if not ok:
        raise ImageDecodeError(f'{path}: PNG encoding failed')
    return buf.tobytes(), img.shape


def create_lmdb(input_folder, output_path, compress_level=1, overwrite=False, batch=500):
    """Build the LMDB; returns (number written, list of (path, reason) skipped).

    The output follows the contract of :func:`facesr_arch.toolkit.outputs.check_output`: never inside the
    input, an existing one replaced only with ``overwrite`` (whole, once the new one is complete).

    Raises:
        ExistingOutputError: ``output_path`` exists and ``overwrite`` is False.
        UnsafeOutputError: The output lies inside the input (or the input inside it), or cannot be written.
        MissingInputError: ``input_folder`` is missing or holds no images.
        BadInputError: No input image could be read.
    """
    input_folder, output_path = os.path.abspath(input_folder), os.path.abspath(output_path)
    check_output(output_path, [input_folder], overwrite, 'LMDB')
    by_stem = images_by_stem(input_folder)
    if not by_stem:
        raise MissingInputError(f'No images (png, jpg, jpeg, bmp, tif, webp) in {input_folder}')
    skipped, meta, written = [], [], 0
    with staged_folder(output_path, overwrite) as tmp_dir:
        map_size = 1 << 28
        env = lmdb.open(tmp_dir, map_size=map_size)
        txn = env.begin(write=True)
        total_bytes = 0
        for key, path in tqdm(list(by_stem.items()), unit='img', desc='create_lmdb'):
            problem = key_problem(key)
            if problem:
                skipped.append((path, f'{path}: file name {problem}; rename the file'))
                continue
            try:
                data, shape = encode_png(path, compress_level)
            except ImageDecodeError as err:
                skipped.append((path, str(err)))
                continue
            total_bytes += len(data)
            # grow the map from the data written so far (x2 headroom), committing first
            if total_bytes * 2 + (1 << 24) > map_size:
                txn.commit()
                map_size = max(map_size * 2, total_bytes * 4)
                env.set_mapsize(map_size)
                txn = env.begin(write=True)
            txn.put(key.encode('ascii'), data)
            h, w, c = shape
            meta.append(f'{key}.png ({h},{w},{c}) {compress_level}')
            written += 1
            if written % batch == 0:
                txn.commit()
                txn = env.begin(write=True)
        txn.commit()
        env.close()
        if not written:
            raise BadInputError(f'None of the {len(by_stem)} images in {input_folder} could be read')
        atomic_write_text(os.path.join(tmp_dir, 'meta_info.txt'), '\n'.join(meta) + '\n')
    return written, skipped
