"""scripts/calculate_metrics.py end to end: three methods vs a GT folder of real faces, weights in a TORCH_HOME
of tiny random checkpoints (FID Inception, LPIPS-alex), unavailable and unmatched reporting, outputs."""
import csv
import json
import os

import cv2
import pytest
import torch

from helpers import run_script
from test_metrics import compact_random_state


@pytest.fixture(scope='module')
def folders(ffhq_small_dir, tmp_path_factory):
    """GT: 4 faces (128 px). Methods: bicubic x4 (3 faces + an extra file), blur, JPEG q20 (3 faces each)."""
    root = tmp_path_factory.mktemp('report')
    dirs = {name: root / name for name in ('gt', 'bicubic', 'blur', 'jpeg')}
    for folder in dirs.values():
        folder.mkdir()
    for i, name in enumerate(sorted(os.listdir(ffhq_small_dir))[:4]):
        gt = cv2.imread(os.path.join(ffhq_small_dir, name))
        cv2.imwrite(str(dirs['gt'] / name), gt)
        if i == 3:
            continue
        cv2.imwrite(str(dirs['bicubic'] / name), cv2.resize(cv2.resize(gt, (32, 32), interpolation=cv2.INTER_AREA),
                                                            (128, 128), interpolation=cv2.INTER_CUBIC))
        cv2.imwrite(str(dirs['blur'] / name), cv2.GaussianBlur(gt, (5, 5), 1.0))
        cv2.imwrite(str(dirs['jpeg'] / name), cv2.imdecode(cv2.imencode('.jpg', gt, [cv2.IMWRITE_JPEG_QUALITY, 20])[1],
                                                           cv2.IMREAD_COLOR))
    cv2.imwrite(str(dirs['bicubic'] / 'not_in_gt.png'), gt)
    return {k: str(v) for k, v in dirs.items()}


def with_calibrated_batchnorm(net, state, inputs):
    """``state`` with BatchNorm running statistics measured on ``inputs``, so that a deep random network's
    features keep unit scale in eval mode instead of vanishing layer by layer."""
    net.load_state_dict(state)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0  # running statistics := this batch's statistics
    net.train()
    with torch.no_grad():
        net(inputs)
    return {key: net.state_dict()[key] if 'running_' in key else value for key, value in state.items()}


