"""The main job in one command: faces -> LMDB -> a small GCFSR trained through facesr_arch.train -> outputs.

    python scripts/demo.py                       # faces made on the spot from an image shipped with scikit-image
    python scripts/demo.py --hq-dir my_faces/    # your aligned faces

It packs the faces into a BasicSR LMDB (scripts/create_lmdb.py), writes a shrunk copy of the paper's
option file (options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml: 64 px, narrow networks, no VGG
perceptual term because no VGG weights ship with the package), trains it for a few dozen iterations
with validation through BasicSR's pipeline, and prints where the checkpoint, log and samples are.
"""
import argparse
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'scripts'))
from create_lmdb import create_lmdb  # noqa: E402


def faces_on_the_spot(folder, count=8, size=128):
    """Aligned-style face crops from scikit-image's astronaut portrait (``facesr_arch.data.sample_faces``)."""
    from facesr_arch.data.sample_faces import write_portrait_faces
    return write_portrait_faces(folder, [f'face_{i:02d}.png' for i in range(count)], size)


def demo_options(lmdb_path, name, iters):
    with open(os.path.join(REPO, 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = name
    opt['num_gpu'] = 0
    for phase in ('train', 'val'):
        opt['datasets'][phase].update(dataroot_gt=lmdb_path, gt_size=64)
    opt['datasets']['train'].update(num_worker_per_gpu=0, batch_size_per_gpu=4,
                                    degradation={'type': 'multiscale_bicubic', 'factors': [4, 8, 16]})
    opt['datasets']['val'].update(max_items=2, degradation={'type': 'multiscale_bicubic', 'factors': [8]})
    opt['network_g'].update(out_size=64, narrow=0.125, num_style_feat=64)
    opt['network_d'].update(out_size=64, narrow=0.125)
    del opt['train']['perceptual_opt']
    # a short run: the paper's EMA half-life (10k images) would leave the validated EMA at its random start
    opt['train'].update(total_iter=iters, net_d_reg_every=4, ema_decay=0.9)
    opt['train']['scheduler']['milestones'] = [iters]
    opt['val'].update(val_freq=iters // 2)
    opt['logger'].update(print_freq=10, save_checkpoint_freq=iters // 2, use_tb_logger=False)
    return opt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hq-dir', help='folder of aligned face images (default: made on the spot)')
    parser.add_argument('--output', default='demo_output', help='where everything goes (default: demo_output)')
    parser.add_argument('--iters', type=int, default=100, help='training iterations (default: 100)')
    args = parser.parse_args(argv)
    start = time.time()
    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    hq_dir = os.path.abspath(args.hq_dir) if args.hq_dir else faces_on_the_spot(os.path.join(out, 'faces'))
    lmdb_path = os.path.join(out, 'faces.lmdb')
    written, skipped = create_lmdb(hq_dir, lmdb_path, overwrite=True)
    print(f'[demo] packed {written} faces from {hq_dir} into {lmdb_path} ({len(skipped)} skipped)')

    name = 'GCFSR_demo'
    opt_path = os.path.join(out, 'train_GCFSR_demo.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(demo_options(lmdb_path, name, args.iters), f, sort_keys=False)
    print(f'[demo] training GCFSR for {args.iters} iterations: python -m facesr_arch.train -opt {opt_path}')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-m', 'facesr_arch.train', '-opt', opt_path], cwd=out, env=env)
    if proc.returncode != 0:
        print('[demo] training failed; see the log above', file=sys.stderr)
        return proc.returncode

    exp = os.path.join(out, 'experiments', name)
    logs = sorted(f for f in os.listdir(exp) if f.endswith('.log'))
    print(f'\n[demo] done in {time.time() - start:.0f} s')
    print(f'  checkpoint : {os.path.join(exp, "models", "net_g_latest.pth")} (params + params_ema)')
    print(f'  log        : {os.path.join(exp, logs[-1])}')
    print(f'  samples    : {os.path.join(exp, "visualization")} (validation outputs per face and iteration)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
