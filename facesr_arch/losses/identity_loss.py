"""Face-preserving (identity) loss: L1 distance between ArcFace embeddings of the output and the target."""
import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import LOSS_REGISTRY

from ..archs.arcface_arch import FaceArcFace


@LOSS_REGISTRY.register()
class FaceIdentityLoss(nn.Module):
    """L_FP = lambda_FP * || phi(X) - phi(X') ||_1 over a frozen ArcFace phi (PVFR eq. 15, after Huang et al.
    [43]; the same form and weight 10 as GFPGAN's identity loss).

    The L1 norm is averaged over batch and embedding elements (``F.l1_loss``); the target's embedding is
    computed without gradients.

    Args:
        loss_weight (float): lambda_FP (PVFR section 3.4: 10). Default: 1.
        arch (str): ArcFace variant of :class:`~facesr_arch.archs.arcface_arch.FaceArcFace`: 'resnet18'
            (GFPGAN's identity network, gray 128 px, raw 512-d features) or 'ir_se50' (facexlib, RGB 112 px,
            normalised embedding). Default: 'resnet18'.
        weights_path (str | None): ArcFace checkpoint; None keeps random weights (tests only). Default: None.
    """

    def __init__(self, loss_weight=1.0, arch='resnet18', weights_path=None):
        super().__init__()
        self.loss_weight = loss_weight
        self.arcface = FaceArcFace(arch, weights_path)

    def forward(self, pred, target):
        """pred, target: RGB faces (b, 3, h, w) in [-1, 1]. Returns the weighted scalar loss."""
        with torch.no_grad():
            target_embedding = self.arcface(target)
        return self.loss_weight * F.l1_loss(self.arcface(pred), target_embedding)
