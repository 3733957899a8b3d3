"""scripts/demo.py end to end (2 iterations): held-out faces not trained on, validation labelled with the factor it
runs, the bicubic baseline beside the model and the LR | bicubic | GCFSR | GT figure; BasicSR's ETA at the last
iteration is 0, not '-1 day, 23:59:55'."""
import glob
import os
import re
import sys

import cv2
import lmdb

from helpers import REPO

sys.path.insert(0, os.path.join(REPO, 'scripts'))
import demo  # noqa: E402


def lmdb_keys(path):
    with lmdb.open(path, readonly=True, lock=False) as env, env.begin() as txn:
        return {key.decode() for key, _ in txn.cursor()}


def test_demo_baseline_line_heldout_faces_and_eta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', os.environ.get('FACESR_TEST_THREADS', '2'))
    out = tmp_path / 'demo'
    assert demo.main(['--output', str(out), '--iters', '2']) == 0
    printed = capsys.readouterr().out
    line = re.search(r'held-out x8 PSNR: bicubic ([\d.]+) dB \| GCFSR ([\d.]+) dB \(2 faces not trained on, 64 px, RGB\)',
                     printed)
    assert line and 10 < float(line.group(1)) < 60 and 0 < float(line.group(2)) < 60
    train, heldout = lmdb_keys(str(out / 'train.lmdb')), lmdb_keys(str(out / 'heldout.lmdb'))
    assert len(train) == 8 and heldout == {'face_08', 'face_09'} and not train & heldout
    figure = cv2.imread(str(out / 'heldout_x8.png'))
    assert figure is not None and figure.shape[1] > 4 * 128 and figure.shape[0] > 2 * 128
    log = open(glob.glob(str(out / 'experiments' / 'GCFSR_demo' / 'train_*.log'))[0]).read()
    assert 'Validation HeldOut_x8' in log and 'CelebAHQ' not in log
    assert 'iter:       2' in log and 'eta: 0:00:00' in log and '-1 day' not in log
