"""VGG feature-matching loss: weighted Euclidean distances between VGG features of output and target."""
import torch
from torch import nn

from basicsr.utils.registry import LOSS_REGISTRY

from ..archs.vgg_arch import FaceVGGFeatureExtractor


@LOSS_REGISTRY.register()
class FaceFeatureMatchingLoss(nn.Module):
    """lambda_FM * E[ sum_i w_i || psi_i(X) - psi_i(X') ||_2 ] (PVFR eq. 14, after pix2pixHD [40]).

    For every layer i the Euclidean norm of the feature difference is taken per sample and divided by
    sqrt(C_i H_i W_i) (the root-mean-square difference), so the value does not grow with the image or layer
    size; the weighted sum over layers is averaged over the batch. The target's features carry no gradient.

    Args:
        layer_weights (dict[str, float]): VGG layer name -> w_i. PVFR names the "i-th convolution layer" of
            VGG without listing them; the option files use pix2pixHD's VGG loss layers relu1_1 .. relu5_1 of
            VGG19 with weights 1/32, 1/16, 1/8, 1/4, 1.
        loss_weight (float): lambda_FM (PVFR section 3.4: 0.02). Default: 1.
        vgg_type (str): 'vgg16' or 'vgg19'. Default: 'vgg19'.
        weights_path (str | None): torchvision-layout VGG checkpoint; None keeps random weights (tests only).
        use_input_norm (bool): ImageNet normalisation. Default: True.
        range_norm (bool): Inputs are in [-1, 1]. Default: True.
    """

    def __init__(self, layer_weights, loss_weight=1.0, vgg_type='vgg19', weights_path=None, use_input_norm=True,
                 range_norm=True):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.loss_weight = loss_weight
        self.vgg = FaceVGGFeatureExtractor(list(self.layer_weights), vgg_type, weights_path, use_input_norm,
                                           range_norm)

    def forward(self, pred, target):
        """pred, target: RGB (b, 3, h, w). Returns the weighted scalar loss."""
        pred_features = self.vgg(pred)
        with torch.no_grad():
            target_features = self.vgg(target)
        loss = 0
        for name, weight in self.layer_weights.items():
            diff = (pred_features[name] - target_features[name]).flatten(1)
            loss = loss + weight * diff.norm(dim=1) / diff.shape[1]**0.5
        return self.loss_weight * loss.mean()
