"""PVFR: MMRB, asymmetric codec, concatenated noise branches, FreezeD, five learning rates, component crops,
losses against hand-computed values, and tiny real trainings of every PVFR option file."""
import glob
import json
import os

import cv2
import numpy as np
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from facesr_arch.archs.discriminator_arch import FaceComponentDiscriminator, crop_components
from facesr_arch.archs.pvfr_arch import MMRB, PVFR
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Discriminator, FaceStyleGAN2Generator
from facesr_arch.losses.feature_matching_loss import FaceFeatureMatchingLoss
from facesr_arch.losses.identity_loss import FaceIdentityLoss
from helpers import REPO, deep_update, load_options, run_module, run_script, tiny_training, write_options

TRAIN_OPTION = 'options/train/PVFR/train_PVFR_FFHQ512.yml'
NARROW = 1 / 32  # 16 channels up to 32 px, 8 at 128 px
TINY_G = dict(out_size=128, num_style_feat=16, narrow=NARROW)

# square eye / mouth boxes of FFHQ-aligned faces at 128 px (image-left eye first), integer: crops are exact
BOXES_128 = {'left_eye': [36, 46, 56, 66], 'right_eye': [72, 46, 92, 66], 'mouth': [48, 80, 78, 110]}


# ----------------------------------------------------------------------------------------------- MMRB


def test_mmrb_shapes_parameters_and_residual():
    block = MMRB(16)
    x = torch.randn(2, 16, 12, 10)
    assert block(x).shape == x.shape
    # 3x3 and 5x5 on halves, 3x3 and 5x5 on the full mix, 1x1 from 2C to C, five single-slope PReLUs
    half = 8
    expected = (half * half * 9 + half) + (half * half * 25 + half) + (16 * 16 * 9 + 16) + (16 * 16 * 25 + 16) \
        + (32 * 16 + 16) + 5
    assert sum(p.numel() for p in block.parameters()) == expected
    # eq. 10: X_O = X_I + P; with a zero bottleneck P = PReLU(0) = 0 and the block is the identity
    torch.nn.init.zeros_(block.bottleneck.weight)
    torch.nn.init.zeros_(block.bottleneck.bias)
    assert torch.equal(block(x), x)
    with pytest.raises(ValueError, match='even'):
        MMRB(15)


def test_mmrb_branches_follow_eq_4_to_9():
    torch.manual_seed(0)
    block = MMRB(8)
    x = torch.randn(1, 8, 6, 6)
    x1, x2 = x[:, :4], x[:, 4:]
    p1 = block.act3_split(block.conv3_split(x1))
    p2 = block.act5_split(block.conv5_split(x2))
    c1 = torch.cat([p1, p2], 1)
    c2 = torch.cat([block.act3_mixed(block.conv3_mixed(c1)), block.act5_mixed(block.conv5_mixed(c1))], 1)
    torch.testing.assert_close(block(x), x + block.act_out(block.bottleneck(c2)))


# ------------------------------------------------------------------------------------ codec / generator


def count_mmrbs(module):
    return sum(isinstance(m, MMRB) for m in module.modules())


def test_codec_asymmetry_and_output_shapes():
    net = PVFR(out_size=64, num_style_feat=16, narrow=NARROW)
    # encoder scales 64 .. 4: MMRBs at 32, 16, 8 only (not at the first or the last scale)
    per_scale = [count_mmrbs(stage) for stage in net.codec.encoder_down]
    assert per_scale == [1, 1, 1, 0]
    assert count_mmrbs(net.codec.decoder) == 0
    lq = torch.rand(2, 3, 64, 64) * 2 - 1
    image, pyramid = net(lq, return_pyramid=True)
    assert image.shape == (2, 3, 64, 64)
    assert [p.shape[-1] for p in pyramid] == [4, 8, 16, 32, 64]
    assert count_mmrbs(PVFR(out_size=64, num_style_feat=16, narrow=NARROW, encoder_mmrb_per_scale=0)) == 0
    with pytest.raises(ValueError, match='64x64'):
        net(torch.zeros(1, 3, 32, 32))


