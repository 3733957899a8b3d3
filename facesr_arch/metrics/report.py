"""Paper-style metric reports over result folders: pairing, batched scoring, table, CSV / JSON / PNG outputs.

One or more result folders (one per method) are scored against a GT folder (pairs matched by file stem;
unmatched files on either side are listed) or, without GT, by the no-reference metrics alone. Outputs in
``out_dir``:

- ``metrics.md``: methods as rows, metrics as columns with arrows for the better direction; per column the
  best value is bold and, with three or more methods, the second best underlined. Variants below the table.
- ``metrics.csv``: the same means; ``per_image.csv``: one row per (method, image, metric).
- ``metrics.json``: means, per-image values, metric variants, unmatched files, unreadable files,
  unavailable metrics with their reason, the identity threshold curve (W-Net Fig. 6), weight files used,
  options and package versions. Scoring the same folders twice writes identical files.
- ``timings.json``: seconds spent per method and metric (kept apart so ``metrics.json`` is reproducible).
- ``bar_<metric>.png`` per metric and ``identity_threshold_curve.png``; ``report.html`` (the page to browse,
  :mod:`.html_report`) is written beside them by the commands.
"""
import csv
import importlib.metadata
import json
import os
import tempfile
import time

import numpy as np
import torch
from tqdm import tqdm

from facesr_arch.data.image_io import ImageDecodeError, images_by_stem, read_image

from .catalog import METRICS, build_metric, variant
from .identity import threshold_curve


def pair_files(result_dir, gt_dir=None):
    """Match result images to GT images by file stem.

    Args:
        result_dir (str): Folder of results.
        gt_dir (str | None): Folder of ground truths; None: every result stands alone.

    Returns:
        tuple[list[tuple[str, str, str | None]], dict[str, list[str]]]: ``(stem, result, gt)`` sorted by
        stem, and the unmatched stems: ``{'results_without_gt': [...], 'gt_without_result': [...]}``.

    Raises:
        ValueError: Two images of one folder share a stem (e.g. ``a.png`` and ``a.jpg``).
    """
    results = images_by_stem(result_dir)
    if gt_dir is None:
        return [(stem, path, None) for stem, path in results.items()], {'results_without_gt': [],
                                                                         'gt_without_result': []}
    gts = images_by_stem(gt_dir)
    suffix = test_output_suffix(results, gts)
    if suffix:
        results = {stem[:-len(suffix)]: path for stem, path in results.items()}
    pairs = [(stem, results[stem], gts[stem]) for stem in results if stem in gts]
    unmatched = {'results_without_gt': [s for s in results if s not in gts],
                 'gt_without_result': [s for s in gts if s not in results]}
    if suffix:
        unmatched['suffix_removed'] = suffix
    return pairs, unmatched


def test_output_suffix(results, gts):
    """The suffix BasicSR's test loop appends to every output (``<key>_<val.suffix or name>.png``), when no
    result stem is a GT stem and removing one common suffix pairs every result with a GT; else None."""
    if not results or set(results) & set(gts):
        return None
    first = next(iter(results))
    for stem in gts:
        if first.startswith(stem + '_'):
            suffix = first[len(stem):]
            if all(r.endswith(suffix) and r[:-len(suffix)] in gts for r in results):
                return suffix
    return None


def _to_tensor(img):
    """float BGR HWC array -> RGB (3, h, w) tensor."""
    return torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1)))


def _batches(pairs, batch_size, errors):
    """Yield ``(stems, images, gts)`` batches of equal-sized, readable pairs; failures go to ``errors``."""
    stems, imgs, gts = [], [], []
    for stem, result_path, gt_path in pairs:
        try:
            img = _to_tensor(read_image(result_path))
            gt = None if gt_path is None else _to_tensor(read_image(gt_path))
        except ImageDecodeError as err:
            errors.append({'image': stem, 'error': str(err)})
            continue
        if gt is not None and gt.shape != img.shape:
            errors.append({'image': stem, 'error': f'size {tuple(img.shape[1:])} differs from GT '
                                                   f'{tuple(gt.shape[1:])}'})
            continue
        if stems and (len(stems) == batch_size or img.shape != imgs[0].shape):
            yield stems, torch.stack(imgs), None if gts[0] is None else torch.stack(gts)
            stems, imgs, gts = [], [], []
        stems.append(stem)
        imgs.append(img)
        gts.append(gt)
    if stems:
        yield stems, torch.stack(imgs), None if gts[0] is None else torch.stack(gts)


