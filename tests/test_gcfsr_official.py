"""Official GCFSR checkpoints (1024 px; 512 px with factor_norm 32; blind 512 px), converted with the CLI, give the
official network's outputs through every user path with no extra flag: the network block written by the
converter, ``scripts/inference.py`` with ``-opt`` and with ``--arch``, the modulation sweep and the test pipeline.

The reference is the release's network and conditioning (``tests/gcfsr_official.py``): condition scale /
cond_norm, sigma normalised without the absolute value. Max differences are printed (``pytest -s``).
"""
import os

import cv2
import numpy as np
import pytest
import torch

from gcfsr_official import noise_maps, random_official
from helpers import REPO, deep_update, load_options, run_module, run_script, write_options

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.data.preprocess import prepare_face
from facesr_arch.archs.converters import convert_file
from facesr_arch.cli import inference as cli
from facesr_arch.cli import modulation_sweep
from facesr_arch.inference import runner
from facesr_arch.inference.loading import build_network, network_config
from facesr_arch.inference.modulation import modulation_strip

# (out_size, blind, the release's cond_norm, the test option file a user runs it with)
CASES = {
    '1024': (1024, False, 64, 'options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml'),
    '512': (512, False, 32, 'options/test/GCFSR/test_GCFSR_adv_x4-x8_CelebAHQ512.yml'),
    'blind512': (512, True, None, 'options/test/GCFSR/test_GCFSR_blind_CelebA-Test.yml'),
}
TOLERANCE = 1e-4


def official_checkpoint(folder, out_size, blind, noise_strength=0.0):
    """A random official-layout checkpoint as the release stores it: ``params`` + ``params_ema`` for the
    conditional models (training saves), a bare state dict for the blind one (``inference_gcfsr_blind.py``)."""
    reference = random_official(out_size, blind=blind, noise_strength=noise_strength)
    state = reference.state_dict()
    path = os.path.join(folder, f'gcfsr_official_{out_size}{"_blind" if blind else ""}.pth')
    torch.save(state if blind else {'params': {k: v + 1 for k, v in state.items()}, 'params_ema': state}, path)
    return reference, path


@pytest.fixture(scope='module', params=sorted(CASES))
def converted(request, tmp_path_factory):
    """(case, official reference network, its checkpoint converted by ``scripts/convert_weights.py gcfsr``)."""
    folder = str(tmp_path_factory.mktemp(f'gcfsr_{request.param}'))
    out_size, blind, _, _ = CASES[request.param]
    reference, src = official_checkpoint(folder, out_size, blind)
    dst = os.path.join(folder, 'gcfsr_converted.pth')
    run_script('convert_weights.py', ['gcfsr', src, dst], cwd=folder)
    return request.param, reference, dst


def reference_output(reference, x, scale, cond_norm):
    cond = None if cond_norm is None else torch.full((x.shape[0], 1), scale / cond_norm)
    with torch.no_grad():
        return reference(x, cond)[0]


def face(ffhq_small_dir, size):
    img = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0]), cv2.IMREAD_COLOR)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.


@pytest.mark.parametrize('case', sorted(CASES))
def test_converted_file_describes_its_network_and_matches_official(case, tmp_path):
    """With noise injection on (strength 0.3) and the same fixed noise maps fed to both networks."""
    out_size, blind, cond_norm, _ = CASES[case]
    reference, src = official_checkpoint(str(tmp_path), out_size, blind, noise_strength=0.3)
    dst = str(tmp_path / 'converted.pth')
    convert_file('gcfsr', src, dst)  # what the CLI runs (the CLI itself converts in the other tests)
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'params', 'network'}
    assert ckpt['network'] == {'type': 'GCFSR', 'out_size': out_size, 'num_style_feat': 16, 'channel_multiplier': 2,
                               'narrow': 1 / 32, 'min_feat_size': 16, 'blind': blind, 'positive_scales': False,
                               'factor_norm': out_size / 16}
    block, weights, key = network_config(arch='GCFSR', weights=dst)  # --arch GCFSR --weights dst
    net = build_network(block, weights, key)
    x = torch.rand(2, 3, out_size, out_size) * 2 - 1
    noise = noise_maps(reference, batch=2)
    cond = None if blind else torch.tensor([[16 / cond_norm], [8 / cond_norm]])  # the release's normalised input
    factor = None if blind else torch.tensor([[16.0], [8.0]])  # ours: the raw s, normalised by its factor_norm
    with torch.no_grad():
        expected = reference(x, cond, noise=noise)[0]
        diff = (net(x, factor, noise=noise) - expected).abs().max().item()
        # the paper's |sigma| reading of the same weights is another network: the block must be honoured
        paper = build_network(dict(block, positive_scales=True), weights, key)
        paper_diff = (paper(x, factor, noise=noise) - expected).abs().max().item()
    print(f'\n{case}: converted vs official max abs diff {diff:.2e} (|sigma| reading: {paper_diff:.2f})')
    assert diff < TOLERANCE and paper_diff > 0.1


