"""Mixed-precision training on CPU (train.mixed_precision, train.channels_last): one bf16 iteration of every
method and prior training (tiny configurations of the benchmark and of the prior tests), a 50-iteration bf16 run
against float32, the fp16 loss scaler (overflow skips, saved and resumed state) and the options checker."""
import tempfile

import pytest
import torch
from torch.utils.data import default_collate

import facesr_arch  # noqa: F401  (before basicsr)
import test_priors_training as priors
from facesr_arch.benchmark.configs import PAPER_OPTIONS, method_options
from facesr_arch.benchmark.training import InMemoryFaces, build_model
from facesr_arch.inference.specs import Controls, get_spec
from facesr_arch.utils.options import OptionError, validate_options
from helpers import deep_update, load_options

STYLEGAN2 = 'options/train/StyleGAN2/train_FaceStyleGAN2_FFHQ512.yml'
PARSING = 'options/train/Parsing/train_MPCNetParsing_CelebAMaskHQ512.yml'
TRAINED = ('net_g', 'net_d', 'net_d_local')


def tiny_options(method, mixed_precision, channels_last=False):
    """Tiny training options of a method (benchmark TINY) or of a prior training (the prior tests' shrinking)."""
    if method == 'StyleGAN2':
        opt = priors.shrink_stylegan2(load_options(STYLEGAN2), 'unused.lmdb', 'stylegan2')
        opt['train'].update(net_d_reg_every=1, path_length_every=1)  # R1 and path length in this iteration
    elif method == 'Parsing':
        opt = priors.shrink_parsing(load_options(PARSING), 'unused.lmdb', 'unused', 'parsing')
    else:
        opt = method_options(method, 'tiny')
        if opt['train'].get('r1_reg_weight', 0) > 0:
            opt['train']['net_d_reg_every'] = 1
    opt['train'].update(mixed_precision=mixed_precision, channels_last=channels_last)
    return opt


def tiny_batch(method, model):
    if method == 'StyleGAN2':
        return {'gt': torch.rand(2, 3, 32, 32) * 2 - 1}
    if method == 'Parsing':
        return {'lq': torch.rand(2, 3, 64, 64) * 2 - 1, 'parsing': torch.randint(0, 19, (2, 64, 64)), 'key': ['a', 'b']}
    _, lq_size, out_size = get_spec(method).sizes(model.get_bare_model(model.net_g), Controls())
    faces = InMemoryFaces(out_size, lq_size, model.opt['train'].get('component_crop_sizes') or ())
    return default_collate([faces[0], faces[1]])


def trained_parameters(model):
    return [p for name in TRAINED if getattr(model, name, None) is not None
            for p in getattr(model, name).parameters() if p.requires_grad]


def generator_output_dtypes(model):
    """Record the dtypes of the generator's module outputs during the next forward passes."""
    dtypes = set()

    def hook(module, inputs, output):
        if torch.is_tensor(output):
            dtypes.add(output.dtype)

    for module in model.get_bare_model(model.net_g).modules():
        module.register_forward_hook(hook)
    return dtypes


@pytest.mark.parametrize('method', sorted(PAPER_OPTIONS) + ['StyleGAN2', 'Parsing'])
def test_one_bf16_iteration_has_finite_losses_and_gradients(method, tmp_path):
    torch.manual_seed(0)
    channels_last = method == 'GCFSR'  # the layout option, once
    model = build_model(tiny_options(method, 'bf16', channels_last), torch.device('cpu'), str(tmp_path))
    dtypes = generator_output_dtypes(model)
    model.feed_data(tiny_batch(method, model))
    model.optimize_parameters(1)
    log = model.get_current_log()
    assert torch.bfloat16 in dtypes  # the generator ran under autocast
    assert log and all(torch.isfinite(torch.tensor(v)) for v in log.values()), log
    if method in ('GCFSR', 'PVFR', 'StyleGAN2'):
        assert 'l_d_r1' in log  # R1 (float32) ran
    if method == 'StyleGAN2':
        assert 'l_g_path' in log
    params = trained_parameters(model)
    grads = [p.grad for p in params if p.grad is not None]
    assert len(grads) > 0.9 * len(params)
    assert all(torch.isfinite(g).all() for g in grads)
    assert model.nonfinite_streak == 0
    # weights, optimiser states and EMA stay float32
    assert all(p.dtype == torch.float32 for p in params)
    states = [v for o in model.optimizers for s in o.state.values() for v in s.values() if torch.is_tensor(v)
              and v.dim() > 0]
    assert states and all(v.dtype == torch.float32 for v in states)
    if hasattr(model, 'net_g_ema'):
        assert all(p.dtype == torch.float32 for p in model.net_g_ema.parameters())
    if channels_last:
        conv = next(p for p in model.get_bare_model(model.net_g).parameters() if p.dim() == 4 and p.shape[-1] > 1)
        assert conv.is_contiguous(memory_format=torch.channels_last)


