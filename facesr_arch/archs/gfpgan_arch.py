"""GFPGAN (clean architecture of the v1.3 / v1.4 releases) as an inference baseline.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior", CVPR 2021
(arXiv:2101.04061). The degradation-removal U-Net (section 3.2) predicts a latent code and, at every decoder
resolution, spatial scale / shift maps that modulate the frozen StyleGAN2 prior through (channel-split) SFT
(eq. 3-4). The public v1.3 / v1.4 checkpoints are the "clean" variant (no compiled ops): bilinear resampling
everywhere, the prior being GFPGAN's clean StyleGAN2, which :class:`FaceStyleGAN2Generator` computes with
``resample='bilinear'``. ``scripts/convert_weights.py gfpgan`` imports those checkpoints.
"""
import math

from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from .stylegan2_arch import FaceStyleGAN2Generator, stylegan2_channels


class BilinearResBlock(nn.Module):
    """Residual block resampling by 2 (up) or 1/2 (down) bilinearly, the U-Net block of the clean GFPGAN.

    ``lrelu(conv2(resample(lrelu(conv1(x))))) + skip(resample(x))`` with 3x3 convs, a bias-free 1x1 skip and
    leaky ReLU 0.2.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        mode (str): 'down' or 'up'.
    """

    def __init__(self, in_channels, out_channels, mode):
        super().__init__()
        if mode not in ('down', 'up'):
            raise ValueError(f"mode must be 'down' or 'up', got {mode!r}")
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale_factor = 0.5 if mode == 'down' else 2.0

    def resample(self, x):
        return F.interpolate(x, scale_factor=self.scale_factor, mode='bilinear', align_corners=False)

    def forward(self, x):
        out = F.leaky_relu(self.conv2(self.resample(F.leaky_relu(self.conv1(x), 0.2))), 0.2)
        return out + self.skip(self.resample(x))


def condition_branch(channels, out_channels):
    """conv3x3 - LeakyReLU(0.2) - conv3x3: one SFT scale or shift predictor."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                         nn.Conv2d(channels, out_channels, 3, 1, 1))


@ARCH_REGISTRY.register()
class FaceGFPGAN(nn.Module):
    """GFPGAN, clean architecture: U-Net + clean StyleGAN2 decoder modulated by (CS-)SFT.

    Defaults are the configuration GFPGAN's inference script builds for its v1.3 / v1.4 checkpoints
    (``GFPGANer``: 512 px, channel multiplier 2, one latent per decoder layer given directly as w, SFT on
    half of the channels).

    Layers: ``conv_body_first`` (1x1) -> ``conv_body_down`` (bilinear residual blocks down to 4 px) ->
    ``final_conv`` -> ``final_linear`` (the latent code); ``conv_body_up`` (back up to ``out_size``, adding
    the encoder feature of the same size before each block), each followed by ``condition_scale`` /
    ``condition_shift`` (SFT maps for the first style conv of that resolution) and an auxiliary ``to_rgbs``
    head (GFPGAN's multi-scale restoration loss; only returned with ``return_rgbs``). The U-Net is half as
    wide as the decoder (``narrow / 2``).

    Args:
        out_size (int): Input and output side. Default: 512.
        num_style_feat (int): Latent size. Default: 512.
        channel_multiplier (int): StyleGAN2 channel multiplier of the decoder (and U-Net). Default: 2.
        narrow (float): Channel width ratio. Default: 1.
        num_mlp (int): Layers of the decoder's mapping MLP (unused when ``input_is_latent``). Default: 8.
        input_is_latent (bool): The predicted code is w (skips the mapping MLP). Default: True.
        different_w (bool): Predict one code per decoder layer (W+). Default: True.
        sft_half (bool): Modulate the trailing half of the decoder channels (CS-SFT), else all. Default: True.
    """

    def __init__(self, out_size=512, num_style_feat=512, channel_multiplier=2, narrow=1.0, num_mlp=8,
                 input_is_latent=True, different_w=True, sft_half=True):
        super().__init__()
        self.out_size, self.num_style_feat = out_size, num_style_feat
        self.input_is_latent, self.different_w = input_is_latent, different_w
        self.decoder = FaceStyleGAN2Generator(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                                              channel_multiplier=channel_multiplier, narrow=narrow,
                                              resample='bilinear')
        self.log_size = int(math.log2(out_size))
        channels = stylegan2_channels(channel_multiplier, narrow * 0.5)
        up_resolutions = [2**i for i in range(3, self.log_size + 1)]

        self.conv_body_first = nn.Conv2d(3, channels[out_size], 1)
        self.conv_body_down = nn.ModuleList()
        in_channels = channels[out_size]
        for res in reversed(up_resolutions):
            self.conv_body_down.append(BilinearResBlock(in_channels, channels[res // 2], 'down'))
            in_channels = channels[res // 2]
        self.final_conv = nn.Conv2d(in_channels, channels[4], 3, 1, 1)
        num_codes = self.decoder.num_latent if different_w else 1
        self.final_linear = nn.Linear(channels[4] * 4 * 4, num_codes * num_style_feat)

        self.conv_body_up = nn.ModuleList()
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for res in up_resolutions:
            self.conv_body_up.append(BilinearResBlock(in_channels, channels[res], 'up'))
            sft_channels = channels[res] if sft_half else channels[res] * 2
            self.condition_scale.append(condition_branch(channels[res], sft_channels))
            self.condition_shift.append(condition_branch(channels[res], sft_channels))
            self.to_rgbs.append(nn.Conv2d(channels[res], 3, 1))
            in_channels = channels[res]

    def forward(self, x, noise=None, return_rgbs=False):
        """Restore faces.

        Args:
            x (Tensor): Degraded faces (b, 3, out_size, out_size) in [-1, 1].
            noise (list[Tensor | None] | None): Decoder noise per style conv; None draws fresh Gaussian noise
                as GFPGAN's inference does. Default: None.
            return_rgbs (bool): Also return the U-Net's intermediate RGB images (8 px .. out_size).

        Returns:
            Tensor | tuple[Tensor, list[Tensor]]: The restored faces (about [-1, 1]).
        """
        feat = F.leaky_relu(self.conv_body_first(x), 0.2)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        code = self.final_linear(feat.flatten(1))
        if self.different_w:
            code = code.view(code.shape[0], self.decoder.num_latent, self.num_style_feat)
        conditions, rgbs = {}, []
        for skip, up, scale, shift, to_rgb in zip(skips, self.conv_body_up, self.condition_scale,
                                                  self.condition_shift, self.to_rgbs):
            feat = up(feat + skip)
            conditions[feat.shape[-1]] = (scale(feat), shift(feat))
            if return_rgbs:
                rgbs.append(to_rgb(feat))
        image = self.decoder(code, input_is_latent=self.input_is_latent, noise=noise, conditions=conditions)
        return (image, rgbs) if return_rgbs else image
