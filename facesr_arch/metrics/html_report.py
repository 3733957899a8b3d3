"""``report.html``: a metric report to browse in any browser, offline (no network, no CDN; CSS and JS inline).

The page holds the table, N and the excluded images, the run's settings and package versions, the charts
beside it, and a gallery: one row per image, LQ | each method | GT, each tile with its metric values. The
gallery sorts by any metric of a method, or by the gap between two methods in a metric; clicking a face
zooms the same region of every tile of its row (the region is outlined on the thumbnails).

Files beside the page, in ``report_files/``: ``thumbs/<column>/<stem>.png`` (thumbnails; the LQ face
nearest-enlarged, its pixels visible), ``zoom/<column>/<stem>.png`` (the crop shown before any click, of
the region around the eyes of an aligned face) and ``gallery.json`` (the gallery's layout and values). The
full images stay where they are, linked by relative path (the zoom reads them), so the report folder and the
result folders keep their relative places.

:func:`write_metrics_html` writes the page of a ``calculate_metrics`` report; the ``reproduce`` page
(:mod:`facesr_arch.reproduce.report_html`) shows the galleries of its metric reports with :func:`gallery_html`
and :func:`page`.
"""
import html
import json
import os
import urllib.parse

import cv2
import numpy as np

from ..data.image_io import ImageDecodeError, images_by_stem, read_image
from ..toolkit.outputs import atomic_write_bytes, atomic_write_text
from .catalog import METRICS

THUMB = 160  # px, the thumbnails' side
ZOOM = 4  # the zoom panel shows a quarter of the face's side, four times enlarged
DEFAULT_CENTRE = (0.5, 0.45)  # around the eyes of an FFHQ-aligned face (template eyes at y = 240 / 512)
FILES = 'report_files'
GALLERY = 'gallery.json'  # the gallery's layout and values, in FILES, for pages that show it from elsewhere


def url(path, start):
    """``path`` relative to the folder ``start``, as a URL path (percent-encoded)."""
    return urllib.parse.quote(os.path.relpath(os.path.abspath(path), os.path.abspath(start)).replace(os.sep, '/'))


