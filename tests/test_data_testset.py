"""make_testset reproducibility, and the paired / single-image datasets and LMDB checks that read test sets."""
import filecmp
import json
import os
import shutil

import lmdb
import pytest

import facesr_arch  # noqa: F401
from facesr_arch.data.paired_dataset import FacePairedDataset, FaceSingleImageDataset
from helpers import run_script


@pytest.fixture(scope='module')
def make_testset():
    from facesr_arch.data.testset_build import make_testset
    return make_testset


def tree_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
                  if not d.endswith('.lmdb'))


def lmdb_items(path):
    env = lmdb.open(path, readonly=True, lock=False)
    with env.begin() as txn:
        items = dict(txn.cursor())
    env.close()
    return items


@pytest.fixture(scope='module')
def testsets(ffhq_small_dir, tmp_path_factory, make_testset):
    """The same protocol written twice: by the command line, and by the function it runs."""
    root = tmp_path_factory.mktemp('testsets')
    args = ['--input', ffhq_small_dir, '--protocol', 'wnet_celeba_mode1', '--max-images', '3', '--lmdb']
    run_script('make_testset.py', args + ['--output', str(root / 'a')], cwd=str(root))
    make_testset(ffhq_small_dir, str(root / 'b'), 'wnet_celeba_mode1', max_images=3, lmdb=True)
    return root / 'a' / 'wnet_celeba_mode1', root / 'b' / 'wnet_celeba_mode1'


def test_same_seed_same_bytes(testsets):
    a, b = testsets
    files = tree_files(a)
    assert files == tree_files(b) and 'x4/lq/00000.png' in files and 'manifest.json' in files
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors
    for subset in ('x4', 'x8'):
        for part in ('gt', 'lq'):
            assert lmdb_items(str(a / subset / f'{part}.lmdb')) == lmdb_items(str(b / subset / f'{part}.lmdb'))


def test_manifest_lists_every_image_parameters(testsets):
    with open(testsets[0] / 'manifest.json') as f:
        manifest = json.load(f)
    assert manifest['seed'] == 0 and set(manifest['subsets']) == {'x4', 'x8'}
    x8 = manifest['subsets']['x8']
    assert x8['degradation'] == {'type': 'wnet_bicubic', 'scale': 8} and x8['gt_size'] == 128
    assert sorted(x8['images']) == ['00000', '00001', '00002']
    assert x8['images']['00001']['lr_size'] == [16, 16]


def test_other_seed_changes_a_blind_set_and_existing_output_is_kept(ffhq_small_dir, tmp_path, make_testset):
    for seed in (0, 1):
        make_testset(ffhq_small_dir, str(tmp_path / f's{seed}'), 'gcfsr_blind_celeba_test', seed=seed, max_images=1)
    lq = 'gcfsr_blind_celeba_test/celeba_test/lq/00000.png'
    assert not filecmp.cmp(tmp_path / 's0' / lq, tmp_path / 's1' / lq, shallow=False)
    with pytest.raises(FileExistsError, match='--overwrite'):
        make_testset(ffhq_small_dir, str(tmp_path / 's0'), 'gcfsr_blind_celeba_test', max_images=1)


@pytest.mark.parametrize('suffix', ['', '.lmdb'])
def test_paired_dataset_reads_folders_and_lmdbs(testsets, suffix):
    x4 = testsets[0] / 'x4'
    dataset = FacePairedDataset({'dataroot_lq': str(x4 / f'lq{suffix}'), 'dataroot_gt': str(x4 / f'gt{suffix}')})
    item = dataset[1]
    assert len(dataset) == 3 and item['key'] == '00001'
    assert item['lq'].shape == item['gt'].shape == (3, 128, 128) and -1 <= item['lq'].min() <= item['lq'].max() <= 1


def test_paired_dataset_names_unpaired_stems(testsets, tmp_path):
    lq = tmp_path / 'lq'
    shutil.copytree(testsets[0] / 'x4' / 'lq', lq)
    os.remove(lq / '00002.png')
    with pytest.raises(KeyError, match="00002"):
        FacePairedDataset({'dataroot_lq': str(lq), 'dataroot_gt': str(testsets[0] / 'x4' / 'gt')})


def test_stale_meta_info_is_reported_when_the_dataset_is_built(testsets, tmp_path):
    broken = tmp_path / 'gt.lmdb'
    shutil.copytree(testsets[0] / 'x4' / 'gt.lmdb', broken)
    with open(broken / 'meta_info.txt', 'a') as f:
        f.write('99999.png (128,128,3) 1\n')
    with pytest.raises(KeyError, match="99999"):
        FaceSingleImageDataset({'dataroot_lq': str(broken)})


def test_single_image_dataset_resizes_real_faces(shared_data):
    dataset = FaceSingleImageDataset({'dataroot_lq': os.path.join(shared_data, 'real_lq_gray'), 'lq_size': 256,
                                      'max_items': 2})
    item = dataset[0]
    assert len(dataset) == 2 and item['lq'].shape == (3, 256, 256) and item['lq_path'].endswith('.png')
