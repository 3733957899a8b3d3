"""Training models; importing this package registers them in BasicSR's MODEL_REGISTRY."""
from .. import _compat  # noqa: F401
from .face_gan_model import FaceGANModel
from .gcfsr_model import GCFSRModel
from .wnet_model import WNetModel

__all__ = ['FaceGANModel', 'GCFSRModel', 'WNetModel']
