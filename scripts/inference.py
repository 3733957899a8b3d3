"""Batch inference with a trained facesr_arch method: see ``python scripts/inference.py -h``.

Aligned faces:  python scripts/inference.py -opt options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml \
                    -i faces/ -o results/gcfsr --batch-size 4
Checkpoint:     python scripts/inference.py --weights experiments/GCFSR_x4-64_FFHQ1024/models/net_g_latest.pth \
                    -i faces/ -o results/gcfsr
Whole photos:   python scripts/inference.py --arch MPCNet --weights net_g.pth -i photos/ -o results/mpcnet \
                    --whole-image --detector weights/detection_Resnet50_Final.pth
"""
import sys

from _light import light_module

if __name__ == '__main__':
    light_module('inference.cli').build_parser().parse_args()  # --help and argument errors before torch
    from facesr_arch.inference.cli import main
    sys.exit(main())
