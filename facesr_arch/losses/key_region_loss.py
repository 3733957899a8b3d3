"""Key-region loss of W-Net: masked pixel MSE plus masked VGG perceptual loss over facial components."""
import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import LOSS_REGISTRY

from ..utils.face_parsing import KEY_REGIONS, LABEL_INDEX
from .perceptual_loss import FacePerceptualLoss


def region_masks(labels, regions=tuple(KEY_REGIONS)):
    """One float mask per region from a batch of label maps (torch form of ``face_parsing.binary_mask``).

    Args:
        labels (Tensor): (b, h, w) integer label maps in the order of ``facesr_arch.utils.face_parsing.LABELS``.
        regions (Sequence[str]): Names of ``KEY_REGIONS``. Default: eyes, brows, nose, mouth.

    Returns:
        Tensor: (b, len(regions), h, w) float masks, 1 inside a region.
    """
    masks = []
    for region in regions:
        ids = torch.tensor([LABEL_INDEX[name] for name in KEY_REGIONS[region]], device=labels.device)
        masks.append(torch.isin(labels, ids))
    return torch.stack(masks, dim=1).float()


@LOSS_REGISTRY.register()
class KeyRegionLoss(nn.Module):
    """W-Net's key-region loss (Liu, Yang and Liu, W-Net, eq. 26-28).

    For each region r (eyes, eyebrows, nose, mouth, equally weighted, eq. 28) with mask m_r:
    L_r = MSE(m_r * SR, m_r * HR) + L_per(m_r * SR, m_r * HR) (eq. 27), the MSE normalised by C*H*W as
    eq. 24, and L_per the squared distance of VGG-19 features normalised by C_k*H_k*W_k (eq. 26). Both
    terms see only the masked images, so the loss is exactly zero when SR and HR agree inside the masks.
    The paper names no layer k: relu2_2 by default, the content layer of Johnson et al. (its [50]).

    Args:
        loss_weight (float): lambda_key (0.5, section 4.2). Default: 1.
        layer_weights (dict[str, float]): VGG layers of the perceptual term. Default: {'relu2_2': 1.0}.
        vgg_type (str): 'vgg19' (eq. 26) or 'vgg16'. Default: 'vgg19'.
        weights_path (str | None): torchvision-layout VGG checkpoint; None means random weights (tests only).
        range_norm (bool): Images are in [-1, 1] (True) or [0, 1] (False). Default: False.
        perceptual_weight (float): Weight of the perceptual term within each region. Default: 1.
        regions (list[str]): Region names in the order of the masks the loss receives. Default: eyes,
            brows, nose, mouth.
    """

    def __init__(self, loss_weight=1.0, layer_weights=None, vgg_type='vgg19', weights_path=None, range_norm=False,
                 perceptual_weight=1.0, regions=tuple(KEY_REGIONS)):
        super().__init__()
        unknown = [r for r in regions if r not in KEY_REGIONS]
        if unknown:
            raise ValueError(f'KeyRegionLoss: unknown regions {unknown}; known: {sorted(KEY_REGIONS)}')
        self.loss_weight = loss_weight
        self.regions = tuple(regions)
        self.perceptual = None
        if perceptual_weight > 0:
            self.perceptual = FacePerceptualLoss(layer_weights or {'relu2_2': 1.0}, vgg_type, weights_path,
                                                 use_input_norm=True, range_norm=range_norm,
                                                 perceptual_weight=perceptual_weight, style_weight=0, criterion='l2')

    def forward(self, pred, target, masks):
        """Weighted key-region loss.

        Args:
            pred (Tensor): (b, c, h, w) SR faces.
            target (Tensor): (b, c, h, w) HR faces.
            masks (Tensor): (b, len(regions), h, w) region masks (see :func:`region_masks`).

        Returns:
            Tensor: Scalar loss.
        """
        if masks.shape[1] != len(self.regions) or masks.shape[-2:] != pred.shape[-2:]:
            raise ValueError(f'KeyRegionLoss: masks {tuple(masks.shape)} do not match {len(self.regions)} regions '
                             f'at {tuple(pred.shape[-2:])}')
        b, c, h, w = pred.shape
        masks = masks.unsqueeze(2)  # (b, r, 1, h, w)
        masked_pred = (pred.unsqueeze(1) * masks).reshape(-1, c, h, w)
        masked_target = (target.unsqueeze(1) * masks).reshape(-1, c, h, w)
        # per-region means summed over regions (eq. 28), averaged over the batch
        loss = F.mse_loss(masked_pred, masked_target) * len(self.regions)
        if self.perceptual is not None:
            percep, _ = self.perceptual(masked_pred, masked_target)
            loss = loss + percep * len(self.regions)
        return loss * self.loss_weight
