"""Batch inference end to end on real faces with tiny random checkpoints of every method: aligned folders,
LMDB, whole photos with a random-weight detector, robustness, reruns; alignment / paste-back math; figures."""
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
import yaml

import facesr_arch  # noqa: F401  (before basicsr: torchvision alias)
from basicsr.utils.registry import ARCH_REGISTRY
from facesr_arch.data.face_degraded_dataset import to_tensor
from facesr_arch.data.preprocess import prepare_face, tensor_to_image
from facesr_arch.cli import compare_grid
from facesr_arch.cli import inference as cli
from facesr_arch.cli import modulation_sweep
from facesr_arch.inference.figures import CMP_MIN_SIDE, comparison_grid, tile_scores
from facesr_arch.inference.specs import Controls, gcfsr_condition
from facesr_arch.inference.whole_image import (FFHQ_TEMPLATE_512, alignment, crop_face, native_face_size,
                                               paste_faces)
from helpers import run_script


TINY_PARSER = {'type': 'FaceParseNet', 'in_size': 64, 'min_feat_size': 32, 'base_channels': 8,
               'channel_range': [8, 8], 'num_res_blocks': 1}
# network options, extra CLI arguments and output side per method
TINY = {
    'GCFSR': ({'out_size': 64, 'narrow': 0.0625, 'num_style_feat': 32}, [], 64),
    'CFGPFSSR': ({'out_size': 128, 'in_size': 8, 'num_style_feat': 16, 'narrow': 1 / 32, 'num_rrdb_feat': 8,
                  'num_rrdb_block': 1, 'num_rrdb_grow': 4, 'prior_num_mlp': 1,
                  'prior_path': 'weights/absent_prior.pth', 'parser_opt': dict(TINY_PARSER, weights_path=None)},
                 [], 128),
    'MPCNet': ({'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'gan_num_mlp': 1, 'num_latent_mlp': 1,
                'parser_opt': {'base_channels': 8, 'channel_range': [8, 8], 'num_res_blocks': 1}}, [], 32),
    'PVFR': ({'out_size': 32, 'num_style_feat': 16, 'narrow': 1 / 32, 'num_mlp': 1}, [], 32),
    'WNet': ({'num_feat': 8, 'num_res_blocks': 1, 'hourglass_depth': 2, 'upscale_stages': 1, 'num_levels': 2,
              'num_heads': 2}, ['--size', '32', '--upscale', '4'], 32),
}


def write_checkpoint(folder, arch, options, seed=0):
    """A BasicSR-style checkpoint ({'params', 'params_ema'}) of a tiny random network."""
    torch.manual_seed(seed)
    build = {k: v for k, v in options.items() if k != 'prior_path'}
    state = ARCH_REGISTRY.get(arch)(**build).state_dict()
    torch.manual_seed(seed + 1)
    other = ARCH_REGISTRY.get(arch)(**build).state_dict()
    path = os.path.join(folder, f'{arch}.pth')
    torch.save({'params': other, 'params_ema': state}, path)
    return path


def write_option_file(folder, arch, options, weights):
    """A test option file naming the network and its checkpoint, like options/test/*."""
    path = os.path.join(folder, f'test_{arch}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump({'name': f'tiny_{arch}', 'model_type': 'x', 'network_g': {'type': arch, **options},
                        'path': {'pretrain_network_g': weights, 'param_key_g': 'params_ema'}}, f)
    return path


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('ckpt'))
    return {arch: write_checkpoint(folder, arch, options) for arch, (options, _, _) in TINY.items()}


@pytest.fixture
def messy_folder(shared_data, tmp_path):
    """Three real faces, a gray one, RGBA, 16-bit, a corrupt file, a too-small and a non-square image."""
    folder = tmp_path / 'inputs'
    folder.mkdir()
    real = sorted(os.listdir(os.path.join(shared_data, 'real_lq')))[:3]
    for name in real:
        shutil.copy(os.path.join(shared_data, 'real_lq', name), folder / name)
    gray_name = sorted(os.listdir(os.path.join(shared_data, 'real_lq_gray')))[0]
    gray = cv2.imread(os.path.join(shared_data, 'real_lq_gray', gray_name), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(folder / 'gray.png'), gray)
    face = cv2.imread(str(folder / real[0]))
    cv2.imwrite(str(folder / 'rgba.png'), np.concatenate([face, np.full_like(face[..., :1], 200)], axis=2))
    cv2.imwrite(str(folder / 'deep16.png'), face.astype(np.uint16) * 257)
    (folder / 'corrupt.png').write_bytes(b'\x89PNG not really')
    cv2.imwrite(str(folder / 'tiny.png'), face[:4, :4])
    cv2.imwrite(str(folder / 'wide.png'), face[:100, :300])
    (folder / 'notes.txt').write_text('not an image')
    return str(folder)