def fmt(value, name):
    """A metric value with the metric's digits, or '-'."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return '-'
    decimals = METRICS[name].decimals if name in METRICS else 3
    return f'{value:.{decimals}f}'


def _uint8(img):
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _default_crop(img):
    """The region the zoom panel shows before any click (:data:`DEFAULT_CENTRE`, a 1 / ZOOM side)."""
    h, w = img.shape[:2]
    half = 0.5 / ZOOM
    x0, y0 = int(round((DEFAULT_CENTRE[0] - half) * w)), int(round((DEFAULT_CENTRE[1] - half) * h))
    return img[y0:y0 + max(1, int(round(h / ZOOM))), x0:x0 + max(1, int(round(w / ZOOM)))]


def _write_png(path, img):
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise ValueError(f'cannot encode {path}')
    atomic_write_bytes(path, buf.tobytes())


def _write_tile_files(source, thumb_path, zoom_path, nearest):
    """Thumbnail and default zoom crop of one image; False when it cannot be read."""
    try:
        img = _uint8(read_image(source))
    except (ImageDecodeError, OSError):
        return False
    if img.shape[0] != img.shape[1]:
        side = min(img.shape[:2])
        img = img[:side, :side]
    interpolation = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if img.shape[0] > THUMB else cv2.INTER_CUBIC)
    _write_png(thumb_path, cv2.resize(img, (THUMB, THUMB), interpolation=interpolation))
    crop = _default_crop(img)
    zoom_interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC
    _write_png(zoom_path, cv2.resize(crop, (THUMB, THUMB), interpolation=zoom_interpolation))
    return True


def _stems(folder, suffix=None):
    """Stem -> file of a folder, with the BasicSR test-output suffix the report removed, if any."""
    files = images_by_stem(folder)
    if suffix:
        files = {s[:-len(suffix)] if s.endswith(suffix) else s: p for s, p in files.items()}
    return files


def gallery_rows(report, folder, lq_dir=None):
    """The gallery of a ``compute_report`` report, with its thumbnails and zoom crops under ``folder``.

    Args:
        report (dict): The report (``methods``, ``gt``, ``per_image``, ``common_images``, ...).
        folder (str): The page's folder; thumbnails go to ``folder/report_files``.
        lq_dir (str | None): The LQ inputs (first column), when known. Default: None.

    Returns:
        dict: ``columns`` [{label, kind: 'lq' | 'method' | 'gt'}], ``metrics`` (names with per-image values),
        ``rows`` [{stem, values {method: {metric: value}}, tiles [{thumb, zoom, full} paths relative to
        ``folder`` or None]}], every image of any method (those not scored by all methods too).
    """
    methods = list(report['methods'])
    columns = ([{'label': 'LQ', 'kind': 'lq', 'folder': lq_dir}] if lq_dir else [])
    columns += [{'label': m, 'kind': 'method', 'folder': report['methods'][m]} for m in methods]
    if report.get('gt'):
        columns.append({'label': 'GT', 'kind': 'gt', 'folder': report['gt']})
    files = []
    for column in columns:
        suffix = report.get('unmatched', {}).get(column['label'], {}).get('suffix_removed')
        files.append(_stems(column['folder'], suffix if column['kind'] == 'method' else None))
    stems = sorted({s for m in methods for values in report['per_image'].get(m, {}).values() for s in values}
                   or set().union(*(f for f, c in zip(files, columns) if c['kind'] == 'method')))
    metrics = [n for n in report['metrics'] if any(report['per_image'].get(m, {}).get(n) for m in methods)]
    rows = []
    for stem in stems:
        tiles = []
        for index, (column, by_stem) in enumerate(zip(columns, files)):
            source = by_stem.get(stem)
            tile = None
            if source is not None:
                thumb = os.path.join(folder, FILES, 'thumbs', str(index), f'{stem}.png')
                zoom = os.path.join(folder, FILES, 'zoom', str(index), f'{stem}.png')
                if _write_tile_files(source, thumb, zoom, nearest=column['kind'] == 'lq'):
                    tile = {'thumb': url(thumb, folder), 'zoom': url(zoom, folder), 'full': url(source, folder)}
            tiles.append(tile)
        values = {m: {n: _finite(report['per_image'][m].get(n, {}).get(stem)) for n in metrics} for m in methods}
        rows.append({'stem': stem, 'values': values, 'tiles': tiles})
    return {'columns': [{'label': c['label'], 'kind': c['kind']} for c in columns], 'metrics': metrics,
            'methods': methods, 'rows': rows, 'common': list(report.get('common_images', []))}


def _finite(value):
    """A value the page can sort by (JSON has no infinity: PSNR of the GT against itself is left out)."""
    return value if isinstance(value, (int, float)) and np.isfinite(value) else None


def _prefixed(gallery, prefix):
    """The gallery with every path prefixed (shown by a page in a parent folder)."""
    out = dict(gallery, rows=[])
    for row in gallery['rows']:
        tiles = [None if t is None else {k: f'{prefix}/{v}' for k, v in t.items()} for t in row['tiles']]
        out['rows'].append(dict(row, tiles=tiles))
    return out


def gallery_html(gallery, gallery_id, prefix=None):
    """The gallery section: sort controls, column titles and one row per image."""
    if prefix:
        gallery = _prefixed(gallery, prefix)
    esc = html.escape
    metrics, methods = gallery['metrics'], gallery['methods']
    labels = {n: METRICS[n].label + METRICS[n].arrow for n in metrics if n in METRICS}
    options = ''.join(f'<option value="{esc(n)}">{esc(labels.get(n, n))}</option>' for n in metrics)
    method_options = ''.join(f'<option value="{esc(m)}">{esc(m)}</option>' for m in methods)
    lower = json.dumps({n: METRICS[n].lower_better for n in metrics if n in METRICS})
    parts = [f'<section class="gallery" id="{esc(gallery_id)}" data-lower="{esc(lower)}">',
             '<div class="controls">Sort by <select class="sort-metric"><option value="">image name</option>'
             f'{options}</select> of <select class="sort-a">{method_options}</select> minus '
             f'<select class="sort-b"><option value="">(nothing)</option>{method_options}</select> '
             '<select class="sort-order"><option value="desc">largest first</option>'
             '<option value="asc">smallest first</option></select> <button type="button" class="sort">Sort</button>'
             f' <span class="hint">Click a face to zoom the same place in the whole row ({ZOOM}x).</span></div>',
             '<div class="head"><div class="name"></div>'
             + ''.join(f'<div class="colhead">{esc(c["label"])}</div>' for c in gallery['columns']) + '</div>',
             '<div class="rows">']
    common = set(gallery['common'])
    for row in gallery['rows']:
        best = {}
        for n in metrics:
            scored = [row['values'][m][n] for m in methods if row['values'][m][n] is not None]
            if len(scored) > 1 and n in METRICS:
                best[n] = (min if METRICS[n].lower_better else max)(scored)
        excluded = '' if row['stem'] in common or not common else ' excluded'
        parts.append(f'<div class="row{excluded}" data-stem="{esc(row["stem"])}" '
                     f'data-values="{esc(json.dumps(row["values"]))}"><div class="name">{esc(row["stem"])}'
                     + ('<br><small>not scored for every method</small>' if excluded else '') + '</div>')
        for column, tile in zip(gallery['columns'], row['tiles']):
            if tile is None:
                parts.append('<figure class="tile missing"><div class="frame">missing</div></figure>')
                continue
            lines = []
            if column['kind'] == 'method':
                for n in metrics:
                    value = row['values'][column['label']][n]
                    cls = ' class="best"' if n in best and value == best[n] else ''
                    lines.append(f'<span{cls}>{esc(labels.get(n, n))} {fmt(value, n)}</span>')
            pixelated = ' lq' if column['kind'] == 'lq' else ''
            parts.append(
                f'<figure class="tile{pixelated}" data-full="{esc(tile["full"])}"><div class="frame">'
                f'<img class="thumb" src="{esc(tile["thumb"])}" alt="{esc(column["label"])} {esc(row["stem"])}">'
                '<div class="box"></div></div>'
                f'<div class="zoom" style="background-image:url(&quot;{esc(tile["zoom"])}&quot;)"></div>'
                f'<figcaption><a href="{esc(tile["full"])}">{esc(column["label"])}</a> {" ".join(lines)}'
                '</figcaption></figure>')
        parts.append('</div>')
    parts.append('</div></section>')
    return '\n'.join(parts)


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
td:first-child,th:first-child,td.text{text-align:left}th{background:#f3f3f3;cursor:pointer}
td.best{font-weight:bold;background:#d9f2d9}td.second{text-decoration:underline}
td.better{background:rgba(40,160,40,var(--a))}td.worse{background:rgba(210,50,50,var(--a))}
tr.paper td{color:#555}tr.difference td{font-style:italic}
.charts img{max-height:260px;margin:.3em}
dl.settings{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}dt{font-weight:bold}dd{margin:0}
.gallery .controls{margin:.5em 0}.hint{color:#666}
.gallery .head,.gallery .row{display:flex;gap:8px;align-items:flex-start;margin-bottom:10px}
.gallery .name{width:90px;flex:none;word-break:break-all}.colhead{width:160px;font-weight:bold;text-align:center}
.row.excluded{opacity:.75}
figure.tile{margin:0;width:160px;flex:none}
.frame{position:relative;width:160px;height:160px;cursor:crosshair;background:#eee}
.frame img{width:160px;height:160px;display:block}
.box{position:absolute;border:2px solid #e22;box-sizing:border-box;pointer-events:none;
     left:37.5%;top:32.5%;width:25%;height:25%}
.zoom{width:160px;height:160px;margin-top:4px;background-size:100% 100%;background-repeat:no-repeat;
      border:1px solid #999;box-sizing:border-box}
.lq img,.lq .zoom{image-rendering:pixelated}
figcaption{font-size:12px}figcaption span{display:block}figcaption .best{font-weight:bold;color:#176117}
"""

