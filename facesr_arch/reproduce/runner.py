"""Measure one paper table with this plugin: test sets, inference, metrics, and the table beside the paper's.

The command line is :mod:`facesr_arch.cli.reproduce`. For a table (:mod:`facesr_arch.reproduce.tables`):

1. each (protocol, subset) its columns use gets a test set, built by :func:`facesr_arch.data.testset_build.make_testset`
   from the user's HQ faces and cached under ``OUT/testsets/<protocol>-<hash>``, the hash covering the
   protocol recipe, seed, image limit, key selection and the input files (paths, sizes, modification times);
   a cached set is reused only when its manifest names the same protocol, seed and degradations;
2. the measured rows: ``Input`` (the LQ faces, bicubic-upsampled to the GT size when smaller), ``GT`` where
   the paper prints a ground-truth row, and one row per ``--checkpoint NAME=PATH``, restored by the plugin's
   inference code (``facesr_arch.inference``) into ``OUT/outputs/<NAME>-<hash>/<protocol>/<subset>``;
3. the metrics with the code of the ``calculate_metrics`` command (``facesr_arch.metrics.report``) under the
   table's metric options; a metric whose weights are absent is reported unavailable with the reason;
   parameter tables count the built networks' parameters, runtime tables time the forward passes;
4. ``OUT/<paper>_table<id>/``: ``table.md``, ``table.csv``, ``table.json`` (paper, measured and difference
   per cell; images a metric failed on are listed, e.g. NIQE on faces under 96 px),
   ``metrics/<protocol>/<subset>/`` (the full calculate_metrics reports, each with its ``report.html``),
   ``report.html`` (:mod:`.report_html`: the table to browse, with each test set's gallery) and ``sweep.png``
   for sweep tables; built in a temporary folder beside it and renamed into place.
"""
import copy
import csv
import hashlib
import io
import json
import math
import os
import statistics
import time

import torch

from ..data.preprocess import bicubic_resize
from ..data.testset_keys import is_derived
from ..data.testset_protocols import get_protocol
from ..inference.loading import build_network, network_config
from ..inference.runner import FaceRestorer, run_aligned, to_uint8
from ..inference.sources import collect_inputs
from ..inference.specs import Controls, get_spec
from ..metrics.catalog import METRICS
from ..toolkit.checkpoints import NETWORK_KEY, describe
from ..toolkit.errors import UserError
from ..toolkit.inputs import list_images, read_image
from ..toolkit.outputs import atomic_write_bytes, check_output, staged_folder, write_image_atomic
from .figures import plot_sweep
from .report_html import write_reproduce_html
from .selection import paired_sets, rows_on, split_row_name
from .tables import EXTRA_METRICS, format_cell

# ``--checkpoint NAME=PATH`` where the checkpoint holds no network description: ``--checkpoint-opt NAME=OPT``
NEEDS_OPT = ('{path} does not describe its network (no {key!r} entry): give its option file with '
             '--checkpoint-opt {name}=OPTION_FILE.yml')
# a super-resolution checkpoint that does not record the factors it was trained for (saved before they were)
NEEDS_SCALE = ('--checkpoint {name}={path}: the checkpoint does not record the upscaling factor it was trained for '
               '(an older checkpoint), and {table} has x{scales} test sets: give it with --checkpoint-scale '
               '{name}=FACTOR (e.g. 4; several: 4,8)')


class ReproduceError(UserError, ValueError):
    """Bad command-line input for a reproduction (one line: what, where, what to do)."""


# ------------------------------------------------------------------------------------------------ arguments


def parse_pairs(pairs, what):
    """``['a=x', 'b=y']`` -> {'a': 'x', 'b': 'y'} (the first '=' splits)."""
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition('=')
        if not sep or not name or not value:
            raise ReproduceError(f'{what} takes NAME=VALUE, got {pair!r}')
        if name in out:
            raise ReproduceError(f'{what}: {name!r} given twice')
        out[name] = value
    return out


