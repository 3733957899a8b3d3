"""Hostile and broken inputs: a corpus built here, and what create_lmdb, the datasets, option validation and
checkpoint loading answer to each (always a clear message, never a crash deep inside a long run)."""
import os
import pickle
import shutil

import cv2
import lmdb
import numpy as np
import pytest
import torch
from PIL import Image

import facesr_arch  # noqa: F401
from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
from facesr_arch.toolkit.inputs import ImageDecodeError, decode_image, read_image
from facesr_arch.data.paired_dataset import FaceSingleImageDataset
from facesr_arch.utils.options import OptionError, validate_options
from facesr_arch.utils.resume import load_resume_state
from facesr_arch.toolkit.checkpoints import read_state_dict
from helpers import deep_update, load_options, run_script

GCFSR_TRAIN = 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml'
# files the decoder accepts (a face, possibly converted) and those it refuses
READABLE = ['gray.png', 'rgba.png', 'palette.png', 'deep16.png', 'cmyk.jpg', 'tiny.png', 'nonsquare.png',
            'visage_é_顔.png']
REFUSED = ['truncated.png', 'truncated_jpeg.jpg', 'zero.png', 'not_an_image.jpg', 'huge_header.png',
           'huge_bomb.png']


@pytest.fixture(scope='module')
def hostile_dir(ffhq_small_dir, tmp_path_factory):
    """A folder of broken and unusual images made from a real face."""
    root = tmp_path_factory.mktemp('hostile')
    face = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0]))
    png = cv2.imencode('.png', face)[1].tobytes()
    jpg = cv2.imencode('.jpg', face)[1].tobytes()
    (root / 'truncated.png').write_bytes(png[:len(png) // 3])
    (root / 'truncated_jpeg.jpg').write_bytes(jpg[:len(jpg) // 3])
    (root / 'zero.png').write_bytes(b'')
    (root / 'not_an_image.jpg').write_text('this is a text file with an image extension\n')
    cv2.imwrite(str(root / 'gray.png'), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(root / 'rgba.png'), np.dstack([face, np.full(face.shape[:2], 128, np.uint8)]))
    Image.fromarray(face[:, :, ::-1]).convert('P', palette=Image.ADAPTIVE).save(root / 'palette.png')
    cv2.imwrite(str(root / 'deep16.png'), face.astype(np.uint16) * 257)
    Image.fromarray(face[:, :, ::-1]).convert('CMYK').save(root / 'cmyk.jpg')
    Image.new('1', (9000, 9000)).save(root / 'huge_header.png')  # a few KB that decode to 81M pixels
    Image.new('1', (20000, 20000)).save(root / 'huge_bomb.png')  # past Pillow's own bomb limit
    cv2.imwrite(str(root / 'tiny.png'), face[:2, :2])
    cv2.imwrite(str(root / 'nonsquare.png'), face[:, :80])
    (root / 'visage_é_顔.png').write_bytes(png)
    return root


@pytest.mark.parametrize('name', READABLE)
def test_decoder_reads_unusual_formats_as_bgr_float(hostile_dir, name):
    img = read_image(str(hostile_dir / name))
    assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3 and 0 <= img.min() <= img.max() <= 1


@pytest.mark.parametrize('name, message', [
    ('truncated.png', 'not a decodable image'), ('truncated_jpeg.jpg', 'not a decodable image'),
    ('zero.png', 'empty file'), ('not_an_image.jpg', 'not a decodable image'),
    ('huge_header.png', 'declares 9000x9000 pixels'), ('huge_bomb.png', 'decompression bomb'),
])
def test_decoder_refuses_broken_files_by_name(hostile_dir, name, message):
    with pytest.raises(ImageDecodeError, match=message) as err:
        read_image(str(hostile_dir / name))
    assert name in str(err.value)


def test_create_lmdb_skips_and_lists_broken_files(hostile_dir, tmp_path):
    ascii_dir = shutil.copytree(hostile_dir, tmp_path / 'ascii', ignore=shutil.ignore_patterns('visage_*'))
    proc = run_script('create_lmdb.py', ['--input', str(ascii_dir), '--output', str(tmp_path / 'h.lmdb')],
                      cwd=str(tmp_path), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and 'Traceback' not in out, out[-3000:]
    for name in REFUSED:
        assert name in out, out[-3000:]
    keys = open(tmp_path / 'h.lmdb' / 'meta_info.txt').read()
    assert all(os.path.splitext(n)[0] in keys for n in READABLE if n.isascii())


def test_create_lmdb_skips_non_ascii_names_by_name(hostile_dir, tmp_path):
    """LMDB keys are ASCII (BasicSR's layout): such files are listed as skipped, the rest is packed."""
    proc = run_script('create_lmdb.py', ['--input', str(hostile_dir), '--output', str(tmp_path / 'h.lmdb')],
                      cwd=str(tmp_path), check=False)
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr
    assert 'not ASCII' in proc.stderr and 'visage_' in proc.stderr


def _dataset(root, **extra):
    opt = {'name': 'hostile', 'type': 'FaceDegradedPairDataset', 'phase': 'train', 'dataroot_gt': str(root),
           'io_backend': {'type': 'disk'}, 'gt_size': 32, 'degradation': {'type': 'multiscale_bicubic', 'factors': [4]}}
    opt.update(extra)
    return FaceDegradedPairDataset(opt)


def test_dataset_skips_and_logs_corrupt_samples(hostile_dir, caplog):
    dataset = _dataset(hostile_dir, max_corrupt_samples=len(REFUSED))
    items = [dataset[i] for i in range(len(dataset))]
    assert all(item['gt'].shape == (3, 32, 32) and torch.isfinite(item['lq']).all() for item in items)
    assert {item['key'] for item in items} >= {os.path.splitext(n)[0] for n in READABLE}
    assert sorted(dataset._corrupt_samples) == sorted(dataset.keys.index(os.path.splitext(n)[0]) for n in REFUSED)
    assert caplog.text.count('Skipping corrupt sample') == len(REFUSED)


def test_dataset_gives_up_past_max_corrupt_samples(hostile_dir):
    dataset = _dataset(hostile_dir, max_corrupt_samples=1)
    with pytest.raises(ImageDecodeError, match='more than max_corrupt_samples=1'):
        for i in range(len(dataset)):
            dataset[i]


def test_single_image_dataset_skips_corrupt_samples(hostile_dir):
    dataset = FaceSingleImageDataset({'name': 'h', 'dataroot_lq': str(hostile_dir), 'lq_size': 16,
                                      'max_corrupt_samples': len(REFUSED)})
    assert all(dataset[i]['lq'].shape == (3, 16, 16) for i in range(len(dataset)))


def _copy_lmdb(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_lmdb_with_a_listed_key_missing_fails_when_built(ffhq_small_lmdb, tmp_path):
    root = _copy_lmdb(ffhq_small_lmdb, tmp_path / 'missing.lmdb')
    with open(root / 'meta_info.txt', 'a') as f:
        f.write('ghost.png (128,128,3) 1\n')
    with pytest.raises(KeyError, match=r"1 key\(s\) listed in .*meta_info.txt have no data.*ghost"):
        _dataset(root, io_backend={'type': 'lmdb'})


def test_lmdb_entry_with_empty_data_is_skipped(ffhq_small_lmdb, tmp_path, caplog):
    root = _copy_lmdb(ffhq_small_lmdb, tmp_path / 'empty.lmdb')
    key = open(root / 'meta_info.txt').readline().split()[0][:-len('.png')]
    env = lmdb.open(str(root))
    with env.begin(write=True) as txn:
        txn.put(key.encode('ascii'), b'')
    env.close()
    dataset = _dataset(root, io_backend={'type': 'lmdb'})
    assert dataset[dataset.keys.index(key)]['key'] != key
    assert f'{key}: empty file or missing data' in caplog.text


def test_meta_info_without_keys_is_refused(ffhq_small_lmdb, tmp_path):
    root = _copy_lmdb(ffhq_small_lmdb, tmp_path / 'nometa.lmdb')
    (root / 'meta_info.txt').write_text('\n  \n')
    with pytest.raises(ValueError, match='lists no keys'):
        _dataset(root, io_backend={'type': 'lmdb'})


@pytest.mark.parametrize('override, message', [
    ({'train': {'total_iter': 'abc'}}, r"train.total_iter must be a number >= 1, got 'abc' \(str\)"),
    ({'datasets': {'train': {'batch_size_per_gpu': -1}}}, 'batch_size_per_gpu must be an integer >= 1, got -1'),
    ({'datasets': {'train': {'num_worker_per_gpu': 1.5}}}, 'num_worker_per_gpu must be an integer >= 0'),
    ({'logger': {'save_checkpoint_freq': True}}, 'save_checkpoint_freq must be a number >= 1, got True'),
    ({'manual_seed': 'seven'}, 'manual_seed must be an integer'),
    ({'train': {'max_nonfinite_steps': 0}}, 'max_nonfinite_steps must be an integer >= 1'),
    ({'train': 'fast'}, 'train must be a mapping'),
    ({'name': '../../outside'}, "name '../../outside' must be a plain folder name"),
    ({'name': '/tmp/abs'}, 'must be a plain folder name'),
    ({'name': '..'}, 'must be a plain folder name'),
    ({'name': ''}, 'name must be a non-empty string'),
    ({'datasets': {'val': {'name': 'a/../../b'}}}, 'datasets.val.name .* must be a plain folder name'),
    ({'num_gpu': -2}, 'num_gpu must be an integer >= 0'),
    ({'sync_bn_typo': True}, "Unknown option 'sync_bn_typo'.*did you mean 'sync_bn'"),
])
def test_wrong_types_and_escaping_names_are_refused(override, message):
    with pytest.raises(OptionError, match=message):
        validate_options(deep_update(load_options(GCFSR_TRAIN), override), is_train=True)


@pytest.mark.parametrize('block, key', [('train', 'total_iter'), ('logger', 'save_checkpoint_freq')])
def test_missing_training_keys_are_named(block, key):
    opt = load_options(GCFSR_TRAIN)
    del opt[block][key]
    with pytest.raises(OptionError, match=f"Missing required option '{block}.{key}' for training"):
        validate_options(opt, is_train=True)


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _malicious(path, marker):
    with open(path, 'wb') as f:
        pickle.dump({'params': _Payload(str(marker)), 'iter': 2, 'epoch': 0}, f)


def test_malicious_pickle_checkpoint_is_refused(tmp_path):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    _malicious(path, marker)
    with pytest.raises(ValueError, match='holds pickled Python objects .code.* refused and not loaded') as err:
        read_state_dict(str(path), 'a test network', 'make one')
    assert 'weights_only' not in str(err.value)
    assert not marker.exists()


def test_malicious_pickle_training_state_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, marker = tmp_path / '2.state', tmp_path / 'pwned'
    _malicious(path, marker)
    opt = {'auto_resume': False, 'name': 'x', 'num_gpu': 0, 'path': {'resume_state': str(path)}}
    with pytest.raises(ValueError, match='2.state .training state. holds pickled Python objects'):
        load_resume_state(opt)
    states = tmp_path / 'experiments' / 'x' / 'training_states'
    states.mkdir(parents=True)
    shutil.copy(path, states / '2.state')
    skipped = []
    assert load_resume_state(dict(opt, auto_resume=True), skipped) is None  # --auto_resume: skipped, logged
    assert 'Skipping unreadable training state' in skipped[0]
    assert not marker.exists()


def test_decode_image_names_its_source_for_lmdb_bytes():
    with pytest.raises(ImageDecodeError, match='faces.lmdb:00001: not a decodable image'):
        decode_image(b'\x89PNG\r\n\x1a\n garbage', 'faces.lmdb:00001')
