"""Held-out faces restored by a quick-start checkpoint beside the bicubic-upsampled input (super-resolution) or the
degraded input (restoration): the metrics report of ``calculate_metrics`` and a figure with each tile's PSNR.

The inputs are made as the run's validation makes them (``FaceDegradedPairDataset``, deterministic, on the
held-out faces the validation LMDB was packed from): for super-resolution the LR face is the GT
MATLAB-bicubic-downscaled by the factor and quantised to 8 bits (what ``multiscale_bicubic``,
``cfgpfssr_bicubic`` and ``wnet_bicubic`` feed before upsampling), and the baseline is it MATLAB-bicubic-upsampled
to the GT size; for restoration the baseline is the degraded input.
"""
import os

import numpy as np
import torch

from ..data.face_degraded_dataset import FaceDegradedPairDataset
from ..toolkit.outputs import write_image_atomic
from ..data.preprocess import bicubic_resize
from ..inference.figures import fit_tile, labelled_grid, pixelated
from ..inference.loading import build_network, network_config
from ..inference.runner import FaceRestorer, to_uint8
from ..inference.specs import Controls, get_spec
from ..metrics.html_report import write_metrics_html
from ..metrics.report import compute_report, write_report
from .options import sr_factor

# metrics of the report: full-reference ones that need no weight file
REPORT_METRICS = ['psnr', 'ssim']
FIGURE_SIDE = 128


def _image(tensor):
    """(3, h, w) RGB tensor in [0, 1] -> float BGR (h, w, 3)."""
    return np.ascontiguousarray(tensor.numpy().transpose(1, 2, 0)[:, :, ::-1])


def heldout_inputs(opt, faces):
    """The held-out faces of an option file as its validation makes them.

    Args:
        opt (dict): The option file (its validation set and degradation).
        faces (str): The held-out faces (the folder the validation LMDB was packed from).

    Returns:
        list[tuple[str, ndarray, ndarray]]: (key, degraded input as float BGR in [0, 1], GT as uint8 BGR):
        the LR face (super-resolution) or the degraded face at the GT size (restoration).
    """
    val = dict(opt['datasets']['val'], mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], deterministic=True,
               phase='val', max_items=None, dataroot_gt=faces, io_backend={'type': 'disk'})
    factor = sr_factor(opt)
    if factor:
        val['degradation'] = {'type': 'bicubic_downsample', 'scales': [factor]}
    dataset = FaceDegradedPairDataset(val)
    items = (dataset[i] for i in range(len(dataset)))
    return [(item['key'], _image(item['lq']), to_uint8(_image(item['gt']))) for item in items]


def heldout_figure(rows, psnr, labels, factor, side=FIGURE_SIDE):
    """The comparison figure: per face, the LR face pixelated (nearest) at the tile size when there is one, the
    baseline and the method with their PSNR, and the GT.

    Args:
        rows (list[tuple[str, ndarray | None, ndarray, ndarray, ndarray]]): (key, LR uint8 or None, baseline,
            restored, GT) per face.
        psnr (dict[str, dict[str, float]]): Row label -> key -> PSNR (dB).
        labels (tuple[str, str]): Labels of the baseline and the method.
        factor (int | None): SR factor (None: restoration, no LR column).
        side (int): Tile side. Default: 128.
    """
    tiles, captions, names = [], [], []
    for key, lr, baseline, restored, gt in rows:
        lr_tile = [] if lr is None else [pixelated(lr, side)]
        tiles.append(lr_tile + [fit_tile(img, side) for img in (baseline, restored, gt)])
        captions.append([None] * len(lr_tile) + [f'{psnr[label][key]:.2f} dB' for label in labels] + [None])
        names.append(key)
    columns = ([f'LR x{factor} (nearest)'] if factor else []) + list(labels) + ['GT']
    return labelled_grid(tiles, columns, side=side, row_labels=names, captions=captions)


def compare_heldout(weights, opt, faces, out_dir, label):
    """Restore the held-out faces with ``weights``; write the faces, the metrics report and the figure.

    Args:
        weights (str): Trained checkpoint (it names its network).
        opt (dict): The run's option file (its validation set and degradation).
        faces (str): Folder of the held-out faces (those the validation LMDB holds).
        out_dir (str): Output folder: ``heldout/{gt,<baseline>,<label>}/<key>.png``, ``report/`` (the
            ``calculate_metrics`` report) and the figure ``heldout_x<factor>.png`` (``heldout_degraded.png``
            for restoration).
        label (str): The method's name in the report and figure.

    Returns:
        dict: ``factor`` (None for restoration), ``baseline`` (its label), ``mean_psnr`` {label: dB},
        ``report`` (calculate_metrics' paths), ``figure``, ``faces`` (count), ``size`` (GT side).
    """
    factor = sr_factor(opt)
    baseline = 'bicubic' if factor else 'degraded input'
    block, weights, param_key = network_config(weights=weights)
    restorer = FaceRestorer(build_network(block, weights, param_key), get_spec(block['type']),
                            controls=Controls(upscale=factor))
    torch.manual_seed(0)  # methods with random inputs (StyleGAN2 noise) give the same faces at every run
    folders = {name: os.path.join(out_dir, 'heldout', name) for name in ('gt', baseline, label)}
    rows = []
    for key, lq, gt in heldout_inputs(opt, faces):
        side = gt.shape[0]
        shown = to_uint8(bicubic_resize(lq, side)) if factor else to_uint8(lq)
        restored = restorer.restore([lq])[0]
        for name, img in (('gt', gt), (baseline, shown), (label, restored)):
            write_image_atomic(os.path.join(folders[name], f'{key}.png'), img)
        rows.append((key, to_uint8(lq) if factor else None, shown, restored, gt))
    report, timings = compute_report({baseline: folders[baseline], label: folders[label]}, gt_dir=folders['gt'],
                                     metric_names=REPORT_METRICS, progress=False)
    paths = write_report(report, timings, os.path.join(out_dir, 'report'), overwrite=True)  # a rerun's new report
    paths.update(write_metrics_html(report, os.path.join(out_dir, 'report'), title=f'{label} quick start'))
    psnr = {name: report['per_image'][name]['psnr'] for name in (baseline, label)}
    figure = os.path.join(out_dir, f'heldout_x{factor}.png' if factor else 'heldout_degraded.png')
    write_image_atomic(figure, heldout_figure(rows, psnr, (baseline, label), factor))
    return {'factor': factor, 'baseline': baseline, 'report': paths, 'figure': figure, 'faces': len(rows),
            'size': rows[0][4].shape[0] if rows else None,
            'mean_psnr': {name: report['summary'][name]['psnr'] for name in (baseline, label)}}
