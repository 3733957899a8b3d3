"""Face-restoration metrics: pyiqa-backed PSNR / SSIM / LPIPS / NIQE / FID, IFQA, ArcFace identity, landmarks.

Importing this package registers ``calculate_face_metric`` into BasicSR's METRIC_REGISTRY without importing
pyiqa; :mod:`facesr_arch.metrics.iqa` (imported on the first metric build) imports pyiqa and registers IFQA
into it. Reports over result folders: :mod:`facesr_arch.metrics.report` (the command:
:mod:`facesr_arch.cli.calculate_metrics`).
"""
from . import basicsr_metrics  # noqa: F401
