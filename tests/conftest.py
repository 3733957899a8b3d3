"""Fixtures: real faces from ../shared/data (CI; FACESR_SHARED_DATA elsewhere), else faces made on the spot from
scikit-image's portrait in the same layout; small LMDBs made from them, and an isolated working folder."""
import os

import cv2
import pytest
import torch

from helpers import SHARED_DATA, make_sample_data

torch.set_num_threads(int(os.environ.get('FACESR_TEST_THREADS', min(2, os.cpu_count() or 1))))


@pytest.fixture(scope='session')
def shared_data(tmp_path_factory):
    """The shared face data (read-only), or generated faces in its layout when it is absent (a fresh clone)."""
    if os.path.isdir(SHARED_DATA):
        return SHARED_DATA
    return make_sample_data(str(tmp_path_factory.mktemp('sample_data')))


@pytest.fixture(scope='session')
def ffhq_dir(shared_data):
    """The 10 real FFHQ 1024 px faces (read-only)."""
    return os.path.join(shared_data, 'ffhq_hq')


def _resized_copy(src_dir, dst_dir, size, count):
    os.makedirs(dst_dir, exist_ok=True)
    for name in sorted(os.listdir(src_dir))[:count]:
        img = cv2.imread(os.path.join(src_dir, name), cv2.IMREAD_COLOR)
        cv2.imwrite(os.path.join(dst_dir, name), cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    return dst_dir


@pytest.fixture(scope='session')
def ffhq_small_dir(ffhq_dir, tmp_path_factory):
    """Six FFHQ faces downscaled to 128 px (fast HQ folder for tiny runs)."""
    return _resized_copy(ffhq_dir, str(tmp_path_factory.mktemp('ffhq128')), 128, 6)


@pytest.fixture(scope='session')
def ffhq_small_lmdb(ffhq_small_dir, tmp_path_factory):
    """The 128 px faces packed by scripts/create_lmdb.py into a BasicSR LMDB."""
    from facesr_arch.data.lmdb_build import create_lmdb
    out = str(tmp_path_factory.mktemp('lmdb') / 'ffhq128.lmdb')
    create_lmdb(ffhq_small_dir, out)
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current directory (experiments/ and results/ land here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
