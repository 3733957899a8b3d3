"""Metrics registered into BasicSR's METRIC_REGISTRY (BasicSR's own PSNR/SSIM/NIQE stay available)."""
from .. import _compat  # noqa: F401