def test_paper_configuration_has_six_encoder_mmrbs():
    # build on the meta device: the paper-size network (~135M parameters) without allocating it
    with torch.device('meta'):
        net = PVFR(out_size=512)
    assert count_mmrbs(net.codec) == 6 and count_mmrbs(net.codec.decoder) == 0
    counts = {name: sum(p.numel() for p in params) for name, params in net.parameter_groups().items()}
    assert counts['noise_branches'] == 15  # one learned strength per style conv (2 * 9 - 3)
    assert sum(counts.values()) == sum(p.numel() for p in net.parameters())


def test_decoder_features_reach_the_generator_by_concatenation():
    torch.manual_seed(0)
    net = PVFR(**{**TINY_G, 'out_size': 32}).eval()
    for param in net.parameter_groups()['noise_branches']:
        torch.nn.init.constant_(param, 1.0)
    captured = {}

    def hook(module, inputs, output):
        captured.setdefault(module, []).append((inputs[0].shape[1], output.shape[1], inputs[1]))

    handles = [conv.noise.register_forward_hook(hook) for conv in [net.generator.style_conv1, *net.generator.style_convs]]
    lq = torch.rand(1, 3, 32, 32) * 2 - 1
    features, _, _ = net.codec(lq)
    net(lq)
    for handle in handles:
        handle.remove()
    assert len(captured) == net.generator.num_conv_layers
    for ((in_channels, out_channels, feature),) in captured.values():
        assert out_channels == 2 * in_channels  # eq. 3: Concat[x_hat_i, y_i]
        res = feature.shape[-1]
        torch.testing.assert_close(feature, features[res])
    # the decoder's features change the output: a different 32 px skip feature changes the image
    with torch.no_grad():
        base = net(lq)
        net.codec.decoder[-1][0][0].weight.add_(1.0)
        assert not torch.allclose(base, net(lq))


def test_frozen_prior_keeps_only_noise_branches_trainable():
    net = PVFR(**{**TINY_G, 'out_size': 32}, finetune_prior=False)
    groups = net.parameter_groups()
    assert not any(p.requires_grad for p in groups['stylegan2'])
    assert all(p.requires_grad for p in groups['noise_branches'] + groups['codec'])


def test_gpen_checkpoints_convert_and_initialise_prior_and_discriminator(tmp_path):
    """GPEN-BFR layout (FullGenerator ``generator.*`` + encoder; discriminator ``convs.N``) through
    scripts/convert_weights.py into PVFR's prior and the FreezeD discriminator."""
    from test_priors_convert import to_rosinality
    torch.manual_seed(0)
    reference = FaceStyleGAN2Generator(32, 16, 8, narrow=NARROW, noise_mode='concat')
    gpen = {f'generator.{k}': v for k, v in to_rosinality(reference.state_dict()).items()}
    gpen.update({'ecd0.0.weight': torch.randn(16, 3, 1, 1), 'final_linear.weight': torch.randn(16, 256)})
    torch.save(gpen, tmp_path / 'GPEN-BFR-32.pth')
    run_script('convert_weights.py', ['gpen_g', str(tmp_path / 'GPEN-BFR-32.pth'), str(tmp_path / 'prior.pth')],
               cwd=str(tmp_path))
    net = PVFR(**{**TINY_G, 'out_size': 32}, prior_path=str(tmp_path / 'prior.pth'))
    for key, value in reference.state_dict().items():
        assert torch.equal(net.generator.state_dict()[key], value), key

    disc = FaceStyleGAN2Discriminator(32, narrow=NARROW)
    torch.save({k.replace('conv_body.', 'convs.'): v for k, v in disc.state_dict().items()}, tmp_path / 'gpen_d.pth')
    run_script('convert_weights.py', ['gpen_d', str(tmp_path / 'gpen_d.pth'), str(tmp_path / 'd.pth')],
               cwd=str(tmp_path))
    frozen = FaceStyleGAN2Discriminator(32, narrow=NARROW, num_frozen_layers=3)  # all of conv_body at 32 px
    frozen.load_state_dict(torch.load(tmp_path / 'd.pth', weights_only=True)['params'], strict=True)
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(frozen(images), disc(images))


