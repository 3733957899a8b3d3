"""The machine's convolution rate, measured in the run that times the networks, so that a latency can be read as
a fraction of what this machine (its cores, threads and load at that moment) reaches.

Two rates, both in GFLOP/s (one multiply-add = 2 FLOPs, as ``torch.utils.flop_counter`` counts):
    - the reference convolution: 3x3, 256 -> 256 channels, 128x128, batch 1, float32, the current torch
      threads; a large dense convolution, close to the best rate the machine's convolution library gives;
    - a network's own convolutions: every convolution call of one forward pass (recorded with a dispatch
      mode, so the convolutions inside functional calls, transposed convolutions and depthwise blurs count),
      each distinct shape timed alone on random tensors; the rate is their FLOPs over the sum of their times.
A network's achieved rate (its FLOPs over its latency) divided by the first says how much of the machine it
uses; divided by the second, how much of what its own layer shapes allow (what is left is the time spent
outside the convolutions, and the convolutions' own slowdown inside the network).
"""
import statistics
import time
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

REFERENCE_CONV = {'channels': 256, 'size': 128, 'kernel': 3}


def conv_flops(input_shape, weight_shape, output_shape, transposed):
    """FLOPs of one convolution call (2 per multiply-add; a transposed one counted over its input)."""
    spatial = input_shape[2:] if transposed else output_shape[2:]
    batch = input_shape[0]
    # weight (c_out, c_in / groups, k, k), transposed (c_in, c_out / groups, k, k): c_out * c_in / groups either way
    per_position = weight_shape[0] * weight_shape[1] * weight_shape[2] * weight_shape[3]
    positions = batch
    for s in spatial:
        positions *= s
    return 2 * per_position * positions


class ConvolutionRecorder(TorchDispatchMode):
    """Records the arguments of every ``aten.convolution`` call made while it is active.

    Attributes:
        calls (Counter): {(input shape, weight shape, has bias, stride, padding, dilation, transposed,
            output_padding, groups, channels_last): number of calls}.
    """

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution.default:
            x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args
            key = (tuple(x.shape), tuple(weight.shape), bias is not None, tuple(stride), tuple(padding),
                   tuple(dilation), bool(transposed), tuple(output_padding), int(groups),
                   x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
                   and not x.is_contiguous())
            self.calls[key] += 1
        return func(*args, **(kwargs or {}))


def record_convolutions(forward):
    """The convolution calls of one ``forward()`` (no gradients), as :attr:`ConvolutionRecorder.calls`."""
    with torch.no_grad(), ConvolutionRecorder() as recorder:
        forward()
    return recorder.calls


def _time(fn, repeats):
    fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def time_convolution(key, repeats=3, device='cpu'):
    """(FLOPs, median seconds) of one recorded convolution shape, run alone on random float32 tensors."""
    x_shape, w_shape, has_bias, stride, padding, dilation, transposed, output_padding, groups, channels_last = key
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(x_shape, device=device).contiguous(memory_format=layout)
    weight = torch.randn(w_shape, device=device)
    if channels_last:
        weight = weight.contiguous(memory_format=torch.channels_last)
    bias = torch.randn(w_shape[1] * groups if transposed else w_shape[0], device=device) if has_bias else None

    def run():
        out = torch.ops.aten.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding,
                                         groups)
        if out.device.type == 'cuda':
            torch.cuda.synchronize(out.device)
        return out

    with torch.no_grad():
        out = run()
        return conv_flops(x_shape, w_shape, tuple(out.shape), transposed), _time(run, repeats)


def reference_conv_rate(repeats=5, device='cpu'):
    """GFLOP/s of the reference convolution (:data:`REFERENCE_CONV`, float32, batch 1, contiguous layout)."""
    c, s, k = REFERENCE_CONV['channels'], REFERENCE_CONV['size'], REFERENCE_CONV['kernel']
    key = ((1, c, s, s), (c, c, k, k), True, (1, 1), (k // 2, k // 2), (1, 1), False, (0, 0), 1, False)
    flops, seconds = time_convolution(key, repeats, device)
    return {'shape': f'{k}x{k} conv, {c} -> {c} channels, {s}x{s}, batch 1, float32', 'gflops': round(flops / 1e9, 3),
            'ms': round(seconds * 1e3, 3), 'gflop_per_s': round(flops / seconds / 1e9, 2)}


def own_conv_rate(calls, repeats=3, device='cpu'):
    """The rate a network's own convolution shapes reach one by one.

    Args:
        calls (Counter): :func:`record_convolutions` of one forward pass.
        repeats (int): Timed runs per shape (median). Default: 3.

    Returns:
        dict: 'gflops' (all convolution calls), 'ms' (the sum over calls of each shape's time alone),
        'gflop_per_s', 'shapes' (distinct shapes) and 'calls'.
    """
    total_flops = total_seconds = 0.0
    for key, count in calls.items():
        flops, seconds = time_convolution(key, repeats, device)
        total_flops += count * flops
        total_seconds += count * seconds
    return {'gflops': round(total_flops / 1e9, 3), 'ms': round(total_seconds * 1e3, 3),
            'gflop_per_s': round(total_flops / total_seconds / 1e9, 2) if total_seconds else None,
            'shapes': len(calls), 'calls': sum(calls.values())}


def machine_fractions(gflops, latency_ms, reference, own):
    """A network's achieved rate and its fractions of the reference and of its own convolution shapes' rate.

    Args:
        gflops (float): The network's FLOPs per forward (all operations, the flop counter's count).
        latency_ms (float): Its measured latency.
        reference (dict): :func:`reference_conv_rate`.
        own (dict): :func:`own_conv_rate` of the network.

    Returns:
        dict: 'achieved_gflop_per_s', 'fraction_of_reference_conv' (achieved / reference rate) and
        'fraction_of_own_convs' (the time the network's convolutions need alone over its latency, i.e. its
        convolution FLOPs' rate within the network over their rate one by one).
    """
    achieved = gflops / latency_ms * 1e3
    return {'achieved_gflop_per_s': round(achieved, 2),
            'fraction_of_reference_conv': round(achieved / reference['gflop_per_s'], 3),
            'fraction_of_own_convs': round(own['ms'] / latency_ms, 3) if own['ms'] else None}
