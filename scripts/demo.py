"""The main job in one command: faces -> LMDB -> a small GCFSR trained through facesr_arch.train -> results.

    python scripts/demo.py                       # faces made on the spot from an image shipped with scikit-image
    python scripts/demo.py --hq-dir my_faces/    # your aligned faces

It holds out the last ``--holdout`` faces (sorted by name), packs the others and the held-out ones into two
BasicSR LMDBs (scripts/create_lmdb.py), writes a shrunk copy of the paper's option file
(options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml: 64 px, narrow networks, no VGG perceptual term because no
VGG weights ship with the package), trains it through BasicSR's pipeline with validation on the held-out faces
at ``--factor``, then restores them from their LR faces and prints the bicubic baseline beside the model (PSNR)
and a comparison image LR | bicubic | GCFSR | GT.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 64


def faces_on_the_spot(folder, count=10, size=128):
    """Aligned-style face crops from scikit-image's astronaut portrait (``facesr_arch.data.sample_faces``)."""
    from facesr_arch.data.sample_faces import write_portrait_faces
    return write_portrait_faces(folder, [f'face_{i:02d}.png' for i in range(count)], size)


def split_faces(hq_dir, out, holdout):
    """Copy the faces of ``hq_dir`` into ``out/train`` and (the last ``holdout`` by name) ``out/heldout``."""
    from facesr_arch.data.image_io import list_images
    paths = list_images(hq_dir)
    if len(paths) <= holdout:
        raise SystemExit(f'{hq_dir}: {len(paths)} image(s); the demo needs more than --holdout {holdout}')
    folders = {'train': paths[:-holdout], 'heldout': paths[-holdout:]}
    for name, group in folders.items():
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
        os.makedirs(os.path.join(out, name))
        for path in group:
            shutil.copy(path, os.path.join(out, name, os.path.basename(path)))
    return os.path.join(out, 'train'), os.path.join(out, 'heldout')