def score_folder(result_dir, gt_dir, scorers, device='cpu', batch_size=4, progress=True, desc=''):
    """Per-image scores of one result folder.

    Args:
        result_dir (str): Results.
        gt_dir (str | None): Ground truths (None: no-reference metrics only).
        scorers (dict[str, Callable]): Per-image metrics by name (built by ``build_metric``).
        device (str): Device the batches are moved to. Default: 'cpu'.
        batch_size (int): Images per batch. Default: 4.
        progress (bool): Show a progress bar. Default: True.
        desc (str): Progress bar label.

    Returns:
        dict: ``per_image`` {metric: {stem: value}}, ``seconds`` {metric: s}, ``unmatched``, ``errors``,
        ``images`` (number of pairs), ``paths`` ({stem: result file} of the pairs).
    """
    pairs, unmatched = pair_files(result_dir, gt_dir)
    per_image = {name: {} for name in scorers}
    seconds = dict.fromkeys(scorers, 0.0)
    errors, too_small = [], {name: {} for name in scorers}
    with tqdm(total=len(pairs), desc=desc, disable=not progress, unit='img') as bar:
        for stems, imgs, gts in _batches(pairs, batch_size, errors):
            imgs = imgs.to(device)
            gts = None if gts is None else gts.to(device)
            for name, scorer in scorers.items():
                if min(imgs.shape[-2:]) < METRICS[name].min_side:  # reported once per metric below
                    size = 'x'.join(map(str, imgs.shape[-2:]))
                    too_small[name][size] = too_small[name].get(size, 0) + len(stems)
                    continue
                start = time.perf_counter()
                try:
                    with torch.no_grad():
                        values = scorer(imgs, gts) if METRICS[name].kind == 'FR' else scorer(imgs)
                except (RuntimeError, ValueError) as err:  # e.g. an image smaller than the metric's window
                    errors.extend({'image': stem, 'error': f'{name} failed on {tuple(imgs.shape[-2:])}: {err}'}
                                  for stem in stems)
                    continue
                finally:
                    seconds[name] += time.perf_counter() - start
                per_image[name].update(zip(stems, values.double().cpu().tolist()))
            bar.update(len(stems))
    for name, sizes in too_small.items():
        if sizes:
            counts = ', '.join(f'{n} of {size}' for size, n in sizes.items())
            errors.append({'image': None, 'error': f'{METRICS[name].label} needs images of at least '
                           f'{METRICS[name].min_side}x{METRICS[name].min_side} px; not scored: {counts}'})
    return {'per_image': per_image, 'seconds': seconds, 'unmatched': unmatched, 'errors': errors,
            'images': len(pairs), 'paths': {stem: path for stem, path, _ in pairs}}


def build_scorers(names, device, options, weights):
    """Build the named metrics; those that cannot be built are returned with the reason.

    Args:
        names (list[str]): Metric names.
        device (str): Device.
        options (dict): ``color_space``, ``crop_border``, ``arcface_arch``, ``batch_size``.
        weights (dict[str, str]): Checkpoint per metric (ifqa / identity / landmark); absent: default place.

    Returns:
        tuple[dict, dict[str, str]]: Built metrics by name, and unavailable metrics with their reason.
    """
    built, unavailable = {}, {}
    for name in names:
        try:
            built[name] = build_metric(name, device=device, weights=weights.get(name), **options)
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
            unavailable[name] = f'{type(err).__name__}: {err}'
    return built, unavailable