def test_wrong_or_missing_prior_file_fails_clearly(tmp_path):
    path = str(tmp_path / 'prior.pth')
    torch.save({'params': FaceStyleGAN2Generator(32, 16, 8, narrow=NARROW).state_dict()}, path)  # random noise
    with pytest.raises(ValueError, match='concatenated noise'):
        PVFR(**{**TINY_G, 'out_size': 32}, prior_path=path)
    from facesr_arch.toolkit.checkpoints import MissingWeightsError
    with pytest.raises(MissingWeightsError, match='convert_weights'):
        PVFR(**{**TINY_G, 'out_size': 32}, prior_path=str(tmp_path / 'missing.pth'))


# --------------------------------------------------------------------------- local discriminator, crops


def test_component_discriminator_two_downsamplings_one_channel():
    net = FaceComponentDiscriminator(num_feat=8)
    assert net(torch.randn(2, 3, 20, 20)).shape == (2, 1, 5, 5)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 1, 8, 8)


def test_crop_components_is_exact_on_integer_boxes():
    images = torch.randn(2, 3, 40, 40)
    boxes = torch.tensor([[3., 5., 13., 15.], [20., 0., 30., 10.]])
    crops = crop_components(images, boxes, 10)
    assert torch.equal(crops[0], images[0, :, 5:15, 3:13])
    assert torch.equal(crops[1], images[1, :, 0:10, 20:30])
    with pytest.raises(ValueError, match='one'):
        crop_components(images, boxes[:1], 10)


@pytest.fixture(scope='module')
def components_file(ffhq_small_dir, tmp_path_factory):
    stems = [os.path.splitext(name)[0] for name in sorted(os.listdir(ffhq_small_dir))]
    path = str(tmp_path_factory.mktemp('components') / 'components.json')
    with open(path, 'w') as f:
        json.dump({stem: BOXES_128 for stem in stems}, f)
    return path


def test_components_crop_correctly_after_flips(ffhq_small_dir, components_file):
    from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
    base = dict(dataroot_gt=ffhq_small_dir, io_backend={'type': 'disk'}, gt_size=128, components_file=components_file,
                degradation={'type': 'pvfr_blind', 'out_size': 128}, deterministic=True)
    plain = FaceDegradedPairDataset(dict(base, use_hflip=False))
    flipping = FaceDegradedPairDataset(dict(base, use_hflip=True))
    sizes = {'left_eye': 20, 'right_eye': 20, 'mouth': 30}
    flipped_seen = unflipped_seen = 0
    for index in range(len(plain)):
        a, b = plain[index], flipping[index]
        if torch.equal(a['gt'], b['gt']):
            unflipped_seen += 1
            continue
        assert torch.equal(b['gt'], a['gt'].flip(-1))
        flipped_seen += 1
        # after a flip the image-left eye is the person's other eye: its crop is the mirrored right-eye crop
        for name, mirrored in (('left_eye', 'right_eye'), ('right_eye', 'left_eye'), ('mouth', 'mouth')):
            crop = crop_components(b['gt'][None], b[f'box_{name}'][None], sizes[name])
            expected = crop_components(a['gt'][None], a[f'box_{mirrored}'][None], sizes[name]).flip(-1)
            torch.testing.assert_close(crop, expected)
    assert flipped_seen and unflipped_seen
    # and the unflipped crop lies where the box says, on the real face
    item = plain[0]
    x1, y1, x2, y2 = BOXES_128['mouth']
    assert torch.equal(crop_components(item['gt'][None], item['box_mouth'][None], 30)[0], item['gt'][:, y1:y2, x1:x2])


