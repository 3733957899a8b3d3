"""Training models; importing this package registers them in BasicSR's MODEL_REGISTRY."""
from .. import _compat  # noqa: F401
from .cfgpfssr_model import CFGPFSSRModel
from .face_gan_model import FaceGANModel
from .gcfsr_model import GCFSRModel
from .mpcnet_model import MPCNetModel
from .parsing_model import FaceParsingModel
from .pvfr_model import PVFRModel
from .stylegan2_model import FaceStyleGAN2Model
from .wnet_model import WNetModel

__all__ = ['CFGPFSSRModel', 'FaceGANModel', 'FaceParsingModel', 'FaceStyleGAN2Model', 'GCFSRModel', 'MPCNetModel',
           'PVFRModel', 'WNetModel']
