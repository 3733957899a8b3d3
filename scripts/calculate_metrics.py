"""Metric tables for result folders vs a GT folder: see ``python scripts/calculate_metrics.py -h``.

    python scripts/calculate_metrics.py results/gcfsr results/wnet --gt datasets/CelebA-HQ/test_hq --out results/metrics
"""
import sys

from facesr_arch.metrics.cli import main

if __name__ == '__main__':
    sys.exit(main())
