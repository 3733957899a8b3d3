"""Losses not in BasicSR; importing this package registers them in LOSS_REGISTRY."""
from .. import _compat  # noqa: F401
from .perceptual_loss import FacePerceptualLoss
from .feature_matching_loss import FaceFeatureMatchingLoss
from .identity_loss import FaceIdentityLoss
from .key_region_loss import KeyRegionLoss

__all__ = ['FacePerceptualLoss', 'FaceFeatureMatchingLoss', 'FaceIdentityLoss', 'KeyRegionLoss']
