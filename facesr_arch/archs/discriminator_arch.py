"""Local facial-component discriminators and the crop that feeds them."""
from torch import nn
from torchvision.ops import roi_align

from basicsr.utils.registry import ARCH_REGISTRY

from .stylegan2_arch import ConvLayer, ResBlock


def crop_components(images, boxes, size):
    """Crop one box per image and resample it to ``size`` x ``size`` (differentiable, bilinear).

    Boxes are [x1, y1, x2, y2] in pixel-edge coordinates of ``images`` (pixel i spans [i, i + 1]), so an
    integer box whose side equals ``size`` returns exactly ``images[..., y1:y2, x1:x2]``.

    Args:
        images (Tensor): (b, c, h, w).
        boxes (Tensor): (b, 4) float boxes, one per image.
        size (int): Output side.

    Returns:
        Tensor: (b, c, size, size).
    """
    if boxes.shape != (images.shape[0], 4):
        raise ValueError(f'crop_components needs one [x1, y1, x2, y2] box per image, (b, 4) = '
                         f'({images.shape[0]}, 4), got {tuple(boxes.shape)}')
    return roi_align(images, list(boxes.to(images).unsqueeze(1)), output_size=size, spatial_scale=1.0,
                     sampling_ratio=1, aligned=True)


@ARCH_REGISTRY.register()
class FaceComponentDiscriminator(nn.Module):
    """Local discriminator for one facial component (eye or mouth patch).

    PVFR (Hu et al., section 3.4): "similar to that of the global discriminator" (StyleGAN2's residual
    discriminator blocks), with only two down-sampling operations because the patches are small, ending in a
    single-channel feature map (a patch-wise real/fake logit map for the cross-entropy loss of eq. 12).

    Layers: 1x1 input conv (``num_feat``), two residual down-sampling blocks (``2 num_feat``,
    ``4 num_feat``), a 3x3 conv, and a 1x1 conv to one channel.

    Args:
        num_feat (int): Channels of the input conv. Default: 64.
        resample_kernel (tuple[int]): FIR kernel of the down-sampling. Default: (1, 3, 3, 1).
    """

    def __init__(self, num_feat=64, resample_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.conv_body = nn.Sequential(
            ConvLayer(3, num_feat, 1),
            ResBlock(num_feat, 2 * num_feat, resample_kernel),
            ResBlock(2 * num_feat, 4 * num_feat, resample_kernel),
            ConvLayer(4 * num_feat, 4 * num_feat, 3),
        )
        self.final_conv = ConvLayer(4 * num_feat, 1, 1, activate=False)

    def forward(self, x):
        """(b, 3, s, s) patch -> (b, 1, s / 4, s / 4) logit map."""
        return self.final_conv(self.conv_body(x))