# ---------------------------------------------------------------------------------------------- losses


def test_feature_matching_loss_matches_eq_14_by_hand():
    torch.manual_seed(0)
    loss = FaceFeatureMatchingLoss({'relu1_1': 0.5, 'relu2_1': 2.0}, loss_weight=0.02)
    pred, target = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    fp, ft = loss.vgg(pred), loss.vgg(target)
    expected = 0
    for name, weight in (('relu1_1', 0.5), ('relu2_1', 2.0)):
        diff = (fp[name] - ft[name]).reshape(2, -1)
        expected = expected + weight * torch.sqrt((diff**2).sum(1) / diff.shape[1])
    torch.testing.assert_close(loss(pred, target), 0.02 * expected.mean())
    assert loss(target, target).item() == 0


def test_identity_loss_is_l1_of_arcface_embeddings():
    torch.manual_seed(0)
    loss = FaceIdentityLoss(loss_weight=10)
    pred = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    target = torch.rand(1, 3, 64, 64) * 2 - 1
    value = loss(pred, target)
    torch.testing.assert_close(value, 10 * (loss.arcface(pred) - loss.arcface(target)).abs().mean())
    value.backward()
    assert pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.arcface.parameters())


# ------------------------------------------------------------------ tiny option files and checkpoints


def tiny_pvfr_options(opt, ffhq_small_dir, components_file, ckpt_dir, size=128, total_iter=2, val=True):
    """The option file shrunk: ``size`` px tiny networks with tiny random prior / discriminator checkpoints
    written to ``ckpt_dir`` and loaded through the real code; VGG19 and ArcFace keep random weights (their
    loading is tested with the priors)."""
    prior_path = os.path.join(ckpt_dir, f'prior{size}.pth')
    d_path = os.path.join(ckpt_dir, f'net_d{size}.pth')
    if not os.path.isfile(prior_path):
        torch.manual_seed(0)
        prior = FaceStyleGAN2Generator(size, 16, 8, narrow=NARROW, noise_mode='concat')
        torch.save({'params': prior.state_dict()}, prior_path)
        torch.save({'params': FaceStyleGAN2Discriminator(size, narrow=NARROW).state_dict()}, d_path)
    data = {'dataroot_gt': ffhq_small_dir, 'io_backend': {'type': 'disk'}, 'gt_size': size,
            'degradation': {'type': 'pvfr_blind', 'out_size': size}}
    train = {}
    for key in ('feature_matching_opt', 'identity_opt'):
        if key in opt['train']:
            train[key] = {'weights_path': None}
    overrides = {
        'datasets': {'train': dict(data, num_worker_per_gpu=0, batch_size_per_gpu=2),
                     'val': dict(data, max_items=1)},
        'network_g': dict(TINY_G, out_size=size, prior_path=prior_path),
        'network_d': {'out_size': size, 'narrow': NARROW},
        'path': {'pretrain_network_d': d_path},
        'train': train,
    }
    if 'network_d_local' in opt:
        scale = size / 512
        overrides['network_d_local'] = {'num_feat': 8}
        overrides['datasets']['train']['components_file'] = components_file
        train['component_crop_sizes'] = {name: round(crop * scale)
                                         for name, crop in opt['train']['component_crop_sizes'].items()}
    opt = tiny_training(opt, total_iter=total_iter, checkpoint_freq=total_iter,
                        val_freq=total_iter if val else 10 * total_iter)
    return deep_update(opt, overrides)