JS = """
(function () {
  'use strict';
  var Z = %(zoom)d;
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function zoomRow(row, fx, fy) {
    var h = 0.5 / Z, cx = clamp(fx, h, 1 - h), cy = clamp(fy, h, 1 - h);
    row.dataset.zoom = cx.toFixed(4) + ',' + cy.toFixed(4);
    row.querySelectorAll('figure.tile[data-full]').forEach(function (tile) {
      var box = tile.querySelector('.box'), zoom = tile.querySelector('.zoom');
      box.style.left = ((cx - h) * 100) + '%%'; box.style.top = ((cy - h) * 100) + '%%';
      box.style.width = (100 / Z) + '%%'; box.style.height = (100 / Z) + '%%';
      zoom.style.backgroundImage = 'url("' + tile.dataset.full + '")';
      zoom.style.backgroundSize = (Z * 100) + '%% ' + (Z * 100) + '%%';
      zoom.style.backgroundPosition = ((cx - h) / (1 - 1 / Z) * 100) + '%% ' + ((cy - h) / (1 - 1 / Z) * 100) + '%%';
    });
  }
  function sortKey(row, metric, a, b) {
    var values = JSON.parse(row.dataset.values), x = values[a] ? values[a][metric] : null;
    if (x === null || x === undefined) { return null; }
    if (b) {
      var y = values[b] ? values[b][metric] : null;
      if (y === null || y === undefined) { return null; }
      x -= y;
    }
    return x;
  }
  document.querySelectorAll('section.gallery').forEach(function (gallery) {
    var rows = gallery.querySelector('.rows');
    gallery.querySelector('button.sort').addEventListener('click', function () {
      var metric = gallery.querySelector('.sort-metric').value, a = gallery.querySelector('.sort-a').value,
          b = gallery.querySelector('.sort-b').value, desc = gallery.querySelector('.sort-order').value === 'desc';
      var items = Array.prototype.slice.call(rows.children);
      items.sort(function (r1, r2) {
        if (!metric) { return r1.dataset.stem < r2.dataset.stem ? -1 : (r1.dataset.stem > r2.dataset.stem ? 1 : 0); }
        var k1 = sortKey(r1, metric, a, b), k2 = sortKey(r2, metric, a, b);
        if (k1 === null || k2 === null) { return (k1 === null) - (k2 === null); }
        return desc ? k2 - k1 : k1 - k2;
      });
      items.forEach(function (row) { rows.appendChild(row); });
      rows.dataset.sortedBy = metric ? metric + ':' + a + (b ? '-' + b : '') + ':' + (desc ? 'desc' : 'asc') : 'name';
    });
    rows.addEventListener('click', function (event) {
      var frame = event.target.closest('.frame');
      if (!frame || !frame.closest('figure.tile[data-full]')) { return; }
      var rect = frame.getBoundingClientRect();
      zoomRow(frame.closest('.row'), (event.clientX - rect.left) / rect.width,
              (event.clientY - rect.top) / rect.height);
    });
  });
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, column) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows), asc = th.dataset.asc !== '1';
        rows.sort(function (r1, r2) {
          var a = r1.cells[column].dataset.v, b = r2.cells[column].dataset.v;
          var x = a === undefined ? r1.cells[column].textContent : parseFloat(a);
          var y = b === undefined ? r2.cells[column].textContent : parseFloat(b);
          return (x < y ? -1 : (x > y ? 1 : 0)) * (asc ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
        th.dataset.asc = asc ? '1' : '0';
      });
    });
  });
}());
""" % {'zoom': ZOOM}