def hq_sources(table, hq, paired=()):
    """The HQ (or real-face) input of every protocol the table is measured on.

    Args:
        table (PaperTable): The table.
        hq (list[str]): ``DIR`` (every protocol) and / or ``NAME=DIR`` with NAME a column dataset (e.g.
            ``helen``) or a protocol name.
        paired (Collection[tuple[str, str]]): (protocol, subset) sets the user's own pairs serve (no HQ needed).

    Returns:
        dict[str, str]: protocol -> folder or LMDB.
    """
    default, named = None, {}
    for entry in hq or ():
        name, sep, path = entry.partition('=')
        if sep and not os.path.exists(entry):
            named[name] = path
        elif default is None:
            default = entry
        else:
            raise ReproduceError(f'--hq: two inputs without a name ({default}, {entry}); name them DATASET=DIR')
    sources = {}
    for group in table.group_names:
        for col in table.columns:
            protocol = table.column_protocol(col, group)
            if (protocol, col.subset) in paired:
                continue
            path = named.get(protocol) or named.get(col.dataset) or default
            if path is None:
                raise ReproduceError(f'{table.name}: no --hq for {col.dataset or protocol} (column {col.label}); '
                                     f'give --hq DIR or --hq {col.dataset or protocol}=DIR')
            if not os.path.exists(path):
                raise ReproduceError(f'--hq {path}: no such folder or LMDB')
            sources[protocol] = path
    protocols = {table.column_protocol(c, g) for g in table.group_names for c in table.columns}
    unknown = set(named) - {c.dataset for c in table.columns} - protocols
    if unknown:
        raise ReproduceError(f'--hq names {sorted(unknown)} are not datasets or protocols of {table.name}')
    return sources


# ------------------------------------------------------------------------------------------------ test sets


