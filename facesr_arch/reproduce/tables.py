"""The five papers' quantitative tables as data: loading and checking ``tables/<paper>.yaml``.

Each file holds ``paper`` (key, method, title, authors, venue) and ``tables`` {table id: table}. A table is:

- ``caption``, ``kind``: 'metrics' (image metrics on a synthetic test set), 'no_reference' (real faces without
  ground truth: no-reference metrics only), 'parameters' (parameter counts) or 'runtime' (seconds per face).
- ``protocol``: the test-set protocol it is measured on, a name of
  :data:`facesr_arch.data.testset_protocols.PROTOCOLS` (a column may name its own, e.g. a second dataset;
  None for parameter tables, with ``protocol_note`` saying why); ``dataset``, ``num_images`` (the paper's
  subset size), ``resolution``, ``degradation``: the paper's protocol in words, with the section it comes from.
- ``metric_options`` (``color_space``, ``crop_border``, ``arcface_arch`` of ``facesr_arch.metrics``) and
  ``metric_notes`` (which LPIPS / FID reference / identity network, and what the paper leaves unsaid).
- ``input_row`` / ``gt_row``: the paper's name of its degraded-input (Input / Bicubic) and ground-truth rows,
  or None; ``ours``: the paper's name of its own method; ``sweep`` ({axis}) for tables plotted as curves.
- ``columns``: ``key``, ``label``, ``metric`` (a name of ``facesr_arch.metrics.catalog.METRICS``, or
  'parameters' / 'time'), ``protocol`` (default: the table's) and ``subset``, ``dataset`` (the name ``--hq``
  uses for tables over several datasets), ``x`` (sweep position).
- ``rows``: ``method`` (the paper's name), optional ``group`` (e.g. W-Net's training modes) and ``info``
  (text columns), and ``values`` {column key: number as printed, or null for a missing cell}.
- ``groups`` (optional): the row groups measured on their own test sets, each ``name`` (as the rows' ``group``),
  ``key`` (a short alias for ``--checkpoint KEY:NAME=PATH``) and ``protocol``, which replaces the table's
  protocol in the columns measured on it (a column naming another protocol, e.g. Helen's, keeps it). W-Net's
  Training Mode II rows are measured on Mode II's 100 faces, Mode I's on its 1,000.
"""
import math
import os
from dataclasses import dataclass, field
from typing import Optional

import yaml

from ..toolkit.errors import UnknownNameError, UserError

TABLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tables')
PAPERS = ('cfgpfssr', 'gcfsr', 'mpcnet', 'pvfr', 'wnet')
KINDS = ('metrics', 'no_reference', 'parameters', 'runtime')
# measured by the reproduction itself rather than by facesr_arch.metrics
EXTRA_METRICS = {'parameters': 'parameters of the generator, millions',
                 'time': 'forward seconds per face (batch 1, median after one warm-up face)'}

_TABLE_KEYS = {'caption', 'kind', 'protocol', 'protocol_note', 'dataset', 'num_images', 'resolution', 'degradation',
               'metric_options', 'metric_notes', 'input_row', 'gt_row', 'ours', 'sweep', 'columns', 'rows', 'groups'}
_GROUP_KEYS = {'name', 'key', 'protocol'}
_REQUIRED = {'caption', 'kind', 'protocol', 'dataset', 'resolution', 'degradation', 'metric_options', 'columns',
             'rows'}
_COLUMN_KEYS = {'key', 'label', 'metric', 'protocol', 'subset', 'dataset', 'x'}
_ROW_KEYS = {'method', 'group', 'info', 'values'}
_METRIC_OPTIONS = {'color_space', 'crop_border', 'arcface_arch'}


class TableError(UserError, ValueError):
    """A table file that does not follow the schema, or a table that does not exist (names the file and the
    table)."""


@dataclass(frozen=True)
class Column:
    """One published column: a metric on one subset of a protocol (the table's unless the column names one)."""

    key: str
    label: str
    metric: str
    protocol: Optional[str] = None
    subset: Optional[str] = None
    dataset: Optional[str] = None
    x: object = None