def page(title, body):
    """A complete HTML document: ``body`` with the inline CSS and JS, nothing fetched from elsewhere."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n'
            f'<h1>{html.escape(title)}</h1>\n{body}\n<script>{JS}</script>\n</body></html>\n')


def settings_html(settings):
    """A definition list of settings (nested dicts / lists as JSON)."""
    items = []
    for key, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        items.append(f'<dt>{html.escape(str(key))}</dt><dd>{html.escape(str(text))}</dd>')
    return '<dl class="settings">' + ''.join(items) + '</dl>'


def ranked_table(report):
    """Methods ranked: per metric the rank of each method (1 best; ties share), rows by mean rank."""
    from .report import _ranks
    methods = list(report['summary'])
    names = [n for n in report['metrics'] if n not in report['unavailable']
             and any(report['summary'][m].get(n) is not None for m in methods)]
    ranks = {}
    for n in names:
        values = [report['summary'][m].get(n) for m in methods]
        ranks[n] = dict(zip(methods, _ranks(values, METRICS[n].lower_better, METRICS[n].decimals)))
    mean_rank = {m: (float(np.mean([ranks[n][m] + 1 for n in names if ranks[n][m] is not None]))
                     if any(ranks[n][m] is not None for n in names) else None) for m in methods}
    order = sorted(methods, key=lambda m: (mean_rank[m] is None, mean_rank[m] or 0, m))
    esc = html.escape
    head = ('<tr><th>Method</th><th>N</th>' + ''.join(f'<th>{esc(METRICS[n].label + METRICS[n].arrow)}</th>'
                                                     for n in names) + '<th>mean rank</th></tr>')
    body = []
    n_images = len(report['common_images'])
    for m in order:
        cells = [f'<td class="text">{esc(m)}</td>', f'<td data-v="{n_images}">{n_images}</td>']
        for n in names:
            value, rank = report['summary'][m].get(n), ranks[n][m]
            cls = {0: ' class="best"', 1: ' class="second"'}.get(rank, '') if len(methods) > 1 else ''
            shown = fmt(value, n) + ('' if rank is None or len(methods) < 2 else f' <sup>{rank + 1}</sup>')
            cells.append(f'<td{cls} data-v="{"" if value is None else value}">{shown}</td>')
        mean = mean_rank[m]
        cells.append(f'<td data-v="{"" if mean is None else mean}">{"-" if mean is None else f"{mean:.2f}"}</td>')
        body.append('<tr>' + ''.join(cells) + '</tr>')
    return (f'<table class="sortable" id="summary"><thead>{head}</thead><tbody>' + ''.join(body)
            + '</tbody></table><p>Rank per metric as a superscript (1 best; equal shown values share a rank); '
            'rows by mean rank. Click a column title to sort.</p>')


def images_html(report):
    """N, and per method the excluded, unmatched and failed images."""
    esc = html.escape
    items = [f'<p><b>N = {len(report["common_images"])}</b> images, the same for every method (those all '
             'methods have a value for).</p><ul>']
    for method in report['summary']:
        excluded = report['excluded'].get(method, [])
        if excluded:
            items.append(f'<li>{esc(method)}: {len(excluded)} excluded (not scored for every method): '
                         f'{esc(", ".join(excluded))}</li>')
        for side, stems in report['unmatched'].get(method, {}).items():
            if stems and side != 'suffix_removed':
                items.append(f'<li>{esc(method)}: {len(stems)} {esc(side.replace("_", " "))}: '
                             f'{esc(", ".join(stems))}</li>')
        for error in report['errors'].get(method, []):
            where = f'{error["image"]}: ' if error['image'] else ''
            items.append(f'<li>{esc(method)}: {esc(where + error["error"])}</li>')
    for name, reason in report['unavailable'].items():
        items.append(f'<li>{esc(METRICS[name].label)} unavailable: {esc(reason)}</li>')
    return ''.join(items) + '</ul>'


def report_settings(report):
    """What the numbers depend on: folders, metric definitions, options, weight files."""
    settings = {'GT folder': report.get('gt') or '(none: no-reference metrics)'}
    settings.update({f'{m} results': folder for m, folder in report['methods'].items()})
    settings.update({f'{METRICS[n].label}': info['variant'] for n, info in report['metrics'].items()})
    settings.update(report.get('options', {}))
    for name, files in report.get('weight_files', {}).items():
        if files:
            settings[f'{name} weights'] = ', '.join(f['path'] for f in files)
    return settings


def write_metrics_html(report, out_dir, lq_dir=None, title=None):
    """Write ``out_dir/report.html`` and its ``report_files/`` for a ``compute_report`` report.

    Args:
        report (dict): The report.
        out_dir (str): The report folder (``metrics.json`` and the charts are there).
        lq_dir (str | None): The LQ inputs, shown as the gallery's first column. Default: None.
        title (str | None): Page title. Default: 'Metrics: <methods>'.

    Returns:
        dict[str, str]: ``{'html': path}``.
    """
    out_dir = os.path.abspath(out_dir)
    gallery = gallery_rows(report, out_dir, lq_dir)
    charts = sorted(n for n in os.listdir(out_dir) if n.endswith('.png') and n.startswith(('bar_', 'identity_')))
    body = ['<h2>Methods ranked</h2>', ranked_table(report), '<h2>Images</h2>', images_html(report)]
    if charts:
        body += ['<div class="charts">'] + [f'<a href="{url(os.path.join(out_dir, c), out_dir)}">'
                                            f'<img src="{url(os.path.join(out_dir, c), out_dir)}" alt="{c}"></a>'
                                            for c in charts] + ['</div>']
    body += ['<h2>Per image</h2>', gallery_html(gallery, 'gallery'),
             '<h2>Settings</h2>', settings_html(report_settings(report)),
             '<h2>Versions</h2>', settings_html(report.get('versions', {}))]
    atomic_write_text(os.path.join(out_dir, FILES, GALLERY), json.dumps(gallery, indent=1, ensure_ascii=False))
    path = os.path.join(out_dir, 'report.html')
    atomic_write_text(path, page(title or f'Metrics: {", ".join(report["methods"])}', '\n'.join(body)))
    return {'html': path}
