"""scripts/reproduce.py end to end: every paper table on a few real faces, with a tiny random checkpoint of the
paper's method (self-describing, saved here and loaded through the inference loading code) as its row."""
import copy
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from helpers import REPO

from facesr_arch.data.testset_protocols import PROTOCOLS
from facesr_arch.reproduce.tables import all_tables, load_paper
from facesr_arch.benchmark.configs import method_options
from facesr_arch.reproduce.runner import subset_scale
from facesr_arch.toolkit.checkpoints import NETWORK_KEY, SCALES_KEY
from facesr_arch.cli import reproduce

TABLES = all_tables()
# quick look: the 512 and 1024 px protocols run at this side (and the tiny networks are built for it)
SMALL = 256


def table_scales(table):
    """The upscaling factors of the table's test sets (a tiny checkpoint claims them all)."""
    return sorted({s for p, sub in table.measured_on if (s := subset_scale(PROTOCOLS[p], sub))})


def tiny_checkpoint(folder, method, size, scales=(), **options):
    """A random tiny network of ``method`` producing ``size`` px faces, saved with its description and the
    upscaling factors it claims to be trained for."""
    from basicsr.utils.registry import ARCH_REGISTRY
    block = method_options(method, 'tiny')['network_g']
    if method == 'CFGPFSSR':
        block.update(out_size=size, in_size=size // 16)
    elif method != 'WNet':
        block['out_size'] = size
    block.update(options)
    kwargs = dict(block)
    torch.manual_seed(0)
    net = ARCH_REGISTRY.get(kwargs.pop('type'))(**kwargs)
    path = os.path.join(folder, f'{method}_{size}_{"_".join(map(str, options.values()))}_'
                              f'{"_".join(f"{s:g}" for s in scales)}.pth')
    torch.save({NETWORK_KEY: block, 'params': net.state_dict(), **({SCALES_KEY: list(scales)} if scales else {})},
               path)
    return path


@pytest.fixture(scope='module')
def faces(ffhq_small_dir, tmp_path_factory):
    """Two of the small FFHQ faces under non-numeric names: numeric stems would be taken for CelebA-HQ
    indices, and MPCNet's protocols refuse faces of its parser-training list."""
    folder = tmp_path_factory.mktemp('faces')
    for name in sorted(os.listdir(ffhq_small_dir))[:2]:
        (folder / f'ffhq_{name}').write_bytes(open(os.path.join(ffhq_small_dir, name), 'rb').read())
    return str(folder)


@pytest.fixture(scope='module')
def shared_out(tmp_path_factory):
    """One output folder for the module, so tables on the same protocol reuse the cached test set."""
    return str(tmp_path_factory.mktemp('reproduce'))


def _shrink(options):
    """Degradation options with every ``out_size`` (the LQ side of the blind degradations) set to SMALL."""
    if isinstance(options, dict):
        return {k: SMALL if k == 'out_size' and v else _shrink(v) for k, v in options.items()}
    return options


@pytest.fixture
def small_protocols(monkeypatch):
    """The protocols above SMALL px at SMALL px (their degradations otherwise unchanged)."""
    for name, recipe in PROTOCOLS.items():
        if any(subset['gt_size'] > SMALL for subset in recipe['subsets'].values()):
            small = copy.deepcopy(recipe)
            for subset in small['subsets'].values():
                subset['gt_size'] = min(subset['gt_size'], SMALL)
                subset['degradation'] = _shrink(subset['degradation'])
            monkeypatch.setitem(PROTOCOLS, name, small)


@pytest.fixture(autouse=True)
def no_metric_weights(tmp_path, monkeypatch):
    """An empty TORCH_HOME: metrics needing downloaded weights are reported unavailable (nothing downloads)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))


def test_list_names_every_table(capsys):
    assert reproduce.main(['--list']) == 0
    out = capsys.readouterr().out
    for table in TABLES:
        assert f'{table.paper} {table.table_id} [{table.kind}]' in out


def test_help_does_not_import_torch():
    code = ("import runpy, sys\nsys.argv = ['reproduce.py', '--help']\n"
            "sys.path.insert(0, 'scripts')  # as python puts a script's folder first\n"
            "try:\n    runpy.run_path('scripts/reproduce.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch imported:', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert '--checkpoint NAME=PATH' in out and 'torch imported: False' in out


@pytest.mark.parametrize('table', TABLES, ids=lambda t: f'{t.paper}_{t.table_id}')
def test_table_end_to_end(table, faces, shared_out, small_protocols, capsys):
    method = load_paper(table.paper)[0]['method']
    options = {'blind': True} if table.protocol == 'gcfsr_blind_celeba_test' else {}
    ckpt = tiny_checkpoint(shared_out, method, min(table.resolution, SMALL), table_scales(table), **options)
    # a parameter table measures the paper configuration as its own row; the checkpoint is an extra row
    name = 'tiny' if table.kind == 'parameters' else table.ours
    args = ['--paper', table.paper, '--table', table.table_id, '--out', shared_out, '--device', 'cpu',
            '--checkpoint', f'{name}={ckpt}',
            '--max-images', '2' if table.kind == 'runtime' else '1']
    if table.kind != 'parameters':
        args += ['--hq', faces]
    assert reproduce.main(args) == 0
    folder = os.path.join(shared_out, f'{table.paper}_table{table.table_id}')
    assert {'table.md', 'table.csv', 'table.json', 'report.html'} <= set(os.listdir(folder))
    assert os.path.isfile(os.path.join(folder, 'sweep.png')) == bool(table.sweep)
    with open(os.path.join(folder, 'table.json')) as f:
        result = json.load(f)
    rows = {}
    for row in result['rows']:  # the first of a name, as in the pairing (W-Net Table 1 has two modes)
        rows.setdefault(row['method'], row)
    assert [r.method for r in table.rows] == [r['method'] for r in result['rows'][:len(table.rows)]]
    ours = rows[table.ours]
    assert ours['measured_as'] == table.ours and rows[name]['measured'] is not None
    measurable = [c for c in table.columns if c.metric not in result['unavailable']]
    assert set(result['unavailable']) | {c.metric for c in measurable} == {c.metric for c in table.columns}
    for metric, reason in result['unavailable'].items():
        assert reason, metric
    for col in measurable:
        value = ours['measured'][col.key]
        if value is None:  # a metric may fail on an image (NIQE on a flat random output): listed, not hidden
            assert any(f'{col.metric} failed' in e for e in result['errors'][table.ours]), col.key
            continue
        assert isinstance(value, float) and math.isfinite(value), (col.key, value)
        paper = ours['paper'][col.key]
        if isinstance(paper, (int, float)):
            assert ours['difference'][col.key] == pytest.approx(value - paper)
    if table.kind != 'parameters':
        name = table.input_row or 'Input'
        assert rows[name]['measured'] is not None
        for col in measurable:
            if col.metric in ('psnr', 'psnr_y'):
                assert rows[name]['measured'][col.key] > ours['measured'][col.key]  # random weights lose
    else:
        # GCFSR at its paper configuration, built by the plugin: the paper's count within 0.1 M
        assert ours['measured']['parameters'] == pytest.approx(66.69, abs=0.1)
    markdown = capsys.readouterr().out
    assert f'{table.paper.upper()} Table {table.table_id}' in markdown and 'Written:' in markdown


def test_testset_cache_reused_until_inputs_change(ffhq_small_dir, tmp_path):
    """A set is built once per (protocol, seed, image limit, input files); changed inputs rebuild it."""
    from facesr_arch.reproduce.runner import testset
    from facesr_arch.data.testset_build import make_testset
    calls = []

    def build(*args, **kwargs):
        calls.append(args)
        return make_testset(*args, **kwargs)

    faces = tmp_path / 'faces'
    faces.mkdir()
    for name in sorted(os.listdir(ffhq_small_dir))[:1]:
        (faces / name).write_bytes(open(os.path.join(ffhq_small_dir, name), 'rb').read())
    first = testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces))
    assert testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces)) == first and len(calls) == 1
    assert os.listdir(os.path.join(first, 'x4', 'gt')) == sorted(os.listdir(faces))
    other_seed = testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces), seed=1)
    assert other_seed != first and len(calls) == 2
    name = sorted(os.listdir(faces))[0]
    (faces / f'copy_{name}').write_bytes((faces / name).read_bytes())
    changed = testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces))
    assert changed != first and len(calls) == 3 and len(os.listdir(os.path.join(changed, 'x4', 'gt'))) == 2
    assert not [n for n in os.listdir(tmp_path / 'out' / 'testsets') if n.startswith('.')]  # no leftovers
    key_list = tmp_path / 'keys.txt'
    key_list.write_text(f'# one face\n{os.path.splitext(name)[0]}\n')
    chosen = testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces), keys=str(key_list))
    assert os.listdir(os.path.join(chosen, 'x4', 'gt')) == [f'{os.path.splitext(name)[0]}.png'] and len(calls) == 4
    # 'paper' where the protocol has no key list (Helen: the faces given) is every input face: the cached set
    assert testset(build, str(tmp_path / 'out'), 'wnet_helen', str(faces), keys='paper') == changed


def test_checkpoint_with_option_file(ffhq_small_dir, tmp_path, capsys):
    """A bare checkpoint (params only) runs with --checkpoint-opt and --checkpoint-scale; without them the error
    says what to pass."""
    import yaml
    described = torch.load(tiny_checkpoint(str(tmp_path), 'WNet', 128), weights_only=True)
    bare = str(tmp_path / 'bare.pth')
    torch.save({'params': described['params']}, bare)
    opt = tmp_path / 'test_wnet.yml'
    opt.write_text(yaml.safe_dump({'network_g': described[NETWORK_KEY]}))
    args = ['--paper', 'wnet', '--table', '3', '--out', str(tmp_path / 'out'), '--device', 'cpu', '--hq',
            ffhq_small_dir, '--max-images', '1', '--checkpoint', f'Exp.H={bare}']
    assert reproduce.main(args) == 2
    assert 'give its option file with --checkpoint-opt Exp.H=OPTION_FILE.yml' in capsys.readouterr().err
    args += ['--checkpoint-opt', f'Exp.H={opt}']
    assert reproduce.main(args) == 2
    assert 'does not record the upscaling factor it was trained for' in capsys.readouterr().err
    assert reproduce.main(args + ['--checkpoint-scale', 'Exp.H=x4']) == 2
    assert "--checkpoint-scale Exp.H: 'x4' is not an upscaling factor" in capsys.readouterr().err
    assert reproduce.main(args + ['--checkpoint-scale', 'Exp.H=4']) == 0
    with open(tmp_path / 'out' / 'wnet_table3' / 'table.json') as f:
        row = next(r for r in json.load(f)['rows'] if r['method'] == 'Exp.H')
    assert isinstance(row['measured']['psnr'], float) and row['difference']['psnr'] == pytest.approx(
        row['measured']['psnr'] - 31.63)


def test_wnet_mode2_rows_measured_on_their_own_set(faces, tmp_path):
    """W-Net Table 1: a `mode2:` checkpoint is measured on Training Mode II's protocol (its 100-face list) and
    paired with Mode II's row; Mode II's Bicubic row, which the paper does not print, is measured and shown
    without a difference; Mode I's rows keep Mode I's set."""
    from facesr_arch.data.testset_keys import protocol_keys
    assert len(protocol_keys('wnet_celeba_mode2')) == PROTOCOLS['wnet_celeba_mode2']['num_images'] == 100
    assert not set(protocol_keys('wnet_celeba_mode2')) & set(protocol_keys('wnet_celeba_mode1'))
    ckpt = tiny_checkpoint(str(tmp_path), 'WNet', 128, scales=(4, 8))
    out = str(tmp_path / 'out')
    args = ['--paper', 'wnet', '--table', '1', '--out', out, '--device', 'cpu', '--hq', faces, '--max-images', '1',
            '--checkpoint', f'mode2:W-Net={ckpt}', '--checkpoint', f'Training Mode II:MRRNet[47]={ckpt}',
            '--checkpoint', f'W-Net={ckpt}']
    assert reproduce.main(args) == 0
    with open(os.path.join(out, 'wnet_table1', 'table.json')) as f:
        result = json.load(f)
    assert {'wnet_celeba_mode1/x4', 'wnet_celeba_mode2/x8', 'wnet_helen/x4'} <= set(result['measured_on'])
    with open(os.path.join(result['measured_on']['wnet_celeba_mode2/x4']['folder'], '..', 'manifest.json')) as f:
        assert json.load(f)['protocol'] == 'wnet_celeba_mode2'
    rows = {(r['group'], r['method'], r['paper'] is None): r for r in result['rows']}
    mode2 = rows[('Training Mode II', 'W-Net', False)]
    assert mode2['measured_as'] == 'W-Net' and mode2['paper']['celeba_x4_psnr'] == 31.63
    assert mode2['difference']['celeba_x4_psnr'] == pytest.approx(mode2['measured']['celeba_x4_psnr'] - 31.63)
    assert rows[('Training Mode II', 'MRRNet[47]', False)]['paper']['celeba_x4_psnr'] == 30.48
    assert rows[('Training Mode II', 'MRRNet[47]', False)]['measured'] is not None
    assert rows[('Training Mode I', 'MRRNet[47]', False)].get('measured') is None
    mode1 = rows[('Training Mode I', 'W-Net', False)]
    assert mode1['paper']['celeba_x4_psnr'] == 31.77 and mode1['measured'] is not None
    # one face, one random network: Mode I and Mode II see different CelebA faces only through their lists; here
    # both sets hold the same given face, so the rows agree on CelebA and on Helen
    assert mode1['measured']['celeba_x4_psnr'] == pytest.approx(mode2['measured']['celeba_x4_psnr'])
    bicubic1 = rows[('Training Mode I', 'Bicubic', False)]
    bicubic2 = rows[('Training Mode II', 'Bicubic', True)]
    assert bicubic1['difference'] is not None and bicubic2['difference'] is None
    assert isinstance(bicubic2['measured']['celeba_x8_psnr'], float)
    assert bicubic2['measured']['helen_x4_psnr'] == bicubic1['measured']['helen_x4_psnr']
    methods = [(r['group'], r['method']) for r in result['rows']]
    assert methods[-1] == ('Training Mode II', 'Bicubic')  # after Mode II's printed rows
    markdown = open(os.path.join(out, 'wnet_table1', 'table.md')).read()
    assert '| Bicubic | Training Mode II | measured (no paper row) |' in markdown
    assert reproduce.main(args[:-4] + ['--checkpoint', f'mode3:W-Net={ckpt}']) == 2


def test_user_pairs_are_a_test_set(ffhq_small_dir, tmp_path, capsys):
    """GCFSR Table 3 on the user's own CelebA-Test pairs (LQ / GT folders paired by name), no --hq needed."""
    import cv2
    lq, gt = tmp_path / 'celeba_512_validation_lq', tmp_path / 'celeba_512_validation'
    lq.mkdir()
    gt.mkdir()
    for i, name in enumerate(sorted(os.listdir(ffhq_small_dir))[:2]):
        face = cv2.imread(os.path.join(ffhq_small_dir, name))
        cv2.imwrite(str(gt / f'{i:08d}.png'), face)
        cv2.imwrite(str(lq / f'{i:08d}.png'), cv2.resize(cv2.resize(face, (32, 32), interpolation=cv2.INTER_AREA),
                                                          (128, 128), interpolation=cv2.INTER_LINEAR))
    ckpt = tiny_checkpoint(str(tmp_path), 'GCFSR', 128, blind=True)
    out = str(tmp_path / 'out')
    args = ['--paper', 'gcfsr', '--table', '3', '--out', out, '--device', 'cpu', '--checkpoint', f'GCFSR={ckpt}']
    assert reproduce.main(args + ['--pairs', str(lq), str(gt), '--max-images', '1']) == 0
    with open(os.path.join(out, 'gcfsr_table3', 'table.json')) as f:
        result = json.load(f)
    used = result['measured_on']['gcfsr_blind_celeba_test/celeba_test']
    assert used['source'].startswith('--pairs ') and os.listdir(os.path.join(used['folder'], 'lq')) == ['00000000.png']
    row = next(r for r in result['rows'] if r['method'] == 'GCFSR')
    assert isinstance(row['measured']['psnr'], float)
    (lq / '00000009.png').write_bytes((lq / '00000000.png').read_bytes())
    capsys.readouterr()
    args.append('--overwrite')  # the table folder of the first run exists
    assert reproduce.main(args + ['--pairs', str(lq), str(gt)]) == 2
    assert '1 LQ images without GT (first: 00000009)' in capsys.readouterr().err
    assert reproduce.main(args + ['--pairs', f'helen={lq}', str(gt)]) == 2
    assert "names no test set of gcfsr table 3" in capsys.readouterr().err


def test_mpcnet_table_on_numeric_ffhq_names_with_dataset(ffhq_small_dir, tmp_path, small_protocols, capsys):
    """FFHQ's numeric names collide with MPCNet's parser-training CelebA-HQ list: refused with the option named,
    measured with --dataset ffhq (the Input row needs no checkpoint)."""
    args = ['--paper', 'mpcnet', '--table', '4', '--out', str(tmp_path / 'out'), '--device', 'cpu', '--hq',
            ffhq_small_dir, '--max-images', '1']
    assert reproduce.main(args) == 2
    assert '--dataset NAME (e.g. --dataset ffhq)' in capsys.readouterr().err
    assert reproduce.main(args + ['--dataset', 'ffhq']) == 0
    with open(tmp_path / 'out' / 'mpcnet_table4' / 'table.json') as f:
        result = json.load(f)
    assert result['options']['dataset'] == 'ffhq'
    assert all(isinstance(v, float) for v in result['rows'][0]['measured'].values())


def test_sweep_figure_integer_ticks_unit_and_legend_outside():
    """MPCNet Table 4 (x4 ... x8): a tick at each factor, printed as an integer; PSNR in dB; the legend beside
    the axes, never over the curves."""
    from facesr_arch.reproduce.figures import sweep_figure
    from facesr_arch.reproduce.runner import assemble
    table = next(t for t in TABLES if t.sweep and all(isinstance(c.x, (int, float)) for c in t.columns))
    measured = {(None, table.ours): {c.key: 20.0 + i for i, c in enumerate(table.columns)}}
    fig = sweep_figure(table, assemble(table, measured, {}))
    ax = fig.axes[0]
    xs = [c.x for c in table.columns]
    assert list(ax.get_xticks()) == xs and all(float(x).is_integer() for x in xs)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(int(x)) for x in xs]
    assert ax.get_ylabel() == 'PSNR (dB)'
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1, 'legend overlaps the axes'
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f'{table.ours} (measured)' in labels and len(labels) == len(table.rows) + 1


