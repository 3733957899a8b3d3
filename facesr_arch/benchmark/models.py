"""Model cost benchmark: parameters, FLOPs, latency, throughput, peak memory and training iterations of every
method, at its paper configuration and at a tiny one. Used by ``scripts/benchmark.py models``.

Each method's network is the ``network_g`` block of its paper training option file (pretrained-file arguments
cleared, as for inference), shrunk by ``configs.TINY`` for the tiny configuration. Input sizes and the call
convention come from the inference specs (``facesr_arch/inference/specs.py``). Training iterations run the
method's real model class (``optimize_parameters``) on in-memory or real data (``benchmark/training.py``).
"""
import contextlib
import math
import os
import statistics
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..archs.optimize import optimize_for_inference
from ..inference.specs import Controls, condition_tensor, get_spec
from .configs import BASELINES, LARGE_OPTIONS, method_options
from .machine import machine_fractions, own_conv_rate, record_convolutions, reference_conv_rate
from .timing import PeakMemory, time_calls
from .training import training_cost


def build_generator(block, device='cpu'):
    """Build the network of an option block (with 'type') on ``device`` ('meta' allocates nothing)."""
    from basicsr.utils.registry import ARCH_REGISTRY
    options = dict(block)
    with torch.device(device):
        return ARCH_REGISTRY.get(options.pop('type'))(**options)


def method_inputs(net, spec, batch, device):
    """A random input batch of the method's input size and its condition (None for most methods)."""
    _, in_size, out_size = spec.sizes(net, Controls())
    x = torch.rand(batch, 3, in_size, in_size, device=device) * 2 - 1
    condition = None
    if spec.condition is not None:
        condition = condition_tensor([spec.condition(net, in_size, Controls())] * batch, device)
    return x, condition, in_size, out_size


