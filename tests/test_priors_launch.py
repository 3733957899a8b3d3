"""Pretrained parts never silently random: a training or test launch whose prior, parsing network or loss
network has no file is refused in one line naming the option, unless ``random_priors: true``; every paper
option file names a file for each part; the log names each part's file with a short SHA-256."""
import glob
import hashlib
import os

import pytest

from facesr_arch.models.priors import check_priors, pretrained_parts, prior_log_lines
from facesr_arch.toolkit.errors import UserError
from facesr_arch.utils.options import validate_options
from helpers import REPO, deep_update, load_options, run_module, write_options

MPCNET = 'options/train/MPCNet/train_MPCNet_FFHQ512.yml'


def test_every_paper_option_file_names_a_file_for_each_pretrained_part():
    files = sorted(glob.glob(os.path.join(REPO, 'options', '*', '*', '*.yml')))
    assert len(files) > 50
    kinds = set()
    for path in files:
        opt = load_options(os.path.relpath(path, REPO))
        assert 'random_priors' not in opt, path
        for part in pretrained_parts(opt, is_train='/train/' in path):
            assert part.path is not None or part.checkpoint is not None, (path, part)
            kinds.add(part.what)
    assert {'frozen StyleGAN2 prior', 'frozen face parsing network', 'frozen noise-free StyleGAN2 prior',
            'frozen face parsing prior', 'StyleGAN2 prior (fine-tuned)', 'frozen vgg16 (perceptual loss)',
            'frozen vggface (perceptual loss)', 'frozen vgg19 (feature matching loss)',
            'frozen vgg19 (key-region loss)', 'frozen ArcFace (identity loss)'} <= kinds


def test_missing_files_are_refused_naming_the_option_unless_random_priors(tmp_path):
    opt = load_options(MPCNET)
    prior = tmp_path / 'gan.pth'
    prior.write_bytes(b'weights')
    opt = deep_update(opt, {'network_g': {'gan_prior_path': str(prior), 'parsing_prior_path': str(prior)},
                            'train': {'perceptual_opt': {'weights_path': str(prior)}}})
    check_priors(opt, is_train=True)
    for option, change in (('network_g.gan_prior_path', {'network_g': {'gan_prior_path': None}}),
                           ('network_g.parsing_prior_path', {'network_g': {'parsing_prior_path': None}}),
                           ('train.perceptual_opt.weights_path', {'train': {'perceptual_opt': {'weights_path': None}}})):
        bad = deep_update(opt, change)  # (deep_update deletes a key set to None: the same as ~)
        with pytest.raises(UserError, match=f'has no file: set {option}.*random_priors: true') as err:
            check_priors(bad, is_train=True)
        assert '\n' not in str(err.value)
        check_priors({**bad, 'random_priors': True}, is_train=True)  # the explicit opt-out
        validate_options({**bad, 'random_priors': True})  # the options checker knows the key
    # a part the ablation does not build needs no file; a loss network is not needed at test time
    check_priors(deep_update(opt, {'network_g': {'use_gan_prior': False, 'gan_prior_path': None}}), is_train=True)
    test_opt = deep_update(opt, {'train': {'perceptual_opt': {'weights_path': None}}})
    check_priors(test_opt, is_train=False)
    # the trained checkpoint supplies the network's priors (test option files)
    test_opt = deep_update(test_opt, {'network_g': {'gan_prior_path': None}})
    with pytest.raises(UserError, match='network_g.gan_prior_path'):
        check_priors(test_opt, is_train=False)
    check_priors(deep_update(test_opt, {'path': {'pretrain_network_g': str(prior)}}), is_train=False)
    with pytest.raises(UserError, match='names a missing file'):
        check_priors(deep_update(opt, {'network_g': {'gan_prior_path': str(tmp_path / 'none.pth')}}), is_train=True)
    with pytest.raises(UserError, match='random_priors must be true or false'):
        check_priors({**opt, 'random_priors': 'yes'}, is_train=True)


def test_log_lines_name_file_and_short_sha256(tmp_path):
    prior = tmp_path / 'gan.pth'
    prior.write_bytes(b'weights')
    opt = deep_update(load_options(MPCNET), {'network_g': {'gan_prior_path': str(prior), 'parsing_prior_path': None},
                                             'train': {'perceptual_opt': {'weights_path': None}}, 'random_priors': True})
    lines = prior_log_lines(opt, is_train=True)
    sha = hashlib.sha256(b'weights').hexdigest()[:12]
    assert lines == [f'Pretrained part: frozen noise-free StyleGAN2 prior: loaded from {prior} (sha256 {sha}, '
                     'network_g.gan_prior_path)',
                     'Pretrained part: frozen face parsing prior: RANDOM weights (network_g.parsing_prior_path is '
                     'empty; random_priors: true)',
                     'Pretrained part: frozen vggface (perceptual loss): RANDOM weights '
                     '(train.perceptual_opt.weights_path is empty; random_priors: true)']


def test_training_launch_refuses_a_random_prior(workdir, ffhq_small_lmdb):
    """``python -m facesr_arch.train`` stops before building anything, in one line naming the option."""
    opt = deep_update(load_options(MPCNET), {
        'num_gpu': 0, 'datasets': {'train': {'dataroot_gt': ffhq_small_lmdb}, 'val': None}, 'val': None,
        'network_g': {'gan_prior_path': None}})
    proc = run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir), check=False)
    assert proc.returncode != 0
    assert 'the frozen noise-free StyleGAN2 prior has no file: set network_g.gan_prior_path' in proc.stderr
    assert not os.path.exists(workdir / 'experiments' / opt['name'])
