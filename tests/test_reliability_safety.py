"""Nothing lost, nothing silently wrong: one test per case that lost data or gave a wrong result (issue 19), and a
corpus of hostile files run through every command-line tool, checking exit status, message and that no input
or earlier output changed (hashes before and after)."""
import glob
import hashlib
import json
import os
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr: torchvision alias)
from facesr_arch.data.lmdb_util import read_meta_keys
from facesr_arch.utils.options import OptionError, validate_options
from helpers import deep_update, load_options, run_module, run_script, tiny_training, write_options
from test_inference import TINY, write_checkpoint
from facesr_arch.data import testset_build as make_testset

PROTOCOL = 'wnet_celeba_mode1'  # 128 px GT: the size of the small faces, fast
WNET_TEST = 'options/test/WNet/test_WNet_x4_CelebA_Helen.yml'
GCFSR_TRAIN = 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml'
TINY_WNET = {'num_feat': 8, 'num_res_blocks': 1, 'hourglass_depth': 2, 'upscale_stages': 1, 'num_levels': 2,
             'num_heads': 2}


def tree_hashes(*roots):
    """{path: sha256} of every file under ``roots`` (files or folders)."""
    out = {}
    for root in roots:
        root = str(root)
        files = [root] if os.path.isfile(root) else [os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns]
        for path in files:
            with open(path, 'rb') as f:
                out[path] = hashlib.sha256(f.read()).hexdigest()
    return out


