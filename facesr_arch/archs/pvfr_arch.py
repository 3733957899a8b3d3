"""PVFR: pose-varied blind face restoration with an MMRB asymmetric codec and a fine-tuned StyleGAN2 prior.

Hu et al., "Enhancing Quality of Pose-varied Face Restoration with Local Weak Feature Sensing and GAN
Prior", arXiv:2205.14377, 2022.

The codec's encoder is GPEN's (Yang et al., CVPR 2021) with one MMRB after the down-sampling conv of each
inner scale; its decoder rebuilds a clean feature map per scale, which the StyleGAN2 prior concatenates in
place of noise (eq. 3, the GPEN layout), so a GPEN-BFR-512 generator initialises the prior (section 4.2).
"""
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from ..toolkit.checkpoints import read_state_dict
from .stylegan2_arch import ConvLayer, EqualConv2d, EqualLinear, FaceStyleGAN2Generator

PRIOR_SOURCE = ('Convert the public GPEN-BFR-512 generator (PVFR section 4.2 fine-tunes the StyleGAN2 retrained by '
                'GPEN): `python scripts/convert_weights.py gpen_g GPEN-BFR-512.pth weights/GPEN-BFR-512_prior.pth`, '
                'or train a 512 px face StyleGAN2 with concatenated noise branches (options/train/StyleGAN2/).')


class MMRB(nn.Module):
    """Mixed multi-path residual block (PVFR section 3.2, Fig. 3, eq. 4-10); a plug-in residual block.

    The input (C channels) is split into halves (eq. 4) that go through a 3x3 and a 5x5 conv with PReLU
    (eq. 5-6); both results are concatenated and fed again to a 3x3 and a 5x5 conv (eq. 7-8, the
    cross-concatenation), whose outputs are concatenated and reduced by a 1x1 bottleneck with PReLU (eq. 9)
    and added to the input (eq. 10). The second stage keeps C channels per path, so the bottleneck reduces
    2C to C ("dimension reduction of the 1x1 bottleneck"): the halved counterpart of the multi-scale residual
    block of Li et al. [36] that inspired it, whose second stage doubles the width of the first.

    Args:
        channels (int): Input and output channels C (even).
    """

    def __init__(self, channels):
        super().__init__()
        if channels % 2:
            raise ValueError(f'MMRB splits its input into two halves: channels must be even, got {channels}')
        half = channels // 2
        self.conv3_split = nn.Conv2d(half, half, 3, padding=1)  # W1 on X1, eq. 5
        self.conv5_split = nn.Conv2d(half, half, 5, padding=2)  # W2 on X2, eq. 6
        self.conv3_mixed = nn.Conv2d(channels, channels, 3, padding=1)  # W1 on C1 = [P1, P2], eq. 7
        self.conv5_mixed = nn.Conv2d(channels, channels, 5, padding=2)  # W2 on C1, eq. 8
        self.bottleneck = nn.Conv2d(2 * channels, channels, 1)  # W3 on C2 = [P'1, P'2], eq. 9
        self.act3_split, self.act5_split, self.act3_mixed, self.act5_mixed, self.act_out = (
            nn.PReLU() for _ in range(5))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        mixed = torch.cat([self.act3_split(self.conv3_split(x1)), self.act5_split(self.conv5_split(x2))], 1)
        mixed = torch.cat([self.act3_mixed(self.conv3_mixed(mixed)), self.act5_mixed(self.conv5_mixed(mixed))], 1)
        return x + self.act_out(self.bottleneck(mixed))