def test_inference_paths_give_official_outputs(converted, ffhq_small_dir, monkeypatch):
    """``-opt <test option> --weights``, ``--arch GCFSR --weights`` and the modulation sweep, in process with the
    CLI's own parsing and restorer; the float outputs (before 8-bit rounding) are compared."""
    case, reference, dst = converted
    out_size, blind, cond_norm, option_file = CASES[case]
    captured = []
    to_image = runner.tensor_to_image
    monkeypatch.setattr(runner, 'tensor_to_image', lambda t, *a: captured.append(t.float()) or to_image(t, *a))
    img = face(ffhq_small_dir, out_size)
    x = prepare_face(img, out_size)[None]
    scale = 16
    controls = [] if blind else ['--upscale', str(scale)]
    for args in (['-opt', os.path.join(REPO, option_file), '--weights', dst], ['--arch', 'GCFSR', '--weights', dst]):
        parsed = cli.build_parser().parse_args(['-i', 'in', '-o', 'out', '--device', 'cpu'] + args + controls)
        captured.clear()
        cli.restorer_from_args(parsed).restore([img])
        diff = (captured[0] - reference_output(reference, x, scale, cond_norm)[0]).abs().max().item()
        print(f'\n{case} {args[0]}: max abs diff {diff:.2e}')
        assert diff < TOLERANCE
    if blind:
        return
    parsed = cli.build_parser().parse_args(['-i', 'in', '-o', 'out', '--device', 'cpu', '--arch', 'GCFSR',
                                            '--weights', dst])
    factors = [4, 12, cond_norm]
    captured.clear()
    modulation_strip(cli.restorer_from_args(parsed), img, factors, side=64)
    diffs = [(out[0] if out.ndim == 4 else out) - reference_output(reference, x, s, cond_norm)[0]
             for out, s in zip(captured, factors)]
    diff = max(d.abs().max().item() for d in diffs)
    print(f'{case} modulation sweep s = {factors}: max abs diff {diff:.2e}')
    assert len(captured) == len(factors) and diff < TOLERANCE


def to_uint8(tensor):
    """[-1, 1] RGB (3, h, w) -> uint8 BGR, as BasicSR's tensor2img writes test results."""
    rgb = ((tensor.clamp(-1, 1) + 1) / 2).numpy().transpose(1, 2, 0)[:, :, ::-1]
    return (rgb * 255.0).round().astype(np.uint8)


