"""The papers' test protocols: every one builds, the chosen degradation readings land on the papers' Input
rows on real faces, key lists are deterministic, and a test set overlapping training is refused."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import facesr_arch  # noqa: F401
from facesr_arch.data.testset_calibration import calibrate, format_rows, input_scores
from facesr_arch.data.testset_keys import (KEY_LISTS, check_no_overlap, draw_key_list, is_derived, key_list_path,
                                           normalise, protocol_keys, read_key_file, resolve_test_keys)
from facesr_arch.data.testset_protocols import PROTOCOLS, get_protocol, make_pair
from helpers import REPO, SHARED_DATA


@pytest.fixture(scope='module')
def face(ffhq_dir):
    return cv2.imread(os.path.join(ffhq_dir, '00002.png')).astype(np.float32) / 255.0


@pytest.mark.parametrize('name', sorted(PROTOCOLS))
def test_every_protocol_builds_a_pair_per_subset(name, face):
    recipe = get_protocol(name)
    assert recipe['paper'] and recipe['tables'] and recipe['num_images'] > 0 and recipe['subsets']
    for subset in recipe['subsets'].values():
        gt, lq, record = make_pair(face, subset, np.random.default_rng([0, 0]), recipe['reference'])
        assert lq.dtype == np.uint8 and lq.ndim == 3 and isinstance(record, dict)
        if recipe['reference']:
            size = subset['gt_size']
            assert gt.shape == (size, size, 3) and size % lq.shape[0] == 0
            assert 10 < input_scores(gt, lq, recipe['metric'], ssim=False)[0] < 45
        else:
            assert gt is None and lq.shape[:2] == (subset['gt_size'], ) * 2
        if recipe['keys'] and not is_derived(recipe['keys']):  # a derived list is made from the user's files
            assert len(protocol_keys(recipe['keys'])) == recipe['num_images']


def test_chosen_readings_land_near_the_papers_input_rows(ffhq_dir):
    """The real faces x 2 seeds: each subset's mean Input PSNR within 1.5 dB of the paper's row (1.0 dB over
    3 seeds in the calibration, looser for this smaller sample), except Table 4's sweep, which the
    calibration documents 0.7-1.6 dB above the paper under every reading the text allows."""
    names = ['mpcnet_celeba_test', 'pvfr_fsr_x4', 'wnet_celeba_mode1']
    rows = calibrate(ffhq_dir, names, seeds=2)
    print(format_rows(rows))
    assert len(rows) == 1 + 1 + 2
    # without the shared FFHQ faces (a fresh clone) the faces are crops of one portrait, with other detail than FFHQ
    # faces: their Input PSNR sits up to about 2 dB from the paper's rows under the same readings (W-Net x4: -1.88)
    tolerance = 1.5 if os.path.isdir(SHARED_DATA) else 3.0
    for row in rows:
        assert abs(row['diff']) < tolerance, row


def test_mpcnet_decimation_reading_beats_bicubic_on_table_3(ffhq_dir):
    """The evidence for the standard-downsampler reading, re-measured: with bicubic resizing instead of the
    upper-left decimation (within 1.5 dB above), Table 3's Input row is missed by more than 2 dB."""
    bicubic, = calibrate(ffhq_dir, ['mpcnet_celeba_test'], seeds=2, overrides={'mpcnet_blind': {'downsampler': 'cubic'}})
    assert bicubic['diff'] > 2.0


def test_key_lists_are_the_documented_draws():
    for name in [n for n in KEY_LISTS if not is_derived(n)]:
        keys = read_key_file(key_list_path(name))
        assert keys == draw_key_list(name) and len(set(keys)) == len(keys) == KEY_LISTS[name][2][1] - \
            KEY_LISTS[name][2][0]
    for recipe in PROTOCOLS.values():
        assert recipe['keys'] is None or recipe['keys'] in KEY_LISTS
    test, parser = set(draw_key_list('mpcnet_celeba_test')), set(draw_key_list('mpcnet_parser_train'))
    assert not test & parser and len(test) == 3000 and len(parser) == 24000
    assert set(draw_key_list('pvfr_fsr_x4')) <= set(draw_key_list('pvfr_celeba_test'))
    assert set(draw_key_list('pvfr_runtime')) < set(draw_key_list('pvfr_celeba_test'))
    assert draw_key_list('pvfr_runtime') != draw_key_list('pvfr_celeba_test')[:200]  # drawn, not the first 200