class AsymmetricCodec(nn.Module):
    """The codec of PVFR (section 3.1, Fig. 2, eq. 1): x -> (clean per-scale features x_hat, latent code Z).

    Encoder (GPEN's): a 1x1 conv at the input size, then per scale a stride-2 conv; from the second to the
    last-but-one scale each is followed by ``encoder_mmrb_per_scale`` MMRBs (section 4.2: "one for each
    convolution scale and a total of 6, except for the encoder's first and last convolution scales"). The 4x4
    feature maps to Z by a fully connected layer. Decoder: from 4x4 up to the input size, a 3x3 conv (after
    bilinear 2x up-sampling) plus the encoder feature of the same scale (U-net skip, as in the GFPGAN codec
    the framework builds on, section 3.1), followed by ``decoder_mmrb_per_scale`` MMRBs; its channels per scale
    are those of the StyleGAN2 noise branches (section 4.2). A 1x1 conv per scale turns each decoder feature
    into RGB for the per-scale L1 restoration loss (section 3.1, as GFPGAN's pyramid loss).

    Args:
        out_size (int): Input/output size (512 in the paper).
        num_style_feat (int): Size of Z. Default: 512.
        channels (dict[int, int]): Channels per resolution (those of the prior's style convs).
        resample_kernel (tuple[int]): FIR kernel of the down-sampling convs. Default: (1, 3, 3, 1).
        encoder_mmrb_per_scale (int): MMRBs per inner encoder scale. Default: 1.
        decoder_mmrb_per_scale (int): MMRBs per decoder scale; the encoder has one more (section 3.1).
            Default: 0.
    """

    def __init__(self, out_size, num_style_feat, channels, resample_kernel=(1, 3, 3, 1), encoder_mmrb_per_scale=1,
                 decoder_mmrb_per_scale=0):
        super().__init__()
        self.resolutions = [2**i for i in range(2, out_size.bit_length())]  # 4 .. out_size
        self.encoder_first = ConvLayer(3, channels[out_size], 1)
        self.encoder_down = nn.ModuleList()
        for res in self.resolutions[-2::-1]:  # out_size / 2 .. 4
            inner = res != 4  # no MMRB at the first (out_size) and last (4x4) encoder scales
            self.encoder_down.append(
                nn.Sequential(
                    ConvLayer(channels[2 * res], channels[res], 3, downsample=True, resample_kernel=resample_kernel),
                    *[MMRB(channels[res]) for _ in range(encoder_mmrb_per_scale if inner else 0)]))
        self.encoder_latent = EqualLinear(channels[4] * 4 * 4, num_style_feat, activation='fused_lrelu')
        self.decoder = nn.ModuleList()
        for res in self.resolutions:
            in_channels = channels[4] if res == 4 else channels[res // 2]
            self.decoder.append(
                nn.Sequential(ConvLayer(in_channels, channels[res], 3),
                              *[MMRB(channels[res]) for _ in range(decoder_mmrb_per_scale)]))
        self.to_rgbs = nn.ModuleList(EqualConv2d(channels[res], 3, 1) for res in self.resolutions)

    def forward(self, x):
        """Returns (decoder features {res: (b, channels[res], res, res)}, RGB per scale [4 .. out_size], Z)."""
        feat = self.encoder_first(x)
        skips = {x.shape[-1]: feat}
        for down in self.encoder_down:
            feat = down(feat)
            skips[feat.shape[-1]] = feat
        latent = self.encoder_latent(feat.flatten(1))
        features, rgbs = OrderedDict(), []
        for res, block, to_rgb in zip(self.resolutions, self.decoder, self.to_rgbs):
            if res == 4:  # the decoder starts from the encoder's 4x4 feature itself
                feat = block(feat)
            else:
                feat = block(F.interpolate(feat, scale_factor=2, mode='bilinear', align_corners=False)) + skips[res]
            features[res] = feat
            rgbs.append(to_rgb(feat))
        return features, rgbs, latent


@ARCH_REGISTRY.register()
class PVFR(nn.Module):
    """PVFR generator: asymmetric MMRB codec + StyleGAN2 prior with concatenated noise branches.

    Hu et al., "Enhancing Quality of Pose-varied Face Restoration with Local Weak Feature Sensing and GAN
    Prior" (section 3, Fig. 2). x_hat, Z = Codec(x) (eq. 1); W = MLP(Z), the prior's 8-layer mapping network
    (eq. 2); y_{i+1} = Style(w, Concat[x_hat_i, y_i]) (eq. 3): the prior is a ``FaceStyleGAN2Generator`` in
    ``noise_mode='concat'`` (GPEN layout), both style convs of a resolution concatenating the decoder feature
    of that resolution.

    Table 5 ablations: ``encoder_mmrb_per_scale=0`` is "w/o MMRB"; ``finetune_prior=False`` freezes the
    StyleGAN2 weights ("w/o Ft+FreezeD", with ``num_frozen_layers: 0`` on the discriminator); "w/o FreezeD",
    "w/o LocalD" and "w/o FP Loss" are training options (discriminator and loss blocks).

    Args:
        out_size (int): Face size (512 in the paper, section 4.1). Default: 512.
        num_style_feat (int): Latent size of Z and W. Default: 512.
        num_mlp (int): Mapping-network layers (eq. 2: an 8-layer MLP). Default: 8.
        channel_multiplier (int): StyleGAN2 channel multiplier (GPEN-BFR-512: 2). Default: 2.
        narrow (float): Channel width ratio (tiny test models use < 1). Default: 1.
        resample_kernel (tuple[int]): FIR kernel. Default: (1, 3, 3, 1).
        encoder_mmrb_per_scale (int): MMRBs per inner encoder scale (section 4.2: one, six in total at 512).
            Default: 1.
        decoder_mmrb_per_scale (int): MMRBs per decoder scale (section 3.1: one fewer than the encoder).
            Default: 0.
        finetune_prior (bool): Train the StyleGAN2 weights jointly with the codec (section 3.3). False keeps
            them fixed (the noise-branch strengths, which weigh the codec's features, stay trainable).
            Default: True.
        prior_path (str | None): StyleGAN2 prior checkpoint in the ``FaceStyleGAN2Generator`` layout with
            ``noise_mode='concat'`` (the converted GPEN-BFR-512 generator). None leaves the prior random, for
            loading a whole PVFR checkpoint afterwards (testing, resuming). Default: None.
    """

    # the files loaded at construction: (option path, what it is, the switch that builds it); a trained
    # checkpoint holds their weights (toolkit.checkpoints), a launch without them is refused (models/priors.py)
    pretrained_file_options = ((('prior_path', ), 'StyleGAN2 prior (fine-tuned)', None), )

    def __init__(self, out_size=512, num_style_feat=512, num_mlp=8, channel_multiplier=2, narrow=1.0,
                 resample_kernel=(1, 3, 3, 1), encoder_mmrb_per_scale=1, decoder_mmrb_per_scale=0,
                 finetune_prior=True, prior_path=None):
        super().__init__()
        self.out_size = out_size
        self.generator = FaceStyleGAN2Generator(out_size, num_style_feat, num_mlp, channel_multiplier, narrow,
                                                resample_kernel, noise_mode='concat')
        self.codec = AsymmetricCodec(out_size, num_style_feat, self.generator.channels, resample_kernel,
                                     encoder_mmrb_per_scale, decoder_mmrb_per_scale)
        if prior_path is not None:
            self.load_prior(prior_path)
        self.finetune_prior = finetune_prior
        if not finetune_prior:
            for name, param in self.generator.named_parameters():
                param.requires_grad_(self._is_noise_branch(name))

    @staticmethod
    def _is_noise_branch(name):
        return name.endswith('noise.weight')

    def load_prior(self, path):
        """Load the StyleGAN2 prior (``FaceStyleGAN2Generator`` layout, concatenated noise branches)."""
        state = read_state_dict(path, 'PVFR StyleGAN2 prior (GPEN-BFR-512 generator)', PRIOR_SOURCE)
        own = self.generator.state_dict()
        wrong = sorted(k for k in own if k not in state or state[k].shape != own[k].shape)
        if wrong:
            raise ValueError(f'{path} is not a {self.out_size} px face StyleGAN2 with concatenated noise branches '
                             f'of this width in the FaceStyleGAN2Generator layout: missing or differently shaped '
                             f'{wrong[:5]}. {PRIOR_SOURCE}')
        self.generator.load_state_dict({k: state[k] for k in own}, strict=True)

    def parameter_groups(self):
        """Parameters by learning-rate group of section 4.2: 'codec', 'stylegan2', 'noise_branches'."""
        generator = list(self.generator.named_parameters())
        return OrderedDict([
            ('codec', list(self.codec.parameters())),
            ('stylegan2', [p for name, p in generator if not self._is_noise_branch(name)]),
            ('noise_branches', [p for name, p in generator if self._is_noise_branch(name)]),
        ])

    def forward(self, x, return_pyramid=False):
        """Restore a face.

        Args:
            x (Tensor): Degraded face (b, 3, out_size, out_size) in [-1, 1] (LR inputs are upsampled to the
                face size first, section 4.3).
            return_pyramid (bool): Also return the codec's RGB images per scale [4 .. out_size], the
                targets of the per-scale L1 restoration loss. Default: False.

        Returns:
            Tensor | tuple[Tensor, list[Tensor]]: The restored face (b, 3, out_size, out_size).
        """
        if x.shape[-2:] != (self.out_size, self.out_size):
            raise ValueError(f'PVFR expects {self.out_size}x{self.out_size} faces (upsample LR inputs first), '
                             f'got {tuple(x.shape[-2:])}')
        features, rgbs, latent = self.codec(x)
        image = self.generator(latent, concat_features=features)
        return (image, rgbs) if return_pyramid else image
