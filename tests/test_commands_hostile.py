"""Every command, discovered by itself, against hostile input: exit status, one line, inputs and earlier outputs
unchanged (SHA-256 of every file), nothing half-written.

The commands are found in ``scripts/*.py`` (the wrappers' ``run_command('<name>')``, or the script itself),
setup.py's console entry points and BasicSR's two entries (``facesr_arch.train`` / ``test``); a command found
there without hostile cases below fails :func:`test_every_command_has_hostile_cases`, so a new command cannot
escape. The cases call each command's ``main`` in-process (what the script and the console command run after
parsing the arguments); the exit path (status 2, one ``<tool>: error:`` line, no traceback) is checked as a
user meets it, each command run as ``__main__`` by runpy, one after the other in a single subprocess (the
torch import is paid once: the test stays within its CPU budget); ``--help`` of every script and console
command is timed in CPU seconds (the wall time of a loaded machine says little).
"""
import glob
import hashlib
import importlib
import json
import os
import re
import resource
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

import facesr_arch  # noqa: F401  (before basicsr)
from helpers import REPO, load_options, tiny_training, write_options
from test_inference import TINY, write_checkpoint
from test_reliability_safety import pickled_checkpoint, read_only_location

PIPELINES = {'train': 'facesr_arch.train', 'test': 'facesr_arch.test'}