@pytest.fixture(scope='module')
def torch_home(tmp_path_factory):
    """pyiqa / torchvision weight folders holding tiny random FID-Inception, LPIPS-alex and AlexNet files."""
    import torchvision
    from pyiqa.archs import inception
    home = tmp_path_factory.mktemp('torch_home')
    (home / 'hub' / 'pyiqa').mkdir(parents=True)
    (home / 'hub' / 'checkpoints').mkdir(parents=True)
    original = inception.load_pretrained_network
    inception.load_pretrained_network = lambda *args, **kwargs: None  # build the layout without weights
    try:
        fid_net = inception.fid_inception_v3()
    finally:
        inception.load_pretrained_network = original
    torch.save(with_calibrated_batchnorm(fid_net, compact_random_state(fid_net), torch.rand(4, 3, 299, 299) * 2 - 1),
               home / 'hub' / 'pyiqa' / 'pt_inception-2015-12-05-6726825d.pth')
    alexnet = torchvision.models.alexnet()
    torch.save(compact_random_state(alexnet), home / 'hub' / 'checkpoints' / 'alexnet-owt-7be5be79.pth')
    lins = {f'lin{i}.model.1.weight': torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(lins, home / 'hub' / 'pyiqa' / 'LPIPS_v0.1_alex-df73285e.pth')
    return str(home)


@pytest.fixture(scope='module')
def arcface_file(tmp_path_factory):
    from facesr_arch.archs.arcface_arch import FaceArcFace
    path = tmp_path_factory.mktemp('arcface') / 'arcface_resnet18.pth'
    torch.save(compact_random_state(FaceArcFace('resnet18').net), path)
    return str(path)


@pytest.fixture(scope='module')
def report_run(folders, torch_home, arcface_file, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('out'))
    args = [folders['bicubic'], folders['blur'], folders['jpeg'], '--gt', folders['gt'], '--names', 'Bicubic',
            'Blur', 'JPEG', '--metrics', 'psnr', 'psnr_y', 'ssim_y', 'lpips', 'lpips_vgg', 'niqe', 'ifqa', 'identity',
            'fid', '--arcface-arch', 'resnet18', '--arcface-weights', arcface_file, '--torch-home', torch_home,
            '--out', out, '--no-progress', '--crop-border', '2']
    proc = run_script('calculate_metrics.py', args, cwd=out)
    with open(os.path.join(out, 'metrics.json')) as f:
        return proc, out, json.load(f)


def test_report_values_and_unavailable(report_run):
    proc, out, report = report_run
    assert set(report['summary']) == {'Bicubic', 'Blur', 'JPEG'}
    assert set(report['unavailable']) == {'lpips_vgg', 'ifqa'}
    assert 'LPIPS_v0.1_vgg-a78928a0.pth' in report['unavailable']['lpips_vgg']
    assert 'IFQA_Metric.pth' in report['unavailable']['ifqa']
    for method, summary in report['summary'].items():
        assert set(summary) == {'psnr', 'psnr_y', 'ssim_y', 'lpips', 'niqe', 'identity', 'fid'}
        assert all(isinstance(value, float) for value in summary.values()), summary
        assert len(report['per_image'][method]['psnr_y']) == 3
    assert report['summary']['Blur']['psnr_y'] > report['summary']['Bicubic']['psnr_y']
    assert all(report['summary'][m]['fid'] > 0.01 for m in report['summary'])
    assert 'YCbCr' in report['metrics']['psnr_y']['variant'] and 'crop border 2' in report['metrics']['psnr_y']['variant']
    assert report['weight_files']['fid'][0]['path'].endswith('pt_inception-2015-12-05-6726825d.pth')
    assert report['versions']['pyiqa'] and report['options']['crop_border'] == 2
    curve = report['identity_threshold_curve']['Blur']
    assert len(curve['thresholds']) == len(curve['fractions']) == 21
    assert 'unavailable' in proc.stdout and 'IFQA_Metric.pth' in proc.stdout


def test_report_unmatched_files(report_run):
    _, _, report = report_run
    assert report['unmatched']['Bicubic'] == {'results_without_gt': ['not_in_gt'], 'gt_without_result': ['00003']}
    assert report['images']['Bicubic'] == 3


def test_report_table_csv_json_png(report_run):
    proc, out, report = report_run
    with open(os.path.join(out, 'metrics.md')) as f:
        table = f.read()
    print(table)
    header = table.splitlines()[0]
    assert header.startswith('| Method | N | PSNR↑ | PSNR-Y↑ | SSIM-Y↑ | LPIPS↓ | NIQE↓ | IDS↑ | FID↓ |')
    best = max(report['summary'], key=lambda m: round(report['summary'][m]['psnr_y'], 2))
    row = next(line for line in table.splitlines() if line.startswith(f'| {best} |'))
    assert row.split('|')[2].strip() == '3' and row.split('|')[4].strip().startswith('**')
    assert table.count('<u>') >= 1
    with open(os.path.join(out, 'metrics.csv')) as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ['method', 'N'] and [r[0] for r in rows[1:]] == ['Bicubic', 'Blur', 'JPEG']
    assert rows[2][1] == '3' and float(rows[2][3]) == report['summary']['Blur']['psnr_y']
    with open(os.path.join(out, 'per_image.csv')) as f:
        assert sum(1 for _ in f) == 1 + 3 * 3 * 6
    for name in ('psnr', 'psnr_y', 'ssim_y', 'lpips', 'niqe', 'identity', 'fid'):
        with open(os.path.join(out, f'bar_{name}.png'), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert os.path.isfile(os.path.join(out, 'identity_threshold_curve.png'))
    with open(os.path.join(out, 'report.html'), encoding='utf-8') as f:  # the page to browse, beside the tables
        page = f.read()
    assert page.count('data-stem=') == 3 and 'id="summary"' in page and 'bar_fid.png' in page
    timings = json.load(open(os.path.join(out, 'timings.json')))
    assert timings['Blur']['images'] == 3 and timings['Blur']['seconds']['fid'] > 0


def test_report_is_reproducible(folders, tmp_path):
    from facesr_arch.metrics.report import compute_report, write_report
    outputs = []
    for run in range(2):
        report, timings = compute_report({'Blur': folders['blur'], 'JPEG': folders['jpeg']}, gt_dir=folders['gt'],
                                         metric_names=['psnr_y', 'ssim'], progress=False)
        write_report(report, timings, str(tmp_path / str(run)))
        with open(tmp_path / str(run) / 'metrics.json', 'rb') as f:
            outputs.append(f.read())
    assert outputs[0] == outputs[1]


def test_no_reference_set(folders, tmp_path):
    from facesr_arch.metrics.report import compute_report
    report, _ = compute_report({'JPEG': folders['jpeg']}, metric_names=['niqe', 'psnr_y'], progress=False)
    assert 'no GT folder' in report['unavailable']['psnr_y']
    assert len(report['per_image']['JPEG']['niqe']) == 3 and report['summary']['JPEG']['niqe'] > 0


def test_an_image_too_small_for_a_metric_is_reported_not_fatal(ffhq_small_dir, tmp_path):
    from facesr_arch.metrics.catalog import build_metric
    from facesr_arch.metrics.report import score_folder
    res, gt = tmp_path / 'res', tmp_path / 'gt'
    res.mkdir()
    gt.mkdir()
    face = cv2.imread(os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0]))
    for folder in (res, gt):
        cv2.imwrite(str(folder / 'face.png'), face)
        cv2.imwrite(str(folder / 'tiny.png'), face[:2, :2])
    scorers = {name: build_metric(name) for name in ('psnr', 'ssim')}
    out = score_folder(str(res), str(gt), scorers, batch_size=1, progress=False)
    assert set(out['per_image']['psnr']) == {'face', 'tiny'}
    assert 'face' in out['per_image']['ssim'] and 'tiny' not in out['per_image']['ssim']
    assert any(e['image'] == 'tiny' and e['error'].startswith('ssim failed') for e in out['errors'])
