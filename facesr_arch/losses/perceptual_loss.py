"""Perceptual / style loss over a VGG that loads its weights from a local file."""
import torch
from torch import nn

from basicsr.losses.basic_loss import PerceptualLoss
from basicsr.utils.registry import LOSS_REGISTRY

from ..archs.vgg_arch import FaceVGGFeatureExtractor


@LOSS_REGISTRY.register()
class FacePerceptualLoss(PerceptualLoss):
    """BasicSR's ``PerceptualLoss`` (same forward: per-layer distance and gram-matrix style loss) over
    :class:`FaceVGGFeatureExtractor`, so the VGG weights come from ``weights_path`` and never download.

    Args:
        layer_weights (dict[str, float]): Layer name -> weight, e.g. {'conv4_3': 1.0}.
        vgg_type (str): 'vgg16' or 'vgg19'. Default: 'vgg16'.
        weights_path (str | None): torchvision-layout VGG checkpoint; None means random weights (tests).
        use_input_norm (bool): ImageNet normalisation. Default: True.
        range_norm (bool): Inputs are in [-1, 1]. Default: False.
        perceptual_weight (float): Weight of the feature distance; 0 disables it. Default: 1.
        style_weight (float): Weight of the gram-matrix loss; 0 disables it. Default: 0.
        criterion (str): 'l1', 'l2' (MSE) or 'fro'. Default: 'l1'.
    """

    def __init__(self, layer_weights, vgg_type='vgg16', weights_path=None, use_input_norm=True, range_norm=False,
                 perceptual_weight=1.0, style_weight=0.0, criterion='l1'):
        nn.Module.__init__(self)  # PerceptualLoss.__init__ would build a downloading extractor
        if criterion not in ('l1', 'l2', 'fro'):
            raise ValueError(f"criterion must be 'l1', 'l2' or 'fro', got {criterion!r}")
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.layer_weights = dict(layer_weights)
        self.vgg = FaceVGGFeatureExtractor(list(layer_weights), vgg_type, weights_path, use_input_norm, range_norm)
        self.criterion_type = criterion
        self.criterion = {'l1': nn.L1Loss(), 'l2': nn.MSELoss(), 'fro': None}[criterion]

    def _gram_mat(self, x):
        """BasicSR's gram matrix, computed in float32 with autocast off (under mixed precision the c x c sums of
        h * w products would be rounded to 8 or 11 mantissa bits, coarser than the gram differences the style loss
        measures) and on a contiguous copy (features may be channels_last)."""
        with torch.autocast(x.device.type, enabled=False):
            return super()._gram_mat(x.float().contiguous())