def _fingerprint(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def input_fingerprint(path):
    """What identifies an input folder / LMDB: its real path and its files' names, sizes and mtimes."""
    path = os.path.realpath(path)
    entries = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isfile(full):
            stat = os.stat(full)
            entries.append((name, stat.st_size, stat.st_mtime_ns))
    return [path, entries]


def file_fingerprint(path):
    """What identifies a checkpoint file: its real path, size and modification time."""
    stat = os.stat(path)
    return [os.path.realpath(path), stat.st_size, stat.st_mtime_ns]


def _key_fingerprint(spec):
    """A key selection (None, 'paper', or a list file / LMDB / folder) as it enters the cache key."""
    if spec is None or spec == 'paper':
        return spec
    return file_fingerprint(spec) if os.path.isfile(spec) else input_fingerprint(spec)


def testset(build, out_dir, protocol, source, seed=0, max_images=None, keys=None, exclude=(), dataset=None,
            celeba_lists=None):
    """The test set of ``protocol`` from ``source``, built by ``build`` unless a matching one is cached.

    Args:
        build (Callable): ``make_testset(input_root, output, protocol, seed, max_images, keys=, exclude=)`` of
            :mod:`facesr_arch.data.testset_build`; returns the manifest path.
        out_dir (str): The reproduction's output folder (sets go to ``out_dir/testsets``).
        protocol (str): Protocol name.
        source (str): HQ faces (folder or LMDB).
        seed (int): Degradation seed. Default: 0.
        max_images (int | None): Only the first N faces (quick look). Default: None.
        keys (str | None): make_testset's ``keys``: None (every input face), 'paper' (the protocol's key
            list where it has one, else every input face) or a key list file / LMDB / folder. Default: None.
        exclude (Sequence[str]): make_testset's ``exclude``: training key lists the set must not overlap.
        dataset (str | None): make_testset's ``dataset``: the data set of ``source`` (None: the protocol's).
        celeba_lists (tuple[str, str] | None): make_testset's ``celeba_lists``: CelebA-HQ's image list and
            CelebA's partition list, from which GCFSR's CelebA-Test is derived.

    Returns:
        str: The folder holding ``<subset>/{gt,lq}`` and ``manifest.json``.
    """
    recipe = get_protocol(protocol)
    if keys == 'paper' and not recipe.get('keys'):  # e.g. Helen, real faces: the set is the faces given
        keys = None
    if not (recipe.get('keys') and is_derived(recipe['keys'])):  # the lists derive GCFSR's CelebA-Test only
        celeba_lists = None
    key = _fingerprint(recipe, seed, max_images, input_fingerprint(source), _key_fingerprint(keys),
                       [_key_fingerprint(e) for e in exclude], dataset,
                       [file_fingerprint(p) for p in celeba_lists or ()])
    root = os.path.join(out_dir, 'testsets', f'{protocol}-{key}')
    manifest_path = os.path.join(root, protocol, 'manifest.json')
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        expected = {s: spec['degradation'] for s, spec in recipe['subsets'].items()}
        if (manifest.get('protocol') == protocol and manifest.get('seed') == seed
                and {s: v['degradation'] for s, v in manifest.get('subsets', {}).items()} == expected):
            return os.path.dirname(manifest_path)
    with staged_folder(root, overwrite=True) as tmp:  # a cache entry: an inconsistent one is rebuilt
        selection = {'keys': keys, 'exclude': list(exclude)} if keys or exclude else {}
        selection.update({k: v for k, v in (('dataset', dataset), ('celeba_lists', celeba_lists)) if v})
        build(source, tmp, protocol, seed, max_images, **selection)
    return os.path.join(root, protocol)


def input_row_folder(lq_dir, gt_dir, out_dir):
    """The ``Input`` row's images: the LQ faces, MATLAB-bicubic-upsampled to the GT size when smaller."""
    if gt_dir is None:
        return lq_dir
    gt_sizes = {os.path.splitext(os.path.basename(p))[0]: read_image(p).shape[0] for p in list_images(gt_dir)}
    for path in list_images(lq_dir):
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(out_dir, f'{stem}.png')
        if stem in gt_sizes and not os.path.exists(target):
            write_image_atomic(target, to_uint8(bicubic_resize(read_image(path), gt_sizes[stem])))
    return out_dir


# ------------------------------------------------------------------------------------------------ methods


def checkpoint_network(path, opt=None):
    """The network block, weights and param key of a checkpoint (self-describing, or with its option file);
    None when it describes no network and no option file is given. A bad file is one line
    (``toolkit.checkpoints``: missing, not a checkpoint, truncated, pickled code)."""
    if opt:
        return network_config(opt_path=opt, weights=path)
    if describe(path, f'--checkpoint {path}').network is None:
        return None
    return network_config(weights=path)  # the checkpoint's own network block (inference/loading.py)


def parse_scales(text, what):
    """``'4'`` / ``'4,8'`` -> (4.0, 8.0); a factor that is not a number above 1 is refused."""
    try:
        scales = tuple(sorted({float(v) for v in str(text).split(',')}))
    except ValueError:
        scales = ()
    if not scales or min(scales) <= 1:
        raise ReproduceError(f'{what}: {text!r} is not an upscaling factor (a number above 1, several: 4,8)')
    return scales


def scale_bound(block):
    """True for the networks that super-resolve by the factors they were trained for (FSR methods; not the
    blind GCFSR variant, which restores any degradation)."""
    return get_spec(block['type']).task == 'fsr' and not block.get('blind')


def checkpoint_scales(table, name, path, block, given=None):
    """The upscaling factors a checkpoint is measured at: those it records, else ``given`` (the user's
    ``--checkpoint-scale``); None for a network not tied to factors (restoration methods).

    Raises:
        ReproduceError: A super-resolution checkpoint whose factors are unknown while the table has test sets
            of a known factor, or ``given`` contradicting what the checkpoint records.
    """
    recorded = describe(path, f'--checkpoint {path}').scales
    given = parse_scales(given, f'--checkpoint-scale {name}') if given else None
    if recorded and given and set(given) != set(recorded):
        raise ReproduceError(f'--checkpoint-scale {name}={",".join(f"{s:g}" for s in given)} contradicts {path}, '
                             f'which records x{"/".join(f"{s:g}" for s in recorded)}: drop --checkpoint-scale')
    if not scale_bound(block):
        return None
    scales = recorded or given
    table_scales = sorted({s for p, sub in table.measured_on if (s := subset_scale(get_protocol(p), sub))})
    if scales is None and table_scales:
        raise ReproduceError(NEEDS_SCALE.format(name=name, path=path, table=table.name,
                                                scales='/x'.join(f'{s:g}' for s in table_scales)))
    return scales


def subset_scale(recipe, subset):
    """The upscaling factor of a subset's degradation (``scale``, or a single entry of ``factors``), or None."""
    degradation = recipe['subsets'][subset]['degradation']
    factors = degradation.get('factors')
    scale = degradation.get('scale') or (factors[0] if factors and len(factors) == 1 else None)
    return float(scale) if scale else None


def subset_controls(recipe, subset):
    """Inference controls of a subset: its known downscaling factor, GCFSR's condition (its LQ faces are
    already upsampled to the output size, so the factor cannot be read from the input size)."""
    return Controls(upscale=subset_scale(recipe, subset))


def count_parameters(net):
    """Parameters of a network, in millions."""
    return sum(p.numel() for p in net.parameters()) / 1e6


def restore_timed(restorer, lq_dir, out_dir, controls):
    """Restore every face of ``lq_dir`` one at a time; returns the median forward seconds per face (the first
    face is a warm-up and not timed) or None with fewer than two faces. Existing outputs are kept."""
    restorer.controls = controls
    seconds = []
    for item in collect_inputs(lq_dir):
        img = item.read()
        if restorer.device.type == 'cuda':
            torch.cuda.synchronize(restorer.device)
        start = time.perf_counter()
        face = restorer.restore([img])[0]
        if restorer.device.type == 'cuda':
            torch.cuda.synchronize(restorer.device)
        seconds.append(time.perf_counter() - start)
        write_image_atomic(os.path.join(out_dir, f'{item.key}.png'), face)
    return statistics.median(seconds[1:]) if len(seconds) > 1 else None


# ------------------------------------------------------------------------------------------------ measuring


def measure(table, out_dir, build, hq=None, checkpoints=None, checkpoint_opts=None, seed=0, max_images=None,
            keys=None, exclude=(), device='cpu', batch_size=1, fid_ref=None, weights=None, progress=False,
            log=print, dataset=None, celeba_lists=None, pairs=None, checkpoint_scales_given=None, overwrite=False):
    """Measure ``table`` and write its outputs (see the module docstring).

    Args:
        table (PaperTable): The table.
        out_dir (str): Output folder (test sets, outputs and the table folder go there).
        build (Callable): :func:`facesr_arch.data.testset_build.make_testset`.
        hq (list[str] | None): ``--hq`` entries (see :func:`hq_sources`); unused by parameter tables.
        checkpoints (dict[str, str] | None): Row name -> checkpoint; ``GROUP:NAME`` for a row of a group of a
            grouped table (``selection.split_row_name``).
        checkpoint_opts (dict[str, str] | None): Row name -> option file, for checkpoints that do not
            describe their network.
        checkpoint_scales_given (dict[str, str] | None): Row name -> the upscaling factor(s) ('4', '4,8') of a
            super-resolution checkpoint that does not record them. A checkpoint is measured only on the test
            sets of its factors; its cells of other factors stay empty.
        seed (int): Degradation seed. Default: 0.
        max_images (int | None): Only the first N faces of each set (quick look). Default: None.
        keys, exclude: The faces of each set and the training sets it must not overlap (see :func:`testset`).
        device (str): Inference and metric device. Default: 'cpu'.
        batch_size (int): Faces per forward pass (runtime tables time batch 1). Default: 1.
        fid_ref (str | None): FID reference folder or .npz; default: the GT folder of each subset.
        weights (dict | None): Metric weight files (ifqa / identity / landmark), as calculate_metrics.
        progress (bool): Progress bars. Default: False.
        log (Callable): Progress messages. Default: print.
        dataset, celeba_lists: The data set of the HQ faces and the CelebA lists (see :func:`testset`).
        pairs (dict | None): The user's own LQ / GT folders (``selection.parse_pair_entries``), used as test
            sets instead of building them (only the first ``max_images`` pairs when given).
        overwrite (bool): Replace an existing table folder (whole, once the new one is complete); without it
            an existing one is refused before any work. Default: False.

    Returns:
        dict: What ``table.json`` holds.
    """
    checkpoints, checkpoint_opts = dict(checkpoints or {}), dict(checkpoint_opts or {})
    given_scales = dict(checkpoint_scales_given or {})
    for option, names in (('--checkpoint-opt', checkpoint_opts), ('--checkpoint-scale', given_scales)):
        if set(names) - set(checkpoints):
            raise ReproduceError(f'{option} names {sorted(set(names) - set(checkpoints))} have no --checkpoint')
    for name in checkpoints:  # an unknown row-group prefix is refused before any checkpoint is read
        split_row_name(table, name)
    networks, scales = {}, {}
    for name, path in checkpoints.items():
        resolved = checkpoint_network(path, checkpoint_opts.get(name))
        if resolved is None:
            raise ReproduceError(NEEDS_OPT.format(path=path, key=NETWORK_KEY, name=name))
        networks[name] = resolved
        if table.kind != 'parameters':
            scales[name] = checkpoint_scales(table, name, path, resolved[0], given_scales.get(name))
    if celeba_lists and not any(get_protocol(p).get('keys') and is_derived(get_protocol(p)['keys'])
                                for p, _ in table.measured_on):
        raise ReproduceError(f"--celeba-lists derives GFPGAN's CelebA-Test; {table.name} is not measured on it")
    final = os.path.join(out_dir, f'{table.paper}_table{table.table_id}')
    inputs = (list(checkpoints.values()) + list(checkpoint_opts.values()) + list((weights or {}).values())
              + [fid_ref] + [spec.partition('=')[2] if '=' in spec and not os.path.exists(spec) else spec
                             for spec in hq or []] + [folder for pair in (pairs or {}).values() for folder in pair])
    check_output(out_dir, inputs, what='output folder', resumable=True)
    check_output(final, overwrite=overwrite, what='table folder')
    with staged_folder(final, overwrite) as work:
        if table.kind == 'parameters':
            measured, unavailable, sets, errors = _measure_parameters(table, networks), {}, {}, {}
        else:
            paired = paired_sets(table, pairs)
            measured, unavailable, sets, errors = _measure_images(
                table, out_dir, work, build, hq_sources(table, hq, paired), networks, scales,
                (seed, max_images, keys, tuple(exclude), dataset, celeba_lists), device, batch_size, fid_ref,
                weights or {}, progress, log, paired)
        result = assemble(table, measured, unavailable)
        result['measured_on'] = sets
        result['errors'] = errors
        result['options'] = {'seed': seed, 'max_images': max_images, 'keys': keys, 'exclude': list(exclude),
                             'dataset': dataset, 'celeba_lists': list(celeba_lists or ()),
                             'pairs': {str(k): list(v) for k, v in (pairs or {}).items()}, 'device': device,
                             'fid_reference': fid_ref, 'checkpoints': checkpoints,
                             'checkpoint_opts': checkpoint_opts,
                             'checkpoint_scales': {k: list(v) for k, v in scales.items() if v}}
        write_outputs(table, result, work)
    result['folder'] = final
    return result


def _measure_parameters(table, networks):
    """Parameter counts: the paper configuration of the table's method, and every checkpoint's network."""
    from basicsr.utils.registry import ARCH_REGISTRY

    from ..benchmark.configs import method_options
    measured = {}
    blocks = {}
    if table.ours:
        blocks[table.ours] = method_options(paper_method(table), 'paper')['network_g']
    blocks.update({name: block for name, (block, _, _) in networks.items()})
    for name, block in blocks.items():
        options = dict(block)
        net = ARCH_REGISTRY.get(options.pop('type'))(**options)
        measured[(None, name)] = {c.key: count_parameters(net) for c in table.columns}
        del net
    return measured


def paper_method(table):
    """The registry name of the paper's method (the papers' files name it under ``paper.method``)."""
    from .tables import load_paper
    return load_paper(table.paper)[0]['method']


def _measure_images(table, out_dir, work, build, sources, networks, scales, selection, device, batch_size, fid_ref,
                    weights, progress, log, paired=None):
    from ..metrics.html_report import write_metrics_html
    from ..metrics.report import compute_report, write_report
    restorers = {name: FaceRestorer(build_network(block, path, key, device), get_spec(block['type']), device)
                 for name, (block, path, key) in networks.items()}
    ckpt_keys = {name: _fingerprint(file_fingerprint(path), block) for name, (block, path, _) in networks.items()}
    row_keys = {name: split_row_name(table, name) for name in networks}
    measured, unavailable, sets, errors = {}, {}, {}, {}
    options = {k: table.metric_options[k] for k in ('color_space', 'crop_border', 'arcface_arch')
               if k in table.metric_options}
    for protocol, subset in table.measured_on:
        recipe = get_protocol(protocol)
        if (protocol, subset) in (paired or {}):
            set_id, lq_dir, gt_dir = paired_folders(out_dir, protocol, subset, *paired[(protocol, subset)],
                                                    max_images=selection[1])
            sets[f'{protocol}/{subset}'] = {'folder': os.path.abspath(os.path.dirname(lq_dir)),
                                            'source': f'--pairs {os.path.abspath(paired[(protocol, subset)][0])} '
                                                      f'{os.path.abspath(paired[(protocol, subset)][1])}'}
        else:
            set_root = testset(build, out_dir, protocol, sources[protocol], *selection)
            set_id = os.path.basename(os.path.dirname(set_root))
            sets[f'{protocol}/{subset}'] = {'folder': os.path.abspath(os.path.join(set_root, subset)),
                                            'source': os.path.abspath(sources[protocol])}
            lq_dir = os.path.join(set_root, subset, 'lq')
            gt_dir = os.path.join(set_root, subset, 'gt') if recipe['reference'] else None
        # the row groups measured on this set, and their columns here
        group_columns = {g: rows_on(table, protocol, subset, g) for g in table.group_names}
        group_columns = {g: cols for g, cols in group_columns.items() if cols}
        columns = list({c.key: c for cols in group_columns.values() for c in cols}.values())
        names = list(dict.fromkeys(c.metric for c in columns if c.metric in METRICS))
        folders = {input_name(table): input_row_folder(lq_dir, gt_dir,
                                                       os.path.join(out_dir, 'outputs', 'Input', set_id, subset))}
        if table.gt_row and gt_dir:
            folders[table.gt_row] = gt_dir
        rows = {label: [(g, label) for g in group_columns] for label in folders}
        seconds = {}
        for name, restorer in restorers.items():
            group, row_name = row_keys[name]
            if group not in group_columns:
                continue
            folder = os.path.join(out_dir, 'outputs', f'{_safe(name)}-{ckpt_keys[name]}', set_id, subset)
            controls = subset_controls(recipe, subset)
            if scales.get(name) and controls.upscale and controls.upscale not in scales[name]:
                log(f'{table.name}: {name} not measured on {protocol}/{subset} (x{controls.upscale:g}): it was '
                    f'trained for x{"/x".join(f"{s:g}" for s in scales[name])}')
                errors.setdefault(name, []).append(f'{protocol}/{subset}: not measured (trained for '
                                                   f'x{"/x".join(f"{s:g}" for s in scales[name])})')
                continue
            log(f'{table.name}: {name} on {protocol}/{subset}')
            if any(c.metric == 'time' for c in columns):
                seconds[name] = restore_timed(restorer, lq_dir, folder, controls)
            else:
                restorer.controls = controls
                summary = run_aligned(collect_inputs(lq_dir), restorer, folder, batch_size, progress=progress)
                if summary.skipped:
                    log(f'  skipped: {summary.skipped}')
            folders[name] = folder
            rows[name] = [(group, row_name)]
        report = None
        if names:
            report, timings = compute_report(folders, gt_dir=gt_dir, metric_names=names, device=device,
                                             fid_reference=fid_ref, weights=weights, progress=progress, **options)
            write_report(report, timings, os.path.join(work, 'metrics', protocol, subset))
            write_metrics_html(report, os.path.join(work, 'metrics', protocol, subset), lq_dir=lq_dir,
                               title=f'{table.name}: {protocol}/{subset}')
            for metric, reason in report['unavailable'].items():
                unavailable.setdefault(metric, reason)
            for row, errs in report['errors'].items():
                errors.setdefault(row, []).extend(f'{protocol}/{subset} {e["image"]}: {e["error"]}' for e in errs)
        for label, keys in rows.items():
            for group, row_name in keys:
                values = measured.setdefault((group, row_name), {})
                for col in group_columns[group]:
                    if col.metric == 'time':
                        values[col.key] = seconds.get(label)
                    elif report is not None and col.metric not in report['unavailable']:
                        values[col.key] = report['summary'][label].get(col.metric)
    return measured, unavailable, sets, errors


def paired_folders(out_dir, protocol, subset, lq, gt, max_images=None):
    """A test set from the user's own LQ / GT folders: (set id, LQ folder, GT folder).

    The folders are used as they are; with ``max_images`` the first N pairs (by stem) are copied into
    ``out_dir/testsets/<set id>/<subset>`` and used from there.
    """
    set_id = f'{protocol}-pairs-{_fingerprint(input_fingerprint(lq), input_fingerprint(gt), max_images)}'
    if not max_images:
        return set_id, lq, gt
    from ..toolkit.inputs import images_by_stem
    root = os.path.join(out_dir, 'testsets', set_id, subset)
    lq_files, gt_files = images_by_stem(lq), images_by_stem(gt)
    for part, files in (('lq', lq_files), ('gt', gt_files)):
        for stem in sorted(lq_files)[:max_images]:
            target = os.path.join(root, part, os.path.basename(files[stem]))
            if not os.path.exists(target):
                with open(files[stem], 'rb') as f:
                    data = f.read()
                atomic_write_bytes(target, data)
    return set_id, os.path.join(root, 'lq'), os.path.join(root, 'gt')


def input_name(table):
    """The measured degraded-input row's name: the paper's (Input / Bicubic) or 'Input'."""
    return table.input_row or 'Input'


def _safe(name):
    return ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in name)


