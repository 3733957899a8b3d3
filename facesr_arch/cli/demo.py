"""The main job in one command: faces -> LMDB -> a small configuration of a method trained through
facesr_arch.train -> held-out faces restored, scored against the bicubic-upsampled (or degraded) input.

    python scripts/demo.py                                  # GCFSR on faces made on the spot
    python scripts/demo.py --method MPCNet                  # any method: CFGPFSSR, GCFSR, MPCNet, PVFR, WNet
    python scripts/demo.py --hq-dir my_faces/ --iters 500   # your aligned faces, a longer run
    make demo METHOD=PVFR ITERS=200                         # the same through make

The faces are made from an image shipped with scikit-image unless --hq-dir gives yours. The last --holdout
faces (sorted by name) are held out of training; both groups are packed into BasicSR LMDBs
(scripts/create_lmdb.py). The method's quick-start option file (options/train/<Method>/quickstart_*.yml: a small
configuration whose comments say where it differs from the paper's) is pointed at them and trained through
BasicSR's pipeline, validated on the held-out faces at the end. The held-out faces are then restored by the
checkpoint and scored beside the bicubic-upsampled LR face (super-resolution: CFGPFSSR, GCFSR, W-Net) or the
degraded input (restoration: MPCNet, PVFR) with the metrics report of scripts/calculate_metrics.py, and drawn
in a figure with each tile's PSNR.
"""
import argparse
import os
import subprocess
import sys
import time


def build_parser():
    from ..quickstart.options import DEFAULT_METHOD, METHODS
    parser = argparse.ArgumentParser(prog='demo.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--method', default=DEFAULT_METHOD, choices=METHODS,
                        help=f'method to train (default: {DEFAULT_METHOD})')
    parser.add_argument('--hq-dir', help='folder of aligned face images (default: made on the spot)')
    parser.add_argument('--output', help='where everything goes (default: demo_output/METHOD)')
    parser.add_argument('--iters', type=int, help='training iterations (default: the quick-start file\'s)')
    parser.add_argument('--factor', type=int, help='GCFSR: the factor validated and compared, one of its '
                        'quick-start training factors 4, 8, 16 (default: 8)')
    parser.add_argument('--holdout', type=int, default=2, help='faces held out of training (default: 2)')
    return parser


def main(argv=None):
    """Run the demo; returns the exit status (0, the training's status when it fails, 2 after a user error)."""
    from ..toolkit.errors import run_cli
    return run_cli(_main, 'demo', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    import yaml

    from ..quickstart.faces import pack_faces, sample_faces, split_faces
    from ..quickstart.heldout import compare_heldout
    from ..quickstart.options import QUICKSTART_OPTIONS, REPO, quickstart_options
    from ..toolkit.outputs import atomic_write_text, check_output

    start = time.time()
    out = os.path.abspath(args.output or os.path.join('demo_output', args.method))
    # a rerun continues in its folder (faces, LMDBs and the experiment are rebuilt); the faces are never inside it
    check_output(out, [args.hq_dir], what='demo output folder', resumable=True)
    os.makedirs(out, exist_ok=True)
    name = f'{args.method}_demo'
    hq_dir = os.path.abspath(args.hq_dir) if args.hq_dir else sample_faces(os.path.join(out, 'faces'))
    train_dir, heldout_dir = split_faces(hq_dir, out, args.holdout)
    lmdbs = pack_faces({'train': train_dir, 'heldout': heldout_dir}, out)
    opt = quickstart_options(args.method, lmdbs['train'], lmdbs['heldout'], name, args.iters, args.factor)
    opt_path = os.path.join(out, f'train_{name}.yml')
    atomic_write_text(opt_path, yaml.safe_dump(opt, sort_keys=False))
    iters = opt['train']['total_iter']
    print(f'[demo] training {args.method} ({QUICKSTART_OPTIONS[args.method]}) for {iters} iterations, validated on '
          f'the held-out faces ({opt["datasets"]["val"]["name"]}): python -m facesr_arch.train -opt {opt_path}',
          flush=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-m', 'facesr_arch.train', '-opt', opt_path], cwd=out, env=env)
    if proc.returncode != 0:
        print('[demo] training failed; see the log above', file=sys.stderr)
        return proc.returncode

    exp = os.path.join(out, 'experiments', name)
    checkpoint = os.path.join(exp, 'models', 'net_g_latest.pth')
    result = compare_heldout(checkpoint, opt, heldout_dir, out, args.method)
    logs = sorted(f for f in os.listdir(exp) if f.endswith('.log'))
    baseline, factor = result['baseline'], result['factor']
    psnr = result['mean_psnr']
    columns = ([f'LR x{factor} (nearest)'] if factor else []) + [baseline, args.method, 'GT']
    print(f'\n[demo] done in {time.time() - start:.0f} s')
    print(f'  held-out {f"x{factor} " if factor else ""}PSNR: {baseline} {psnr[baseline]:.2f} dB | {args.method} '
          f'{psnr[args.method]:.2f} dB ({result["faces"]} faces not trained on, {result["size"]} px, RGB)')
    print(f'  report     : {result["report"]["markdown"]} (PSNR and SSIM per method; per face in per_image.csv)')
    print(f'  comparison : {result["figure"]} ({" | ".join(columns)}; PSNR on each tile)')
    print(f'  checkpoint : {checkpoint} (params + params_ema + network: scripts/inference.py --weights alone)')
    print(f'  log        : {os.path.join(exp, logs[-1])}')
    print(f'  samples    : {os.path.join(exp, "visualization")} (validation outputs per face and iteration)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
