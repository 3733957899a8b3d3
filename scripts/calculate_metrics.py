"""Metric tables for result folders vs a GT folder: see ``python scripts/calculate_metrics.py -h``.

    python scripts/calculate_metrics.py results/gcfsr results/wnet --gt datasets/CelebA-HQ/test_hq --out results/metrics
"""
import sys

from _light import light_module

if __name__ == '__main__':
    light_module('metrics.cli').parse_args()  # --help and argument errors before torch
    from facesr_arch.metrics.cli import main
    sys.exit(main())