def _run_iterations(mixed_precision, iterations):
    """MPCNet tiny (the cheapest method with pixel and perceptual losses), without its discriminator."""
    opt = tiny_options('MPCNet', mixed_precision)
    opt['network_d'] = None
    opt['train']['gan_opt'] = None
    with tempfile.TemporaryDirectory() as work_dir:
        torch.manual_seed(0)
        model = build_model(opt, torch.device('cpu'), work_dir)
        batch = tiny_batch('MPCNet', model)
        logs = []
        for current_iter in range(1, iterations + 1):
            model.feed_data(batch)
            model.optimize_parameters(current_iter)
            logs.append(model.get_current_log())
    return logs


def test_bf16_run_tracks_float32_for_50_iterations():
    runs = {mode: _run_iterations(mode, 50) for mode in ('none', 'bf16')}
    for name in ('l_g_pix', 'l_g_percep'):
        last = {mode: sum(log[name] for log in logs[-10:]) / 10 for mode, logs in runs.items()}
        if name == 'l_g_pix':
            assert last['none'] < 0.95 * runs['none'][0][name]  # the run learns (random VGG: the other may not)
        assert abs(last['bf16'] - last['none']) <= 0.1 * last['none'], (name, last)
        assert all(torch.isfinite(torch.tensor(log[name])) for log in runs['bf16'])


def _fp16_parsing_model(work_dir):
    torch.manual_seed(0)
    return build_model(tiny_options('Parsing', 'fp16'), torch.device('cpu'), work_dir)


def test_fp16_overflow_is_skipped_logged_apart_and_the_scaler_state_resumes(tmp_path):
    """On CPU (fp16 autocast runs there, slowly: a tiny parsing network): a step whose scaled gradients overflow is
    skipped and the scale halved, without counting as a non-finite loss; the scale is saved in the training state
    and restored on resume, so the resumed iteration equals the uninterrupted one."""
    model = _fp16_parsing_model(str(tmp_path))
    batch = tiny_batch('Parsing', model)
    model.feed_data(batch)
    model.optimize_parameters(1)
    model.get_current_log()
    scaler = model.precision.scaler(model.optimizer_g)
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.get_scale() > 1

    # a scale too large for fp16 gradients: iteration 2 overflows
    scaler.load_state_dict(dict(scaler.state_dict(), scale=2.0**100))
    before = [p.detach().clone() for p in trained_parameters(model)]
    model.feed_data(batch)
    model.optimize_parameters(2)
    model.get_current_log()
    assert all(torch.equal(a, p) for a, p in zip(before, trained_parameters(model)))  # skipped
    assert scaler.get_scale() == 2.0**99
    assert model.precision.overflow_steps == 1 and model.nonfinite_streak == 0  # not a non-finite loss

    model.save_training_state(epoch=0, current_iter=2)
    from facesr_arch.utils.resume import load_training_state
    state = load_training_state(str(tmp_path / '2.state'), 'cpu')
    assert state['grad_scalers'][0]['scale'] == 2.0**99

    resumed = _fp16_parsing_model(str(tmp_path / 'resumed'))
    resumed.get_bare_model(resumed.net_g).load_state_dict(model.get_bare_model(model.net_g).state_dict())
    resumed.resume_training(state)
    assert resumed.precision.scaler(resumed.optimizer_g).state_dict() == scaler.state_dict()
    for net in (model, resumed):  # iteration 3 from the same state: overflows again in both
        torch.manual_seed(3)
        net.feed_data(batch)
        net.optimize_parameters(3)
    assert all(torch.equal(a, b) for a, b in zip(trained_parameters(model), trained_parameters(resumed)))

    # a non-finite loss is still one: counted in the streak, unlike the overflow
    scaler.load_state_dict(dict(scaler.state_dict(), scale=2.0**10))
    model.feed_data(dict(batch, lq=torch.full_like(batch['lq'], float('nan'))))
    model.optimize_parameters(4)
    model.get_current_log()
    assert model.nonfinite_streak == 1


@pytest.mark.parametrize('override, message', [
    ({'mixed_precision': 'bf61'}, "train.mixed_precision must be one of none, bf16, fp16, got 'bf61'.*'bf16'"),
    ({'mixed_precision': 16}, 'train.mixed_precision must be one of none, bf16, fp16, got 16'),
    ({'channels_last': 'yes'}, "train.channels_last must be true or false, got 'yes'"),
    ({'mixed_prcision': 'bf16'}, "Unknown option 'mixed_prcision' in train.*'mixed_precision'"),
])
def test_options_checker_refuses_bad_precision_options(override, message):
    opt = load_options('options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml')
    validate_options(deep_update(opt, {'train': {'mixed_precision': 'fp16', 'channels_last': True}}), is_train=True)
    with pytest.raises(OptionError, match=message):
        validate_options(deep_update(opt, {'train': override}), is_train=True)