def compute_report(methods, gt_dir=None, metric_names=None, device='cpu', batch_size=4, color_space='ycbcr',
                   crop_border=0, arcface_arch='ir_se50', weights=None, fid_reference=None, progress=True):
    """Score every method folder and gather the report (see the module docstring for its content).

    Args:
        methods (dict[str, str]): Method name -> result folder.
        gt_dir (str | None): GT folder; None: no-reference metrics (and FID against ``fid_reference``).
        metric_names (list[str] | None): Metrics; None: all that apply (FR ones only with a GT folder, FID
            only with a reference).
        device (str): Device. Default: 'cpu'.
        batch_size (int): Images per batch. Default: 4.
        color_space (str): Y-channel colour space ('ycbcr' or 'yiq'). Default: 'ycbcr'.
        crop_border (int): Border excluded by PSNR / SSIM / NIQE. Default: 0.
        arcface_arch (str): Identity network. Default: 'ir_se50'.
        weights (dict[str, str] | None): Checkpoints for ifqa / identity / landmark.
        fid_reference (str | None): FID reference folder or .npz; None: the GT folder.
        progress (bool): Progress bars. Default: True.

    Returns:
        tuple[dict, dict]: The report (written to metrics.json) and the timings (timings.json).
    """
    fid_reference = fid_reference or gt_dir
    if metric_names is None:
        metric_names = [n for n, info in METRICS.items()
                        if info.kind == 'NR' or (info.kind == 'FR' and gt_dir) or (info.kind == 'set' and fid_reference)]
    options = {'color_space': color_space, 'crop_border': crop_border, 'arcface_arch': arcface_arch}
    variants = {name: variant(name, **options) for name in metric_names}
    scorers, unavailable = build_scorers(metric_names, device, dict(options, batch_size=batch_size), weights or {})
    if gt_dir is None:
        for name in [n for n in scorers if METRICS[n].kind == 'FR']:
            unavailable[name] = 'full-reference metric: no GT folder given (--gt)'
            del scorers[name]
    if 'fid' in scorers and not fid_reference:
        unavailable['fid'] = 'no reference set: give a GT folder (--gt) or --fid-ref FOLDER_OR_NPZ'
        del scorers['fid']
    per_image_scorers = {n: s for n, s in scorers.items() if METRICS[n].kind != 'set'}

    report = {'gt': gt_dir, 'methods': dict(methods),
              'metrics': {n: {'label': METRICS[n].label, 'variant': variants[n], 'lower_better': METRICS[n].lower_better,
                              'kind': METRICS[n].kind} for n in metric_names},
              'unavailable': unavailable, 'summary': {}, 'per_image': {}, 'images': {}, 'unmatched': {},
              'errors': {}, 'excluded': {}}
    timings, scored = {}, {}
    for method, folder in methods.items():
        scored[method] = score_folder(folder, gt_dir, per_image_scorers, device, batch_size, progress, desc=method)
    common = common_images(scored)
    report['common_images'] = common
    for method, folder in methods.items():
        per_image, seconds = scored[method]['per_image'], scored[method]['seconds']
        summary = {n: float(np.mean([values[s] for s in common])) if common and set(common) <= set(values) else None
                   for n, values in per_image.items()}
        if 'fid' in scorers:
            start = time.perf_counter()
            try:
                summary['fid'] = _fid_on(scorers['fid'], folder, scored[method]['paths'], common, fid_reference)
            except ValueError as err:
                summary['fid'] = None
                scored[method]['errors'].append({'image': None, 'error': f'FID: {err}'})
            seconds['fid'] = time.perf_counter() - start
        report['summary'][method] = {n: summary[n] for n in metric_names if n in summary}
        report['per_image'][method] = per_image
        report['images'][method] = scored[method]['images']
        report['unmatched'][method] = scored[method]['unmatched']
        report['errors'][method] = scored[method]['errors']
        report['excluded'][method] = sorted({s for values in per_image.values() for s in values} - set(common))
        timings[method] = {'images': scored[method]['images'], 'seconds': seconds}
    if 'identity' in per_image_scorers:
        report['identity_threshold_curve'] = {}
        for method in methods:
            thresholds, fractions = threshold_curve(report['per_image'][method]['identity'].values())
            report['identity_threshold_curve'][method] = {'thresholds': thresholds, 'fractions': fractions}
    report['weight_files'] = {n: [{'path': os.path.abspath(p), 'bytes': os.path.getsize(p)} for p in s.weight_files]
                              for n, s in scorers.items()}
    report['options'] = dict(options, fid_reference=fid_reference, batch_size=batch_size)
    report['versions'] = package_versions()
    return report, timings


def common_images(scored):
    """Stems every method has a value for, in every per-image metric that scored at least one image.

    Means over different image sets are not comparable (a method missing its hardest images would rank
    best), so every method is averaged over these images only; the others are listed as excluded.
    A method that scored no image at all (every image below a metric's minimum size, say) gets no value and
    does not empty the others' set.

    Args:
        scored (dict[str, dict]): :func:`score_folder` output per method.

    Returns:
        list[str]: Sorted stems (empty when nothing was scored).
    """
    sets = [set(values) for result in scored.values() for values in result['per_image'].values() if values]
    return sorted(set.intersection(*sets)) if sets else []


def _fid_on(fid, folder, paths, stems, reference):
    """FID of the images ``paths[stem]`` of ``folder`` (a folder of links when they are not all its images)."""
    if not stems:
        raise ValueError('no image common to every method')
    files = {stem: paths[stem] for stem in stems}
    if len(images_by_stem(folder)) == len(files):
        return fid(folder, reference)
    with tempfile.TemporaryDirectory(prefix='fid_common_') as subset:
        for stem in stems:
            os.symlink(os.path.abspath(files[stem]), os.path.join(subset, os.path.basename(files[stem])))
        return fid(subset, reference)