def outputs(folder):
    """Files of an inference output folder, less its manifest."""
    return sorted(n for n in os.listdir(folder) if not n.startswith('.') and n != 'inference_manifest.json')


def test_cli_aligned_folder_robust_and_rerun(checkpoints, messy_folder, tmp_path):
    options, _, side = TINY['GCFSR']
    net_opts = sum((['--net-opt', f'{k}={v}'] for k, v in options.items()), [])
    args = ['--arch', 'GCFSR', '--weights', checkpoints['GCFSR'], *net_opts, '-i', messy_folder, '--device', 'cpu',
            '--batch-size', '4', '--no-progress', '--upscale', '8']
    out = str(tmp_path / 'out')
    first = run_script('inference.py', args + ['-o', out], cwd=str(tmp_path))
    assert outputs(out) == ['cf_0143.png', 'cf_0240.png', 'cf_0342.png', 'deep16.png', 'gray.png', 'rgba.png']
    assert all(cv2.imread(os.path.join(out, n)).shape == (side, side, 3) for n in outputs(out))
    for name, reason in (('corrupt', 'not a decodable image'), ('tiny', 'too small'), ('wide', 'not a square')):
        assert f'skipped {name}:' in first.stdout and reason in first.stdout
    assert 'Done: 6 image(s)' in first.stdout
    stamps = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in outputs(out)}
    rerun = run_script('inference.py', args + ['-o', out], cwd=str(tmp_path))
    assert 'Done: 0 image(s)' in rerun.stdout and 'already finished: 6' in rerun.stdout
    assert stamps == {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in outputs(out)}
    refused = run_script('inference.py', args + ['-o', messy_folder], cwd=str(tmp_path), check=False)
    assert refused.returncode != 0 and 'is the input folder' in refused.stderr


@pytest.mark.parametrize('arch', ['CFGPFSSR', 'MPCNet', 'PVFR', 'WNet'])
def test_every_method_from_option_file(arch, checkpoints, shared_data, tmp_path, capsys):
    options, extra, side = TINY[arch]
    opt = write_option_file(str(tmp_path), arch, options, checkpoints[arch])
    face = os.path.join(shared_data, 'real_lq', 'cf_0143.png')
    out = str(tmp_path / 'out')
    assert cli.main(['-opt', opt, '-i', face, '-o', out, '--device', 'cpu', '--no-progress', *extra]) == 0
    assert outputs(out) == ['cf_0143.png']
    assert cv2.imread(os.path.join(out, 'cf_0143.png')).shape == (side, side, 3)
    assert f'{arch}: 1 input(s)' in capsys.readouterr().out


def test_lmdb_input_batches_and_param_key(checkpoints, shared_data, tmp_path):
    from facesr_arch.data.lmdb_build import create_lmdb
    faces = tmp_path / 'faces'
    faces.mkdir()
    for name in sorted(os.listdir(os.path.join(shared_data, 'real_lq')))[:3]:
        shutil.copy(os.path.join(shared_data, 'real_lq', name), faces / name)
    lmdb_path = str(tmp_path / 'faces.lmdb')
    create_lmdb(str(faces), lmdb_path)
    options, _, _ = TINY['GCFSR']
    opt = write_option_file(str(tmp_path), 'GCFSR', options, checkpoints['GCFSR'])
    common = ['-opt', opt, '-i', lmdb_path, '--device', 'cpu', '--no-progress', '--upscale', '8']
    torch.manual_seed(0)
    assert cli.main(common + ['-o', str(tmp_path / 'ema'), '--batch-size', '2']) == 0
    torch.manual_seed(0)
    assert cli.main(common + ['-o', str(tmp_path / 'ema1'), '--batch-size', '1']) == 0
    torch.manual_seed(0)
    assert cli.main(common + ['-o', str(tmp_path / 'raw'), '--param-key', 'params']) == 0
    names = outputs(str(tmp_path / 'ema'))
    assert names == outputs(str(faces))
    ema, raw = (cv2.imread(str(tmp_path / sub / names[0])).astype(int) for sub in ('ema', 'raw'))
    assert np.abs(ema - raw).max() > 0  # the params entry differs from params_ema
    assert outputs(str(tmp_path / 'ema1')) == names