def demo_options(train_lmdb, val_lmdb, name, iters, factor, holdout):
    from facesr_arch.utils.options import load_yaml
    opt = load_yaml(os.path.join(REPO, 'options/train/GCFSR/train_GCFSR_x4-64_FFHQ1024.yml'))
    opt['name'] = name
    opt['num_gpu'] = 0
    opt['datasets']['train'].update(dataroot_gt=train_lmdb, gt_size=SIZE, num_worker_per_gpu=0, batch_size_per_gpu=4,
                                    degradation={'type': 'multiscale_bicubic', 'factors': [4, 8, 16]})
    opt['datasets']['val'].update(name=f'HeldOut_x{factor}', dataroot_gt=val_lmdb, gt_size=SIZE, max_items=holdout,
                                  degradation={'type': 'multiscale_bicubic', 'factors': [factor]})
    opt['network_g'].update(out_size=SIZE, narrow=0.125, num_style_feat=64)
    opt['network_d'].update(out_size=SIZE, narrow=0.125)
    del opt['train']['perceptual_opt']
    # a short run: the paper's EMA half-life (10k images) would leave the validated EMA at its random start
    opt['train'].update(total_iter=iters, net_d_reg_every=4, ema_decay=0.9)
    opt['train']['scheduler']['milestones'] = [iters]
    opt['val'].update(val_freq=iters)
    opt['logger'].update(print_freq=max(iters // 5, 1), save_checkpoint_freq=iters, use_tb_logger=False)
    return opt


def compare_with_bicubic(weights, heldout_dir, factor, figure_path):
    """Restore the held-out faces from their x``factor`` LR faces; PSNR of bicubic and of the model vs the GT.

    The LR face is the GT MATLAB-bicubic downscaled by ``factor`` and quantised to 8 bits (the validation's
    ``multiscale_bicubic``); the bicubic baseline is it upscaled back the same way.

    Returns:
        tuple[float, float]: Mean PSNR (dB, RGB, no border crop) of bicubic and of the model.
    """
    import numpy as np
    from basicsr.metrics import calculate_psnr

    from facesr_arch.data.image_io import list_images, read_image, write_image_atomic
    from facesr_arch.data.preprocess import bicubic_resize
    from facesr_arch.inference import Controls, FaceRestorer, build_network, get_spec, network_config
    from facesr_arch.inference.figures import labelled_grid

    block, weights, param_key = network_config(weights=weights)
    restorer = FaceRestorer(build_network(block, weights, param_key), get_spec(block['type']),
                            controls=Controls(upscale=factor))
    rows, names, scores = [], [], {'bicubic': [], 'model': []}
    for path in list_images(heldout_dir):
        gt = bicubic_resize(read_image(path), SIZE)
        to_uint8 = lambda img: np.clip(np.round(img * 255), 0, 255).astype(np.uint8)  # noqa: E731
        gt8 = to_uint8(gt)
        lr = to_uint8(bicubic_resize(gt8.astype(np.float32) / 255, SIZE // factor))
        bicubic = to_uint8(bicubic_resize(lr.astype(np.float32) / 255, SIZE))
        restored = restorer.restore([lr.astype(np.float32) / 255])[0]
        scores['bicubic'].append(calculate_psnr(bicubic, gt8, crop_border=0))
        scores['model'].append(calculate_psnr(restored, gt8, crop_border=0))
        rows.append([lr, bicubic, restored, gt8])
        names.append(os.path.splitext(os.path.basename(path))[0])
    write_image_atomic(figure_path, labelled_grid(rows, [f'LR x{factor}', 'bicubic', 'GCFSR', 'GT'], side=128,
                                                  row_labels=names))
    return float(np.mean(scores['bicubic'])), float(np.mean(scores['model']))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hq-dir', help='folder of aligned face images (default: made on the spot)')
    parser.add_argument('--output', default='demo_output', help='where everything goes (default: demo_output)')
    parser.add_argument('--iters', type=int, default=100, help='training iterations (default: 100)')
    parser.add_argument('--factor', type=int, default=8, choices=(4, 8, 16),
                        help=f'SR factor of the validation and the comparison, {SIZE} px faces (default: 8)')
    parser.add_argument('--holdout', type=int, default=2, help='faces held out of training (default: 2)')
    args = parser.parse_args(argv)

    sys.path.insert(0, REPO)
    import yaml

    from facesr_arch.data.lmdb_build import create_lmdb

    start = time.time()
    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    hq_dir = os.path.abspath(args.hq_dir) if args.hq_dir else faces_on_the_spot(os.path.join(out, 'faces'))
    train_dir, heldout_dir = split_faces(hq_dir, out, args.holdout)
    lmdbs = {}
    for name, folder in (('train', train_dir), ('heldout', heldout_dir)):
        lmdbs[name] = os.path.join(out, f'{name}.lmdb')
        written, skipped = create_lmdb(folder, lmdbs[name], overwrite=True)
        print(f'[demo] packed {written} {name} faces from {hq_dir} into {lmdbs[name]} ({len(skipped)} skipped)')

    name = 'GCFSR_demo'
    opt_path = os.path.join(out, 'train_GCFSR_demo.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(demo_options(lmdbs['train'], lmdbs['heldout'], name, args.iters, args.factor, args.holdout), f,
                       sort_keys=False)
    print(f'[demo] training GCFSR for {args.iters} iterations, validated on the held-out faces at x{args.factor}: '
          f'python -m facesr_arch.train -opt {opt_path}')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-m', 'facesr_arch.train', '-opt', opt_path], cwd=out, env=env)
    if proc.returncode != 0:
        print('[demo] training failed; see the log above', file=sys.stderr)
        return proc.returncode

    exp = os.path.join(out, 'experiments', name)
    checkpoint = os.path.join(exp, 'models', 'net_g_latest.pth')
    figure = os.path.join(out, f'heldout_x{args.factor}.png')
    bicubic, model = compare_with_bicubic(checkpoint, heldout_dir, args.factor, figure)
    logs = sorted(f for f in os.listdir(exp) if f.endswith('.log'))
    print(f'\n[demo] done in {time.time() - start:.0f} s')
    print(f'  held-out x{args.factor} PSNR: bicubic {bicubic:.2f} dB | GCFSR {model:.2f} dB '
          f'({args.holdout} faces not trained on, {SIZE} px, RGB)')
    print(f'  comparison : {figure} (LR | bicubic | GCFSR | GT)')
    print(f'  checkpoint : {checkpoint} (params + params_ema + network: scripts/inference.py --weights alone)')
    print(f'  log        : {os.path.join(exp, logs[-1])}')
    print(f'  samples    : {os.path.join(exp, "visualization")} (validation outputs per face and iteration)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
