"""Metric charts carry values and units and leave out metrics no method has; NIQE on images smaller than its
96x96 blocks says so once, instead of one torch error per image."""
import os

import cv2
import numpy as np

from facesr_arch.metrics.report import bar_figure, compute_report, image_spread, markdown_table, plot_report


def test_bar_figure_values_and_unit():
    fig = bar_figure('psnr', ['GCFSR', 'bicubic'], [24.5312, None])
    ax = fig.axes[0]
    assert ax.get_ylabel() == 'PSNR (dB)'
    assert [t.get_text() for t in ax.texts] == ['24.53', 'n/a']
    assert bar_figure('ssim', ['A'], [0.81234]).axes[0].get_ylabel() == 'SSIM'


def test_plot_report_skips_metrics_without_values(tmp_path):
    report = {'metrics': ['psnr', 'niqe'], 'unavailable': {}, 'summary': {'A': {'psnr': 20.0, 'niqe': None},
                                                                         'B': {'psnr': 22.0, 'niqe': None}}}
    assert sorted(plot_report(report, str(tmp_path))) == ['bar_psnr']


def test_niqe_on_small_images_says_the_minimum_once(ffhq_small_dir, tmp_path):
    small = tmp_path / 'small'
    small.mkdir()
    for name in sorted(os.listdir(ffhq_small_dir))[:3]:
        img = cv2.imread(os.path.join(ffhq_small_dir, name))
        cv2.imwrite(str(small / name), cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA))
    report, _ = compute_report({'tiny': str(small)}, metric_names=['niqe'], progress=False)
    errors = report['errors']['tiny']
    assert errors == [{'image': None, 'error': 'NIQE needs images of at least 96x96 px; not scored: 3 of 64x64'}]
    assert '- tiny: NIQE needs images of at least 96x96 px; not scored: 3 of 64x64' in markdown_table(report)
    assert not report['per_image']['tiny']['niqe'] and np.isnan(report['summary']['tiny'].get('niqe') or np.nan)


def test_bars_carry_n_and_standard_deviation(tmp_path):
    report = {'metrics': ['psnr'], 'unavailable': {}, 'common_images': ['a', 'b', 'c'],
              'summary': {'A': {'psnr': 21.0}, 'B': {'psnr': 23.0}},
              'per_image': {'A': {'psnr': {'a': 20.0, 'b': 21.0, 'c': 22.0, 'x': 99.0}},
                            'B': {'psnr': {'a': 23.0, 'b': 23.0, 'c': 23.0}}}}
    assert image_spread(report, 'A', 'psnr') == (3, 1.0)  # sample SD over the common images only
    assert image_spread(report, 'B', 'psnr') == (3, 0.0)
    fig = bar_figure('psnr', ['A', 'B'], [21.0, 23.0], [1.0, 0.0], [3, 3])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ['21.00 ± 1.00', '23.00 ± 0.00']
    assert [t.get_text() for t in ax.get_xticklabels()] == ['A\nN=3', 'B\nN=3']
    caps = [line for line in ax.lines if len(line.get_ydata()) == 2]  # lower and upper caps of both bars
    assert sorted(float(y) for line in caps for y in line.get_ydata()) == [20.0, 22.0, 23.0, 23.0]
    assert 'mean ± SD' in ax.get_title()
    assert sorted(plot_report(report, str(tmp_path))) == ['bar_psnr']
