"""The optimised inference path against the plain network and, for GCFSR, the official release's wiring: same
weights (the official network: its own random weights of the same shapes), same inputs, timed in one process
with interleaved repeats so that a change of the machine's load falls on every variant alike. Used by
``scripts/benchmark.py paths``.

Variants: 'plain' (the network as trained, eval mode, contiguous inputs: what ``val.optimize_inference: false``
runs), 'optimised' (``optimize_for_inference``: folded scales, fused layers, channels_last; what the inference
script runs), 'official' (GCFSR only: ``benchmark/official_gcfsr.py``, contiguous inputs, the release's
forward on this package's layers).
"""
import copy
import os
import statistics
import sys
import time

import torch

from ..archs.optimize import optimize_for_inference
from ..inference.specs import Controls, get_spec
from .machine import machine_fractions, own_conv_rate, record_convolutions, reference_conv_rate
from .configs import method_options
from .models import build_generator, count_flops, method_forward_factory, output_deviation
from .official_gcfsr import OfficialGCFSR


def gcfsr_block(config, size):
    """GCFSR's network block at ``config``, at output size ``size`` (512: the official 512 px release's condition
    divisor 32) or its own size when None."""
    block = method_options('GCFSR', config)['network_g']
    if size is not None and size != block['out_size']:
        block.update(out_size=size, factor_norm=32.0 if size == 512 else block.get('factor_norm', 64.0))
    return block


def official_forward(block, x, condition):
    """The official wiring's forward on ``x`` (contiguous), built at ``block``'s size and width."""
    net = OfficialGCFSR(block['out_size'], num_style_feat=block.get('num_style_feat', 512),
                        channel_multiplier=block.get('channel_multiplier', 2), narrow=block.get('narrow', 1),
                        blind=block.get('blind', False)).eval().requires_grad_(False)
    return lambda: net(x, condition)[0]


def variants(method, block):
    """{name: forward()} of ``method``'s variants at batch 1 (inputs fixed), and the plain / optimised networks."""
    device = torch.device('cpu')
    torch.manual_seed(0)
    plain = build_generator(block).eval().requires_grad_(False)
    optimised = optimize_for_inference(copy.deepcopy(plain))
    torch.manual_seed(0)
    forwards = {'plain': method_forward_factory(method, plain, device)(1)}
    torch.manual_seed(0)
    forwards['optimised'] = method_forward_factory(method, optimised, device, channels_last=True)(1)
    return forwards, plain, optimised


