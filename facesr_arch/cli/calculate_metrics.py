"""``calculate_metrics``: score result folders (one per method) against a GT folder and write a report.

Examples::

    python scripts/calculate_metrics.py results/gcfsr results/wnet --gt datasets/CelebA-HQ/test_hq \\
        --names GCFSR W-Net --out results/metrics --device cuda
    python scripts/calculate_metrics.py results/real_lq_pvfr --metrics niqe ifqa      # no-reference set

pyiqa's weights (LPIPS, FID Inception, IFQA) are read from ``$TORCH_HOME/hub/pyiqa`` and torchvision's
backbones from ``$TORCH_HOME/hub/checkpoints``; ``--torch-home`` sets TORCH_HOME before pyiqa is imported.
A metric whose files are missing is reported as unavailable, naming the file; the others still run.
Every method is averaged over the same images (those all methods have, column N); the others are listed.
The exit status is 1 when nothing could be scored. Also ``python -m facesr_arch.cli.calculate_metrics`` and the
console command ``facesr-metrics``.
"""
import argparse
import os
import sys

from ..metrics.catalog import COLOR_SPACES, METRICS
from ..utils.safety import check_writable, run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog='calculate_metrics', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('results', nargs='+', help='result folders, one per method')
    parser.add_argument('--gt', help='ground-truth folder (files paired by stem); omit for no-reference sets')
    parser.add_argument('--names', nargs='+', help='method names (default: folder names)')
    parser.add_argument('--lq', help="the methods' LQ inputs: the first column of report.html's gallery")
    parser.add_argument('--metrics', nargs='+', choices=list(METRICS),
                        help='metrics (default: all that apply: full-reference ones need --gt, FID a reference)')
    parser.add_argument('--out', default='results/metrics', help='output folder (default: results/metrics)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--color-space', default='ycbcr', choices=list(COLOR_SPACES),
                        help='Y channel of PSNR-Y / SSIM-Y / NIQE: ycbcr (BT.601, BasicSR, papers) or yiq (pyiqa)')
    parser.add_argument('--crop-border', type=int, default=0, help='border excluded by PSNR / SSIM / NIQE')
    parser.add_argument('--fid-ref', help='FID reference: folder or .npz with mu / sigma (default: --gt)')
    parser.add_argument('--ifqa-weights', help='IFQA_Metric.pth (default: $TORCH_HOME/hub/pyiqa/IFQA_Metric.pth)')
    parser.add_argument('--arcface-weights', help='ArcFace checkpoint (default: weights/recognition_arcface_ir_se50.pth '
                                                  'or weights/arcface_resnet18.pth)')
    parser.add_argument('--arcface-arch', default='ir_se50', choices=['ir_se50', 'resnet18'])
    parser.add_argument('--landmark-weights', help='facexlib FAN checkpoint (default: weights/alignment_WFLW_4HG.pth)')
    parser.add_argument('--torch-home', help='sets TORCH_HOME (where pyiqa / torchvision weights are) first')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser


def parse_args(argv=None):
    """The parsed arguments, checked: one name per result folder, and every folder present."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.names and len(args.names) != len(args.results):
        parser.error(f'--names has {len(args.names)} entries for {len(args.results)} result folders')
    for folder in args.results + [f for f in (args.gt, args.lq) if f]:
        if not os.path.isdir(folder):
            parser.error(f'not a folder: {folder}')
    return args


def main(argv=None):
    """Entry point of ``scripts/calculate_metrics.py`` and the ``facesr-metrics`` console command; returns 0,
    1 when no image could be scored by every method (report written, naming why), 2 after a user error."""
    return run_cli(_main, 'calculate_metrics', argv)


def _main(argv=None):
    args = parse_args(argv)
    check_writable(args.out, 'report folder')
    if args.torch_home:
        os.environ['TORCH_HOME'] = os.path.abspath(args.torch_home)
    from ..metrics.html_report import write_metrics_html
    from ..metrics.report import compute_report, markdown_table, write_report
    names = args.names or [os.path.basename(os.path.normpath(folder)) for folder in args.results]
    if len(set(names)) != len(names):
        sys.exit(f'method names must differ, got {names}; pass --names')
    weights = {'ifqa': args.ifqa_weights, 'identity': args.arcface_weights, 'landmark': args.landmark_weights}
    report, timings = compute_report(
        dict(zip(names, args.results)), gt_dir=args.gt, metric_names=args.metrics, device=args.device,
        batch_size=args.batch_size, color_space=args.color_space, crop_border=args.crop_border,
        arcface_arch=args.arcface_arch, weights={k: v for k, v in weights.items() if v},
        fid_reference=args.fid_ref, progress=not args.no_progress)
    paths = write_report(report, timings, args.out)
    paths.update(write_metrics_html(report, args.out, lq_dir=args.lq))
    print(markdown_table(report))
    print(f'Written: {", ".join(sorted(paths.values()))}')
    scored = [n for n in report['metrics'] if any(s.get(n) is not None for s in report['summary'].values())]
    if not scored:
        print('calculate_metrics: error: nothing could be scored (no image common to every method with a value '
              'for every metric, or no metric available): see the lines above', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