def test_test_pipeline_gives_official_outputs(converted, tmp_path, ffhq_small_lmdb, ffhq_small_dir, workdir):
    """``python -m facesr_arch.test -opt <the test option file>`` with only the data and the weights pointed at
    test files: the option file's paper-size network block is replaced by the converted file's own."""
    case, reference, dst = converted
    out_size, blind, cond_norm, option_file = CASES[case]
    opt = load_options(option_file)
    names = sorted(opt['datasets'])
    if blind:  # a fixed LQ / GT pair set, as scripts/make_testset.py writes it
        for sub in ('lq', 'gt'):
            os.makedirs(tmp_path / 'set' / sub)
        img = face(ffhq_small_dir, out_size)
        lq = cv2.resize(cv2.resize(img, (out_size // 8,) * 2, interpolation=cv2.INTER_AREA), (out_size,) * 2,
                        interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(tmp_path / 'set' / 'gt' / 'face.png'), (img * 255).round().astype(np.uint8))
        cv2.imwrite(str(tmp_path / 'set' / 'lq' / 'face.png'), (lq.clip(0, 1) * 255).round().astype(np.uint8))
        datasets = {names[0]: {'dataroot_lq': str(tmp_path / 'set' / 'lq'),
                               'dataroot_gt': str(tmp_path / 'set' / 'gt')}}
    else:
        datasets = {name: {'dataroot_gt': ffhq_small_lmdb, 'io_backend': {'type': 'lmdb'}, 'max_items': 1}
                    for name in names}
    opt = deep_update(opt, {'num_gpu': 0, 'datasets': datasets, 'path': {'pretrain_network_g': dst},
                            'val': {'metrics': None}})
    proc = run_module('facesr_arch.test', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    assert 'Using the network options' in proc.stderr

    from basicsr.data import build_dataset
    diffs = []
    for name in names:
        dataset_opt = dict(opt['datasets'][name], phase='test', scale=1)
        item = build_dataset(dataset_opt)[0]
        scale = None if blind else dataset_opt['degradation']['factors'][0]
        expected = to_uint8(reference_output(reference, item['lq'][None], scale, cond_norm)[0])
        folder = workdir / 'results' / opt['name'] / 'visualization' / dataset_opt['name']
        result = cv2.imread(str(folder / os.listdir(folder)[0]), cv2.IMREAD_COLOR)
        diffs.append(np.abs(result.astype(int) - expected.astype(int)))
    worst = max(d.max() for d in diffs)
    print(f'\n{case} test pipeline: max diff {worst} / 255 (8-bit results), mean {np.mean(diffs):.2e}')
    assert worst <= 1 and np.mean(diffs) < 1e-3

    # the same model class as the pipeline builds it (merged network block, optimised inference path), in
    # process: its float outputs before the 8-bit rounding
    from basicsr.models import build_model
    model_opt = deep_update(opt, {'is_train': False, 'dist': False, 'rank': 0, 'world_size': 1,
                                  'path': {'results_root': str(workdir), 'log': str(workdir),
                                           'visualization': str(workdir)}})
    model = build_model(model_opt)
    for name in names:
        item = build_dataset(dict(opt['datasets'][name], phase='test', scale=1))[0]
        model.feed_data({k: v[None] for k, v in item.items() if k in ('lq', 'gt', 'factor')})
        model.test()
        scale = None if blind else opt['datasets'][name]['degradation']['factors'][0]
        diff = (model.output - reference_output(reference, item['lq'][None], scale, cond_norm)).abs().max().item()
        print(f'{case} test pipeline model, {name}: max abs diff {diff:.2e}')
        assert diff < TOLERANCE


@pytest.mark.parametrize('converted', ['512'], indirect=True)
def test_cli_end_to_end_without_flags(converted, tmp_path, ffhq_small_dir, capsys):
    """The real commands on a converted 512 px release (factor_norm 32): inference with ``-opt``, the sweep."""
    _, reference, dst = converted
    os.makedirs(tmp_path / 'in')
    img = face(ffhq_small_dir, 512)
    lr = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / 'in' / 'face.png'), (img * 255).round().astype(np.uint8))
    option = os.path.join(REPO, CASES['512'][3])
    run_script('inference.py', ['-opt', option, '--weights', dst, '-i', str(tmp_path / 'in'), '-o',
                                str(tmp_path / 'out'), '--upscale', '8', '--device', 'cpu', '--no-progress'],
               cwd=str(tmp_path))
    img8 = cv2.imread(str(tmp_path / 'in' / 'face.png'), cv2.IMREAD_COLOR).astype(np.float32) / 255.
    expected = to_uint8(reference_output(reference, prepare_face(img8, 512)[None], 8, 32)[0])
    result = cv2.imread(str(tmp_path / 'out' / 'face.png'), cv2.IMREAD_COLOR)
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    cv2.imwrite(str(tmp_path / 'lr.png'), (lr * 255).round().astype(np.uint8))
    run_script('modulation_sweep.py', ['-opt', option, '--weights', dst, '-i', str(tmp_path / 'lr.png'), '-o',
                                       str(tmp_path / 'sweep.png'), '--factors', '4', '32', '--device', 'cpu'],
               cwd=str(tmp_path))
    assert cv2.imread(str(tmp_path / 'sweep.png')).shape[1] >= 3 * 256  # input + two factors
    # default factors: the paper's up to the model's factor_norm (4, 8, 16, 32 here); beyond it: one clear error
    modulation_sweep.main(['--weights', dst, '--arch', 'GCFSR', '-i', str(tmp_path / 'lr.png'), '-o',
                           str(tmp_path / 'default.png'), '--tile', '32', '--device', 'cpu'])
    assert cv2.imread(str(tmp_path / 'default.png')).shape[1] == 5 * 32 + 4 * 4  # input + 4 factors, 4 px gaps
    assert modulation_sweep.main(['--weights', dst, '--arch', 'GCFSR', '-i', str(tmp_path / 'lr.png'), '-o',
                                  str(tmp_path / 'bad.png'), '--factors', '64', '--device', 'cpu']) == 2
    assert 'outside the range this model was trained on, [4, 32]' in capsys.readouterr().err