def package_versions():
    """Versions of the packages that define the numbers."""
    import facesr_arch
    versions = {'facesr_arch': facesr_arch.__version__}
    for package in ('pyiqa', 'torch', 'torchvision', 'basicsr', 'facexlib', 'numpy', 'scipy'):
        versions[package] = importlib.metadata.version(package)
    return versions


def _ranks(values, lower_better, decimals):
    """Rank (0 best, 1 second) of each displayed value; ties share a rank; None values get no rank."""
    shown = sorted({round(v, decimals) for v in values if v is not None}, reverse=not lower_better)
    return [None if v is None else shown.index(round(v, decimals)) for v in values]


def markdown_table(report):
    """The report as a paper-style markdown table, followed by variants and unavailable metrics."""
    methods = list(report['summary'])
    names = [n for n in report['metrics'] if n not in report['unavailable']]
    header = '| Method | N | ' + ' | '.join(f'{METRICS[n].label}{METRICS[n].arrow}' for n in names) + ' |'
    rows = [header, '|' + '---|' * (len(names) + 2)]
    columns = [[str(len(report['common_images']))] * len(methods)]
    for name in names:
        info = METRICS[name]
        values = [report['summary'][m].get(name) for m in methods]
        ranks = _ranks(values, info.lower_better, info.decimals)
        cells = []
        for value, rank in zip(values, ranks):
            text = 'n/a' if value is None else f'{value:.{info.decimals}f}'
            if rank == 0 and len(methods) > 1:
                text = f'**{text}**'
            elif rank == 1 and len(methods) > 2:
                text = f'<u>{text}</u>'
            cells.append(text)
        columns.append(cells)
    for i, method in enumerate(methods):
        rows.append(f'| {method} | ' + ' | '.join(column[i] for column in columns) + ' |')
    lines = rows + ['', f"N: images scored, the same for every method (those all methods have: "
                           f"{len(report['common_images'])}).", '', 'Metrics:']
    lines += [f'- {METRICS[n].label}{METRICS[n].arrow}: {report["metrics"][n]["variant"]}' for n in names]
    for name, reason in report['unavailable'].items():
        lines.append(f'- {METRICS[name].label}: unavailable ({reason})')
    for method in methods:
        unmatched = report['unmatched'][method]
        if unmatched.get('suffix_removed'):
            lines.append(f"- {method}: result names end with {unmatched['suffix_removed']!r} (BasicSR test outputs), "
                         'removed to pair them with the GT')
        for side, stems in unmatched.items():
            if stems and side != 'suffix_removed':
                lines.append(f'- {method}: {len(stems)} {side.replace("_", " ")}: {", ".join(stems)}')
        if report['excluded'][method]:
            lines.append(f"- {method}: {len(report['excluded'][method])} image(s) excluded (not scored for every "
                         f"method): {', '.join(report['excluded'][method])}")
        for error in report['errors'][method]:
            skipped = f'skipped {error["image"]}: ' if error['image'] else ''
            lines.append(f'- {method}: {skipped}{error["error"]}')
    return '\n'.join(lines) + '\n'


def write_report(report, timings, out_dir):
    """Write metrics.md / .csv / .json, per_image.csv, timings.json and the PNG charts into ``out_dir``.

    The files are written into a temporary folder inside ``out_dir`` and each is renamed into place when all
    are complete: a failure leaves an earlier report whole, and other files of ``out_dir`` are kept.

    Returns:
        dict[str, str]: Output kind -> path.
    """
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='.tmp_report_', dir=out_dir) as tmp:
        staged = _write_report_files(report, timings, tmp)
        for path in staged.values():
            os.replace(path, os.path.join(out_dir, os.path.basename(path)))
    return {kind: os.path.join(out_dir, os.path.basename(path)) for kind, path in staged.items()}


