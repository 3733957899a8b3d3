"""The demo end to end as `make demo` runs it (GCFSR, the default, 2 iterations): held-out faces not trained on,
validation labelled with the factor it runs, the bicubic baseline beside the model in the printed line and in the
calculate_metrics report, and the LR | bicubic | GCFSR | GT figure with the LR face pixelated (nearest) and each
tile's PSNR; BasicSR's ETA at the last iteration is 0, not '-1 day, 23:59:55'."""
import glob
import json
import os
import re

import cv2
import lmdb
import numpy as np

from helpers import make_demo_args

from facesr_arch.cli import demo


def lmdb_keys(path):
    with lmdb.open(path, readonly=True, lock=False) as env, env.begin() as txn:
        return {key.decode() for key, _ in txn.cursor()}


def test_demo_baseline_line_report_figure_heldout_faces_and_eta(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', os.environ.get('FACESR_TEST_THREADS', '2'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    out = tmp_path / 'demo'
    args = make_demo_args(ITERS=2, DEMO_OUTPUT=out)
    assert args == ['--method', 'GCFSR', '--iters', '2', '--output', str(out)]
    assert demo.main(args) == 0
    printed = capsys.readouterr().out
    line = re.search(r'held-out x8 PSNR: bicubic ([\d.]+) dB \| GCFSR ([\d.]+) dB \(2 faces not trained on, 64 px, RGB\)',
                     printed)
    assert line and 10 < float(line.group(1)) < 60 and 0 < float(line.group(2)) < 60
    with open(out / 'report' / 'metrics.json') as f:
        report = json.load(f)
    assert report['common_images'] == ['face_08', 'face_09'] and list(report['summary']) == ['bicubic', 'GCFSR']
    assert f"{report['summary']['bicubic']['psnr']:.2f}" == line.group(1)
    assert f"{report['summary']['GCFSR']['psnr']:.2f}" == line.group(2)
    assert (out / 'report' / 'metrics.md').is_file()
    train, heldout = lmdb_keys(str(out / 'train.lmdb')), lmdb_keys(str(out / 'heldout.lmdb'))
    assert len(train) == 8 and heldout == {'face_08', 'face_09'} and not train & heldout
    figure = cv2.imread(str(out / 'heldout_x8.png'))
    assert figure is not None and figure.shape[1] > 4 * 128 and figure.shape[0] > 2 * 128
    log = open(glob.glob(str(out / 'experiments' / 'GCFSR_demo' / 'train_*.log'))[0]).read()
    assert 'Validation HeldOut_x8' in log and 'CelebAHQ' not in log
    assert 'iter:       2' in log and 'eta: 0:00:00' in log and '-1 day' not in log


def test_lr_tile_is_pixelated_and_tiles_carry_their_psnr():
    from facesr_arch.quickstart.heldout import heldout_figure
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    faces = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    psnr = {'bicubic': {'a': 21.5}, 'GCFSR': {'a': 23.25}}
    figure = heldout_figure([('a', lr, *faces)], psnr, ('bicubic', 'GCFSR'), 8, side=128)
    plain = heldout_figure([('a', lr, *faces)], {k: {'a': 0.0} for k in psnr}, ('bicubic', 'GCFSR'), 8, side=128)
    # the LR column: every 16 x 16 block one LR pixel (nearest), found in the figure
    expected = cv2.resize(lr, (128, 128), interpolation=cv2.INTER_NEAREST)
    assert any(np.array_equal(figure[r:r + 128, c:c + 128], expected) for r in range(64) for c in range(64))
    # the captions differ where the values differ: at the bottom of the bicubic and GCFSR tiles only
    differs = np.where(np.any(figure != plain, axis=2))
    assert differs[0].size and differs[0].min() > figure.shape[0] - 40
