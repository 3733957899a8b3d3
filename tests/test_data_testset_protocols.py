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
from facesr_arch.data.testset_keys import (KEY_LISTS, check_no_overlap, draw_key_list, key_list_path, normalise,
                                           protocol_keys, read_key_file, resolve_test_keys)
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
        if recipe['keys']:
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
    for name in KEY_LISTS:
        keys = read_key_file(key_list_path(name))
        assert keys == draw_key_list(name) and len(set(keys)) == len(keys) == KEY_LISTS[name][2][1] - \
            KEY_LISTS[name][2][0]
    for recipe in PROTOCOLS.values():
        assert recipe['keys'] is None or recipe['keys'] in KEY_LISTS
    test, parser = set(draw_key_list('mpcnet_celeba_test')), set(draw_key_list('mpcnet_parser_train'))
    assert not test & parser and len(test) == 3000 and len(parser) == 24000
    assert set(draw_key_list('pvfr_fsr_x4')) <= set(draw_key_list('pvfr_celeba_test'))


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