def test_whole_image_layout_with_random_detector(checkpoints, shared_data, tmp_path, capsys):
    from facexlib.detection.retinaface import RetinaFace
    torch.manual_seed(0)
    detector = str(tmp_path / 'retinaface_mobile.pth')
    torch.save({f'module.{k}': v for k, v in RetinaFace('mobile0.25', device='cpu').state_dict().items()}, detector)
    photos = tmp_path / 'photos'
    photos.mkdir()
    face = cv2.imread(os.path.join(shared_data, 'real_lq', 'cf_0240.png'))
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[40:200, 100:260] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(photos / 'group.png'), canvas)
    (photos / 'broken.jpg').write_bytes(b'\xff\xd8 truncated')
    options, _, side = TINY['PVFR']
    opt = write_option_file(str(tmp_path), 'PVFR', options, checkpoints['PVFR'])
    out = str(tmp_path / 'out')
    args = ['-opt', opt, '-i', str(photos), '-o', out, '--device', 'cpu', '--no-progress', '--whole-image',
            '--detector', detector, '--detector-net', 'mobile0.25', '--det-threshold', '0.0', '--max-faces', '2',
            '--outscale', '2', '--batch-size', '2']
    assert cli.main(args) == 0
    assert outputs(out) == ['cmp', 'cropped_faces', 'restored_faces', 'restored_imgs']
    assert outputs(os.path.join(out, 'restored_imgs')) == ['group.png']
    assert cv2.imread(os.path.join(out, 'restored_imgs', 'group.png')).shape == (480, 640, 3)
    restored = outputs(os.path.join(out, 'restored_faces'))
    assert restored == outputs(os.path.join(out, 'cropped_faces')) == outputs(os.path.join(out, 'cmp'))
    assert 1 <= len(restored) <= 2 and all(n.startswith('group_') for n in restored)
    for name in restored:
        assert cv2.imread(os.path.join(out, 'restored_faces', name)).shape == (side, side, 3)
        tile = max(side, CMP_MIN_SIDE)  # labelled input | restored, readable at any face size
        band = max(16, int(tile * 0.12))
        assert cv2.imread(os.path.join(out, 'cmp', name)).shape == (band + 4 + tile, 2 * tile + 4, 3)
    capsys.readouterr()
    assert cli.main(args[:-13] + ['--whole-image', '--detector', str(tmp_path / 'missing.pth'), '--overwrite']) == 2
    assert 'inference: error: Weight file for RetinaFace' in capsys.readouterr().err


def test_align_crop_and_paste_back_with_known_landmarks(shared_data):
    face = cv2.imread(os.path.join(shared_data, 'real_lq', 'cf_0342.png'))  # FFHQ-aligned at 512 px
    canvas = np.full((400, 500, 3), 30, np.uint8)
    canvas[50:306, 150:406] = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    landmarks = FFHQ_TEMPLATE_512 * 0.5 + np.array([150, 50], np.float32)
    assert native_face_size(landmarks) == pytest.approx(256, abs=0.5)
    matrix = alignment(landmarks, 256)
    np.testing.assert_allclose(matrix, [[1, 0, -150], [0, 1, -50]], atol=1e-3)
    crop = crop_face(canvas, matrix, 256)
    assert np.abs(crop.astype(int) - canvas[50:306, 150:406]).mean() < 1
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 2] = 255
    pasted = paste_faces(canvas, [red], [matrix], [256], scale=2)
    assert pasted.shape == (800, 1000, 3)
    assert tuple(pasted[356, 556]) == (0, 0, 255)  # centre of the face region, photo scaled by 2
    assert tuple(pasted[20, 20]) == (30, 30, 30)  # background untouched
    edge = pasted[100 + 2, 556].astype(int)  # inside the feathered border: a blend
    assert 0 < edge[2] < 255 and edge[0] > 0