def test_checkpoint_measured_only_at_its_trained_scale(faces, tmp_path):
    """An x4 W-Net checkpoint fills the x4 columns of W-Net Table 1 and leaves its x8 columns empty, saying why;
    a --checkpoint-scale that contradicts the recorded factor is refused."""
    from facesr_arch.reproduce.runner import ReproduceError, measure
    from facesr_arch.reproduce.tables import load_table
    from facesr_arch.data.testset_build import make_testset
    x4 = tiny_checkpoint(str(tmp_path), 'WNet', 128, scales=(4, ))
    table = load_table('wnet', '1')
    with pytest.raises(ReproduceError, match='contradicts .* which records x4: drop --checkpoint-scale'):
        measure(table, str(tmp_path / 'out'), make_testset, hq=[faces], checkpoints={'W-Net': x4},
                checkpoint_scales_given={'W-Net': '8'}, device='cpu', max_images=1, log=lambda *a: None)
    lines = []
    result = measure(table, str(tmp_path / 'out'), make_testset, hq=[faces], checkpoints={'W-Net': x4},
                     device='cpu', max_images=1, log=lines.append)
    row = next(r for r in result['rows'] if r.get('measured_as') == 'W-Net')
    for col in table.columns:
        if col.metric not in result['unavailable']:
            assert (row['measured'][col.key] is None) == ('x8' in col.key), col.key
    assert result['options']['checkpoint_scales'] == {'W-Net': [4.0]}
    assert sum('not measured' in line and 'trained for x4' in line for line in lines) == 2
    assert len(result['errors']['W-Net']) == 2
