"""Pack an image folder into a BasicSR LMDB: PNG bytes keyed by file stem, plus ``meta_info.txt``.

Unreadable images, and files whose stem cannot be a BasicSR LMDB key (printable ASCII without whitespace or
'.', see :mod:`facesr_arch.data.lmdb_util`), are listed and skipped; the map size is computed from the encoded
data; an existing output is never overwritten unless ``overwrite`` is given. The LMDB is built in a temporary
folder beside the output and renamed into place when complete (an older one is removed only then).
The command line is :mod:`facesr_arch.cli.create_lmdb`.
"""
import os
import shutil
import tempfile

import cv2
import lmdb
import numpy as np
from tqdm import tqdm

from ..utils.safety import check_writable, refuse_input_inside, replace_folder
from .image_io import ImageDecodeError, images_by_stem, read_image, umask_mode
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

    Raises:
        FileExistsError: ``output_path`` exists and ``overwrite`` is False.
        FileNotFoundError: ``input_folder`` is missing or holds no images.
        ValueError: No input image could be read.
    """
    input_folder, output_path = os.path.abspath(input_folder), os.path.abspath(output_path)
    if os.path.exists(output_path) and not overwrite:
        raise FileExistsError(f'{output_path} exists; pass --overwrite to replace it')
    if output_path.startswith(input_folder + os.sep) or output_path == input_folder:
        raise ValueError('The output LMDB must not be inside the input folder')
    refuse_input_inside([input_folder], output_path, 'LMDB')
    by_stem = images_by_stem(input_folder)
    if not by_stem:
        raise FileNotFoundError(f'No images (png, jpg, jpeg, bmp, tif, webp) in {input_folder}')
    stems, paths = list(by_stem), list(by_stem.values())
    check_writable(output_path, 'LMDB')

    parent = os.path.dirname(output_path)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.tmp_lmdb_', dir=parent)
    os.chmod(tmp_dir, umask_mode(directory=True))  # mkdtemp makes 0700
    skipped, meta, written = [], [], 0
    try:
        map_size = 1 << 28
        env = lmdb.open(tmp_dir, map_size=map_size)
        txn = env.begin(write=True)
        total_bytes = 0
        for path, key in tqdm(list(zip(paths, stems)), unit='img', desc='create_lmdb'):
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
            raise ValueError(f'None of the {len(paths)} images in {input_folder} could be read')
        with open(os.path.join(tmp_dir, 'meta_info.txt'), 'w') as f:
            f.write('\n'.join(meta) + '\n')
        replace_folder(tmp_dir, output_path)
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir)
    return written, skipped