@dataclass(frozen=True)
class Row:
    """One published row: the paper's method name and its numbers by column key (None: missing cell)."""

    method: str
    values: dict
    group: Optional[str] = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PaperTable:
    """One quantitative table of a paper (see the module docstring for the fields)."""

    paper: str
    table_id: str
    caption: str
    kind: str
    protocol: Optional[str]
    dataset: str
    resolution: int
    degradation: str
    metric_options: dict
    columns: tuple
    rows: tuple
    protocol_note: Optional[str] = None
    num_images: Optional[int] = None
    metric_notes: Optional[str] = None
    input_row: Optional[str] = None
    gt_row: Optional[str] = None
    ours: Optional[str] = None
    sweep: Optional[dict] = None
    groups: tuple = ()

    @property
    def name(self):
        """'mpcnet table 4'."""
        return f'{self.paper} table {self.table_id}'

    @property
    def group_names(self):
        """The measured row groups' names ([None] for a table without ``groups``)."""
        return [g['name'] for g in self.groups] or [None]

    def column_protocol(self, column, group=None):
        """The protocol ``column`` is measured on for the rows of ``group`` (a group's protocol replaces the
        table's; None: the column's own)."""
        spec = next((g for g in self.groups if g['name'] == group), None)
        if spec is not None and column.protocol == self.protocol:
            return spec['protocol']
        return column.protocol

    def find_group(self, name):
        """The group a ``--checkpoint`` prefix names (its key or name, case and spaces ignored), or None."""
        wanted = _norm(name)
        return next((g['name'] for g in self.groups if wanted in (_norm(g['key']), _norm(g['name']))), None)

    @property
    def measured_on(self):
        """The (protocol, subset) pairs the columns are measured on (every group's), in column order."""
        return list(dict.fromkeys((self.column_protocol(c, g), c.subset) for g in self.group_names
                                  for c in self.columns if c.protocol))

    @property
    def datasets(self):
        """The datasets the columns name, in column order ([None] when the table has one dataset)."""
        return list(dict.fromkeys(c.dataset for c in self.columns))

    def row(self, method, group=None):
        """The first published row named ``method`` (case and spaces ignored) in ``group`` (None: any), or None."""
        wanted = _norm(method)
        return next((r for r in self.rows if _norm(r.method) == wanted and group in (None, r.group)), None)


def _norm(name):
    return ''.join(str(name).split()).lower()


def table_path(paper):
    """The data file of ``paper``."""
    if paper not in PAPERS:
        raise UnknownNameError(f'Unknown paper {paper!r}; choose from {", ".join(PAPERS)}')
    return os.path.join(TABLES_DIR, f'{paper}.yaml')


def load_paper(paper):
    """Read and check one paper's file.

    Returns:
        tuple[dict, dict[str, PaperTable]]: The paper's bibliographic block and its tables by id.

    Raises:
        KeyError: Unknown paper.
        TableError: The file breaks the schema.
    """
    path = table_path(paper)
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or set(data) != {'paper', 'tables'}:
        raise TableError(f'{path}: expected the keys paper and tables')
    info = data['paper']
    if info.get('key') != paper:
        raise TableError(f'{path}: paper.key is {info.get("key")!r}, expected {paper!r}')
    tables = {str(tid): _parse_table(f'{path} table {tid}', paper, str(tid), block)
              for tid, block in data['tables'].items()}
    return info, tables


def load_table(paper, table_id):
    """One table, e.g. ``load_table('mpcnet', '4')``.

    Raises:
        KeyError: Unknown paper or table (the message lists the valid ones).
    """
    _, tables = load_paper(paper)
    table_id = str(table_id)
    if table_id not in tables:
        raise UnknownNameError(f'{paper} has no table {table_id}; its tables: {", ".join(tables)}')
    return tables[table_id]


def all_tables():
    """Every table of every paper, in paper then table order."""
    return [t for paper in PAPERS for t in load_paper(paper)[1].values()]


