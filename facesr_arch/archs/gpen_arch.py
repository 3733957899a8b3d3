"""GPEN (full generator with its encoder) as an inference baseline.

Yang et al., "GAN Prior Embedded Network for Blind Face Restoration in the Wild", CVPR 2021 (arXiv:2105.06070).
A convolutional encoder maps the degraded face to a latent code z (its last, fully connected layer) and to one
feature map per resolution; the embedded StyleGAN2 generator takes z through its mapping MLP and concatenates
the encoder feature of the same resolution, scaled by a learned scalar, where StyleGAN2 injects noise (section
3.2, Fig. 2). The generator is :class:`FaceStyleGAN2Generator` with ``noise_mode='concat'``;
``scripts/convert_weights.py gpen`` imports the public ``GPEN-BFR-512.pth`` / ``GPEN-BFR-256.pth``.
"""
import math

from torch import nn

from basicsr.utils.registry import ARCH_REGISTRY

from .stylegan2_arch import ConvLayer, EqualLinear, FaceStyleGAN2Generator, stylegan2_channels


@ARCH_REGISTRY.register()
class FaceGPEN(nn.Module):
    """GPEN's full generator: encoder + StyleGAN2 generator with the encoder features concatenated as noise.

    Encoder (GPEN's ``FullGenerator``): ``encoder[0]`` a 1x1 conv (fused leaky ReLU) at ``out_size``, then one
    FIR-blurred stride-2 3x3 conv per halving down to 4 px (``encoder[i]`` outputs ``out_size / 2^i`` px with the
    generator's channel count there); ``final_linear`` (equalised-lr linear + fused leaky ReLU) maps the 4x4
    feature to z. The generator's style convs at resolution r concatenate the encoder's r px feature.

    Defaults are GPEN-BFR-512 (``demo.py``: 512 px, channel multiplier 2, narrow 1); GPEN-BFR-256 is
    ``out_size=256, channel_multiplier=1, narrow=0.5``.

    Args:
        out_size (int): Input and output side. Default: 512.
        num_style_feat (int): Latent size. Default: 512.
        num_mlp (int): Layers of the mapping MLP. Default: 8.
        channel_multiplier (int): StyleGAN2 channel multiplier. Default: 2.
        narrow (float): Channel width ratio. Default: 1.
        resample_kernel (tuple[int]): 1D FIR kernel. Default: (1, 3, 3, 1).
        lr_mlp (float): Learning-rate multiplier of the mapping MLP. Default: 0.01.
    """

    def __init__(self, out_size=512, num_style_feat=512, num_mlp=8, channel_multiplier=2, narrow=1.0,
                 resample_kernel=(1, 3, 3, 1), lr_mlp=0.01):
        super().__init__()
        self.out_size = out_size
        self.generator = FaceStyleGAN2Generator(out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                                                channel_multiplier=channel_multiplier, narrow=narrow,
                                                resample_kernel=resample_kernel, lr_mlp=lr_mlp, noise_mode='concat')
        channels = stylegan2_channels(channel_multiplier, narrow)
        self.encoder = nn.ModuleList([ConvLayer(3, channels[out_size], 1)])
        for i in range(int(math.log2(out_size)), 2, -1):
            self.encoder.append(ConvLayer(channels[2**i], channels[2**(i - 1)], 3, downsample=True,
                                          resample_kernel=resample_kernel))
        self.final_linear = EqualLinear(channels[4] * 4 * 4, num_style_feat, activation='fused_lrelu')

    def forward(self, x):
        """Restore faces (b, 3, out_size, out_size) in [-1, 1]; returns the restored faces (about [-1, 1])."""
        features = {}
        for layer in self.encoder:
            x = layer(x)
            features[x.shape[-1]] = x
        return self.generator(self.final_linear(x.flatten(1)), concat_features=features)
