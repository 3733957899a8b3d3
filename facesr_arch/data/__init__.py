"""Datasets and degradations; importing this package registers the datasets in DATASET_REGISTRY."""
from .. import _compat  # noqa: F401
from .face_degraded_dataset import FaceDegradedPairDataset
from .paired_dataset import FacePairedDataset, FaceSingleImageDataset

__all__ = ['FaceDegradedPairDataset', 'FacePairedDataset', 'FaceSingleImageDataset']
