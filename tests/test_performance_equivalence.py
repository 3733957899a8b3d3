"""The optimised paths give the results of the reference ones: polyphase ``upfirdn2d`` vs zero insertion,
both ``ModulatedConv2d`` formulations vs the per-sample grouped convolution, whole StyleGAN2-based
networks before / after, lazy loss logging vs BasicSR's ``.item()`` logging, and the model benchmark's
plumbing on tiny configurations (numbers are never timed here)."""
import sys
from collections import OrderedDict

import pytest
import torch
from torch.nn import functional as F

from facesr_arch.archs import stylegan2_arch
from facesr_arch.archs.stylegan2_arch import FaceStyleGAN2Generator, ModulatedConv2d, make_resample_kernel
from facesr_arch.models.base import FaceBaseModel, LazyLossLog
from facesr_arch.benchmark import configs as benchmark_configs, models as benchmark_models
from helpers import record_host_reads

TOLERANCE = 1e-4


def reference_upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """The zero-insertion implementation the polyphase one replaced (the upfirdn2d definition, step by step)."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b * c, 1, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    pad0, pad1 = pad
    x = F.pad(x, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    if pad0 < 0 or pad1 < 0:
        x = x[:, :, max(-pad0, 0):x.shape[2] - max(-pad1, 0), max(-pad0, 0):x.shape[3] - max(-pad1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(x)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=c)


def reference_fused_leaky_relu(x, bias, negative_slope=0.2, scale=2**0.5):
    """The three-pass bias + activation + scale the fused one replaced."""
    return F.leaky_relu(x + bias.view((1, -1) + (1, ) * (x.ndim - 2)), negative_slope) * scale


def reference_noise_forward(self, x, noise=None):
    if noise is None:
        noise = x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()
    return x + self.weight * noise


def reference_modulated_forward(self, x, style):
    """ModulatedConv2d's former forward: one grouped convolution whatever the batch and size."""
    return self.forward_grouped(x, self.modulation(style))


@pytest.mark.parametrize('taps', [(1, 3, 3, 1), (1, 2, 1), (1, 1)])
@pytest.mark.parametrize('up,down,pad', [(2, 1, (2, 1)), (2, 1, (0, 0)), (2, 1, (-1, 3)), (2, 2, (1, 1)),
                                         (3, 1, (2, 2)), (1, 1, (1, 1)), (1, 2, (2, 1)), (1, 1, (-1, 2))])
def test_upfirdn2d_matches_zero_insertion(taps, up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 7)
    kernel = make_resample_kernel(taps) * up**2
    expected = reference_upfirdn2d(x, kernel, up, down, pad)
    got = stylegan2_arch.upfirdn2d(x, kernel, up, down, pad)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)


# StyleGAN2 resamples only with 3x3 convolutions: 1x1 (ToRGB) runs without sample mode
@pytest.mark.parametrize('sample_mode,kernel_size', [(None, 3), ('upsample', 3), ('downsample', 3), (None, 1)])
@pytest.mark.parametrize('demodulate', [True, False])
@pytest.mark.parametrize('batch', [1, 3])
def test_modulated_conv_formulations_agree(sample_mode, demodulate, batch, kernel_size):
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, kernel_size, 8, demodulate=demodulate, sample_mode=sample_mode)
    x, style = torch.randn(batch, 6, 8, 8), torch.randn(batch, 8)
    modulation = conv.modulation(style)
    grouped = conv.forward_grouped(x, modulation)
    activations = conv.forward_modulated_activations(x, modulation)
    assert activations.shape == grouped.shape
    assert torch.allclose(activations, grouped, atol=TOLERANCE)
    assert torch.allclose(conv(x, style), grouped, atol=TOLERANCE)


