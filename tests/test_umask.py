"""Outputs written through temporary files (mkstemp / mkdtemp: 0600 / 0700) get the modes the user's umask gives."""
import os
import stat

import numpy as np
import pytest

from facesr_arch.toolkit.outputs import write_image_atomic
from facesr_arch.data.lmdb_build import create_lmdb


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_image_and_lmdb_modes_follow_the_umask(umask_027, tmp_path):
    image = tmp_path / 'faces' / 'a.png'
    write_image_atomic(str(image), np.zeros((8, 8, 3), np.uint8))
    assert mode(image) == 0o640
    out = tmp_path / 'faces.lmdb'
    create_lmdb(str(tmp_path / 'faces'), str(out))
    assert mode(out) == 0o750
    assert mode(out / 'meta_info.txt') == 0o640