@pytest.fixture(scope='module')
def trained_step(ffhq_small_dir, components_file, tmp_path_factory):
    """The paper option file built in-process as BasicSR would, before and after one training step."""
    from torch.utils.data import DataLoader

    from basicsr.models import build_model
    from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
    ckpt_dir = str(tmp_path_factory.mktemp('pvfr_ckpt'))
    opt = tiny_pvfr_options(load_options(TRAIN_OPTION), ffhq_small_dir, components_file, ckpt_dir)
    opt = deep_update(opt, {'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1,
                            'train': {'r1_reg_weight': 0}})
    torch.manual_seed(0)
    model = build_model(opt)
    dataset = FaceDegradedPairDataset(opt['datasets']['train'])
    batch = next(iter(DataLoader(dataset, batch_size=1)))
    nets = {'net_d': model.net_d, 'net_d_local': model.net_d_local, 'net_g': model.net_g}
    before = {name: {k: v.detach().clone() for k, v in net.state_dict().items()} for name, net in nets.items()}
    model.feed_data(batch)
    model.optimize_parameters(1)
    after = {name: net.state_dict() for name, net in nets.items()}
    return model, before, after


def changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return [not torch.equal(before[k], after[k]) for k in keys]


def test_freezed_keeps_exactly_the_first_five_layers(trained_step):
    model, before, after = trained_step
    net_d = model.get_bare_model(model.net_d)
    assert net_d.num_frozen_layers == 5 and len(net_d.conv_body) == 6  # 128 px: 1x1 conv + 5 ResBlocks
    for index in range(5):
        assert not any(changed(before['net_d'], after['net_d'], f'conv_body.{index}.'))
    assert all(changed(before['net_d'], after['net_d'], 'conv_body.5.'))
    assert any(changed(before['net_d'], after['net_d'], 'final_linear.'))
    frozen = {id(p) for layer in list(net_d.conv_body)[:5] for p in layer.parameters()}
    assert all(not p.requires_grad for layer in list(net_d.conv_body)[:5] for p in layer.parameters())
    assert not frozen & {id(p) for group in model.optimizer_d.param_groups for p in group['params']}


def test_optimisers_hold_the_five_learning_rates(trained_step):
    model = trained_step[0]
    generator = {group['name']: group['lr'] for group in model.optimizer_g.param_groups}
    assert generator == {'codec': 2e-3, 'stylegan2': 2e-4, 'noise_branches': 2e-3}
    assert [group['lr'] for group in model.optimizer_d.param_groups] == [2e-5]
    assert [group['lr'] for group in model.optimizer_d_local.param_groups] == [2e-3]
    # every trainable generator parameter is in exactly one group
    grouped = [id(p) for group in model.optimizer_g.param_groups for p in group['params']]
    assert sorted(grouped) == sorted(id(p) for p in model.net_g.parameters() if p.requires_grad)


def test_training_step_updates_every_part_and_logs_all_losses(trained_step):
    model, before, after = trained_step
    for name in ('left_eye', 'right_eye', 'mouth'):
        assert any(changed(before['net_d_local'], after['net_d_local'], f'{name}.'))
    for prefix in ('codec.encoder_down.1.1.', 'codec.decoder.', 'generator.style_convs.', 'generator.style_mlp.'):
        assert any(changed(before['net_g'], after['net_g'], prefix)), prefix
    logged = set(model.log_dict)
    assert {'l_g_pix', 'l_g_pyramid', 'l_g_fm', 'l_g_identity', 'l_g_gan', 'l_g_gan_local', 'l_d_real', 'l_d_fake',
            'l_d_left_eye', 'l_d_right_eye', 'l_d_mouth'} <= logged
    assert all(np.isfinite(v) for v in model.log_dict.values())


# ------------------------------------------------------------------------ real pipeline, every option


def option_files(kind):
    return sorted(os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, 'options', kind, 'PVFR', '*.yml')))


