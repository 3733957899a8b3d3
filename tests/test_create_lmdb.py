"""scripts/create_lmdb.py: BasicSR-layout LMDB from a folder, skipping unreadable files, never clobbering."""
import os
import shutil

import cv2
import lmdb
import numpy as np

from helpers import run_script


def test_round_trip_on_real_ffhq(ffhq_dir, tmp_path):
    out = tmp_path / 'ffhq.lmdb'
    proc = run_script('create_lmdb.py', ['--input', ffhq_dir, '--output', str(out)], cwd=str(tmp_path))
    assert 'Wrote 10 images' in proc.stdout
    meta = (out / 'meta_info.txt').read_text().split('\n')
    assert meta[0] == '00000.png (1024,1024,3) 1' and len([m for m in meta if m]) == 10
    env = lmdb.open(str(out), readonly=True, lock=False)
    with env.begin() as txn:
        keys = sorted(k.decode() for k, _ in txn.cursor())
        stored = cv2.imdecode(np.frombuffer(txn.get(b'00003'), np.uint8), cv2.IMREAD_UNCHANGED)
    env.close()
    assert keys == [f'{i:05d}' for i in range(10)]
    assert np.array_equal(stored, cv2.imread(os.path.join(ffhq_dir, '00003.png'), cv2.IMREAD_COLOR))
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.tmp_lmdb_')]


def test_unreadable_files_are_listed_and_skipped(ffhq_small_dir, tmp_path):
    src = tmp_path / 'src'
    shutil.copytree(ffhq_small_dir, src)
    (src / 'broken.png').write_bytes(open(src / '00000.png', 'rb').read()[:200])  # truncated
    (src / 'empty.jpg').write_bytes(b'')
    (src / 'notes.txt').write_text('not an image')
    gray = cv2.cvtColor(cv2.imread(str(src / '00001.png')), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(src / 'gray.png'), gray)
    shutil.copy(src / '00002.png', src / 'visage_\u00e9t\u00e9.png')
    proc = run_script('create_lmdb.py', ['--input', str(src), '--output', str(tmp_path / 'x.lmdb')], cwd=str(tmp_path))
    assert 'Wrote 7 images' in proc.stdout and '(3 skipped)' in proc.stdout
    assert 'broken.png' in proc.stderr and 'empty.jpg' in proc.stderr
    assert 'not ASCII' in proc.stderr
    meta = (tmp_path / 'x.lmdb' / 'meta_info.txt').read_text()
    assert 'gray.png (128,128,3)' in meta  # gray stored as 3-channel, as BasicSR readers expect


def test_existing_output_is_not_overwritten(ffhq_small_dir, tmp_path):
    out = tmp_path / 'x.lmdb'
    out.mkdir()
    (out / 'keep.txt').write_text('precious')
    proc = run_script('create_lmdb.py', ['--input', ffhq_small_dir, '--output', str(out)], cwd=str(tmp_path),
                      check=False)
    assert proc.returncode == 2 and '--overwrite' in proc.stderr
    assert (out / 'keep.txt').read_text() == 'precious'


def test_missing_or_empty_input_is_a_clear_error(tmp_path):
    proc = run_script('create_lmdb.py', ['--input', str(tmp_path / 'nope'), '--output', str(tmp_path / 'o.lmdb')],
                      cwd=str(tmp_path), check=False)
    assert proc.returncode == 2 and 'Image folder not found' in proc.stderr
    (tmp_path / 'empty').mkdir()
    proc = run_script('create_lmdb.py', ['--input', str(tmp_path / 'empty'), '--output', str(tmp_path / 'o.lmdb')],
                      cwd=str(tmp_path), check=False)
    assert proc.returncode == 2 and 'No images' in proc.stderr