def count_parameters(net):
    """(total, trainable) parameter counts."""
    params = list(net.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def count_flops(method, block):
    """FLOPs of one forward pass at batch 1 (torch's flop counter; shapes only, on the meta device)."""
    spec = get_spec(method)
    net = build_generator(block, 'meta').eval()
    x, condition, _, _ = method_inputs(net, spec, 1, torch.device('meta'))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        spec.run(net, x, condition)
    return counter.get_total_flops()


def precision_context(device, autocast):
    """``torch.autocast`` for 'bf16' / 'fp16', or a null context for None."""
    if autocast is None:
        return contextlib.nullcontext()
    dtypes = {'bf16': torch.bfloat16, 'fp16': torch.float16}
    if autocast not in dtypes:
        raise ValueError(f"autocast must be 'bf16' or 'fp16', got {autocast!r}")
    return torch.autocast(device.type, dtype=dtypes[autocast])


def inference_cost(call, batch_sizes, device, warmup, repeats, channels_last=False, autocast=None):
    """Latency, throughput and peak memory of ``call(batch)`` -> forward function, per batch size.

    Args:
        call (Callable[[int], Callable[[], Tensor]]): Builds the forward of one batch size (inputs ready).
        batch_sizes (Sequence[int]): Batch sizes.
        device (torch.device): Device of the network.
        warmup, repeats (int): Untimed / timed forwards.
        channels_last (bool): Inputs already in channels_last (informational). Default: False.
        autocast (str | None): 'bf16', 'fp16' or None.

    Returns:
        dict: {batch size: {'latency_ms' (median), 'latency_ms_all', 'images_per_s', 'peak_mem_mb'}}.
    """
    result = {}
    for batch in batch_sizes:
        forward = call(batch)

        def run():
            with torch.no_grad(), precision_context(device, autocast):
                return forward()

        with PeakMemory(device) as memory:
            seconds = time_calls(run, device, warmup, repeats)
        median = statistics.median(seconds)
        result[batch] = {'latency_ms': round(median * 1e3, 3), 'latency_ms_all': [round(s * 1e3, 3) for s in seconds],
                         'images_per_s': round(batch / median, 3), 'peak_mem_mb': round(memory.peak_mb, 1)}
    return result


def output_deviation(method, reference_net, net, device, channels_last=False, autocast=None):
    """How far the measured configuration's output is from the plain fp32 network's, with the same weights,
    input (batch 1) and noise draws.

    Returns:
        dict: 'max_abs' (largest absolute difference, outputs in [-1, 1]) and 'psnr_db' (PSNR of the
        measured output against the fp32 one, both clamped to [-1, 1] and mapped to [0, 1]; None when equal).
    """
    spec = get_spec(method)
    torch.manual_seed(0)
    x, condition, _, _ = method_inputs(reference_net, spec, 1, device)
    outputs = []
    for candidate, layout, precision in ((reference_net, False, None), (net, channels_last, autocast)):
        torch.manual_seed(1)
        with torch.no_grad(), precision_context(device, precision):
            inputs = x.contiguous(memory_format=torch.channels_last) if layout else x
            outputs.append(spec.run(candidate, inputs, condition).float().clamp(-1, 1))
    difference = outputs[1] - outputs[0]
    mse = (difference / 2).square().mean().item()
    return {'max_abs': round(difference.abs().max().item(), 6),
            'psnr_db': round(10 * math.log10(1 / mse), 2) if mse > 0 else None}


def prepare_network(net, device, channels_last=False, compile_net=False, fold=False):
    """``net`` on ``device`` prepared as the inference path does (``archs/optimize.py``): eval mode,
    optionally BatchNorm / weight scales folded, channels_last and ``torch.compile``-d."""
    return optimize_for_inference(net.to(device), channels_last=channels_last, fold=fold, compile_net=compile_net)


def method_forward_factory(method, net, device, channels_last=False):
    """(batch) -> forward function of ``method``'s network on fresh random inputs."""
    spec = get_spec(method)

    def factory(batch):
        x, condition, _, _ = method_inputs(net, spec, batch, device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return lambda: spec.run(net, x, condition)

    return factory


def gfpgan_reference():
    """GFPGANv1Clean at 512 px (GFPGAN v1.3 / v1.4 configuration) from the ``gfpgan`` package.

    Returns:
        tuple[torch.nn.Module | None, str | None]: The network, or None and why it is unavailable.
    """
    try:
        from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean
    except ImportError as err:
        return None, f'gfpgan is not importable ({err}); pip install --no-deps gfpgan to compare'
    net = GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                        fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                        sft_half=True)
    return net, None


def run_models_benchmark(methods, configs=('tiny', 'paper'), device='cpu', batch_sizes=(1, ), warmup=1, repeats=3,
                         channels_last=False, fold=False, autocast=None, compile_net=False, train_step=False, train_batch=2,
                         train_iterations=4, reference=None, train_data=None, train_workers=None,
                         degradation_on_device=False, machine=True):
    """All model numbers as one JSON-serialisable dict.

    Args:
        methods (Sequence[str]): Method names (:data:`METHODS`: keys of :data:`PAPER_OPTIONS` and :data:`BASELINES`).
        configs (Sequence[str]): 'tiny', 'paper' and/or 'large' (skipped for methods without one).
        device (str): 'cpu' or 'cuda'.
        batch_sizes (Sequence[int]): Batch sizes of the latency / throughput / memory measurements.
        warmup, repeats (int): Untimed and timed forwards per batch size (latency: median).
        channels_last (bool): channels_last network and inputs.
        fold (bool): Fold BatchNorm and weight scales into the weights (with ``channels_last``: the
            optimised inference path of ``scripts/inference.py``).
        autocast (str | None): 'bf16', 'fp16' or None (fp32).
        compile_net (bool): ``torch.compile`` the networks.
        train_step (bool): Also time training iterations through the model classes.
        train_batch, train_iterations (int): Batch size and timed iterations of the training measurement.
        reference (str | None): 'gfpgan': also time GFPGANv1Clean at 512 px (as its package runs it: eval, fp32 or
            ``autocast``, optionally compiled; never folded or channels_last) and report latency ratios; without
            the package, FaceGFPGAN's paper entry of the same run (measured like every method) is the reference.
        train_data (str | None): HQ folder or LMDB: training iterations on real data through each method's
            training dataset (``benchmark.training.training_cost``); None: in-memory random batches.
        train_workers (int | None): Loader workers of the real-data measurement (default: the option file's).
        degradation_on_device (bool): Blind degradations on the training device in the real-data measurement.
        machine (bool): Also measure the machine's reference convolution rate (at the start and the end of the
            run) and each network's own convolution shapes one by one, and report each entry's achieved rate as
            fractions of both (``benchmark/machine.py``; at the first batch size; not with ``compile_net``).
            Default: True.
    """
    device = torch.device(device)
    result = {'device': str(device), 'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
              'load_average': [round(v, 2) for v in os.getloadavg()], 'cpu_count': os.cpu_count(),
              'options': {'batch_sizes': list(batch_sizes), 'warmup': warmup, 'repeats': repeats,
                          'channels_last': channels_last, 'fold': fold, 'autocast': autocast, 'compile': compile_net,
                          'train_data': train_data, 'train_workers': train_workers,
                          'degradation_on_device': degradation_on_device},
              'results': []}
    if device.type == 'cuda':
        result['gpu'] = torch.cuda.get_device_name(device)
    if machine:
        result['machine'] = {'reference_conv': reference_conv_rate(repeats=max(repeats, 3), device=device)}
    reference_ms = None
    if reference == 'gfpgan':
        net, reason = gfpgan_reference()
        if net is None:
            result['reference'] = {'name': 'GFPGANv1Clean-512', 'skipped': reason}
        else:
            # as the gfpgan package runs it: no folding, no channels_last (its .view calls need contiguous maps)
            net = prepare_network(net, device, compile_net=compile_net)
            total, trainable = count_parameters(net)

            def factory(batch):
                x = torch.rand(batch, 3, 512, 512, device=device) * 2 - 1
                return lambda: net(x, return_rgb=False)

            cost = inference_cost(factory, batch_sizes, device, warmup, repeats, autocast=autocast)
            reference_ms = cost[batch_sizes[0]]['latency_ms']
            result['reference'] = {'name': 'GFPGANv1Clean-512', 'params_total': total, 'inference': cost}
    for method in methods:
        spec = get_spec(method)
        for config in configs:
            if config == 'large' and method not in LARGE_OPTIONS:
                continue
            block = method_options(method, config)['network_g']
            entry = {'method': method, 'config': config}
            meta = build_generator(block, 'meta')
            entry['params_total'], entry['params_trainable'] = count_parameters(meta)
            _, in_size, out_size = spec.sizes(meta, Controls())
            entry.update(in_size=in_size, out_size=out_size, gflops=round(count_flops(method, block) / 1e9, 3))
            torch.manual_seed(0)
            net = prepare_network(build_generator(block), device, channels_last, compile_net, fold)
            factory = method_forward_factory(method, net, device, channels_last)
            entry['inference'] = inference_cost(factory, batch_sizes, device, warmup, repeats, channels_last, autocast)
            if machine and not compile_net:  # a dispatch mode inside a compiled graph would record nothing useful
                batch = batch_sizes[0]
                own = own_conv_rate(record_convolutions(factory(batch)), repeats=max(repeats, 1), device=device)
                entry['machine'] = {'own_convs': own, **machine_fractions(
                    entry['gflops'] * batch, entry['inference'][batch]['latency_ms'],
                    result['machine']['reference_conv'], own)}
            if channels_last or fold or autocast or compile_net:
                torch.manual_seed(0)
                reference_net = prepare_network(build_generator(block), device)
                entry['deviation_from_fp32'] = output_deviation(method, reference_net, net, device, channels_last,
                                                                autocast)
                del reference_net
            if reference_ms:
                entry['latency_ratio_to_reference'] = round(
                    entry['inference'][batch_sizes[0]]['latency_ms'] / reference_ms, 3)
            del net
            if train_step and method not in BASELINES:
                entry['train'] = training_cost(method, config, device, train_batch, train_iterations,
                                               train_data=train_data, num_workers=train_workers,
                                               degradation_on_device=degradation_on_device)
            result['results'].append(entry)
            print(f"{method} {config}: {entry['inference'][batch_sizes[0]]['latency_ms']} ms at b={batch_sizes[0]}",
                  file=sys.stderr, flush=True)
    in_project = [e for e in result['results'] if (e['method'], e['config']) == ('FaceGFPGAN', 'paper')]
    if reference == 'gfpgan' and reference_ms is None and in_project:
        # the package is absent: FaceGFPGAN at its release configuration computes GFPGANv1Clean's function
        entry = in_project[0]
        reference_ms = entry['inference'][batch_sizes[0]]['latency_ms']
        result['reference'] = {'name': 'FaceGFPGAN-512 (GFPGANv1Clean v1.3/v1.4, measured in this run)',
                               'params_total': entry['params_total'], 'inference': entry['inference']}
        for entry in result['results']:
            entry['latency_ratio_to_reference'] = round(entry['inference'][batch_sizes[0]]['latency_ms'] / reference_ms,
                                                        3)
    if machine:
        result['machine']['reference_conv_end'] = reference_conv_rate(repeats=max(repeats, 3), device=device)
    result['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    return result


def markdown_table(result):
    """The "Model zoo: cost" table of a :func:`run_models_benchmark` result."""
    batches = result['options']['batch_sizes']
    first, last = batches[0], batches[-1]
    head = ['Method', 'Config', 'In -> out', 'Params (M) total / trainable', 'GFLOPs (b=1)',
            f'Latency b={first} (ms)', f'Throughput b={last} (img/s)', f'Peak mem b={last} (MiB)',
            'Train iter (ms)', 'Data wait', 'EMA (ms)']
    reference = result.get('reference', {})
    if 'inference' in reference:
        head.append('Latency / GFPGAN')
    machine = 'machine' in result
    if machine:
        head.append('GFLOP/s achieved (of reference conv / of own convs)')
    deviation = any('deviation_from_fp32' in entry for entry in result['results'])
    if deviation:
        head.append('Max abs diff / PSNR vs fp32')
    rows = []
    for entry in result['results']:
        inference, train = entry['inference'], entry.get('train') or {}
        row = [entry['method'], entry['config'], f"{entry['in_size']} -> {entry['out_size']}",
               f"{entry['params_total'] / 1e6:.2f} / {entry['params_trainable'] / 1e6:.2f}", f"{entry['gflops']:.2f}",
               f"{inference[first]['latency_ms']:.1f}", f"{inference[last]['images_per_s']:.2f}",
               f"{inference[last]['peak_mem_mb']:.0f}", f"{train['iter_ms']:.0f}" if train else '-',
               f"{100 * train['data_wait_share']:.1f}%" if train else '-',
               f"{train['ema_ms']:.2f}" if train.get('ema_ms') is not None else '-']
        if 'inference' in reference:
            row.append(f"{entry['latency_ratio_to_reference']:.2f}")
        if machine and 'machine' not in entry:
            row.append('-')
        elif machine:
            m = entry['machine']
            own = '-' if m['fraction_of_own_convs'] is None else f"{100 * m['fraction_of_own_convs']:.0f}%"
            row.append(f"{m['achieved_gflop_per_s']:.1f} ({100 * m['fraction_of_reference_conv']:.0f}% / {own})")
        if deviation:
            d = entry.get('deviation_from_fp32')
            row.append('-' if d is None else f"{d['max_abs']:.2g} / " + ('equal' if d['psnr_db'] is None
                                                                         else f"{d['psnr_db']:.1f} dB"))
        rows.append(row)
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)] + ['| ' + ' | '.join(r) + ' |' for r in rows]
    notes = [f"Device: {result['device']}{' (' + result['gpu'] + ')' if 'gpu' in result else ''}, torch "
             f"{result['torch']}, {result['torch_threads']} threads, load average {result['load_average'][0]} at start;"
             f" options {result['options']}."]
    if machine:
        start, end = result['machine']['reference_conv'], result['machine']['reference_conv_end']
        notes.append(f"Reference convolution ({start['shape']}): {start['gflop_per_s']:.1f} GFLOP/s at the start of "
                     f"the run, {end['gflop_per_s']:.1f} at the end; own convs: each network's convolution shapes "
                     'timed one by one.')
    if reference:
        notes.append(f"Reference {reference['name']}: " + (
            reference['skipped'] if 'skipped' in reference else f"{reference['inference'][first]['latency_ms']:.1f} ms "
            f"at b={first}, {reference['params_total'] / 1e6:.2f} M parameters."))
    return '\n'.join(lines + [''] + notes) + '\n'
