"""Batch inference with a trained facesr_arch method: see ``python scripts/inference.py -h``.

Aligned faces:  python scripts/inference.py -opt options/test/GCFSR/test_GCFSR_x16-64_CelebAHQ.yml \
                    -i faces/ -o results/gcfsr --batch-size 4
Whole photos:   python scripts/inference.py --arch MPCNet --weights net_g.pth -i photos/ -o results/mpcnet \
                    --whole-image --detector weights/detection_Resnet50_Final.pth
"""
import sys

from facesr_arch.inference.cli import main

if __name__ == '__main__':
    sys.exit(main())
