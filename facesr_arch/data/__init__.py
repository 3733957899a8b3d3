"""Datasets and degradations; importing this package registers the datasets in DATASET_REGISTRY."""
from .. import _compat  # noqa: F401
from .face_degraded_dataset import FaceDegradedPairDataset

__all__ = ['FaceDegradedPairDataset']