# ------------------------------------------------------------------------------------------------ the table


def assemble(table, measured, unavailable):
    """Paper rows, measured rows and their differences, as ``table.json`` holds them.

    ``measured`` is keyed (group, name): a measured row is paired with the paper row of the same name (case and
    spaces ignored; the name 'ours' means the paper's own method) in its group (any group when None); the
    difference is measured - paper per cell where both exist. A measured row without a paper row (e.g. the
    Bicubic row of W-Net's Training Mode II, which the paper does not print) follows its group's rows.
    """
    rows = []
    paired = {}
    for group, name in measured:
        paper_row = table.row(table.ours if name.lower() == 'ours' and table.ours else name, group)
        if paper_row is not None:
            paired[id(paper_row)] = (group, name)
    unpaired = [key for key in measured if key not in paired.values()]
    last_of_group = {r.group: i for i, r in enumerate(table.rows)}
    for index, paper_row in enumerate(table.rows):
        entry = {'method': paper_row.method, 'group': paper_row.group, 'info': paper_row.info,
                 'paper': dict(paper_row.values)}
        key = paired.get(id(paper_row))
        if key is not None:
            entry.update(measured_as=key[1], measured=_values(table, measured[key]),
                         difference=_difference(table, paper_row.values, measured[key]))
        rows.append(entry)
        if table.groups and last_of_group[paper_row.group] == index:
            rows += [_unpaired(table, key, measured) for key in unpaired if key[0] == paper_row.group]
    rows += [_unpaired(table, key, measured) for key in unpaired if not table.groups or key[0] is None]
    columns = [{'key': c.key, 'label': c.label, 'metric': c.metric, 'protocol': c.protocol, 'subset': c.subset,
                'dataset': c.dataset, 'x': c.x, 'definition': _definition(table, c)} for c in table.columns]
    return {'paper': table.paper, 'table': table.table_id, 'caption': table.caption, 'kind': table.kind,
            'protocol_note': table.protocol_note, 'dataset': table.dataset, 'num_images': table.num_images,
            'resolution': table.resolution, 'degradation': table.degradation, 'metric_notes': table.metric_notes,
            'columns': columns, 'rows': rows, 'unavailable': unavailable}