def test_paper_option_trains_then_every_test_option_runs(ffhq_small_dir, components_file, shared_data, workdir):
    """train_PVFR_FFHQ512.yml: 2 iterations with validation and checkpoints; then each test option file on
    the trained network (synthetic pairs from real faces, and real low-quality faces)."""
    opt = tiny_pvfr_options(load_options(TRAIN_OPTION), ffhq_small_dir, components_file, str(workdir), size=64)
    run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    models = os.path.join(str(workdir), 'experiments', opt['name'], 'models')
    assert {'net_g_2.pth', 'net_d_2.pth', 'net_d_local_2.pth'} <= set(os.listdir(models))
    local = torch.load(os.path.join(models, 'net_d_local_2.pth'), weights_only=True)['params']
    assert {key.split('.')[0] for key in local} == {'left_eye', 'right_eye', 'mouth'}

    real_dir = os.path.join(str(workdir), 'real_lq')
    os.makedirs(real_dir)
    for name in sorted(os.listdir(os.path.join(shared_data, 'real_lq')))[:2]:
        img = cv2.imread(os.path.join(shared_data, 'real_lq', name))
        cv2.imwrite(os.path.join(real_dir, name), cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA))
    network_g = dict(TINY_G, out_size=64)
    for option_file in option_files('test'):
        test_opt = load_options(option_file)
        datasets = {}
        for phase, block in test_opt['datasets'].items():
            if 'dataroot_gt' in block:
                datasets[phase] = {'dataroot_gt': ffhq_small_dir, 'io_backend': {'type': 'disk'}, 'gt_size': 64,
                                   'max_items': 1}
                if block['degradation']['type'] == 'pvfr_blind':
                    datasets[phase]['degradation'] = {'type': 'pvfr_blind', 'out_size': 64}
            else:
                datasets[phase] = {'dataroot_lq': real_dir}
        test_opt = deep_update(test_opt, {'num_gpu': 0, 'datasets': datasets, 'network_g': network_g,
                                          'path': {'pretrain_network_g': os.path.join(models, 'net_g_2.pth')}})
        if set(test_opt['val']['metrics']) == {'niqe'}:  # NIQE needs faces of at least 96 px; these are 64 px
            test_opt = deep_update(test_opt, {'val': {'metrics': None}})
        run_module('facesr_arch.test', ['-opt', write_options(test_opt, str(workdir), 'test.yml')], cwd=str(workdir))
        results = os.path.join(str(workdir), 'results', test_opt['name'], 'visualization')
        expected = sum(1 if 'dataroot_gt' in block else 2 for block in datasets.values())
        assert len(glob.glob(os.path.join(results, '*', '*.png'))) == expected, option_file


@pytest.mark.parametrize('option_file', [f for f in option_files('train') if f != TRAIN_OPTION])
def test_every_ablation_option_trains_through_basicsr(option_file, ffhq_small_dir, components_file, workdir):
    opt = tiny_pvfr_options(load_options(option_file), ffhq_small_dir, components_file, str(workdir), size=64,
                            total_iter=1, val=False)
    run_module('facesr_arch.train', ['-opt', write_options(opt, str(workdir))], cwd=str(workdir))
    saved = set(os.listdir(os.path.join(str(workdir), 'experiments', opt['name'], 'models')))
    assert {'net_g_1.pth', 'net_d_1.pth'} <= saved, saved
    assert ('net_d_local_1.pth' in saved) == ('network_d_local' in opt)


# ---------------------------------------------------------------- eq. 12, GFPGAN pyramid, GPEN stddev


def gpen_minibatch_stddev(out):
    """GPEN's face_model/gpen_model.py Discriminator.forward: ``group = batch``, one statistic for the batch."""
    batch, channel, height, width = out.shape
    stddev = out.view(batch, -1, 1, channel, height, width)
    stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    return torch.cat([out, stddev.repeat(batch, 1, height, width)], 1)


