"""``report.html`` of a reproduced table: the paper's numbers beside the measured ones, the differences
coloured (green: the measurement is better than the paper in the metric's direction, red: worse; the stronger
the colour, the larger the difference relative to the paper's value), the sweep figure, N and the excluded
images of every test set, the run's settings and versions, and per test set the gallery of its metric report
(``metrics/<protocol>/<subset>/report.html``: its ``report_files/gallery.json`` and thumbnails). Offline: inline
CSS / JS only."""
import html
import json
import math
import os

from ..metrics.catalog import METRICS
from ..metrics.html_report import FILES, GALLERY, gallery_html, page, settings_html, url
from ..metrics.report import package_versions
from ..toolkit.outputs import atomic_write_text
from .tables import format_cell


def lower_better(metric):
    """Direction of a table column's metric: True / False, or None where neither is better (parameters)."""
    if metric in METRICS:
        return METRICS[metric].lower_better
    return True if metric == 'time' else None


def difference_class(difference, paper, metric):
    """``(css class, alpha)`` of a difference cell; ('', 0) when it has no direction or value."""
    direction = lower_better(metric)
    if difference is None or direction is None or paper is None or not math.isfinite(difference):
        return '', 0.0
    if difference == 0:
        return '', 0.0
    better = (difference < 0) == direction
    relative = abs(difference) / abs(paper) if paper else 1.0
    return ('better' if better else 'worse'), min(0.85, 0.15 + 10 * relative)


def table_html(table, result, decimals):
    """Paper, measured and difference lines per method; differences coloured (see the module docstring)."""
    esc = html.escape
    cols = table.columns
    groups = any(r.get('group') for r in result['rows'])
    head = ('<tr><th>Method</th>' + ('<th>Group</th>' if groups else '') + '<th>Source</th>'
            + ''.join(f'<th>{esc(c.label)}</th>' for c in cols) + '</tr>')
    body = []
    for row in result['rows']:
        sources = []
        if row['paper'] is not None:
            sources.append(('paper', row['paper']))
        if row.get('measured') is not None:
            sources.append(('measured' if row['paper'] is not None else 'measured (no paper row)', row['measured']))
        if row.get('difference') is not None:
            sources.append(('difference', row['difference']))
        for i, (source, values) in enumerate(sources):
            cells = [f'<td class="text">{esc(row["method"]) if i == 0 else ""}</td>']
            if groups:
                cells.append(f'<td class="text">{esc(row.get("group") or "") if i == 0 else ""}</td>')
            cells.append(f'<td class="text">{source}</td>')
            for col, digits in zip(cols, decimals):
                value = values.get(col.key)
                text = format_cell(value, digits, signed=source == 'difference')
                if source == 'difference':
                    cls, alpha = difference_class(value, (row['paper'] or {}).get(col.key), col.metric)
                    style = f' class="{cls}" style="--a:{alpha:.2f}"' if cls else ''
                    cells.append(f'<td{style}>{text}</td>')
                else:
                    cells.append(f'<td>{text}</td>')
            body.append(f'<tr class="{source.split()[0]}">' + ''.join(cells) + '</tr>')
    return (f'<table id="table"><thead>{head}</thead><tbody>' + ''.join(body) + '</tbody></table>'
            '<p>Difference = measured - paper; green: better than the paper, red: worse (the stronger, the larger '
            'relative to the paper\'s value).</p>')


def _subset_section(folder, key, info):
    """N, excluded images and the gallery of the test set ``key`` ('protocol/subset'), from its metric report."""
    esc = html.escape
    sub = os.path.join(folder, 'metrics', *key.split('/'))
    report_path = os.path.join(sub, 'metrics.json')
    parts = [f'<h2>Test set {esc(key)}</h2>']
    if not os.path.isfile(report_path):
        return parts[0] + '<p>No image metric measured on this set.</p>'
    with open(report_path) as f:
        report = json.load(f)
    parts.append(f'<p><b>N = {len(report["common_images"])}</b> images scored for every row '
                 f'(<a href="{url(os.path.join(sub, "report.html"), folder)}">full metric report</a>); '
                 f'test set {esc(info["folder"])} from {esc(info["source"])}.</p>')
    excluded = [f'<li>{esc(m)}: {esc(", ".join(stems))}</li>' for m, stems in report['excluded'].items() if stems]
    if excluded:
        parts.append('<p>Excluded (not scored for every row):</p><ul>' + ''.join(excluded) + '</ul>')
    with open(os.path.join(sub, FILES, GALLERY)) as f:
        gallery = json.load(f)
    parts.append(gallery_html(gallery, f'gallery-{key.replace("/", "-")}', prefix=url(sub, folder)))
    return '\n'.join(parts)


def write_reproduce_html(table, result, folder, decimals):
    """Write ``folder/report.html`` (``folder``: the table's output folder, its metric reports inside).

    Args:
        table (PaperTable): The table.
        result (dict): What ``table.json`` holds.
        folder (str): The table's folder (``table.json``, ``sweep.png``, ``metrics/`` are there).
        decimals (list[int]): Digits per column (as ``table.md``).

    Returns:
        str: The page's path.
    """
    esc = html.escape
    body = [f'<p>{esc(table.caption)}</p>', table_html(table, result, decimals)]
    if os.path.isfile(os.path.join(folder, 'sweep.png')):
        body.append('<p><img src="sweep.png" alt="sweep" style="max-width:100%"></p>')
    body.append(f'<p>Protocol: {esc(str(table.dataset))}; {esc(str(table.resolution))} px; '
                f'{esc(str(table.degradation))}.</p>')
    for note in (table.protocol_note, table.metric_notes):
        if note:
            body.append(f'<p>{esc(note)}</p>')
    if result.get('unavailable') or result.get('errors'):
        items = [f'<li>{esc(m)} unavailable: {esc(r)}</li>' for m, r in result['unavailable'].items()]
        items += [f'<li>{esc(row)}: skipped {esc(e)}</li>' for row, errs in result.get('errors', {}).items()
                  for e in errs]
        body.append('<ul>' + ''.join(items) + '</ul>')
    for key, info in result.get('measured_on', {}).items():
        body.append(_subset_section(folder, key, info))
    settings = dict(result.get('options', {}))
    settings.update({f'column {c["label"]}': c['definition'] + (f' [{c["protocol"]}/{c["subset"]}]'
                                                                 if c.get('protocol') else '')
                     for c in result['columns']})
    body += ['<h2>Settings</h2>', settings_html(settings), '<h2>Versions</h2>', settings_html(package_versions())]
    path = os.path.join(folder, 'report.html')
    atomic_write_text(path, page(f'{table.paper.upper()} Table {table.table_id}', '\n'.join(body)))
    return path