def test_preprocessing_is_the_datasets(shared_data):
    img = cv2.imread(os.path.join(shared_data, 'real_lq', 'cf_0143.png')).astype(np.float32) / 255
    x = prepare_face(img, 512)
    torch.testing.assert_close(x, to_tensor(img))
    assert prepare_face(img, 128, lr_size=32).shape == (3, 128, 128)
    np.testing.assert_array_equal(tensor_to_image(x), cv2.imread(os.path.join(shared_data, 'real_lq', 'cf_0143.png')))


def test_gcfsr_condition_derivation():
    class Net:
        blind, out_size, factor_norm = False, 1024, 64.0
    assert gcfsr_condition(Net, 64, Controls()) == 16  # the raw factor s: the network divides it by factor_norm
    assert gcfsr_condition(Net, 1024, Controls()) == 4  # clipped to the trained range
    assert gcfsr_condition(Net, 64, Controls(strength=40)) == 40
    assert gcfsr_condition(Net, 1024, Controls(upscale=32)) == 32
    Net.out_size, Net.factor_norm = 512, 32.0  # the official 512 px model: s / 32, trained up to 32x
    assert gcfsr_condition(Net, 64, Controls()) == 8
    assert gcfsr_condition(Net, 16, Controls()) == 32  # 64x: clipped to the trained range
    Net.blind = True
    assert gcfsr_condition(Net, 64, Controls()) is None


def test_modulation_strip_and_compare_grid(checkpoints, shared_data, tmp_path):
    options, _, _ = TINY['GCFSR']
    opt = write_option_file(str(tmp_path), 'GCFSR', options, checkpoints['GCFSR'])
    face = os.path.join(shared_data, 'real_lq', 'cf_0143.png')
    strip_path = str(tmp_path / 'strip.png')
    torch.manual_seed(0)
    modulation_sweep.main(['-opt', opt, '-i', face, '-o', strip_path, '--factors', '4', '64', '--tile', '64',
                           '--device', 'cpu'])
    strip = cv2.imread(strip_path)
    assert strip.shape[1] == 3 * 64 + 2 * 4 and strip.shape[0] > 64
    assert np.abs(strip[-64:, 68:132].astype(int) - strip[-64:, 136:].astype(int)).max() > 0  # s changes output

    results = tmp_path / 'gcfsr'
    results.mkdir()
    shutil.copy(face, results / 'cf_0143.png')
    parsing = tmp_path / 'parsing'
    parsing.mkdir()
    cv2.imwrite(str(parsing / 'cf_0143.png'), np.full((32, 32), 17, np.uint8))
    grid_path = str(tmp_path / 'grid.png')
    assert compare_grid.main(['--lr', os.path.join(shared_data, 'real_lq'), '--method', f'GCFSR={results}',
                              '--gt', os.path.join(shared_data, 'real_lq'), '--names', 'cf_0143', 'cf_0240',
                              '--parsing', str(parsing), '--tile', '64', '-o', grid_path]) == 0
    grid = cv2.imread(grid_path)
    band = max(16, int(64 * 0.12))
    row = 64 + band  # tile and its caption band
    assert grid.shape == (band + 2 * row + 2 * 4, band + 3 * 64 + 3 * 4, 3)
    lr_tile = grid[band + 4:band + 68, band + 4:band + 68]
    corner = lr_tile[:5, -5:]  # the parsing inset, top right: one flat colour (hair) unlike the photo
    assert np.all(corner == corner[0, 0]) and np.abs(corner[0, 0].astype(int) - lr_tile[-5, 5]).max() > 20
    missing_tile = grid[band + 4 + row + 4:band + 4 + row + 4 + 64, band + 72:band + 136]  # cf_0240: no GCFSR
    assert np.all(missing_tile == 128)