def discover_commands():
    """{command: how it runs}: 'cli' (facesr_arch.cli.<command>), 'script' (scripts/<command>.py, not moved
    yet) or 'module' (python -m facesr_arch.train / test)."""
    commands = {}
    for path in sorted(glob.glob(os.path.join(REPO, 'scripts', '*.py'))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith('_'):
            continue
        with open(path) as f:
            wrapped = re.search(r"run_command\('(\w+)'\)", f.read())
        commands[wrapped.group(1) if wrapped else name] = 'cli' if wrapped else 'script'
    for command in console_commands().values():
        commands[command] = 'cli'
    commands.update({name: 'module' for name in PIPELINES})
    return commands


def console_commands():
    """{console name: facesr_arch.cli command} of setup.py's entry points (through facesr_commands.py)."""
    with open(os.path.join(REPO, 'setup.py')) as f:
        entries = re.findall(r"'(facesr-[\w-]+)=facesr_commands:(\w+)'", f.read())
    with open(os.path.join(REPO, 'facesr_commands.py')) as f:
        launcher = dict(re.findall(r"def (\w+)\(\):\n    return run_command\('(\w+)'\)", f.read()))
    assert entries and all(function in launcher for _, function in entries), (entries, launcher)
    return {name: launcher[function] for name, function in entries}


COMMANDS = discover_commands()


def cli_main(command):
    return importlib.import_module(f'facesr_arch.cli.{command}').main


def call(main, argv, capsys):
    """(status, stdout, stderr) of ``main(argv)`` in-process (argparse errors raise SystemExit)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as err:
        status = err.code
    out = capsys.readouterr()
    return status, out.out, out.err


def refused(result, *fragments):
    """Exit status 2 and exactly one ``error:`` line holding ``fragments``; no traceback."""
    status, out, err = result
    lines = [line for line in err.splitlines() if ': error: ' in line]
    assert status == 2 and len(lines) == 1 and 'Traceback' not in out + err, (status, out[-2000:], err[-3000:])
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def tree_hashes(*roots):
    """{path: SHA-256 of a file, or the target of a link} under ``roots`` (files or folders; links not followed)."""
    out = {}
    for root in map(str, roots):
        walked = [(os.path.dirname(root), [], [os.path.basename(root)])] if not os.path.isdir(root) else \
            [(folder, [], dirs + files) for folder, dirs, files in os.walk(root)]
        for folder, _, names in walked:
            for name in names:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    out[path] = 'link to ' + os.readlink(path)
                elif os.path.isfile(path):
                    with open(path, 'rb') as f:
                        out[path] = hashlib.sha256(f.read()).hexdigest()
                else:
                    out[path] = 'folder'
    return out


def untouched(*roots):
    """A check that ``roots`` hold the same bytes later, and no staging folder was left beside them."""
    before = tree_hashes(*roots)

    def check():
        assert tree_hashes(*roots) == before
        for root in roots:
            parent = os.path.dirname(os.path.abspath(str(root)))
            assert not [n for n in os.listdir(parent) if n.startswith(('.tmp_', '.old_'))], os.listdir(parent)
    return check


@pytest.fixture(scope='module')
def corpus(ffhq_small_dir, tmp_path_factory):
    """Tiny real faces, every kind of hostile entry, and checkpoints: good, pickled (code) and garbage."""
    root = tmp_path_factory.mktemp('commands_hostile')
    faces = root / 'faces'
    faces.mkdir()
    names = sorted(os.listdir(ffhq_small_dir))[:3]
    for name, stem in zip(names, ('a', 'b', 'dots.in.name')):
        img = cv2.imread(os.path.join(ffhq_small_dir, name))
        cv2.imwrite(str(faces / f'{stem}.png'), cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA))
    face = cv2.imread(str(faces / 'a.png'))
    hostile = root / 'hostile'
    hostile.mkdir()
    cv2.imwrite(str(hostile / 'a.png'), face)
    (hostile / 'x.png').mkdir()  # a folder named like an image
    os.symlink('loop.png', hostile / 'loop.png')  # a link loop
    cv2.imwrite(str(hostile / 'tiny.png'), face[:8, :8])
    cv2.imwrite(str(hostile / 'wide.png'), cv2.resize(face, (24, 16)))
    dups = root / 'dups'
    dups.mkdir()
    cv2.imwrite(str(dups / 'a.png'), face)
    cv2.imwrite(str(dups / 'a.jpg'), face)
    huge = root / 'huge'
    huge.mkdir()
    Image.new('1', (6000, 6000)).save(huge / 'a.png')  # a few KB that decode to 36M pixels
    folder = str(root / 'weights')
    os.makedirs(folder)
    gcfsr = write_checkpoint(folder, 'GCFSR', TINY['GCFSR'][0])
    garbage = root / 'weights' / 'garbage.pth'
    garbage.write_bytes(cv2.imencode('.png', face)[1].tobytes())
    return {'root': root, 'faces': str(faces), 'hostile': str(hostile), 'dups': str(dups), 'huge': str(huge),
            'gcfsr': gcfsr, 'evil': pickled_checkpoint(root / 'weights' / 'evil.pth', root / 'pwned'),
            'garbage': str(garbage), 'marker': str(root / 'pwned')}


def gcfsr(weights):
    return ['--arch', 'GCFSR', '--weights', weights, '--device', 'cpu', '--upscale', '4'] + sum(
        (['--net-opt', f'{k}={v}'] for k, v in TINY['GCFSR'][0].items()), [])


# --- the hostile cases of each command (in-process) ---------------------------------------------------------


def benchmark_cases(c, tmp, capsys):
    main = cli_main('benchmark')
    inputs = untouched(c['faces'])
    refused(call(main, ['--output', os.path.join(c['faces'], 'b.json'), 'data', '--input', c['faces']], capsys),
            'lies inside the input folder')
    refused(call(main, ['--output', os.path.join(read_only_location(tmp), 'b.json'), 'data', '--input', c['faces']],
                 capsys), 'not writable')
    (tmp / 'b.json').write_text('an earlier run')
    refused(call(main, ['--output', tmp / 'b.json', 'data', '--input', c['faces']], capsys), 'exists', '--overwrite')
    assert (tmp / 'b.json').read_text() == 'an earlier run'
    refused(call(main, ['models', '--methods', 'NoSuchNet'], capsys), 'NoSuchNet')
    inputs()


def calculate_metrics_cases(c, tmp, capsys):
    main = cli_main('calculate_metrics')
    base = ['--metrics', 'psnr', '--no-progress']
    inputs = untouched(c['faces'], c['hostile'])
    refused(call(main, [c['faces'], '--gt', c['faces'], '--out', c['faces']] + base, capsys), 'is the input folder')
    refused(call(main, [c['hostile'], '--gt', c['faces'], '--out', os.path.join(c['faces'], 'report')] + base,
                 capsys), 'lies inside the input folder')
    status, out, err = call(main, [c['hostile'], '--gt', c['faces'], '--out', tmp / 'r'] + base, capsys)
    assert status == 0 and 'Traceback' not in err, err[-3000:]
    assert 'x.png: a folder named like an image' in err and 'loop.png: cannot be read' in err
    report = untouched(tmp / 'r')
    refused(call(main, [c['faces'], '--gt', c['faces'], '--out', tmp / 'r'] + base, capsys), 'exists', '--overwrite')
    report()
    (tmp / 'r' / 'bar_ssim_old_run.png').write_bytes(b'stale')
    status, _, err = call(main, [c['faces'], '--gt', c['faces'], '--out', tmp / 'r', '--overwrite'] + base, capsys)
    assert status == 0 and not (tmp / 'r' / 'bar_ssim_old_run.png').exists(), err[-2000:]
    refused(call(main, [c['dups'], '--gt', c['faces'], '--out', tmp / 'd'] + base, capsys), 'share the stem')
    status, out, err = call(main, [c['huge'], '--out', tmp / 'huge', '--metrics', 'niqe', '--no-progress'], capsys)
    assert status == 1 and 'declares 6000x6000 pixels, more than the 16777216 accepted' in out, out[-2000:]
    refused(call(main, [c['faces'], '--gt', c['faces'], '--out', read_only_location(tmp)] + base, capsys),
            'not writable')
    inputs()


def inference_cases(c, tmp, capsys):
    main = cli_main('inference')
    inputs = untouched(c['faces'], c['hostile'], c['gcfsr'])
    refused(call(main, gcfsr(c['gcfsr']) + ['-i', c['faces'], '-o', c['faces']], capsys), 'is the input folder')
    refused(call(main, gcfsr(c['gcfsr']) + ['-i', os.path.join(c['faces'], 'a.png'), '-o', c['faces']], capsys),
            'is the input folder')
    refused(call(main, gcfsr(str(tmp / 'missing.pth')) + ['-i', c['faces'], '-o', tmp / 'o1'], capsys),
            'missing.pth')
    refused(call(main, gcfsr(c['evil']) + ['-i', c['faces'], '-o', tmp / 'o2'], capsys), 'pickled')
    refused(call(main, gcfsr(c['garbage']) + ['-i', c['faces'], '-o', tmp / 'o3'], capsys), 'garbage.pth')
    refused(call(main, gcfsr(c['gcfsr']) + ['-i', c['dups'], '-o', tmp / 'o4'], capsys), 'share the stem')
    refused(call(main, gcfsr(c['gcfsr']) + ['-i', c['faces'], '-o', read_only_location(tmp)], capsys),
            'not writable')
    status, out, err = call(main, gcfsr(c['gcfsr']) + ['-i', c['hostile'], '-o', tmp / 'out', '--no-progress'],
                            capsys)
    assert status == 0 and 'Traceback' not in err, err[-3000:]
    assert 'too small (8x8, minimum 16 px)' in out and 'skipped wide' in out and 'x.png: a folder' in err
    assert sorted(os.listdir(tmp / 'out')) == ['a.png', 'inference_manifest.json']
    status, _, _ = call(main, gcfsr(c['gcfsr']) + ['-i', c['faces'], '-o', tmp / 'names', '--no-progress'], capsys)
    assert status == 0 and os.path.isfile(tmp / 'names' / 'dots.in.name.png')
    inputs()
    assert not os.path.exists(c['marker'])


def modulation_sweep_cases(c, tmp, capsys):
    main = cli_main('modulation_sweep')
    face = os.path.join(c['faces'], 'a.png')
    inputs = untouched(c['faces'], c['hostile'])
    args = gcfsr(c['gcfsr']) + ['--tile', '16', '--factors', '4']
    refused(call(main, args + ['-i', face, '-o', face], capsys), 'is the input file')
    refused(call(main, args + ['-i', os.path.join(c['hostile'], 'wide.png'), '-o', tmp / 's.png'], capsys),
            'not a square aligned face')
    refused(call(main, args + ['-i', os.path.join(c['hostile'], 'tiny.png'), '-o', tmp / 's.png'], capsys),
            'too small')
    refused(call(main, gcfsr(c['evil']) + ['-i', face, '-o', tmp / 's.png'], capsys), 'pickled')
    refused(call(main, args + ['-i', face, '-o', os.path.join(read_only_location(tmp), 's.png')], capsys),
            'not writable')
    assert call(main, args + ['-i', face, '-o', tmp / 's.png'], capsys)[0] == 0
    earlier = untouched(tmp / 's.png')
    refused(call(main, args + ['-i', face, '-o', tmp / 's.png'], capsys), 'exists', '--overwrite')
    earlier()
    inputs()
    assert not os.path.exists(c['marker'])


def convert_weights_cases(c, tmp, capsys):
    main = cli_main('convert_weights')
    inputs = untouched(os.path.dirname(c['gcfsr']))
    refused(call(main, ['gfpgan', tmp / 'GFPGANv1.4.pth', tmp / 'g.pth'], capsys), 'weights/README.md')
    refused(call(main, ['gfpgan', c['evil'], tmp / 'g.pth'], capsys), 'pickled')
    refused(call(main, ['facexlib', c['garbage'], tmp / 'g.pth'], capsys), 'garbage.pth')
    refused(call(main, ['facexlib', c['gcfsr'], c['gcfsr']], capsys), 'is the input file')
    refused(call(main, ['facexlib', c['gcfsr'], os.path.join(read_only_location(tmp), 'g.pth')], capsys),
            'not writable')
    (tmp / 'done.pth').write_bytes(b'an earlier output')
    refused(call(main, ['facexlib', c['gcfsr'], tmp / 'done.pth'], capsys), 'exists', '--overwrite')
    assert (tmp / 'done.pth').read_bytes() == b'an earlier output'
    inputs()
    assert not os.path.exists(c['marker'])


def create_lmdb_cases(c, tmp, capsys):
    main = cli_main('create_lmdb')
    inputs = untouched(c['faces'], c['hostile'])
    refused(call(main, ['--input', c['faces'], '--output', os.path.join(c['faces'], 'x.lmdb')], capsys),
            'lies inside the input folder')
    refused(call(main, ['--input', c['dups'], '--output', tmp / 'd.lmdb'], capsys), 'share the stem')
    refused(call(main, ['--input', c['faces'], '--output', os.path.join(read_only_location(tmp), 'x.lmdb')],
                 capsys), 'not writable')
    status, _, err = call(main, ['--input', c['hostile'], '--output', tmp / 'h.lmdb'], capsys)
    assert status == 0 and 'x.png: a folder named like an image' in err, err[-2000:]
    earlier = untouched(tmp / 'h.lmdb')
    refused(call(main, ['--input', c['faces'], '--output', tmp / 'h.lmdb'], capsys), 'exists', '--overwrite')
    earlier()
    (tmp / 'h.lmdb' / 'stale.txt').write_text('from an earlier run')
    assert call(main, ['--input', c['faces'], '--output', tmp / 'h.lmdb', '--overwrite'], capsys)[0] == 0
    assert sorted(os.listdir(tmp / 'h.lmdb')) == ['data.mdb', 'lock.mdb', 'meta_info.txt']
    inputs()


def make_testset_cases(c, tmp, capsys):
    main = cli_main('make_testset')
    args = ['--protocol', 'wnet_celeba_mode1', '--max-images', '2']
    inputs = untouched(c['faces'], c['hostile'])
    refused(call(main, ['--input', c['faces'], '--output', c['faces']] + args, capsys), 'is the input folder')
    refused(call(main, ['--input', c['dups'], '--output', tmp / 'd'] + args, capsys), 'share the stem')
    refused(call(main, ['--input', c['faces'], '--output', read_only_location(tmp)] + args, capsys), 'not writable')
    old = os.umask(0o022)
    try:
        status, _, err = call(main, ['--input', c['hostile'], '--output', tmp / 'sets'] + args, capsys)
    finally:
        os.umask(old)
    assert status == 0 and 'x.png: a folder named like an image' in err, err[-2000:]
    assert oct(os.stat(tmp / 'sets' / 'wnet_celeba_mode1').st_mode & 0o777) == oct(0o755)
    earlier = untouched(tmp / 'sets')
    refused(call(main, ['--input', c['faces'], '--output', tmp / 'sets'] + args, capsys), 'exists', '--overwrite')
    refused(call(main, ['--input', tmp / 'sets' / 'wnet_celeba_mode1' / 'x4' / 'gt', '--output', tmp / 'sets',
                        '--overwrite'] + args, capsys), 'lies inside')
    earlier()
    inputs()


def prepare_parsing_cases(c, tmp, capsys):
    main = cli_main('prepare_parsing')
    inputs = untouched(c['faces'], os.path.dirname(c['gcfsr']))
    args = ['--size', '16', '--min_feat_size', '4']
    refused(call(main, ['--input', c['faces'], '--output', c['faces'], '--weights', c['gcfsr']] + args, capsys),
            'is the input folder')
    refused(call(main, ['--input', c['faces'], '--output', tmp / 'p', '--weights', c['evil']] + args, capsys),
            'pickled')
    refused(call(main, ['--input', c['faces'], '--output', tmp / 'p', '--weights', tmp / 'none.pth'] + args, capsys),
            'none.pth')
    refused(call(main, ['--input', c['dups'], '--output', tmp / 'p', '--weights', c['gcfsr']] + args, capsys),
            'share the stem')
    refused(call(main, ['--input', c['faces'], '--output', read_only_location(tmp), '--weights', c['gcfsr']] + args,
                 capsys), 'not writable')
    (tmp / 'p').mkdir()
    (tmp / 'p' / 'a.png').write_bytes(b'an earlier sidecar')
    refused(call(main, ['--input', c['faces'], '--output', tmp / 'p', '--weights', c['gcfsr']] + args, capsys),
            'exists', '--overwrite')
    assert (tmp / 'p' / 'a.png').read_bytes() == b'an earlier sidecar'
    inputs()
    assert not os.path.exists(c['marker'])


def reproduce_cases(c, tmp, capsys):
    main = cli_main('reproduce')
    inputs = untouched(c['faces'], os.path.dirname(c['gcfsr']))
    refused(call(main, ['--paper', 'nopaper', '--table', '1', '--out', tmp / 'r'], capsys), 'Unknown paper')
    refused(call(main, ['--paper', 'gcfsr', '--table', '99', '--out', tmp / 'r'], capsys), 'has no table 99')
    refused(call(main, ['--paper', 'wnet', '--table', '3', '--hq', c['faces'], '--out', c['faces']], capsys),
            'is the input folder')
    refused(call(main, ['--paper', 'wnet', '--table', '3', '--hq', c['faces'], '--checkpoint', f'X={c["evil"]}',
                        '--out', tmp / 'r'], capsys), 'pickled')
    refused(call(main, ['--paper', 'gcfsr', '--table', '1', '--out', read_only_location(tmp)], capsys),
            'not writable')
    old = os.umask(0o022)
    try:
        assert call(main, ['--paper', 'gcfsr', '--table', '1', '--out', tmp / 'r'], capsys)[0] == 0
    finally:
        os.umask(old)
    assert oct(os.stat(tmp / 'r' / 'gcfsr_table1').st_mode & 0o777) == oct(0o755)
    earlier = untouched(tmp / 'r' / 'gcfsr_table1')
    refused(call(main, ['--paper', 'gcfsr', '--table', '1', '--out', tmp / 'r'], capsys), 'exists', '--overwrite')
    earlier()
    inputs()
    assert not os.path.exists(c['marker'])


def pipeline_train_cases(c, tmp, capsys, ffhq_small_lmdb):
    """An option value an architecture refuses: one line naming the block, no experiment folder left."""
    from facesr_arch.train import main
    opt = tiny_training(load_options('options/train/MPCNet/train_MPCNet_FFHQ512.yml'))
    opt['network_g'].update(out_size=32, narrow=3 / 512, num_style_feat=16, gan_num_mlp=1, num_latent_mlp=1,
                            gan_prior_path=None, parsing_prior_path=None)  # 3 channels at some resolution
    opt['network_d']['in_size'] = 32
    for block in opt['train'].values():  # loss networks: random (random_priors), not the files the option names
        if isinstance(block, dict) and 'weights_path' in block:
            block['weights_path'] = None
    for phase in ('train', 'val'):
        opt['datasets'][phase].update(dataroot_gt=ffhq_small_lmdb, gt_size=32)
    opt['datasets']['train'].update(num_worker_per_gpu=0, batch_size_per_gpu=1)
    path = write_options(opt, str(tmp))
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        refused(call(main, ['-opt', path], capsys), 'network_g (MPCNet)', 'APFF needs an even width')
        refused(call(main, ['-opt', tmp / 'absent.yml'], capsys), 'Option file not found')
        assert call(main, ['--help'], capsys)[0] == 0
    finally:
        os.chdir(cwd)
    assert not os.path.exists(tmp / 'experiments') and not os.path.exists(tmp / 'tb_logger')


def pipeline_test_cases(c, tmp, capsys):
    """Option errors, and what the test pipeline's datasets make of a folder named x.png, a link loop and a
    name with dots (BasicSR names each output by the stem of the item's path)."""
    from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
    from facesr_arch.data.paired_dataset import FaceSingleImageDataset
    from facesr_arch.test import main
    refused(call(main, ['-opt', tmp / 'absent.yml'], capsys), 'Option file not found')
    assert call(main, ['--help'], capsys)[0] == 0
    single = FaceSingleImageDataset({'name': 'h', 'phase': 'test', 'dataroot_lq': c['hostile'], 'lq_size': 16,
                                     'io_backend': {'type': 'disk'}})
    assert 'x.png: a folder named like an image' in capsys.readouterr().err
    assert sorted(os.path.basename(single[i]['lq_path']) for i in range(len(single))) == [
        'a.png', 'tiny.png', 'wide.png']
    pairs = FaceDegradedPairDataset({'name': 'f', 'phase': 'val', 'dataroot_gt': c['faces'], 'gt_size': 32,
                                     'io_backend': {'type': 'disk'}, 'deterministic': True,
                                     'degradation': {'type': 'multiscale_bicubic', 'factors': [4]}})
    stems = sorted(os.path.splitext(os.path.basename(pairs[i]['lq_path']))[0] for i in range(len(pairs)))
    assert stems == ['a', 'b', 'dots.in.name']


def compare_grid_cases(c, tmp, capsys):
    main = cli_main('compare_grid')
    inputs = untouched(c['faces'], c['hostile'])
    base = ['--lr', c['faces'], '--method', f'M={c["faces"]}', '--tile', '32', '--no-scores']
    refused(call(main, base + ['-o', os.path.join(c['faces'], 'a.png')], capsys), 'lies inside the input folder')
    refused(call(main, ['--lr', c['dups'], '--method', f'M={c["faces"]}', '-o', tmp / 'd.png'], capsys),
            'share the stem')
    refused(call(main, base + ['--zoom', '1,2,3', '-o', tmp / 'z.png'], capsys), '--zoom')
    refused(call(main, base + ['-o', os.path.join(read_only_location(tmp), 'g.png')], capsys), 'not writable')
    assert call(main, base + ['-o', tmp / 'g.png'], capsys)[0] == 0
    earlier = untouched(tmp / 'g.png')
    refused(call(main, base + ['-o', tmp / 'g.png'], capsys), 'exists', '--overwrite')
    earlier()
    assert call(main, base + ['-o', tmp / 'g.png', '--overwrite'], capsys)[0] == 0
    inputs()


def demo_cases(c, tmp, capsys):
    main = cli_main('demo')
    inputs = untouched(c['faces'])
    refused(call(main, ['--hq-dir', c['faces'], '--output', os.path.join(c['faces'], 'demo')], capsys),
            'lies inside the input folder')
    refused(call(main, ['--hq-dir', tmp / 'absent', '--output', tmp / 'd1'], capsys), 'absent')
    refused(call(main, ['--hq-dir', c['faces'], '--output', tmp / 'd2', '--holdout', '0'], capsys), '--holdout')
    refused(call(main, ['--hq-dir', c['faces'], '--output', os.path.join(read_only_location(tmp), 'd')], capsys),
            'not writable')
    refused(call(main, ['--method', 'GCFSR', '--factor', '5', '--hq-dir', c['faces'], '--output', tmp / 'd3'],
                 capsys), '--factor 5')
    inputs()


CASES = {'benchmark': benchmark_cases, 'calculate_metrics': calculate_metrics_cases,
         'compare_grid': compare_grid_cases, 'demo': demo_cases,
         'inference': inference_cases, 'modulation_sweep': modulation_sweep_cases, 'convert_weights': convert_weights_cases,
         'create_lmdb': create_lmdb_cases, 'make_testset': make_testset_cases,
         'prepare_parsing': prepare_parsing_cases, 'reproduce': reproduce_cases, 'train': pipeline_train_cases,
         'test': pipeline_test_cases}
# the exit path as a user meets it: (arguments, fragment of the one error line)
EXIT_PATH = {
    'benchmark': lambda c, tmp: (['--output', f'{c["faces"]}/b.json', 'data', '--input', c['faces']],
                                 'lies inside the input folder'),
    'calculate_metrics': lambda c, tmp: ([c['faces'], '--out', c['faces']], 'is the input folder'),
    'compare_grid': lambda c, tmp: (['--lr', c['dups'], '--method', f'M={c["faces"]}', '-o', tmp / 'd.png'],
                                    'share the stem'),
    'demo': lambda c, tmp: (['--hq-dir', c['faces'], '--output', f'{c["faces"]}/demo'], 'lies inside the input folder'),
    'inference': lambda c, tmp: (gcfsr(c['evil']) + ['-i', c['faces'], '-o', tmp / 'o'], 'pickled'),
    'modulation_sweep': lambda c, tmp: (gcfsr(c['gcfsr']) + ['-i', f'{c["faces"]}/a.png', '-o',
                                                              f'{c["faces"]}/a.png'], 'is the input file'),
    'convert_weights': lambda c, tmp: (['gfpgan', tmp / 'GFPGANv1.4.pth', tmp / 'g.pth'], 'weights/README.md'),
    'create_lmdb': lambda c, tmp: (['--input', c['dups'], '--output', tmp / 'd.lmdb'], 'share the stem'),
    'make_testset': lambda c, tmp: (['--input', c['faces'], '--output', tmp, '--protocol', 'nope'],
                                    'Unknown protocol'),
    'prepare_parsing': lambda c, tmp: (['--input', c['faces'], '--output', tmp / 'p', '--weights', c['evil']],
                                       'pickled'),
    'reproduce': lambda c, tmp: (['--paper', 'nopaper', '--table', '1', '--out', tmp / 'r'], 'Unknown paper'),
    'train': lambda c, tmp: (['-opt', tmp / 'absent.yml'], 'Option file not found'),
    'test': lambda c, tmp: (['-opt', tmp / 'absent.yml'], 'Option file not found'),
}


def test_every_command_has_hostile_cases():
    """A command found in scripts/, setup.py or the pipelines without hostile cases fails here."""
    assert {name for name, kind in COMMANDS.items() if kind != 'script'} == set(CASES) == set(EXIT_PATH)
    assert not [name for name, kind in COMMANDS.items() if kind == 'script']  # every script wraps a cli command
    for command in console_commands().values():  # each console command has its script wrapper
        assert COMMANDS.get(command) == 'cli' and os.path.isfile(os.path.join(REPO, 'scripts', f'{command}.py'))


@pytest.mark.parametrize('command', sorted(CASES))
def test_hostile_cases(command, corpus, tmp_path, capsys, request):
    extra = [request.getfixturevalue('ffhq_small_lmdb')] if command == 'train' else []
    CASES[command](corpus, tmp_path, capsys, *extra)


# runs each command as ``python -m <module>`` / ``python scripts/<name>.py`` does (runpy, run as __main__: argument
# parsing, main, sys.exit), one after the other in one process, so that the torch import is paid once
EXIT_DRIVER = '''
import contextlib, io, json, os, runpy, sys, traceback
results = {}
for command, kind, target, args in json.loads(sys.argv[1]):
    sys.argv = [target] + args
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            if kind == 'path':
                sys.path.insert(0, os.path.dirname(target))  # as python puts a script's folder first
                runpy.run_path(target, run_name='__main__')
            else:
                runpy.run_module(target, run_name='__main__', alter_sys=True)
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            code = 'exception'
            traceback.print_exc()
    results[command] = [code, err.getvalue()]
print(json.dumps(results))
'''


def test_exit_path_of_every_command(corpus, tmp_path):
    """Every command as a user starts it: exit status 2 and one ``<tool>: error:`` line, no traceback."""
    runs = []
    for command, kind in sorted(COMMANDS.items()):
        if command in EXIT_PATH:
            args, fragment = EXIT_PATH[command](corpus, tmp_path / command)
        else:  # not moved yet: a wrong argument
            args, fragment = ['--no-such-option'], ''
        target = (PIPELINES[command] if kind == 'module' else f'facesr_arch.cli.{command}' if kind == 'cli' else
                  os.path.join(REPO, 'scripts', f'{command}.py'))
        runs.append((command, 'path' if kind == 'script' else 'module', target, [str(a) for a in args], fragment))
        os.makedirs(tmp_path / command, exist_ok=True)
    proc = subprocess.run([sys.executable, '-c', EXIT_DRIVER, json.dumps([r[:4] for r in runs])], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for command, _, _, _, fragment in runs:
        code, err = results[command]
        assert code == 2, (command, code, err[-3000:])
        refused((code, '', err), fragment)
    assert not os.path.exists(corpus['marker'])


def _cpu_seconds_of(argv, cwd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize('console', sorted(console_commands()))
def test_help_of_every_console_command_is_fast(console, tmp_path):
    """What the installed ``facesr-...`` command runs (facesr_commands.<function>), from outside the checkout."""
    function = re.search(rf"'{console}=facesr_commands:(\w+)'", open(os.path.join(REPO, 'setup.py')).read())[1]
    code = (f'import sys; sys.path.insert(0, {REPO!r}); sys.argv = [{console!r}, "--help"]; '
            f'import facesr_commands; sys.exit(facesr_commands.{function}())')
    proc, seconds = _cpu_seconds_of([sys.executable, '-c', code], str(tmp_path))
    assert proc.returncode == 0 and 'usage:' in proc.stdout and seconds < 1.0, (seconds, proc.stderr[-2000:])


@pytest.mark.parametrize('script', sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'scripts', '*.py'))
                                          if not os.path.basename(p).startswith('_')))
def test_help_of_every_script_is_fast(script, tmp_path):
    proc, seconds = _cpu_seconds_of([sys.executable, os.path.join(REPO, 'scripts', script), '--help'], str(tmp_path))
    assert proc.returncode == 0 and 'usage:' in proc.stdout and seconds < 1.0, (seconds, proc.stderr[-2000:])


def test_scripts_are_thin():
    lines = 0
    for path in glob.glob(os.path.join(REPO, 'scripts', '*.py')):
        with open(path) as f:
            lines += len(f.readlines())
    assert lines < 600


def test_decoder_keeps_codec_chatter_off_stderr(tmp_path, capfd):
    """libpng prints its own error lines from C (file descriptor 2); the error naming the file is all that shows."""
    from facesr_arch.toolkit.inputs import ImageDecodeError, read_image
    png = cv2.imencode('.png', np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    (tmp_path / 'broken.png').write_bytes(png[:40] + bytes(64) + png[-12:])
    capfd.readouterr()
    with pytest.raises(ImageDecodeError, match='broken.png: not a decodable image'):
        read_image(str(tmp_path / 'broken.png'))
    assert capfd.readouterr().err == ''
