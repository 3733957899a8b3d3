"""Identity preservation: ArcFace cosine similarity (CFGPFSSR, GCFSR) and W-Net's threshold curve (Fig. 6).

The recognition network is :class:`facesr_arch.archs.arcface_arch.FaceArcFace` (IR-SE50 on 112 px RGB, or
GFPGAN's ResNet-18 on 128 px gray), loaded from a user file.
"""
import numpy as np
import torch

from facesr_arch.archs.arcface_arch import WEIGHT_SOURCES, FaceArcFace, identity_similarity
from facesr_arch.toolkit.checkpoints import require_file

DEFAULT_ARCFACE_FILES = {'ir_se50': 'weights/recognition_arcface_ir_se50.pth',
                         'resnet18': 'weights/arcface_resnet18.pth'}


class IdentitySimilarity:
    """Cosine similarity of ArcFace embeddings of a restored face and its ground truth (higher is better).

    Args:
        device (str | torch.device): Where the network runs.
        weights (str | None): ArcFace checkpoint; None: ``DEFAULT_ARCFACE_FILES[arch]`` (relative to the
            current folder).
        arch (str): 'ir_se50' or 'resnet18'. Default: 'ir_se50'.
    """

    needs_reference = True

    def __init__(self, device, weights=None, arch='ir_se50'):
        path = require_file(weights or DEFAULT_ARCFACE_FILES.get(arch), f'ArcFace {arch}', WEIGHT_SOURCES[arch])
        self.net = FaceArcFace(arch=arch, weights_path=path).to(device)
        self.weight_files = [path]

    @torch.no_grad()
    def __call__(self, img, ref):
        """Similarities, shape (b,). ``img``/``ref``: (b, 3, h, w) RGB in [0, 1]."""
        return identity_similarity(self.net(img * 2 - 1), self.net(ref * 2 - 1)).float()


def threshold_curve(similarities, thresholds=None):
    """Fraction of images whose identity similarity exceeds each threshold (W-Net Fig. 6).

    Args:
        similarities (Sequence[float]): Per-image similarities.
        thresholds (Sequence[float] | None): Thresholds; None: 0.00, 0.05, ..., 1.00.

    Returns:
        tuple[list[float], list[float]]: The thresholds and the fraction above each.
    """
    values = np.asarray(list(similarities), dtype=np.float64)
    if thresholds is None:
        thresholds = np.round(np.linspace(0, 1, 21), 2)
    fractions = [float((values > t).mean()) if len(values) else float('nan') for t in thresholds]
    return [float(t) for t in thresholds], fractions