def one_line_error(proc, *fragments):
    """The process failed with one ``error:`` line on stderr holding ``fragments``, and no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    lines = [line for line in proc.stderr.splitlines() if 'error' in line.lower()]
    assert lines, out[-3000:]
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines[-1]


def no_staging_left(folder):
    return not glob.glob(os.path.join(str(folder), '.tmp_*')) and not glob.glob(os.path.join(str(folder), '.old_*'))


def copy_faces(src, dst, count=3):
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src))[:count]:
        shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    return str(dst)


def read_only_location(tmp_path):
    """A path inside a folder this process cannot write: a chmod 555 folder, or for root (who ignores modes) a
    read-only mount."""
    if os.geteuid() != 0:
        folder = tmp_path / 'read_only'
        folder.mkdir()
        folder.chmod(0o555)
        return str(folder / 'out')
    for folder in ('/proc/sys',):
        if os.path.isdir(folder) and not os.access(folder, os.W_OK):
            return os.path.join(folder, 'facesr_out')
    pytest.skip('running as root without a read-only mount')


def truncate_lmdb(src, dst):
    shutil.copytree(src, dst)
    data = os.path.join(dst, 'data.mdb')
    with open(data, 'r+b') as f:
        f.truncate(os.path.getsize(data) // 2)
    return str(dst)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def pickled_checkpoint(path, marker):
    """A checkpoint whose unpickling would run code (create ``marker``)."""
    torch.save({'params_ema': _Payload(str(marker))}, path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('ckpt'))
    options = TINY['GCFSR'][0]
    first = write_checkpoint(folder, 'GCFSR', options, seed=0)
    other = os.path.join(folder, 'other')
    os.makedirs(other)
    return first, write_checkpoint(other, 'GCFSR', options, seed=5)


def gcfsr_args(weights):
    return ['--arch', 'GCFSR', '--weights', weights, '--device', 'cpu', '--no-progress', '--upscale', '8'] + sum(
        (['--net-opt', f'{k}={v}'] for k, v in TINY['GCFSR'][0].items()), [])


# --- make_testset ------------------------------------------------------------------------------------------


def test_make_testset_overwrite_refuses_an_input_inside_the_output(ffhq_small_dir, tmp_path):
    out = tmp_path / 'sets'
    run_script('make_testset.py', ['--input', ffhq_small_dir, '--output', str(out), '--protocol', PROTOCOL,
                                   '--max-images', '2'], cwd=str(tmp_path))
    before = tree_hashes(out)
    proc = run_script('make_testset.py', ['--input', str(out / PROTOCOL / 'x4' / 'gt'), '--output', str(out),
                                          '--protocol', PROTOCOL, '--overwrite'], cwd=str(tmp_path), check=False)
    one_line_error(proc, 'lies inside', 'nothing was changed')
    assert tree_hashes(out) == before


def test_make_testset_failed_overwrite_keeps_the_old_set(ffhq_small_dir, tmp_path, monkeypatch):
    out = tmp_path / 'sets'
    make_testset.make_testset(ffhq_small_dir, str(out), PROTOCOL, max_images=3)
    before = tree_hashes(out)
    calls = []
    real = make_testset.make_pair

    def failing(*args):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError('disk full (simulated)')
        return real(*args)

    monkeypatch.setattr(make_testset, 'make_pair', failing)
    with pytest.raises(RuntimeError, match='simulated'):
        make_testset.make_testset(ffhq_small_dir, str(out), PROTOCOL, seed=1, max_images=3, overwrite=True)
    assert tree_hashes(out) == before and no_staging_left(out)


def test_make_testset_skips_and_lists_bad_images_and_reruns(ffhq_small_dir, tmp_path):
    faces = copy_faces(ffhq_small_dir, tmp_path / 'faces')
    face = cv2.imread(os.path.join(faces, sorted(os.listdir(faces))[0]))
    png = cv2.imencode('.png', face)[1].tobytes()
    (tmp_path / 'faces' / 'broken.png').write_bytes(png[:len(png) // 3])
    cv2.imwrite(str(tmp_path / 'faces' / 'wide.png'), face[:64])
    cv2.imwrite(str(tmp_path / 'faces' / 'small.png'), face[::2, ::2])
    args = ['--input', faces, '--output', str(tmp_path / 'sets'), '--protocol', PROTOCOL]
    first = run_script('make_testset.py', args, cwd=str(tmp_path))
    assert 'broken.png: not a decodable image' in first.stderr and 'wide.png: 128x64 is not square' in first.stderr
    assert 'small.png: 64 px, upsampled to 128 px' in first.stderr
    root = tmp_path / 'sets' / PROTOCOL
    manifest = json.loads((root / 'manifest.json').read_text())
    assert sorted(manifest['skipped']) == ['broken', 'wide'] and list(manifest['upsampled']) == ['small']
    assert manifest['num_images'] == 4 and len(os.listdir(root / 'x4' / 'gt')) == 4
    before = tree_hashes(root)
    again = run_script('make_testset.py', args, cwd=str(tmp_path), check=False)
    one_line_error(again, 'exists', '--overwrite')
    run_script('make_testset.py', args + ['--overwrite'], cwd=str(tmp_path))
    assert tree_hashes(root) == before and no_staging_left(tmp_path / 'sets')  # same bytes, rebuilt


# --- inference ---------------------------------------------------------------------------------------------


def test_inference_refuses_duplicate_stems_naming_both(checkpoints, ffhq_small_dir, tmp_path):
    faces = copy_faces(ffhq_small_dir, tmp_path / 'faces', 2)
    face = cv2.imread(os.path.join(faces, sorted(os.listdir(faces))[0]))
    cv2.imwrite(os.path.join(faces, 'face.png'), face)
    cv2.imwrite(os.path.join(faces, 'face.jpg'), face)
    proc = run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', str(tmp_path / 'out')],
                      cwd=str(tmp_path), check=False)
    one_line_error(proc, 'face.jpg', 'face.png', 'share the stem')
    assert not os.path.exists(tmp_path / 'out')


def test_inference_refuses_to_resume_a_folder_made_otherwise(checkpoints, ffhq_small_dir, tmp_path):
    faces = copy_faces(ffhq_small_dir, tmp_path / 'faces', 2)
    out = tmp_path / 'out'
    run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', str(out)], cwd=str(tmp_path))
    manifest = json.loads((out / 'inference_manifest.json').read_text())
    with open(checkpoints[0], 'rb') as f:
        assert manifest['settings']['checkpoint_sha256'] == hashlib.sha256(f.read()).hexdigest()
    assert manifest['settings']['method'] == 'GCFSR' and manifest['settings']['network']['out_size'] == 64
    assert manifest['inputs'] == sorted(os.path.splitext(n)[0] for n in os.listdir(faces))
    before = tree_hashes(out)
    other = run_script('inference.py', gcfsr_args(checkpoints[1]) + ['-i', faces, '-o', str(out)],
                       cwd=str(tmp_path), check=False)
    one_line_error(other, 'other settings', 'checkpoint_sha256')
    strength = run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', str(out), '--strength',
                                                                        '8'], cwd=str(tmp_path), check=False)
    one_line_error(strength, 'controls.strength: None -> 8.0')
    assert tree_hashes(out) == before
    same = run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', str(out)], cwd=str(tmp_path))
    assert 'already finished: 2' in same.stdout
    foreign = tmp_path / 'foreign'
    copy_faces(ffhq_small_dir, foreign, 2)  # images without a manifest
    proc = run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', str(foreign)],
                      cwd=str(tmp_path), check=False)
    one_line_error(proc, 'no inference_manifest.json')


# --- calculate_metrics -------------------------------------------------------------------------------------


def _metrics_folders(ffhq_small_dir, tmp_path, keep):
    """GT: 4 faces; one result folder per method holding the (blurred) faces whose index is in ``keep[method]``."""
    names = sorted(os.listdir(ffhq_small_dir))[:4]
    gt = copy_faces(ffhq_small_dir, tmp_path / 'gt', 4)
    folders = {}
    for method, (indices, sigma) in keep.items():
        folder = tmp_path / method
        folder.mkdir()
        for i in indices:
            cv2.imwrite(str(folder / names[i]), cv2.GaussianBlur(cv2.imread(os.path.join(gt, names[i])), (7, 7), sigma))
        folders[method] = str(folder)
    return gt, folders, [os.path.splitext(n)[0] for n in names]


def test_metrics_compare_methods_on_the_images_all_have(ffhq_small_dir, tmp_path):
    gt, folders, stems = _metrics_folders(ffhq_small_dir, tmp_path, {'A': ([0, 1, 2], 2.0), 'B': ([1, 2, 3], 0.5)})
    out = tmp_path / 'report'
    run_script('calculate_metrics.py', [folders['A'], folders['B'], '--gt', gt, '--metrics', 'psnr', 'ssim',
                                        '--out', str(out), '--no-progress'], cwd=str(tmp_path))
    report = json.loads((out / 'metrics.json').read_text())
    assert report['common_images'] == stems[1:3]
    assert report['excluded'] == {'A': [stems[0]], 'B': [stems[3]]}
    for method in 'AB':
        values = report['per_image'][method]['psnr']
        assert report['summary'][method]['psnr'] == pytest.approx(np.mean([values[s] for s in stems[1:3]]))
    table = (out / 'metrics.md').read_text()
    assert table.splitlines()[0].startswith('| Method | N |') and '| A | 2 |' in table and '| B | 2 |' in table
    assert f'A: 1 image(s) excluded (not scored for every method): {stems[0]}' in table
    assert (out / 'metrics.csv').read_text().splitlines()[1].startswith('A,2,')
    assert no_staging_left(tmp_path) and no_staging_left(out)


def test_metrics_exit_non_zero_when_nothing_could_be_scored(ffhq_small_dir, tmp_path):
    gt, folders, _ = _metrics_folders(ffhq_small_dir, tmp_path, {'A': ([0, 1], 1.0), 'B': ([2, 3], 1.0)})
    proc = run_script('calculate_metrics.py', [folders['A'], folders['B'], '--gt', gt, '--metrics', 'psnr',
                                               '--out', str(tmp_path / 'report'), '--no-progress'],
                      cwd=str(tmp_path), check=False)
    assert proc.returncode == 1 and 'nothing could be scored' in proc.stderr and 'Traceback' not in proc.stderr


# --- test pipeline on an LMDB test set, paired with its GT by calculate_metrics -----------------------------


def test_test_pipeline_on_lmdb_names_outputs_by_key(ffhq_small_dir, workdir):
    make_testset.make_testset(ffhq_small_dir, str(workdir / 'sets'), PROTOCOL, max_images=3, lmdb=True)
    subset = workdir / 'sets' / PROTOCOL / 'x4'
    from facesr_arch.archs.wnet_arch import WNet
    torch.manual_seed(0)
    state = WNet(**TINY_WNET).state_dict()
    torch.save({'params': state, 'params_ema': state}, workdir / 'wnet.pth')
    opt = load_options(WNET_TEST)
    data = {'name': 'lmdb_set', 'type': 'FacePairedDataset', 'dataroot_lq': str(subset / 'lq.lmdb'),
            'dataroot_gt': str(subset / 'gt.lmdb'), 'io_backend': {'type': 'lmdb'}, 'mean': [0.0, 0.0, 0.0],
            'std': [1.0, 1.0, 1.0], 'lq_size': 128}
    opt = deep_update(opt, {'num_gpu': 0, 'datasets': None, 'network_g': TINY_WNET,
                            'path': {'pretrain_network_g': str(workdir / 'wnet.pth')}, 'val': {'metrics': None}})
    opt['datasets'] = {'test_1': data}
    opt['val']['metrics'] = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}
    run_module('facesr_arch.test', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    results = workdir / 'results' / opt['name'] / 'visualization' / 'lmdb_set'
    keys = read_meta_keys(str(subset / 'gt.lmdb'))
    assert sorted(os.listdir(results)) == [f'{key}_{opt["name"]}.png' for key in keys]  # one output per key
    out = workdir / 'report'
    run_script('calculate_metrics.py', [str(results), '--gt', str(subset / 'gt'), '--metrics', 'psnr', '--out',
                                        str(out), '--no-progress'], cwd=str(workdir))
    report = json.loads((out / 'metrics.json').read_text())
    assert report['common_images'] == keys and report['unmatched']['lmdb_set']['suffix_removed'] == f'_{opt["name"]}'


# --- create_lmdb names, LMDB integrity ---------------------------------------------------------------------


def test_create_lmdb_refuses_names_meta_info_cannot_hold(ffhq_small_dir, tmp_path):
    faces = copy_faces(ffhq_small_dir, tmp_path / 'faces', 2)
    face = os.path.join(faces, sorted(os.listdir(faces))[0])
    shutil.copy(face, os.path.join(faces, 'name with spaces.png'))
    shutil.copy(face, os.path.join(faces, 'v1.2.png'))
    proc = run_script('create_lmdb.py', ['--input', faces, '--output', str(tmp_path / 'f.lmdb')], cwd=str(tmp_path))
    assert "name with spaces.png: file name contains ' '" in proc.stderr
    assert "v1.2.png: file name contains '.'" in proc.stderr
    keys = read_meta_keys(str(tmp_path / 'f.lmdb'))
    assert keys == sorted(os.path.splitext(n)[0] for n in os.listdir(faces) if ' ' not in n and n != 'v1.2.png')
    # an LMDB packed elsewhere with such a key: every reader names the line instead of a key it cannot find
    with open(tmp_path / 'f.lmdb' / 'meta_info.txt', 'a') as f:
        f.write('name with spaces.png (128,128,3) 1\n')
    with pytest.raises(ValueError, match=r"meta_info.txt line 3 \('name with spaces.png"):
        read_meta_keys(str(tmp_path / 'f.lmdb'))


def test_truncated_lmdb_is_a_message_not_a_sigbus(ffhq_small_lmdb, checkpoints, workdir):
    broken = truncate_lmdb(ffhq_small_lmdb, workdir / 'broken.lmdb')
    message = 'data.mdb is truncated'
    proc = run_script('inference.py', gcfsr_args(checkpoints[0]) + ['-i', broken, '-o', str(workdir / 'out')],
                      cwd=str(workdir), check=False)
    one_line_error(proc, message)
    proc = run_script('make_testset.py', ['--input', broken, '--output', str(workdir / 'sets'), '--protocol',
                                          PROTOCOL], cwd=str(workdir), check=False)
    one_line_error(proc, message)
    opt = tiny_training(load_options(GCFSR_TRAIN))
    opt['datasets']['train'].update(dataroot_gt=broken)
    opt['datasets']['val'].update(dataroot_gt=broken)
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode not in (0, 135, -7) and message in proc.stderr and 'Traceback' not in proc.stderr
    assert not os.path.exists(workdir / 'experiments') and not os.path.exists(workdir / 'out')


# --- training / testing pre-flight -------------------------------------------------------------------------


def test_validation_metric_without_weights_fails_at_launch(ffhq_small_lmdb, workdir):
    opt = tiny_training(load_options(GCFSR_TRAIN))
    for phase in ('train', 'val'):
        opt['datasets'][phase]['dataroot_gt'] = ffhq_small_lmdb
    opt['val']['metrics'] = {'lpips': {'type': 'calculate_face_metric', 'metric': 'lpips', 'better': 'lower'}}
    home = workdir / 'empty_torch_home'
    home.mkdir()
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir),
                      env={'TORCH_HOME': str(home)}, check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert 'val.metrics.lpips (lpips) cannot be computed' in proc.stderr and 'LPIPS_v0.1_alex' in proc.stderr
    assert not os.path.exists(workdir / 'experiments')


@pytest.mark.parametrize('override, message', [
    ({'train': {'optim_g': {'lr': '1e-3'}}}, r"train.optim_g.lr must be a number >= 0, got '1e-3' \(str\); YAML"),
    ({'network_g': {'num_style_feat': '8'}}, r"network_g.num_style_feat must be a number >= 0, got '8'"),
    ({'datasets': {'train': {'gt_size': -128}}}, 'datasets.train.gt_size must be an integer >= 1, got -128'),
    ({'datasets': {'val': {'use_hflip': 'yes'}}}, 'datasets.val.use_hflip must be true or false'),
    ({'train': {'optim_g': {'betas': 0.9}}}, 'train.optim_g.betas must be a list'),
    ({'train': {'optim_d': {'type': 'Adamm'}}}, "Unknown optimizer type 'Adamm'"),
    ({'train': {'scheduler': {'milestones': [1000, 'x']}}}, r'train.scheduler.milestones\[1\] must be an integer'),
    ({'train': {'scheduler': {'gama': 0.5}}}, "Unknown option 'gama' in train.scheduler.*did you mean 'gamma'"),
    ({'train': {'ema_decay': 1.5}}, 'train.ema_decay must be in'),
    ({'val': {'save_img': 'no'}}, 'val.save_img must be true or false'),
    ({'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': '4'}}}},
     "val.metrics.psnr.crop_border must be an integer >= 0, got '4'"),
    ({'train': {'pixel_opt': {'loss_weight': '1'}}}, 'train.pixel_opt.loss_weight must be a number'),
])
def test_option_values_are_checked_before_anything_is_built(override, message):
    opt = load_options(GCFSR_TRAIN)
    if 'pixel_opt' in override.get('train', {}) and 'pixel_opt' not in opt['train']:
        pytest.skip('no pixel_opt block in this option file')
    with pytest.raises(OptionError, match=message):
        validate_options(deep_update(opt, override), is_train=True)


def test_option_value_error_through_train_creates_nothing(ffhq_small_lmdb, workdir):
    opt = tiny_training(load_options(GCFSR_TRAIN))
    for phase in ('train', 'val'):
        opt['datasets'][phase]['dataroot_gt'] = ffhq_small_lmdb
    opt['train']['optim_g']['lr'] = '1e-3'
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode != 0 and 'train.optim_g.lr must be a number' in proc.stderr
    assert 'Traceback' not in proc.stderr and not os.path.exists(workdir / 'experiments')


def test_pickled_checkpoint_is_refused_in_one_line(checkpoints, ffhq_small_dir, workdir):
    evil, marker = pickled_checkpoint(workdir / 'evil.pth', workdir / 'pwned'), workdir / 'pwned'
    faces = copy_faces(ffhq_small_dir, workdir / 'faces', 1)
    proc = run_script('inference.py', gcfsr_args(evil) + ['-i', faces, '-o', str(workdir / 'out')], cwd=str(workdir),
                      check=False)
    line = one_line_error(proc, 'evil.pth', 'holds pickled Python objects (code)', 'not loaded')
    assert 'weights_only' not in line and 'weights_only' not in proc.stderr
    opt = deep_update(load_options(WNET_TEST), {'num_gpu': 0, 'network_g': TINY_WNET, 'path': {
        'pretrain_network_g': evil}})
    for block in opt['datasets'].values():
        block['dataroot_gt'] = ffhq_small_dir
        block['io_backend'] = {'type': 'disk'}
    proc = run_module('facesr_arch.test', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode != 0 and 'holds pickled Python objects (code)' in proc.stderr
    assert 'Traceback' not in proc.stderr and 'weights_only' not in proc.stderr
    assert not marker.exists() and not os.path.exists(workdir / 'results') and not os.path.exists(workdir / 'out')


# --- read-only outputs, and the hostile corpus through every tool ------------------------------------------


def test_read_only_output_is_one_line_before_any_work(checkpoints, ffhq_small_dir, ffhq_small_lmdb, tmp_path):
    target = read_only_location(tmp_path)
    faces = copy_faces(ffhq_small_dir, tmp_path / 'faces', 2)
    runs = {
        'create_lmdb.py': ['--input', faces, '--output', os.path.join(target, 'x.lmdb')],
        'make_testset.py': ['--input', faces, '--output', target, '--protocol', PROTOCOL],
        'inference.py': gcfsr_args(checkpoints[0]) + ['-i', faces, '-o', target],
        'calculate_metrics.py': [faces, '--gt', faces, '--metrics', 'psnr', '--out', target, '--no-progress'],
    }
    for script, args in runs.items():
        one_line_error(run_script(script, args, cwd=str(tmp_path), check=False), 'not writable')
    if os.geteuid() != 0:  # train/test write under the current folder: a read-only one
        opt = tiny_training(load_options(GCFSR_TRAIN))
        for phase in ('train', 'val'):
            opt['datasets'][phase]['dataroot_gt'] = ffhq_small_lmdb
        path = write_options(opt, str(tmp_path))
        proc = run_module('facesr_arch.train', ['-opt', path], cwd=os.path.dirname(target), check=False)
        assert proc.returncode != 0 and 'not writable' in proc.stderr and 'Traceback' not in proc.stderr


@pytest.fixture(scope='module')
def hostile(ffhq_small_dir, ffhq_small_lmdb, tmp_path_factory):
    """Two real faces and every kind of hostile file, in one folder (duplicate stems apart)."""
    root = tmp_path_factory.mktemp('hostile_corpus')
    folder = root / 'mixed'
    copy_faces(ffhq_small_dir, folder, 2)
    face = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0]))
    png, jpg = cv2.imencode('.png', face)[1].tobytes(), cv2.imencode('.jpg', face)[1].tobytes()
    (folder / 'truncated.png').write_bytes(png[:len(png) // 3])
    (folder / 'truncated_jpeg.jpg').write_bytes(jpg[:len(jpg) // 3])
    (folder / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 4)
    (folder / 'zero.png').write_bytes(b'')
    cv2.imwrite(str(folder / 'gray.png'), cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / 'rgba.png'), np.dstack([face, np.full(face.shape[:2], 200, np.uint8)]))
    cv2.imwrite(str(folder / 'deep16.png'), face.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / 'tiny.png'), face[:4, :4])
    cv2.imwrite(str(folder / 'nonsquare.png'), face[:, :80])
    cv2.imwrite(str(folder / 'with spaces.png'), face)
    dups = root / 'dups'
    dups.mkdir()
    cv2.imwrite(str(dups / 'face.png'), face)
    cv2.imwrite(str(dups / 'face.jpg'), face)
    evil = pickled_checkpoint(root / 'evil.pth', root / 'pwned')
    return {'mixed': str(folder), 'dups': str(dups), 'lmdb': truncate_lmdb(ffhq_small_lmdb, root / 'trunc.lmdb'),
            'evil': evil, 'marker': str(root / 'pwned'), 'root': str(root)}


def test_hostile_corpus_through_every_tool(hostile, checkpoints, ffhq_small_dir, tmp_path):
    """Each tool on the corpus: the expected exit status and message, nothing of the corpus changed, and earlier
    outputs kept whole when a rerun fails."""
    corpus = tree_hashes(hostile['root'])
    run = lambda script, args: run_script(script, args, cwd=str(tmp_path), check=False)  # noqa: E731
    # create_lmdb: bad files skipped and listed, the rest packed under keys every reader agrees on
    proc = run('create_lmdb.py', ['--input', hostile['mixed'], '--output', str(tmp_path / 'mixed.lmdb')])
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr
    for name in ('truncated.png', 'truncated_jpeg.jpg', 'corrupt.png', 'zero.png', 'with spaces.png'):
        assert f'{name}: ' in proc.stderr, proc.stderr[-3000:]
    keys = read_meta_keys(str(tmp_path / 'mixed.lmdb'))
    assert {'gray', 'rgba', 'deep16', 'tiny', 'nonsquare'} <= set(keys) and 'with spaces' not in ' '.join(keys)
    one_line_error(run('create_lmdb.py', ['--input', hostile['dups'], '--output', str(tmp_path / 'd.lmdb')]),
                   'face.jpg', 'face.png')
    one_line_error(run('create_lmdb.py', ['--input', hostile['lmdb'], '--output', str(tmp_path / 'e.lmdb')]),
                   'No images')
    # make_testset: bad, tiny and non-square images skipped or listed; then a failing overwrite keeps the set
    sets = tmp_path / 'sets'
    proc = run('make_testset.py', ['--input', hostile['mixed'], '--output', str(sets), '--protocol', PROTOCOL])
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    manifest = json.loads((sets / PROTOCOL / 'manifest.json').read_text())
    assert {'truncated', 'truncated_jpeg', 'corrupt', 'zero', 'nonsquare'} <= set(manifest['skipped'])
    assert 'tiny' in manifest['upsampled']
    made = tree_hashes(sets)
    for args, fragment in (([hostile['dups']], 'share the stem'), ([hostile['lmdb']], 'data.mdb is truncated')):
        one_line_error(run('make_testset.py', ['--input', *args, '--output', str(sets), '--protocol', PROTOCOL,
                                               '--overwrite']), fragment)
    assert tree_hashes(sets) == made and no_staging_left(sets)
    # inference: bad images skipped and listed; duplicates, truncated LMDB, pickled checkpoint refused
    out = tmp_path / 'restored'
    proc = run('inference.py', gcfsr_args(checkpoints[0]) + ['-i', hostile['mixed'], '-o', str(out)])
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr
    for name in ('truncated', 'corrupt', 'zero', 'tiny', 'nonsquare'):
        assert f'skipped {name}:' in proc.stdout
    restored = tree_hashes(out)
    for args, fragment in (([hostile['dups']], 'share the stem'), ([hostile['lmdb']], 'data.mdb is truncated')):
        one_line_error(run('inference.py', gcfsr_args(checkpoints[0]) + ['-i', *args, '-o', str(out)]), fragment)
    one_line_error(run('inference.py', gcfsr_args(hostile['evil']) + ['-i', hostile['mixed'], '-o', str(out)]),
                   'holds pickled Python objects')
    assert tree_hashes(out) == restored
    # calculate_metrics of the corpus as a method against the test set's GT: unreadable or mis-sized files listed
    report = tmp_path / 'report'
    proc = run('calculate_metrics.py', [hostile['mixed'], '--gt', str(sets / PROTOCOL / 'x4' / 'gt'), '--metrics',
                                        'psnr', '--out', str(report), '--no-progress'])
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    table = (report / 'metrics.md').read_text()
    assert '| mixed | 6 |' in table and 'skipped tiny: size (4, 4) differs from GT' in table
    assert 'results without gt: corrupt, nonsquare, truncated, truncated_jpeg, zero' in table
    one_line_error(run('calculate_metrics.py', [hostile['dups'], '--gt', hostile['mixed'], '--metrics', 'psnr',
                                                '--out', str(report), '--no-progress']), 'share the stem')
    assert tree_hashes(hostile['root']) == corpus and not os.path.exists(hostile['marker'])