def test_keys_match_across_zero_padding_and_overlap_is_refused():
    assert normalise('00012') == normalise('12.png') == normalise('/data/000012.jpg') == '12'
    recipe = get_protocol('mpcnet_celeba_test')
    available = [str(int(k)) for k in draw_key_list('mpcnet_celeba_test')][:50] + ['extra']
    with pytest.raises(KeyError, match='2950 of the 3000 faces'):
        resolve_test_keys(available, recipe, 'paper')
    with pytest.raises(ValueError, match='shares 1 faces with training'):
        check_no_overlap(['00003', '00004'], ['3'], 'training')
    with pytest.raises(ValueError, match='no key list'):
        resolve_test_keys(available, get_protocol('wnet_helen'), 'paper')
    # the protocol's own exclusion (MPCNet's parser-training faces) applies to any user list
    parser_face = draw_key_list('mpcnet_parser_train')[0]
    with pytest.raises(ValueError, match='mpcnet_parser_train'):
        resolve_test_keys([parser_face], recipe, None)


def test_make_testset_with_keys_and_exclusion(ffhq_small_dir, tmp_path):
    from facesr_arch.data.testset_build import make_testset
    keys = tmp_path / 'keys.txt'
    keys.write_text('# two faces\n3\n00001\n')
    path = make_testset(ffhq_small_dir, str(tmp_path / 'out'), 'wnet_helen', keys=str(keys))
    assert sorted(os.listdir(tmp_path / 'out' / 'wnet_helen' / 'x8' / 'lq')) == ['00001.png', '00003.png']
    assert '"keys": "' in open(path).read()
    script = os.path.join(REPO, 'scripts', 'make_testset.py')
    result = subprocess.run([sys.executable, script, '--input', ffhq_small_dir, '--output', str(tmp_path / 'o2'),
                             '--protocol', 'wnet_helen', '--keys', str(keys), '--exclude-keys', ffhq_small_dir],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 2 and not os.path.exists(tmp_path / 'o2' / 'wnet_helen')
    assert result.stderr.strip().startswith('make_testset: error: The test set shares 2 faces with')


def test_real_image_protocol_writes_resized_lqs_only(tmp_path, ffhq_small_dir):
    from facesr_arch.data.testset_build import make_testset
    make_testset(ffhq_small_dir, str(tmp_path), 'cfgpfssr_real', max_images=2)
    root = tmp_path / 'cfgpfssr_real' / 'real'
    assert os.listdir(root) == ['lq'] and len(os.listdir(root / 'lq')) == 2
    assert cv2.imread(str(root / 'lq' / '00000.png')).shape == (64, 64, 3)


def test_mpcnet_protocols_take_ffhq_faces_with_numeric_names(ffhq_small_dir, tmp_path, capsys):
    """FFHQ's 00000.png is not CelebA-HQ face 0: with --dataset ffhq the parser-training check (a CelebA-HQ list)
    does not apply; by default (CelebA-HQ) the refusal names the option; the CelebA-HQ check itself stays."""
    recipe = get_protocol('mpcnet_celeba_test')
    faces = sorted(os.path.splitext(n)[0] for n in os.listdir(ffhq_small_dir))
    parser = {normalise(k) for k in draw_key_list('mpcnet_parser_train')}
    assert any(normalise(face) in parser for face in faces)  # the collision the option resolves
    with pytest.raises(ValueError, match=r'mpcnet_parser_train.*--dataset NAME \(e\.g\. --dataset ffhq\)'):
        resolve_test_keys(faces, recipe, None)
    with pytest.raises(ValueError, match='mpcnet_parser_train'):
        resolve_test_keys(faces, recipe, None, dataset='CelebA-HQ')
    assert resolve_test_keys(faces, recipe, None, dataset='ffhq') == (faces, 'every input image')
    with pytest.raises(ValueError, match='names celeba_hq faces, but the input is --dataset ffhq'):
        resolve_test_keys(faces, recipe, 'paper', dataset='ffhq')
    with pytest.raises(ValueError, match='give a data set name'):
        resolve_test_keys(faces, recipe, None, dataset='ff hq')
    from facesr_arch.cli.make_testset import main
    args = ['--input', ffhq_small_dir, '--output', str(tmp_path), '--protocol', 'mpcnet_scale_sweep',
            '--max-images', '1']
    assert main(args) == 2
    assert '--dataset NAME' in capsys.readouterr().err
    assert main(args + ['--dataset', 'ffhq']) == 0
    assert os.listdir(tmp_path / 'mpcnet_scale_sweep' / 'x4' / 'lq') == [f'{faces[0]}.png']


def _fake_celeba_lists(folder):
    """CelebA-HQ faces 0..9 from CelebA files whose partition is: HQ 0-2 test, 3-6 validation, 7-9 train."""
    partition = {0: 2, 1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1, 7: 0, 8: 0, 9: 0}
    celeba_file = {hq: f'{182638 + 7 * hq:06d}.jpg' for hq in partition}
    image_list = folder / 'image_list.txt'
    image_list.write_text('idx         orig_idx    orig_file   proc_md5                          final_md5\n' + ''.join(
        f'{hq:<11d} {int(celeba_file[hq][:6]) - 1:<11d} {celeba_file[hq]}  {"0" * 32}  {"f" * 32}\n'
        for hq in partition))
    mapping = folder / 'CelebA-HQ-to-CelebA-mapping.txt'
    mapping.write_text('idx\torig_idx\torig_file\n' + ''.join(
        f'{hq}\t{int(celeba_file[hq][:6]) - 1}\t{celeba_file[hq]}\n' for hq in partition))
    eval_partition = folder / 'list_eval_partition.txt'
    eval_partition.write_text('000001.jpg 0\n' + ''.join(f'{celeba_file[hq]} {p}\n' for hq, p in partition.items()))
    return str(image_list), str(mapping), str(eval_partition)


def test_celeba_test_is_derived_from_the_partition_lists(tmp_path, monkeypatch):
    """GCFSR's CelebA-Test: the CelebA-HQ faces of CelebA's test partition; fewer than wanted: filled from the
    validation partition by a seeded draw; more: a seeded draw of them. Both list formats read alike."""
    from facesr_arch.data.testset_keys import celeba_hq_partition, derive_celeba_test
    image_list, mapping, eval_partition = _fake_celeba_lists(tmp_path)
    for hq_list in (image_list, mapping):
        assert celeba_hq_partition(hq_list, eval_partition, 'test') == [0, 1, 2]
        assert celeba_hq_partition(hq_list, eval_partition, 'validation') == [3, 4, 5, 6]
    keys, how = derive_celeba_test(image_list, eval_partition, count=5)
    assert keys[:3] == ['00000', '00001', '00002'] and len(keys) == 5 and set(keys[3:]) < {'00003', '00004', '00005',
                                                                                         '00006'}
    assert 'all 3 test-partition faces and 2 of the 4 validation-partition faces' in how
    assert derive_celeba_test(mapping, eval_partition, count=5)[0] == keys  # same rule, same faces
    fewer, how = derive_celeba_test(image_list, eval_partition, count=2)
    assert len(fewer) == 2 and set(fewer) < {'00000', '00001', '00002'} and '2 of the 3 test-partition' in how
    with pytest.raises(ValueError, match='fewer than 8'):
        derive_celeba_test(image_list, eval_partition, count=8)
    (tmp_path / 'partial.txt').write_text('000001.jpg 0\n')
    with pytest.raises(ValueError, match='10 CelebA-HQ faces .* does not list'):
        celeba_hq_partition(image_list, str(tmp_path / 'partial.txt'))
    with pytest.raises(ValueError, match='header naming the columns idx and orig_file'):
        celeba_hq_partition(eval_partition, eval_partition)
    # the protocol: 'paper' needs the lists (none are committed), and takes the derived faces from the input
    recipe = get_protocol('gcfsr_blind_celeba_test')
    assert recipe['keys'] == 'gcfsr_celeba_test' and not os.path.exists(key_list_path('gcfsr_celeba_test'))
    available = [f'{i:05d}' for i in range(10)]
    with pytest.raises(ValueError, match='--celeba-lists IMAGE_LIST LIST_EVAL_PARTITION'):
        resolve_test_keys(available, recipe, 'paper')
    monkeypatch.setitem(KEY_LISTS, 'gcfsr_celeba_test', KEY_LISTS['gcfsr_celeba_test'][:2] + ((0, 4), 'test'))
    chosen, described = resolve_test_keys(available, recipe, None, celeba_lists=(image_list, eval_partition))
    assert chosen == derive_celeba_test(image_list, eval_partition, count=4)[0] and 'CelebA-Test from' in described
    with pytest.raises(ValueError, match='omit --celeba-lists'):
        resolve_test_keys(available, get_protocol('mpcnet_celeba_test'), None, celeba_lists=(image_list,
                                                                                             eval_partition))


def test_mpcnet_table5_columns():
    """Table 5: eight 10 px kernels, Gaussian sizes rising, then motion at 45 ('/'), 90 ('|'), 0 ('-') and 135
    ('\\') degrees, in the table's printed column order, each with the Input value printed in that column."""
    from facesr_arch.data.batched_degradations import record_to_tensors
    from facesr_arch.data.degradations import blind_kernel, sample_blind_params
    from facesr_arch.reproduce.tables import load_table
    recipe = get_protocol('mpcnet_blur_sweep')
    table = load_table('mpcnet', '5')
    expected = ['gaussian3', 'gaussian7', 'gaussian11', 'gaussian15', 'motion45', 'motion90', 'motion0', 'motion135']
    assert list(recipe['subsets']) == [c.subset for c in table.columns] == expected
    assert [recipe['subsets'][s]['paper_input'][0] for s in expected] == [table.row('Input').values[c.key]
                                                                         for c in table.columns]
    assert table.row('MPCNet (ours)').values['motion45'] == 23.57  # the fifth printed column
    kernels, sigmas = {}, []
    for name in expected:
        record = sample_blind_params(np.random.default_rng(0), recipe['subsets'][name]['degradation'])
        assert record['noise_sigma'] == 0 and record['kernel_size'] == 10
        kernels[name] = blind_kernel(record)
        assert kernels[name].shape == (10, 10) and kernels[name].sum() == pytest.approx(1, abs=1e-5)
        assert record_to_tensors(record)['kernel'].shape == (41, 41)
        if name.startswith('gaussian'):
            sigmas.append(record['sigma_x'])
            assert np.allclose(kernels[name], kernels[name][::-1, ::-1])  # centred between the middle taps
    assert sigmas == sorted(sigmas) and sigmas[0] < 1 < 2.5 < sigmas[-1]
    rows, cols = np.indices((10, 10)) - 4.5
    for name, (dy, dx) in {'motion45': (-1, 1), 'motion90': (1, 0), 'motion0': (0, 1), 'motion135': (1, 1)}.items():
        k = kernels[name]
        # the line runs along (dy, dx) (image rows grow downwards: '/' rises to the right): no spread across it
        across = np.sum(k * (rows * dx - cols * dy) ** 2) / (dx * dx + dy * dy)
        along = np.sum(k * (rows * dy + cols * dx) ** 2) / (dx * dx + dy * dy)
        assert across < 0.5 < 4 < along, name
