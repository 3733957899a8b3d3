"""The sweep figure of a reproduced table (``sweep.png``): the metric against the swept parameter, paper curves
dashed and measured ones solid, a tick at every measured position (integers printed as integers), the
metric's unit on the axis and the legend beside the plot, clear of the curves."""
import io
import math

import numpy as np

from ..metrics.catalog import METRICS
from ..toolkit.outputs import atomic_write_bytes


def _tick_label(x):
    """4 -> '4', 4.0 -> '4', 0.5 -> '0.5', 'G1' -> 'G1'."""
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return str(int(x))
    return str(x)


def axis_label(metric):
    """'PSNR (dB)' for a catalog metric with a unit, its label without one, else the name itself."""
    info = METRICS.get(metric)
    if info is None:
        return metric
    return f'{info.label} ({info.unit})' if info.unit else info.label


def sweep_figure(table, result):
    """The matplotlib figure of a sweep table (see the module docstring)."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    xs = [c.x for c in table.columns]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    positions = xs if numeric else list(range(len(xs)))
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    for i, row in enumerate(result['rows']):
        color = f'C{i % 10}'
        for source, style in (('paper', '--'), ('measured', '-')):
            values = row.get(source)
            if values is None:
                continue
            ys = [np.nan if values.get(c.key) is None else values[c.key] for c in table.columns]
            label = f'{row["method"]} ({source})' if source == 'measured' or row.get('measured') else row['method']
            ax.plot(positions, ys, style, marker='o' if source == 'measured' else '.', color=color, label=label)
    ax.set_xticks(positions, [_tick_label(x) for x in xs])
    ax.set_xlabel(table.sweep.get('axis', ''))
    ax.set_ylabel(axis_label(table.columns[0].metric))
    ax.grid(alpha=0.3)
    ax.set_title(f'{table.paper.upper()} Table {table.table_id}: paper (dashed) vs measured (solid)', fontsize=9)
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    fig.tight_layout()
    return fig


def plot_sweep(table, result, path):
    """Write :func:`sweep_figure` to ``path`` (PNG, atomically; no timestamp in the file)."""
    from matplotlib import pyplot as plt
    fig = sweep_figure(table, result)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100, bbox_inches='tight', metadata={'Software': None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
