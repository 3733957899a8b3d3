"""The papers' tables as data: every file parses, every row has every column, protocols exist."""
import math

import pytest

from facesr_arch.data.testset_protocols import PROTOCOLS
from facesr_arch.reproduce import tables
from facesr_arch.reproduce.tables import TableError, all_tables, load_paper, load_table

# the tables the papers print (issue #16): paper -> table ids
EXPECTED = {'cfgpfssr': ['1', '2', '3'], 'gcfsr': ['1', '2', '3', '4'], 'mpcnet': ['2', '3', '4', '5', '6', '7'],
            'pvfr': ['1', '2', '3', '4', '5', '6'], 'wnet': ['1', '2', '3']}


def test_every_paper_table_is_there():
    assert {paper: list(load_paper(paper)[1]) for paper in tables.PAPERS} == EXPECTED


@pytest.mark.parametrize('table', all_tables(), ids=lambda t: t.name)
def test_table_rows_have_every_column(table):
    keys = [c.key for c in table.columns]
    assert table.rows and keys
    for row in table.rows:
        assert list(row.values) == keys
        assert any(v is not None for v in row.values.values()), f'{row.method}: every cell is missing'
        for value in row.values.values():
            assert value is None or isinstance(value, (int, float))
    for protocol, subset in table.measured_on:
        assert protocol in PROTOCOLS, f'{table.name}: protocol {protocol!r} is not defined'
        assert subset in PROTOCOLS[protocol]['subsets'], f'{table.name}: {protocol} has no subset {subset!r}'
    assert table.measured_on or table.kind == 'parameters'
    if table.protocol is None:
        assert table.protocol_note


def test_numbers_as_printed():
    """Spot checks against the papers (a transcription slip would change these)."""
    assert load_table('mpcnet', 3).row('Input').values == {'fid': 158.72, 'lpips': 0.6185, 'psnr': 20.23,
                                                            'ssim': 0.6823}
    assert load_table('mpcnet', '4').row('Input').values['x8'] == 20.34
    assert load_table('gcfsr', '2').row('GCFSR (Ours)').values['x64_similarity'] == 0.6620
    assert load_table('gcfsr', '1').row('GCFSR').values['parameters'] == 66.69
    assert load_table('pvfr', '2').row('Bicubic').values['psnr'] == 23.757
    assert math.isinf(load_table('pvfr', '1').row('GT').values['psnr'])
    assert load_table('pvfr', '3').row('Panini[18]').values['fddb_ifqa'] is None
    wnet = load_table('wnet', '1')
    assert [r.group for r in wnet.rows].count('Training Mode II') == 7
    assert wnet.row('Bicubic').values['celeba_x4_psnr'] == 27.38
    assert load_table('cfgpfssr', '1').row('PULSE [10]').values['niqe'] is None


def test_ragged_row_is_refused(tmp_path, monkeypatch):
    (tmp_path / 'mpcnet.yaml').write_text(
        'paper: {key: mpcnet}\n'
        'tables:\n'
        "  '9': {caption: c, kind: metrics, protocol: mpcnet_celeba_test, dataset: d, resolution: 512,\n"
        '        degradation: d, metric_options: {}, columns: [{key: psnr, label: PSNR, metric: psnr,\n'
        '        subset: celeba_test}, {key: ssim, label: SSIM, metric: ssim, subset: celeba_test}],\n'
        '        rows: [{method: A, values: {psnr: 1.0}}]}\n')
    monkeypatch.setattr(tables, 'TABLES_DIR', str(tmp_path))
    with pytest.raises(TableError, match="row 'A' has columns"):
        load_paper('mpcnet')


def test_unknown_table_lists_the_valid_ones():
    with pytest.raises(KeyError, match='its tables: 2, 3, 4, 5, 6, 7'):
        load_table('mpcnet', '1')


def test_wnet_modes_are_groups_on_their_own_sets(tmp_path, monkeypatch):
    """W-Net Table 1: Mode II's rows measure their CelebA columns on Mode II's 100 faces; Helen stays shared."""
    wnet = load_table('wnet', '1')
    assert wnet.find_group('mode2') == wnet.find_group('training mode II') == 'Training Mode II'
    assert wnet.row('MRRNet[47]', 'Training Mode II').values['celeba_x4_psnr'] == 30.48
    assert wnet.row('MRRNet[47]').values['celeba_x4_psnr'] == 30.20
    celeba, helen = wnet.columns[0], wnet.columns[-1]
    assert wnet.column_protocol(celeba, 'Training Mode II') == 'wnet_celeba_mode2'
    assert wnet.column_protocol(celeba, 'Training Mode I') == 'wnet_celeba_mode1'
    assert wnet.column_protocol(helen, 'Training Mode II') == 'wnet_helen'
    assert ('wnet_celeba_mode2', 'x8') in wnet.measured_on
    assert PROTOCOLS['wnet_celeba_mode2']['num_images'] == 100
    assert all(s['paper_input'] is None for s in PROTOCOLS['wnet_celeba_mode2']['subsets'].values())
    (tmp_path / 'wnet.yaml').write_text(
        'paper: {key: wnet}\n'
        'tables:\n'
        "  '9': {caption: c, kind: metrics, protocol: wnet_celeba_mode1, dataset: d, resolution: 128,\n"
        '        degradation: d, metric_options: {}, columns: [{key: psnr, label: PSNR, metric: psnr, subset: x4}],\n'
        '        groups: [{name: Mode III, key: m3, protocol: wnet_celeba_mode2}],\n'
        '        rows: [{method: A, group: Mode I, values: {psnr: 1.0}}]}\n')
    monkeypatch.setattr(tables, 'TABLES_DIR', str(tmp_path))
    with pytest.raises(TableError, match="group 'Mode III' names no row group"):
        load_paper('wnet')
