"""Option files: the repository's own validate; typos fail before training, naming key, block and fix."""
import glob
import os

import pytest

import facesr_arch  # noqa: F401
from facesr_arch.utils.options import OptionError, validate_options
from helpers import REPO, deep_update, load_options, run_module, write_options

GCFSR_TRAIN = 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml'


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(REPO, 'options', 'train', 'GCFSR', '*.yml'))))
def test_gcfsr_train_options_validate(path):
    validate_options(load_options(os.path.relpath(path, REPO)), is_train=True)


@pytest.mark.parametrize('override, message', [
    ({'datasets': {'train': {'use_hfilp': True}}}, "Unknown option 'use_hfilp' in datasets.train.*did you mean 'use_hflip'"),
    ({'datasets': {'train': {'degradation': {'factor': [4]}}}}, "'factor' in datasets.train.degradation.*'factors'"),
    ({'network_g': {'out_sise': 512}}, "Unknown option 'out_sise' in network_g \\(GCFSR\\).*'out_size'"),
    ({'train': {'pixel_opt': {'loss_wieght': 1}}}, "'loss_wieght' in train.pixel_opt \\(L1Loss\\).*'loss_weight'"),
    ({'train': {'r1_reg_wieght': 1}}, "'r1_reg_wieght' in train \\(GCFSRModel\\).*'r1_reg_weight'"),
    ({'network_d': {'type': 'FaceStyleGAN2Discrimnator'}}, "Unknown type 'FaceStyleGAN2Discrimnator' in network_d.*"
                                                           "'FaceStyleGAN2Discriminator'"),
    ({'model_type': 'GCFSRModle'}, "Unknown type 'GCFSRModle' in model_type.*'GCFSRModel'"),
    ({'datasets': {'train': {'degradation': {'type': 'bicubik'}}}}, "Unknown degradation 'bicubik'"),
    ({'path': {'pretrain_network_g': '/nonexistent/net_g.pth'}}, 'pretrain_network_g names a missing file'),
])
def test_typos_are_reported_with_the_closest_key(override, message):
    opt = deep_update(load_options(GCFSR_TRAIN), override)
    with pytest.raises(OptionError, match=message):
        validate_options(opt, is_train=True)


def test_missing_required_key():
    opt = load_options(GCFSR_TRAIN)
    del opt['train']
    with pytest.raises(OptionError, match="Missing required option 'train'"):
        validate_options(opt, is_train=True)


def test_train_entry_fails_before_training(workdir):
    opt = deep_update(load_options(GCFSR_TRAIN), {'datasets': {'train': {'gt_sise': 64}}})
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode != 0
    assert "Unknown option 'gt_sise' in datasets.train" in proc.stderr
    assert "did you mean 'gt_size'" in proc.stderr
    assert not os.path.exists(workdir / 'experiments')


def test_unsafe_yaml_tags_are_refused(workdir):
    path = workdir / 'evil.yml'
    path.write_text('name: !!python/object/apply:os.system ["echo pwned"]\n')
    proc = run_module('facesr_arch.train', ['-opt', str(path)], cwd=str(workdir), check=False)
    assert proc.returncode != 0 and 'not valid (safe) YAML' in proc.stderr


def test_force_yml_is_refused(workdir):
    proc = run_module('facesr_arch.train', ['-opt', 'x.yml', '--force_yml', 'name=1'], cwd=str(workdir), check=False)
    assert proc.returncode != 0 and '--force_yml is not supported' in proc.stderr


def test_missing_dataset_folder_fails_before_any_folder_is_made(workdir):
    opt = deep_update(load_options(GCFSR_TRAIN), {'datasets': {'train': {'dataroot_gt': 'datasets/nowhere.lmdb'}}})
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode != 0
    assert 'datasets.train.dataroot_gt names a missing folder: datasets/nowhere.lmdb' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not os.path.exists(workdir / 'experiments') and not os.path.exists(workdir / 'tb_logger')
