"""Datasets and degradations; importing this package registers the datasets in DATASET_REGISTRY."""
from .. import _compat  # noqa: F401
from .face_degraded_dataset import FaceDegradedPairDataset
from .hq_image_dataset import FaceHQImageDataset, FaceLatentDataset
from .paired_dataset import FacePairedDataset, FaceSingleImageDataset

__all__ = ['FaceDegradedPairDataset', 'FaceHQImageDataset', 'FaceLatentDataset', 'FacePairedDataset',
           'FaceSingleImageDataset']
