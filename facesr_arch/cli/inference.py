"""``inference``: restore aligned faces or whole photos with a trained facesr_arch method.

    python scripts/inference.py -opt options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml -i faces/ -o results/gcfsr
    python scripts/inference.py --weights experiments/GCFSR_x4-64_FFHQ1024/models/net_g_latest.pth \
        -i faces/ -o results/gcfsr
    python scripts/inference.py --arch MPCNet --weights net_g.pth -i photos/ -o results/mpcnet \
        --whole-image --detector weights/detection_Resnet50_Final.pth

Also ``python -m facesr_arch.cli.inference`` and the console command ``facesr-inference``.
"""
import argparse
import sys

from ..utils.safety import run_cli


def add_model_arguments(parser):
    """Arguments choosing and loading a method (shared by inference and the modulation sweep)."""
    group = parser.add_argument_group('method')
    group.add_argument('-opt', '--opt', help='test option file (network_g, path.pretrain_network_g, param_key_g)')
    group.add_argument('--arch', help='architecture registry name (GCFSR, CFGPFSSR, MPCNet, PVFR, WNet; baselines '
                       'FaceGFPGAN, FaceGPEN, FaceCodeFormer); not needed with a checkpoint that names its network')
    group.add_argument('--weights', help='checkpoint (overrides the option file); its recorded network options win '
                       'over the option file\'s, --net-opt wins over both')
    group.add_argument('--param-key', choices=('params_ema', 'params'),
                       help='checkpoint entry; default: the option file\'s, else params_ema when present')
    group.add_argument('--net-opt', action='append', metavar='KEY=VALUE',
                       help='network constructor option (repeatable), e.g. --net-opt out_size=512')
    group.add_argument('--upscale', type=float, help='GCFSR: factor the inputs were downscaled by (default: '
                       'output size / input side); W-Net: 4 or 8, faces are brought to 128/upscale px first')
    group.add_argument('--strength', type=float, help='GCFSR: conditional factor s fed to the network whatever '
                       'the real factor (generative strength, paper 3.6)')
    group.add_argument('--size', type=int, help='W-Net: face side it runs at (default: 128, the paper\'s)')
    group.add_argument('--seed', type=int, default=0, help='seed of the random inputs (GCFSR / StyleGAN2 noise): '
                       'a rerun with the same inputs, batch size and device writes the same bytes (default: 0)')
    group.add_argument('--fidelity', type=float, metavar='W', help='FaceCodeFormer: fidelity weight w in [0, 1] '
                       '(0: quality, 1: fidelity to the input; default 0.5 as CodeFormer\'s inference script)')
    group.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when available)')
    group.add_argument('--autocast', action='store_true', help='mixed precision (bf16 on CPU, fp16 on CUDA)')
    group.add_argument('--no-optimize', action='store_true', help='run the network as trained instead of the '
                       'optimised inference path (folded BatchNorm / weight scales, channels_last; equal within 1e-4)')
    group.add_argument('--compile', action='store_true', help='torch.compile the network (slow first batch)')


def restorer_from_args(args, return_config=False):
    """A :class:`FaceRestorer` from parsed :func:`add_model_arguments` arguments (seeds torch with ``--seed``;
    sets ``args.device`` when it is None), and, with ``return_config``, the resolved (network block, weight
    file, param key)."""
    import torch

    from ..inference.loading import build_network, network_config, parse_net_options
    from ..inference.runner import FaceRestorer
    from ..inference.specs import Controls, get_spec
    if args.fidelity is not None and not 0 <= args.fidelity <= 1:
        raise ValueError(f'--fidelity must be in [0, 1] (CodeFormer\'s w), got {args.fidelity}')
    args.device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    torch.manual_seed(args.seed)
    block, weights, param_key = network_config(
        args.opt, args.arch, args.weights, args.param_key, parse_net_options(args.net_opt))
    net = build_network(block, weights, param_key, args.device)
    restorer = FaceRestorer(net, get_spec(block['type']), args.device,
                            Controls(args.upscale, args.strength, args.size, args.fidelity), args.autocast,
                            optimize=not args.no_optimize, compile_net=args.compile)
    return (restorer, (block, weights, param_key)) if return_config else restorer


def build_parser():
    parser = argparse.ArgumentParser(prog='inference', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-i', '--input', required=True, help='image file, image folder, or BasicSR LMDB folder')
    parser.add_argument('-o', '--output', required=True, help='output folder (never the input folder)')
    parser.add_argument('--batch-size', type=int, default=1, help='faces per forward pass (default: 1)')
    parser.add_argument('--overwrite', action='store_true', help='redo outputs that already exist')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_model_arguments(parser)
    whole = parser.add_argument_group('whole photos')
    whole.add_argument('--whole-image', action='store_true',
                       help='detect, align, restore and paste back faces of whole photos')
    whole.add_argument('--detector', help='RetinaFace weights file (facexlib release), for --whole-image')
    whole.add_argument('--detector-net', default='resnet50', choices=('resnet50', 'mobile0.25'),
                       help='RetinaFace backbone of the --detector file (default: resnet50)')
    whole.add_argument('--det-threshold', type=float, default=0.8, help='detection score threshold (default: 0.8)')
    whole.add_argument('--max-faces', type=int, help='faces per photo, largest first (default: all)')
    whole.add_argument('--outscale', type=float, default=1.0, help='scale of the restored photo (default: 1)')
    return parser


def main(argv=None):
    """Run batch inference; returns the process exit status (0, 1 when nothing could be restored, 2 after a
    user error, reported as one line)."""
    return run_cli(_main, 'inference', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit('--batch-size must be at least 1')
    from ..utils.safety import check_writable
    from ..inference.manifest import claim_output_dir, file_sha256, run_settings
    from ..inference.runner import run_aligned, run_whole_images
    from ..inference.sources import check_output_dir, collect_inputs
    from ..inference.whole_image import load_detector
    check_output_dir(args.input, args.output)
    check_writable(args.output, 'output folder')
    items = collect_inputs(args.input)
    restorer, (block, weights, param_key) = restorer_from_args(args, return_config=True)
    whole = None
    if args.whole_image:
        detector = load_detector(args.detector, args.detector_net, args.device)
        whole = {'detector_sha256': file_sha256(args.detector), 'detector_net': args.detector_net,
                 'det_threshold': args.det_threshold, 'max_faces': args.max_faces, 'outscale': args.outscale}
    settings = run_settings(block, weights, param_key, restorer.controls, autocast=args.autocast, seed=args.seed,
                            whole_image=whole)
    claim_output_dir(args.output, settings, [item.key for item in items], weights)
    print(f'{restorer.spec.name}: {len(items)} input(s) from {args.input} -> {args.output} on {args.device} '
          f'(input {restorer.in_size} px, output {restorer.out_size} px, batch {args.batch_size}, seed {args.seed})',
          flush=True)
    if args.whole_image:
        summary = run_whole_images(items, restorer, detector, args.output, args.batch_size, args.overwrite,
                                   not args.no_progress, args.det_threshold, args.max_faces, args.outscale)
    else:
        summary = run_aligned(items, restorer, args.output, args.batch_size, args.overwrite, not args.no_progress)
    print(summary.report(), flush=True)
    return 1 if summary.skipped and not (summary.done or summary.existing) else 0


if __name__ == '__main__':
    sys.exit(main())
