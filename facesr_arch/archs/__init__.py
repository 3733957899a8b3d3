"""Architectures; importing this package registers them in BasicSR's ARCH_REGISTRY (explicitly, by name)."""
from .. import _compat  # noqa: F401  (before any basicsr import)
from .cfgpfssr_arch import CFGPFSSR
from .codeformer_arch import FaceCodeFormer
from .discriminator_arch import FaceComponentDiscriminator
from .arcface_arch import FaceArcFace
from .gcfsr_arch import GCFSR
from .gfpgan_arch import FaceGFPGAN
from .gpen_arch import FaceGPEN
from .parsing_arch import FaceBiSeNet, FaceParseNet
from .mpcnet_arch import MPCNet, MPCNetDiscriminator
from .pvfr_arch import MMRB, PVFR
from .stylegan2_arch import FaceStyleGAN2Discriminator, FaceStyleGAN2Generator
from .vgg_arch import FaceVGGFeatureExtractor
from .wnet_arch import WNet

__all__ = [
    'CFGPFSSR', 'FaceComponentDiscriminator', 'FaceArcFace', 'FaceBiSeNet', 'FaceParseNet', 'GCFSR', 'MPCNet',
    'MPCNetDiscriminator', 'MMRB', 'PVFR', 'FaceCodeFormer', 'FaceGFPGAN', 'FaceGPEN', 'FaceStyleGAN2Discriminator',
    'FaceStyleGAN2Generator', 'FaceVGGFeatureExtractor', 'WNet'
]