def test_gpen_discriminator_stddev_over_the_whole_batch_at_batch_8():
    torch.manual_seed(0)
    disc = FaceStyleGAN2Discriminator(32, narrow=NARROW, stddev_group='batch')
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        expected = disc.final_linear(disc.final_conv(gpen_minibatch_stddev(disc.conv_body(x))).flatten(1))
        assert torch.equal(disc(x), expected)
        grouped = FaceStyleGAN2Discriminator(32, narrow=NARROW, stddev_group=4)
        grouped.load_state_dict(disc.state_dict())
        assert not torch.allclose(grouped(x), expected)  # groups of 4 are not GPEN's statistic at batch 8
    assert load_options(TRAIN_OPTION)['network_d']['stddev_group'] == 'batch'
    for option_file in option_files('train'):
        assert load_options(option_file)['network_d']['stddev_group'] == 'batch', option_file
    with pytest.raises(ValueError, match='stddev_group'):
        FaceStyleGAN2Discriminator(32, narrow=NARROW, stddev_group='all')


def test_local_gan_loss_is_eq12_saturating_and_the_switch_non_saturating(trained_step):
    """l_g_gan_local = sum over components of lambda_l * log(1 - sigmoid(D(crop))) (eq. 12); with the switch
    off, lambda_l * -log sigmoid(D(crop)); no other term changes."""
    model = trained_step[0]
    assert model.saturating_local_gan_loss and load_options(TRAIN_OPTION)['train']['saturating_local_gan_loss']
    weight = model.cri_gan_local.loss_weight
    with torch.no_grad():
        output = model.output
        logits = {name: model.net_d_local[name](crop) for name, crop in model._components(output).items()}
        saturating = model.generator_losses(output)
        model.saturating_local_gan_loss = False
        try:
            non_saturating = model.generator_losses(output)
        finally:
            model.saturating_local_gan_loss = True
    sigmoid = {name: torch.sigmoid(v) for name, v in logits.items()}
    expected = weight * sum(torch.log(1 - s).mean() for s in sigmoid.values())
    assert saturating['l_g_gan_local'].item() == pytest.approx(expected.item(), rel=1e-4)
    expected = weight * sum(-torch.log(s).mean() for s in sigmoid.values())
    assert non_saturating['l_g_gan_local'].item() == pytest.approx(expected.item(), rel=1e-4)
    for key in saturating:
        if key != 'l_g_gan_local':
            assert torch.equal(saturating[key], non_saturating[key]), key


def test_pyramid_loss_follows_gfpgan_scales_and_removal(trained_step):
    from torch.nn import functional as F
    model = trained_step[0]
    train = load_options(TRAIN_OPTION)['train']
    assert train['pyramid_scales'] == [8, 16, 32, 64, 128, 256, 512] and train['remove_pyramid_loss'] == 50000
    assert model.pyramid_scales == train['pyramid_scales'] and model.remove_pyramid_loss == 50000
    pyramid = [torch.rand(1, 3, 2**i, 2**i) for i in range(2, 8)]  # the tiny 128 px codec: 4 .. 128
    model.gt = torch.rand(1, 3, 128, 128)
    terms = {rgb.shape[-1]: F.l1_loss(rgb, F.interpolate(model.gt, size=rgb.shape[-2:], mode='bilinear',
                                                          align_corners=False, antialias=True)) for rgb in pyramid}
    weight = model.cri_pyramid.loss_weight
    model.current_iter = 50000
    assert model.pyramid_loss(pyramid).item() == pytest.approx(weight * sum(terms[s] for s in terms if s >= 8).item())
    model.pyramid_scales = None  # every scale
    assert model.pyramid_loss(pyramid).item() == pytest.approx(weight * sum(terms.values()).item())
    model.pyramid_scales, model.current_iter = train['pyramid_scales'], 50001
    pyramid[0].requires_grad_()
    removed = model.pyramid_loss(pyramid)
    assert removed.item() == 0 and removed.requires_grad  # removed, but every to-RGB conv stays in the graph