def _unpaired(table, key, measured):
    return {'method': key[1], 'group': key[0], 'info': {}, 'paper': None, 'measured_as': key[1],
            'measured': _values(table, measured[key]), 'difference': None}


def _values(table, values):
    return {c.key: values.get(c.key) for c in table.columns}


def _difference(table, paper, values):
    out = {}
    for c in table.columns:
        p, m = paper.get(c.key), values.get(c.key)
        out[c.key] = m - p if p is not None and m is not None and math.isfinite(p) and math.isfinite(m) else None
    return out


def _definition(table, column):
    if column.metric in EXTRA_METRICS:
        return EXTRA_METRICS[column.metric]
    from ..metrics.catalog import variant
    return variant(column.metric, **{k: v for k, v in table.metric_options.items()})


def _decimals(table, column):
    """Digits shown for a column: as many as the paper prints (its longest number), else the metric's."""
    printed = [len(repr(float(r.values[column.key])).split('.')[1]) for r in table.rows
               if r.values[column.key] is not None and math.isfinite(r.values[column.key])]
    if printed and max(printed) > 1:
        return max(printed)
    return METRICS[column.metric].decimals if column.metric in METRICS else 3


def markdown(table, result):
    """The table as markdown: each paper row, then its measured row and the difference, then unpaired rows."""
    cols = table.columns
    decimals = [_decimals(table, c) for c in cols]
    groups = any(r['group'] for r in result['rows'])
    head = ['Method'] + (['Group'] if groups else []) + ['Source'] + [c.label for c in cols]
    lines = [f'# {table.paper.upper()} Table {table.table_id}: {table.caption}', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in result['rows']:
        prefix = [row['method']] + ([row['group'] or ''] if groups else [])
        sources = []
        if row['paper'] is not None:
            sources.append(('paper', row['paper'], False))
        if row.get('measured') is not None:
            sources.append(('measured' if row['paper'] is not None else 'measured (no paper row)',
                            row['measured'], False))
        if row.get('difference') is not None:
            sources.append(('difference', row['difference'], True))
        for i, (source, values, signed) in enumerate(sources):
            cells = [format_cell(values.get(c.key), d, signed) for c, d in zip(cols, decimals)]
            lines.append('| ' + ' | '.join((prefix if i == 0 else [''] * len(prefix)) + [source] + cells) + ' |')
    lines += ['', f'Protocol: {table.dataset}; {table.resolution} px; {table.degradation}.']
    if table.protocol_note:
        lines.append(f'Note: {table.protocol_note}')
    if table.metric_notes:
        lines.append(f'Metrics (paper): {table.metric_notes}')
    for col in result['columns']:
        lines.append(f'- {col["label"]}: {col["definition"]}' + (f' [{col["protocol"]}/{col["subset"]}]'
                                                                  if col['protocol'] else ''))
    for group in table.groups:
        lines.append(f"- {group['name']} rows (--checkpoint {group['key']}:NAME=PATH): the columns on "
                     f"{table.protocol} are measured on {group['protocol']}")
    for metric, reason in result['unavailable'].items():
        lines.append(f'- {metric}: unavailable ({reason})')
    for name, info in result.get('measured_on', {}).items():
        lines.append(f'- test set {name}: {info["folder"]} (from {info["source"]})')
    for row, errs in result.get('errors', {}).items():
        lines += [f'- {row}: skipped {e}' for e in errs]
    return '\n'.join(lines) + '\n'


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return 'inf' if value > 0 else ('-inf' if value < 0 else 'nan')
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_outputs(table, result, folder):
    """``table.md``, ``table.csv``, ``table.json``, ``report.html`` and, for sweeps, ``sweep.png`` into ``folder``."""
    atomic_write_bytes(os.path.join(folder, 'table.md'), markdown(table, result).encode())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(['method', 'group', 'source'] + [c.key for c in table.columns])
    for row in result['rows']:
        for source in ('paper', 'measured', 'difference'):
            values = row.get(source)
            if values is not None:
                writer.writerow([row['method'], row['group'] or '', source] +
                                ['' if values.get(c.key) is None else repr(values[c.key]) for c in table.columns])
    atomic_write_bytes(os.path.join(folder, 'table.csv'), buf.getvalue().encode())
    atomic_write_bytes(os.path.join(folder, 'table.json'),
                 json.dumps(_json_safe(copy.deepcopy(result)), indent=1, ensure_ascii=False).encode())
    if table.sweep:
        plot_sweep(table, result, os.path.join(folder, 'sweep.png'))
    write_reproduce_html(table, result, folder, [_decimals(table, c) for c in table.columns])