def _parse_table(where, paper, table_id, block):
    from facesr_arch.metrics.catalog import METRICS
    if not isinstance(block, dict):
        raise TableError(f'{where}: expected a mapping')
    unknown, missing = set(block) - _TABLE_KEYS, _REQUIRED - set(block)
    if unknown or missing:
        raise TableError(f'{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}')
    if block['kind'] not in KINDS:
        raise TableError(f'{where}: kind {block["kind"]!r} is not one of {KINDS}')
    if block['protocol'] is None and not block.get('protocol_note'):
        raise TableError(f'{where}: a table without protocol needs a protocol_note saying why')
    if set(block['metric_options']) - _METRIC_OPTIONS:
        raise TableError(f'{where}: metric_options may only set {sorted(_METRIC_OPTIONS)}')
    columns = []
    for col in block['columns']:
        if set(col) - _COLUMN_KEYS or not {'key', 'label', 'metric'} <= set(col):
            raise TableError(f'{where}: column {col} needs key, label, metric (optional: subset, dataset, x)')
        if col['metric'] not in METRICS and col['metric'] not in EXTRA_METRICS:
            raise TableError(f'{where}: column {col["key"]}: unknown metric {col["metric"]!r}')
        col = dict(col, protocol=col.get('protocol') or block['protocol'])
        if block['kind'] != 'parameters' and not (col['protocol'] and col.get('subset')):
            raise TableError(f'{where}: column {col["key"]} needs the protocol and subset it is measured on')
        columns.append(Column(**col))
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise TableError(f'{where}: duplicate column keys in {keys}')
    rows = []
    for row in block['rows']:
        if set(row) - _ROW_KEYS or not {'method', 'values'} <= set(row):
            raise TableError(f'{where}: row {row} needs method and values (optional: group, info)')
        if set(row['values']) != set(keys):
            raise TableError(f'{where}: row {row["method"]!r} has columns {sorted(row["values"])}, '
                             f'the table has {sorted(keys)} (write null for a missing cell)')
        for key, value in row['values'].items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or (math.isnan(value))):
                raise TableError(f'{where}: row {row["method"]!r}, column {key}: {value!r} is not a number or null')
        rows.append(Row(method=str(row['method']), values=dict(row['values']), group=row.get('group'),
                        info=dict(row.get('info') or {})))
    groups = tuple(_parse_groups(where, block, rows))
    for name_key in ('input_row', 'gt_row', 'ours'):
        name = block.get(name_key)
        if name is not None and not any(_norm(r.method) == _norm(name) for r in rows):
            raise TableError(f'{where}: {name_key} {name!r} is not a row of the table')
    fields = {k: v for k, v in block.items() if k not in ('columns', 'rows', 'groups')}
    return PaperTable(paper=paper, table_id=table_id, columns=tuple(columns), rows=tuple(rows), groups=groups,
                      **fields)


def _parse_groups(where, block, rows):
    """The ``groups`` of a table: each names a row group of the table and the protocol its rows use."""
    groups = block.get('groups') or []
    for group in groups:
        if not isinstance(group, dict) or set(group) != _GROUP_KEYS:
            raise TableError(f'{where}: group {group} needs exactly {sorted(_GROUP_KEYS)}')
        if not any(r.group == group['name'] for r in rows):
            raise TableError(f'{where}: group {group["name"]!r} names no row group of the table')
    names = [g['name'] for g in groups]
    if groups and set(names) != {r.group for r in rows}:
        raise TableError(f'{where}: groups {names} must list every row group {sorted({str(r.group) for r in rows})}')
    return [dict(g) for g in groups]


def format_cell(value, decimals, signed=False):
    """A table cell as printed: '-' for no value, the infinities as symbols, else ``decimals`` digits (with its
    sign when ``signed``, for differences)."""
    if value is None:
        return '-'
    if isinstance(value, float) and math.isinf(value):
        return '∞' if value > 0 else '-∞'
    return f'{value:+.{decimals}f}' if signed else f'{value:.{decimals}f}'