def _grid_folders(ffhq_small_dir, root):
    """LR 16 px, bicubic 64 px, a 128 px 'method' (the GT itself, blurred) and the 64 px GT of two faces."""
    folders = {name: os.path.join(root, name) for name in ('lr', 'bicubic', 'big', 'gt')}
    for folder in folders.values():
        os.makedirs(folder)
    names = sorted(os.path.splitext(n)[0] for n in os.listdir(ffhq_small_dir))[:2]
    for name in names:
        hq = cv2.imread(os.path.join(ffhq_small_dir, f'{name}.png'))
        gt = cv2.resize(hq, (64, 64), interpolation=cv2.INTER_AREA)
        lr = cv2.resize(gt, (16, 16), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(folders['gt'], f'{name}.png'), gt)
        cv2.imwrite(os.path.join(folders['lr'], f'{name}.png'), lr)
        cv2.imwrite(os.path.join(folders['bicubic'], f'{name}.png'), cv2.resize(lr, (64, 64), interpolation=cv2.INTER_CUBIC))
        cv2.imwrite(os.path.join(folders['big'], f'{name}.png'), cv2.GaussianBlur(hq, (5, 5), 0))
    return folders, names


def test_compare_grid_zoom_boxes_in_place_scores_and_pixelated_lr(ffhq_small_dir, tmp_path, capsys):
    """The zoom box and its inset sit at the same pixels of every tile (outputs of 16, 64 and 128 px alike);
    the LR tile is nearest-enlarged (4x4 blocks) unlike the bicubic one; the captions are PSNR-Y / SSIM-Y."""
    from basicsr.metrics import calculate_psnr
    folders, names = _grid_folders(ffhq_small_dir, str(tmp_path))
    columns = [('LR', folders['lr']), ('Bicubic', folders['bicubic']), ('Big', folders['big']), ('GT', folders['gt'])]
    side, pad = 64, 4
    grid, missing = comparison_grid(columns, names, side=side, gt_dir=folders['gt'], zoom=(16, 24, 32, 12),
                                    row_labels=False)
    assert not missing
    band = max(16, int(side * 0.12))
    assert grid.shape == (band + 2 * (side + band + pad), 4 * side + 3 * pad, 3)
    for r in range(2):
        top = band + pad + r * (side + band + pad)
        tiles = [grid[top:top + side, c * (side + pad):c * (side + pad) + side] for c in range(4)]
        red = [np.all(t == (0, 0, 255), axis=2) for t in tiles]  # box outline and inset border, drawn pure red
        assert red[0].sum() > 4 * 32
        for mask in red[1:]:
            np.testing.assert_array_equal(mask, red[0])
        ys, xs = np.nonzero(red[0][:40])  # the box itself, above the 12 px high inset: 16,24 + 32x12 of 64
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == (16, 24, 47, 35)
        lr_top, bicubic_top = tiles[0][:20].astype(int), tiles[1][:20].astype(int)
        blocks = lr_top.reshape(5, 4, 16, 4, 3)
        assert np.all(blocks == blocks[:, :1, :, :1]), 'LR tile is not nearest-enlarged'
        assert np.abs(bicubic_top - lr_top).mean() > 2, 'LR and bicubic tiles look alike'
    bicubic = cv2.imread(os.path.join(folders['bicubic'], f'{names[0]}.png'))
    gt = cv2.imread(os.path.join(folders['gt'], f'{names[0]}.png'))
    expected = calculate_psnr(bicubic, gt, crop_border=0, test_y_channel=True)
    caption = tile_scores(bicubic, gt)
    assert caption.startswith(f'{expected:.2f} dB / 0.') and tile_scores(gt[:16, :16], gt) is None
    out = str(tmp_path / 'grid.png')
    assert compare_grid.main(['--lr', folders['lr'], '--method', f'Bicubic={folders["bicubic"]}', '--gt', folders['gt'],
                              '--zoom', '16,24,200,12', '-o', out]) == 0  # clipped to the image
    assert compare_grid.main(['--lr', folders['lr'], '--method', f'Bicubic={folders["bicubic"]}', '--gt', folders['gt'],
                              '--zoom', '16,24,32', '-o', out]) == 2
    assert 'compare_grid: error: --zoom takes x,y,w,h' in capsys.readouterr().err