def interleaved_times(forwards, warmup, repeats):
    """{name: [seconds]}: ``repeats`` rounds, each running every forward once (order rotated per round)."""
    names = list(forwards)
    seconds = {name: [] for name in names}
    with torch.no_grad():
        for round_index in range(warmup + repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                forwards[name]()
                if round_index >= warmup:
                    seconds[name].append(time.perf_counter() - start)
    return seconds


def run_paths_benchmark(methods, config='paper', gcfsr_sizes=None, warmup=1, repeats=5, official=True):
    """Latency of each method's variants, interleaved, as one JSON-serialisable dict.

    Args:
        methods (Sequence[str]): Registry names.
        config (str): 'paper' or 'tiny'.
        gcfsr_sizes (Sequence[int] | None): GCFSR output sizes (None: the configuration's own).
        warmup, repeats (int): Untimed and timed rounds.
        official (bool): Also time GCFSR's official wiring (conditional models).

    Returns:
        dict: Run facts (threads, load averages, the reference convolution rate at the start and the end) and
        per (method, size): GFLOPs, median latency per variant with all samples, the ratios optimised / plain,
        optimised / official, plain / official, the optimised output's largest difference from the plain one,
        and each variant's machine-relative figure (``benchmark/machine.py``).
    """
    result = {'device': 'cpu', 'torch': torch.__version__, 'torch_threads': torch.get_num_threads(),
              'load_average': [round(v, 2) for v in os.getloadavg()], 'cpu_count': os.cpu_count(),
              'options': {'config': config, 'warmup': warmup, 'repeats': repeats},
              'machine': {'reference_conv': reference_conv_rate(repeats=max(repeats, 3))}, 'results': []}
    for method in methods:
        sizes = (gcfsr_sizes or [None]) if method == 'GCFSR' else [None]
        for size in sizes:
            block = gcfsr_block(config, size) if method == 'GCFSR' else method_options(method, config)['network_g']
            forwards, plain, optimised = variants(method, block)
            spec = get_spec(method)
            if method == 'GCFSR' and official and not block.get('blind', False):
                torch.manual_seed(0)
                x = torch.rand(1, 3, block['out_size'], block['out_size']) * 2 - 1
                condition = torch.full((1, 1), spec.condition(plain, block['out_size'], Controls()))
                forwards['official'] = official_forward(block, x, condition)
            entry = {'method': method, 'config': config, 'out_size': getattr(plain, 'out_size', None),
                     'gflops': round(count_flops(method, block) / 1e9, 3),
                     'load_average_before': [round(v, 2) for v in os.getloadavg()]}
            seconds = interleaved_times(forwards, warmup, repeats)
            entry['latency_ms'] = {name: round(statistics.median(s) * 1e3, 1) for name, s in seconds.items()}
            entry['latency_ms_all'] = {name: [round(v * 1e3, 1) for v in s] for name, s in seconds.items()}
            ms = entry['latency_ms']
            entry['ratios'] = {'optimised_to_plain': round(ms['optimised'] / ms['plain'], 3)}
            if 'official' in ms:
                entry['ratios'].update(optimised_to_official=round(ms['optimised'] / ms['official'], 3),
                                       plain_to_official=round(ms['plain'] / ms['official'], 3))
            entry['optimised_vs_plain'] = output_deviation(method, plain, optimised, torch.device('cpu'),
                                                           channels_last=True)
            entry['machine'] = {}
            for name, forward in forwards.items():
                own = own_conv_rate(record_convolutions(forward), repeats=2)
                entry['machine'][name] = {'own_convs': own, **machine_fractions(
                    entry['gflops'], ms[name], result['machine']['reference_conv'], own)}
            entry['load_average_after'] = [round(v, 2) for v in os.getloadavg()]
            result['results'].append(entry)
            print(f"{method} {entry['out_size'] or ''}: {ms}", file=sys.stderr, flush=True)
            del forwards, plain, optimised
    result['machine']['reference_conv_end'] = reference_conv_rate(repeats=max(repeats, 3))
    result['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    return result


def markdown_table(result):
    """The inference-path table of a :func:`run_paths_benchmark` result."""
    head = ['Method', 'Out', 'GFLOPs', 'Plain (ms)', 'Optimised (ms)', 'Official (ms)', 'Optimised / plain',
            'Optimised / official', 'Max abs diff', 'GFLOP/s optimised (of reference conv / of own convs)']
    rows = []
    for entry in result['results']:
        ms, ratios, m = entry['latency_ms'], entry['ratios'], entry['machine']['optimised']
        rows.append([entry['method'], str(entry['out_size'] or '-'), f"{entry['gflops']:.1f}", f"{ms['plain']:.0f}",
                     f"{ms['optimised']:.0f}", f"{ms['official']:.0f}" if 'official' in ms else '-',
                     f"{ratios['optimised_to_plain']:.2f}",
                     f"{ratios['optimised_to_official']:.2f}" if 'optimised_to_official' in ratios else '-',
                     f"{entry['optimised_vs_plain']['max_abs']:.1g}",
                     f"{m['achieved_gflop_per_s']:.1f} ({100 * m['fraction_of_reference_conv']:.0f}% / "
                     f"{100 * m['fraction_of_own_convs']:.0f}%)"])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)] + ['| ' + ' | '.join(r) + ' |' for r in rows]
    start, end = result['machine']['reference_conv'], result['machine']['reference_conv_end']
    notes = [f"CPU, torch {result['torch']}, {result['torch_threads']} threads, load average "
             f"{result['load_average']} at the start, {result['load_average_end']} at the end; medians of "
             f"{result['options']['repeats']} interleaved rounds. Reference convolution ({start['shape']}): "
             f"{start['gflop_per_s']:.1f} GFLOP/s at the start, {end['gflop_per_s']:.1f} at the end."]
    return '\n'.join(lines + [''] + notes) + '\n'