def _write_report_files(report, timings, out_dir):
    paths = {kind: os.path.join(out_dir, name) for kind, name in (
        ('markdown', 'metrics.md'), ('csv', 'metrics.csv'), ('per_image_csv', 'per_image.csv'),
        ('json', 'metrics.json'), ('timings', 'timings.json'))}
    with open(paths['markdown'], 'w') as f:
        f.write(markdown_table(report))
    names = [n for n in report['metrics'] if n not in report['unavailable']]
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['method', 'N'] + [f'{n} ({"lower" if METRICS[n].lower_better else "higher"} is better)'
                                           for n in names])
        for method, summary in report['summary'].items():
            writer.writerow([method, len(report['common_images'])]
                            + ['' if summary.get(n) is None else repr(summary[n]) for n in names])
    with open(paths['per_image_csv'], 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['method', 'image', 'metric', 'value'])
        for method, per_metric in report['per_image'].items():
            for name, values in per_metric.items():
                writer.writerows([method, stem, name, repr(value)] for stem, value in values.items())
    with open(paths['json'], 'w') as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    with open(paths['timings'], 'w') as f:
        json.dump(timings, f, indent=1)
    paths.update(plot_report(report, out_dir))
    return paths


def bar_figure(name, methods, values, spreads=None, counts=None):
    """A matplotlib figure: metric ``name`` per method, mean and spread written on each bar, N under it.

    Args:
        name (str): Metric.
        methods (list[str]): Bar labels.
        values (list[float | None]): Means (None: an empty bar labelled n/a).
        spreads (list[float | None] | None): Standard deviation over the images per bar, drawn as an error
            bar and written after the mean. Default: None.
        counts (list[int] | None): Images per bar (N), written under the method name. Default: None.
    """
    from matplotlib import pyplot as plt
    info = METRICS[name]
    spreads = spreads or [None] * len(methods)
    ticks = methods if counts is None else [f'{m}\nN={n}' for m, n in zip(methods, counts)]
    fig, ax = plt.subplots(figsize=(max(3.0, 1.0 + 0.9 * len(methods)), 3.4))
    heights = [0.0 if v is None else v for v in values]  # n/a: labelled empty bar
    errors = [0.0 if s is None or v is None else s for v, s in zip(values, spreads)]
    bars = ax.bar(range(len(methods)), heights, color='tab:blue', yerr=errors if any(errors) else None,
                  capsize=4, error_kw={'elinewidth': 1, 'ecolor': 'black'})
    labels = ['n/a' if v is None else f'{v:.{info.decimals}f}' + ('' if s is None else f' ± {s:.{info.decimals}f}')
              for v, s in zip(values, spreads)]
    ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
    ax.set_xticks(range(len(methods)), ticks)
    ax.set_ylabel(f'{info.label} ({info.unit})' if info.unit else info.label)
    ax.margins(y=0.15)
    spread = '\nmean ± SD over the images' if any(s is not None for s in spreads) else ''
    ax.set_title(f'{info.label} ({"lower" if info.lower_better else "higher"} is better){spread}', fontsize=9)
    ax.tick_params(axis='x', labelrotation=30)
    fig.tight_layout()
    return fig


def image_spread(report, method, name):
    """(N, standard deviation) of ``method``'s per-image ``name`` values over the report's common images
    (sample SD, ddof=1; None below two images), or (N, None) when the metric has no per-image values (FID)."""
    values = report.get('per_image', {}).get(method, {}).get(name)
    common = report.get('common_images')
    if not values or common is None:
        return (len(common) if common is not None else None), None
    scored = [values[s] for s in common if s in values]
    return len(scored), (float(np.std(scored, ddof=1)) if len(scored) > 1 else None)


def plot_report(report, out_dir):
    """A bar chart per metric (``bar_<metric>.png``: mean ± standard deviation on the bars, N under them, unit on
    the axis; metrics with no value for any method are left out) and the identity threshold curve, if computed."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    paths = {}
    methods = list(report['summary'])
    for name in [n for n in report['metrics'] if n not in report['unavailable']]:
        values = [report['summary'][m].get(name) for m in methods]
        if all(v is None for v in values):
            continue
        counts, spreads = zip(*(image_spread(report, m, name) for m in methods))
        fig = bar_figure(name, methods, values, list(spreads), None if None in counts else list(counts))
        paths[f'bar_{name}'] = os.path.join(out_dir, f'bar_{name}.png')
        fig.savefig(paths[f'bar_{name}'], dpi=100, metadata={'Software': None})
        plt.close(fig)
    if 'identity_threshold_curve' in report:
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for method, curve in report['identity_threshold_curve'].items():
            ax.plot(curve['thresholds'], curve['fractions'], marker='.', label=method)
        ax.set_xlabel('identity similarity threshold')
        ax.set_ylabel('fraction of images above')
        ax.legend()
        fig.tight_layout()
        paths['identity_curve'] = os.path.join(out_dir, 'identity_threshold_curve.png')
        fig.savefig(paths['identity_curve'], dpi=100, metadata={'Software': None})
        plt.close(fig)
    return paths