def test_compare_grid_component_boxes_give_eye_and_mouth_insets(ffhq_small_dir, tmp_path):
    folders, names = _grid_folders(ffhq_small_dir, str(tmp_path))
    boxes = {names[0]: {'left_eye': [18, 28, 28, 34], 'right_eye': [36, 28, 46, 34], 'mouth': [24, 44, 40, 52]}}
    grid, _ = comparison_grid([('LR', folders['lr']), ('Big', folders['big'])], names[:1], side=64,
                              gt_dir=folders['gt'], component_boxes_by_stem=boxes, row_labels=False)
    band = max(16, int(64 * 0.12))
    tiles = [grid[band + 4:band + 68, c * 68:c * 68 + 64] for c in range(2)]
    for color in ((0, 0, 255), (255, 160, 0)):  # eyes red, mouth blue: same pixels on both tiles
        masks = [np.all(t == color, axis=2) for t in tiles]
        assert masks[0].sum() > 20
        np.testing.assert_array_equal(masks[0], masks[1])


def test_optimised_reference_and_autocast_paths_agree(checkpoints, shared_data, tmp_path):
    """The default optimised path (folded weight scales, channels_last) writes what ``--no-optimize`` writes,
    within one grey level; ``--autocast`` (bf16 on CPU) stays within the README's tolerance of fp32."""
    options, _, side = TINY['GCFSR']  # StyleGAN2 parts hold 5-D modulated weights next to 4-D kernels
    opt = write_option_file(str(tmp_path), 'GCFSR', options, checkpoints['GCFSR'])
    face = os.path.join(shared_data, 'real_lq', sorted(os.listdir(os.path.join(shared_data, 'real_lq')))[0])
    images = {}
    for name, flags in (('optimised', []), ('reference', ['--no-optimize']), ('autocast', ['--autocast'])):
        out = str(tmp_path / name)
        assert cli.main(['-opt', opt, '-i', face, '-o', out, '--device', 'cpu', '--no-progress', '--upscale', '8']
                        + flags) == 0
        images[name] = cv2.imread(os.path.join(out, outputs(out)[0]))
    assert images['reference'].shape == (side, side, 3)
    assert np.abs(images['optimised'].astype(int) - images['reference']).max() <= 1
    assert cv2.PSNR(images['autocast'], images['reference']) > 40


def test_compiled_path_matches_eager(shared_data, tmp_path):
    """``--compile`` (torch.compile of the optimised network) writes what the eager path writes.

    The network runs without noise injection: inductor draws random numbers with its own generator, so a
    noisy GCFSR differs between the two paths by its noise, not by compilation (--seed fixes each path alone).
    """
    options = {**TINY['GCFSR'][0], 'use_noise': False}
    opt = write_option_file(str(tmp_path), 'GCFSR', options, write_checkpoint(str(tmp_path), 'GCFSR', options))
    face = os.path.join(shared_data, 'real_lq', sorted(os.listdir(os.path.join(shared_data, 'real_lq')))[1])
    images = {}
    for name, flags in (('eager', []), ('compiled', ['--compile'])):
        out = str(tmp_path / name)
        assert cli.main(['-opt', opt, '-i', face, '-o', out, '--device', 'cpu', '--no-progress', '--upscale', '8']
                        + flags) == 0
        images[name] = cv2.imread(os.path.join(out, outputs(out)[0])).astype(int)
    assert np.abs(images['compiled'] - images['eager']).max() <= 1


def test_compiled_network_that_disagrees_with_eager_is_dropped(tmp_path, monkeypatch, capsys):
    """A compiled network whose first-batch output differs from the eager one is not used (one warning)."""
    from facesr_arch.inference.loading import build_network
    from facesr_arch.inference.runner import FaceRestorer
    from facesr_arch.inference.specs import Controls, get_spec
    options, _, _ = TINY['GCFSR']
    block = {'type': 'GCFSR', **options, 'use_noise': False}
    weights = write_checkpoint(str(tmp_path), 'GCFSR', {**options, 'use_noise': False})

    class WronglyCompiled(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.blind = net, net.blind

        def forward(self, *args):
            return self.net(*args) + 0.5

    monkeypatch.setattr(torch, 'compile', WronglyCompiled)
    face = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    eager = FaceRestorer(build_network(block, weights), get_spec('GCFSR'),
                         controls=Controls(upscale=8)).restore([face])[0]
    restorer = FaceRestorer(build_network(block, weights), get_spec('GCFSR'),
                            controls=Controls(upscale=8), compile_net=True)
    assert np.array_equal(restorer.restore([face])[0], eager)
    assert '--compile dropped' in capsys.readouterr().out