def test_modulated_conv_gradients_agree():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 4, 3, 8, sample_mode='upsample')
    x, style = torch.randn(2, 4, 6, 6, requires_grad=True), torch.randn(2, 8)
    grads = []
    for forward in (conv.forward_grouped, conv.forward_modulated_activations):
        conv.zero_grad()
        x.grad = None
        forward(x, conv.modulation(style)).square().sum().backward()
        grads.append([x.grad.clone(), conv.weight.grad.clone(), conv.modulation.weight.grad.clone()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=TOLERANCE, rtol=1e-4)


def test_fused_activation_and_noise_match_reference_with_double_backward():
    """Values, gradients and the gradient-of-gradient that R1 needs (create_graph) of the fused bias/activation
    and noise injection equal the former ops'."""
    torch.manual_seed(0)
    x, bias, noise = torch.randn(2, 5, 6, 6), torch.randn(5), torch.randn(2, 1, 6, 6)
    injection = stylegan2_arch.NoiseInjection()
    injection.weight.data.fill_(0.7)
    results = []
    for activation, inject in ((stylegan2_arch.fused_leaky_relu, stylegan2_arch.NoiseInjection.forward),
                               (reference_fused_leaky_relu, reference_noise_forward)):
        xi, bi = x.clone().requires_grad_(), bias.clone().requires_grad_()
        out = activation(inject(injection, xi, noise), bi)
        grad_x, = torch.autograd.grad(out.square().sum(), xi, create_graph=True)
        grad_b, = torch.autograd.grad(grad_x.square().sum(), bi)
        results.append((out, grad_x, grad_b))
    for new, old in zip(*results):
        assert torch.allclose(new, old, atol=1e-5)


@pytest.fixture
def reference_stylegan2(monkeypatch):
    """Within the test, StyleGAN2 blocks run the former implementation (zero insertion, grouped convs, unfused
    elementwise ops)."""

    def use_reference():
        monkeypatch.setattr(stylegan2_arch, 'upfirdn2d', reference_upfirdn2d)
        monkeypatch.setattr(ModulatedConv2d, 'forward', reference_modulated_forward)
        monkeypatch.setattr(stylegan2_arch, 'fused_leaky_relu', reference_fused_leaky_relu)
        monkeypatch.setattr(stylegan2_arch.NoiseInjection, 'forward', reference_noise_forward)

    return use_reference


@pytest.mark.parametrize('method', ['CFGPFSSR', 'GCFSR', 'MPCNet', 'PVFR'])  # W-Net has no StyleGAN2 block
@pytest.mark.parametrize('batch', [1, 2])
def test_networks_unchanged_by_optimised_paths(method, batch, reference_stylegan2):
    """Every StyleGAN2-based method's tiny network gives the same fp32 output with the optimised and the former blocks."""
    block = benchmark_configs.method_options(method, 'tiny')['network_g']
    torch.manual_seed(0)
    net = benchmark_models.prepare_network(benchmark_models.build_generator(block), torch.device('cpu'))
    forward = benchmark_models.method_forward_factory(method, net, torch.device('cpu'))(batch)
    with torch.no_grad():
        optimised = forward()
        reference_stylegan2()
        reference = forward()
    assert torch.allclose(optimised, reference, atol=TOLERANCE)


def test_generator_with_noise_unchanged(reference_stylegan2):
    torch.manual_seed(0)
    net = FaceStyleGAN2Generator(64, num_style_feat=16, num_mlp=2, narrow=1 / 16).eval()
    z = torch.randn(2, 16)
    noise = [torch.randn(2, 1, r, r) for r in [4] + [2**i for i in range(3, 7) for _ in range(2)]]
    for conv in [net.style_conv1, *net.style_convs]:
        conv.noise.weight.data.fill_(0.3)
    with torch.no_grad():
        optimised = net(z, noise=noise)
        reference_stylegan2()
        reference = net(z, noise=noise)
    assert torch.allclose(optimised, reference, atol=TOLERANCE)


class _Model:
    """The logging methods of FaceBaseModel on a bare object (no networks needed)."""

    reduce_loss_dict = FaceBaseModel.reduce_loss_dict
    get_current_log = FaceBaseModel.get_current_log
    check_nonfinite = FaceBaseModel.check_nonfinite

    def __init__(self):
        from facesr_arch.models.precision import TrainingPrecision
        self.opt, self.device = {'dist': False}, torch.device('cpu')
        self._pending_finite = []
        self.precision = TrainingPrecision(None)


def test_lazy_loss_log_matches_item_logging(monkeypatch):
    losses = OrderedDict(l_pix=torch.tensor([0.25, 0.75]), l_gan=torch.tensor(1.5, requires_grad=True), l_r1=2.0)
    model = _Model()
    reads = []
    monkeypatch.setattr(torch.Tensor, '__float__', lambda t: reads.append(1) or t.item())
    model.log_dict = model.reduce_loss_dict(losses)
    model.log_dict.update(model.reduce_loss_dict({'l_local': torch.tensor(3.0)}))
    assert not reads  # no host read while training
    expected = {'l_pix': 0.5, 'l_gan': 1.5, 'l_r1': 2.0, 'l_local': 3.0}
    assert model.get_current_log() == pytest.approx(expected)
    assert model.log_dict['l_gan'] == pytest.approx(1.5) and isinstance(model.log_dict['l_gan'], float)
    assert isinstance(model.log_dict, LazyLossLog) and list(model.log_dict) == list(expected)


def test_model_benchmark_tiny_plumbing(monkeypatch):
    """Counts, FLOPs and one measurement of one method at tiny size, the markdown table, and the GFPGAN
    reference reported as skipped when the package cannot be imported (numbers not checked)."""
    monkeypatch.setitem(sys.modules, 'gfpgan.archs.gfpganv1_clean_arch', None)
    result = benchmark_models.run_models_benchmark(['WNet'], configs=['tiny'], batch_sizes=[1, 2], warmup=0,
                                                   repeats=1, train_step=True, train_iterations=1,
                                                   reference='gfpgan')
    entry = result['results'][0]
    assert {'reference_conv', 'reference_conv_end'} <= set(result['machine'])
    assert result['machine']['reference_conv']['gflops'] == pytest.approx(2 * 256 * 256 * 9 * 128 * 128 / 1e9, rel=1e-3)
    machine = entry['machine']
    assert machine['own_convs']['calls'] >= machine['own_convs']['shapes'] > 0
    assert machine['own_convs']['gflops'] > 0 and machine['achieved_gflop_per_s'] > 0
    assert machine['fraction_of_reference_conv'] > 0 and machine['fraction_of_own_convs'] > 0
    net = benchmark_models.build_generator(benchmark_configs.method_options('WNet', 'tiny')['network_g'])
    assert entry['params_total'] == sum(p.numel() for p in net.parameters())
    assert entry['gflops'] > 0 and set(entry['inference']) == {1, 2}
    assert entry['train']['iter_ms'] > 0 and 0 <= entry['train']['data_wait_share'] < 1
    assert 'iter_ms_with_r1' not in entry['train'] and entry['train']['ema_ms'] is None  # W-Net: no R1, no EMA
    assert 'not importable' in result['reference']['skipped'] and 'latency_ratio_to_reference' not in entry
    table = benchmark_models.markdown_table(result)
    assert table.startswith('| Method |') and '| WNet | tiny | 128 -> 128 |' in table
    assert 'of reference conv / of own convs' in table and 'Reference convolution (3x3 conv, 256' in table


def test_convolution_recorder_counts_functional_convolutions():
    """Every convolution call is recorded with its shape (functional, transposed and depthwise ones included) and
    the FLOPs per call agree with torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    from facesr_arch.benchmark import machine
    layer = stylegan2_arch.StyleConv(4, 6, 3, 8, sample_mode='upsample').eval()
    x, style = torch.randn(1, 4, 8, 8), torch.randn(1, 8)
    calls = machine.record_convolutions(lambda: layer(x, style))
    kinds = sorted((key[6], key[8] > 1) for key in calls)  # (transposed, depthwise)
    assert kinds == [(False, True), (True, False)] and sum(calls.values()) == 2  # transposed conv + blur
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        layer(x, style)
    conv_ops = {k: v for k, v in counter.get_flop_counts()['Global'].items() if 'convolution' in str(k)}
    total = 0
    for key, count in calls.items():
        flops, seconds = machine.time_convolution(key, repeats=1)
        assert seconds > 0
        total += count * flops
    assert total == sum(conv_ops.values())


def test_paths_benchmark_tiny_plumbing():
    """benchmark.py paths on GCFSR's tiny configuration: the three variants timed, ratios, the optimised output
    equal to the plain one, the machine-relative figure of each variant, the table (numbers not checked)."""
    from facesr_arch.benchmark import paths
    result = paths.run_paths_benchmark(['GCFSR'], config='tiny', warmup=0, repeats=1)
    entry = result['results'][0]
    assert set(entry['latency_ms']) == {'plain', 'optimised', 'official'}
    assert set(entry['ratios']) == {'optimised_to_plain', 'optimised_to_official', 'plain_to_official'}
    assert entry['optimised_vs_plain']['max_abs'] < TOLERANCE
    assert set(entry['machine']) == set(entry['latency_ms'])
    assert all(m['fraction_of_reference_conv'] > 0 for m in entry['machine'].values())
    assert result['machine']['reference_conv_end']['gflop_per_s'] > 0
    assert paths.markdown_table(result).splitlines()[2].startswith('| GCFSR | 64 |')


def test_paper_configurations_counted_on_meta_device():
    """Paper sizes build on the meta device, so their parameter and FLOP counts cost no memory."""
    block = benchmark_configs.method_options('GCFSR', 'paper')['network_g']
    total, _ = benchmark_models.count_parameters(benchmark_models.build_generator(block, 'meta'))
    assert abs(total / 1e6 - 66.67) < 0.05  # Table 1 (see the option file)
    assert benchmark_models.count_flops('GCFSR', block) > 1e11


@pytest.mark.parametrize('method', sorted(benchmark_configs.PAPER_OPTIONS))
def test_training_iteration_never_reads_the_device(method, tmp_path, monkeypatch):
    """No host-device synchronisation in a training iteration: ``optimize_parameters`` of every method's real
    model class (tiny configuration, lazy R1 due, in-memory batch) never reads a tensor's value on the host;
    the skip-on-non-finite decision and EMA stay on the device, and losses are read only when logged."""
    from torch.utils.data import DataLoader

    from facesr_arch.benchmark import training as benchmark_training
    from facesr_arch.inference.specs import Controls, get_spec
    opt = benchmark_configs.method_options(method, 'tiny')
    if opt['train'].get('r1_reg_weight', 0) > 0:
        opt['train']['net_d_reg_every'] = 2
    torch.manual_seed(0)
    model = benchmark_training.build_model(opt, torch.device('cpu'), str(tmp_path))
    _, lq_size, out_size = get_spec(method).sizes(model.get_bare_model(model.net_g), Controls())
    dataset = benchmark_training.InMemoryFaces(out_size, lq_size, opt['train'].get('component_crop_sizes') or ())
    batches = iter(DataLoader(dataset, batch_size=2))
    model.feed_data(next(batches))
    model.optimize_parameters(1)  # warm-up: optimiser states created
    reads = record_host_reads(monkeypatch)
    model.feed_data(next(batches))
    model.optimize_parameters(2)
    monkeypatch.undo()
    assert reads == []
    assert all(group['fused'] for optimizer in model.optimizers for group in optimizer.param_groups)
    log = model.get_current_log()  # losses read here, with the finiteness flags
    assert log and all(isinstance(v, float) for v in log.values())
