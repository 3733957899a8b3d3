"""MPCNet: blind face restoration by multi-prior collaboration and adaptive priors feature fusion (APFF).

Teng, Yu and Wu, "Blind Face Restoration via Multi-Prior Collaboration and Adaptive Feature Fusion",
Front. Neurorobot. 16:797231, 2022, doi:10.3389/fnbot.2022.797231.

Parts, in forward order (Figure 2): a U-shaped backbone whose encoder of down-sampling residual groups
gives F_spatial and, through global pooling and an MLP, the latent F_latent (eq. 2-3); a pretrained,
noise-free StyleGAN2 (3.2.2) driven by F_latent giving F_GAN per resolution; a pretrained parsing mask
prediction network (3.2.3) on the LQ input giving F_parse per resolution; one APFF block per decoder
resolution (3.3, Figure 4, eq. 4-7); a single ToRGB convolution. The spectral-norm discriminator of the
hinge adversarial loss (3.4, eq. 9) closes the file.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from basicsr.utils.registry import ARCH_REGISTRY

from ..toolkit.checkpoints import read_state_dict
from .modules import RCAB, SFTLayer, adaptive_instance_norm
from .parsing_arch import FaceParseNet
from .stylegan2_arch import FaceStyleGAN2Generator, stylegan2_channels

GUIDE_SOFTMAX_AXES = ('source', 'channel')
GAN_PRIOR_SOURCE = ('train the noise-free prior of the same width with options/train/StyleGAN2/'
                    'train_FaceStyleGAN2_noise-free_FFHQ512.yml (default MPCNet) or '
                    'train_FaceStyleGAN2_noise-free_large_FFHQ512.yml (large MPCNet) (sections 3.2.2, 4.1)')
PARSER_SOURCE = ('pretrain it on CelebAMask-HQ at 512 px with the MPCNet degradation (section 4.1) using the parsing '
                 'option file options/train/Parsing/train_MPCNetParsing_CelebAMaskHQ512.yml (FaceParseNet, min_feat_size: 4)')


def apff_fusion(gan_feat, spatial_feat, guide, softmax_axis='source'):
    """Adaptive fusion of APFF (eq. 7): ``(F_g2 - F_s2) * softmax(F_guide) + F_s2``.

    The paper names neither the softmax axis nor how the channels of F_guide (a modulated concatenation of
    F_g1 and F_s1) meet those of F_g2. Here F_g1 and F_s1 carry half the channels each (f_conv1 "reduces
    the channel numbers", 3.3), so F_guide has exactly the channels of F_g2 and eq. 7 is element-wise.

    - ``'source'`` (default): the softmax runs over a source axis of size two that pairs guide channel k
      (from the generative half, F_g1) with channel k + C/2 (from the spatial half, F_s1). Every gate is
      then in (0, 1) with the pair summing to one, so each output element is a convex blend
      ``w * F_g2 + (1 - w) * F_s2``: the "gating module" the text describes, which keeps the generative
      prior's share independent of the width and size of the feature map.
    - ``'channel'``: the literal per-pixel softmax over all C channels. Gates then average 1 / C, so the
      generative prior contributes little unless the guide becomes very peaked (kept for comparison).

    A softmax over the spatial axes is not offered: at 512 x 512 its gates average 1 / 262144 and the
    generative prior would vanish.

    Args:
        gan_feat (Tensor): F_g2, (b, c, h, w).
        spatial_feat (Tensor): F_s2, (b, c, h, w).
        guide (Tensor): F_guide, (b, c, h, w) with c even for ``'source'``.
        softmax_axis (str): 'source' or 'channel'. Default: 'source'.

    Returns:
        Tensor: F_output, (b, c, h, w).
    """
    if softmax_axis == 'source':
        b, c, h, w = guide.shape
        if c % 2:
            raise ValueError(f"softmax over the source axis needs an even number of guide channels, got {c}")
        gate = torch.softmax(guide.view(b, 2, c // 2, h, w), dim=1).view(b, c, h, w)
    elif softmax_axis == 'channel':
        gate = torch.softmax(guide, dim=1)
    else:
        raise ValueError(f'softmax_axis must be one of {GUIDE_SOFTMAX_AXES}, got {softmax_axis!r}')
    return (gan_feat - spatial_feat) * gate + spatial_feat


def conv3x3(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1)


class ResidualBlock(nn.Module):
    """Residual block ``lrelu(body(x) + skip(x))``; with ``downsample`` it halves the resolution.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        downsample (bool): Stride-2 body and average-pooled 1x1 skip. Default: False.
    """

    def __init__(self, in_channels, out_channels, downsample=False):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(in_channels, out_channels, 2 if downsample else 1), nn.LeakyReLU(0.2, True),
            conv3x3(out_channels, out_channels))
        if downsample:
            self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_channels, out_channels, 1))
        elif in_channels != out_channels:
            self.skip = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.skip = nn.Identity()
        self.activate = nn.LeakyReLU(0.2, True)

    def forward(self, x):
        return self.activate(self.body(x) + self.skip(x))


class DownResidualGroup(nn.Sequential):
    """Down-sampling residual group of the spatial-features encoder (3.2.1): one stride-2 residual block,
    then ``num_blocks - 1`` residual blocks at the new resolution."""

    def __init__(self, in_channels, out_channels, num_blocks=2):
        super().__init__(ResidualBlock(in_channels, out_channels, downsample=True),
                         *[ResidualBlock(out_channels, out_channels) for _ in range(num_blocks - 1)])


class APFFBlock(nn.Module):
    """Adaptive priors feature fusion block (section 3.3, Figure 4).

    Cascaded RCABs refine the decoded features F_spatial; AdaIN aligns F_GAN to their style (eq. 4);
    3x3 convolutions give F_g1, F_s1 (half the channels, "reduce the channel numbers") and F_g2, F_s2
    ("refine"); SFT parameters predicted from F_parse (eq. 5) modulate Concat[F_g1, F_s1] into F_guide
    (eq. 6); :func:`apff_fusion` blends F_g2 and F_s2 under softmax(F_guide) (eq. 7).

    Ablations (Table 1): without the GAN prior, F_g* are absent and the output is F_s2 modulated by the
    parsing SFT (a parsing-guided decoder); without AdaIN, F_GAN enters the convolutions unaligned; without
    the parsing prior, F_guide = Concat[F_g1, F_s1]; without SFT (parsing prior kept), F_parse is
    concatenated and a 3x3 convolution maps the concatenation back to the width of F_guide.

    Args:
        channels (int): Width C of F_spatial, F_GAN and the output (even).
        parse_channels (int): Channels of F_parse (unused without the parsing prior).
        num_rcab (int): Cascaded RCABs on F_spatial. Default: 2.
        rcab_reduction (int): Channel-attention reduction of the RCABs (RCAN). Default: 16.
        use_gan_prior (bool): Fuse F_GAN. Default: True.
        use_parsing_prior (bool): Use F_parse. Default: True.
        use_adain (bool): AdaIN(F_GAN, F_spatial) before the convolutions (eq. 4). Default: True.
        use_sft (bool): Modulate the guide by SFT from F_parse (eq. 5-6). Default: True.
        softmax_axis (str): Gate of eq. 7, see :func:`apff_fusion`. Default: 'source'.
    """

    def __init__(self, channels, parse_channels, num_rcab=2, rcab_reduction=16, use_gan_prior=True,
                 use_parsing_prior=True, use_adain=True, use_sft=True, softmax_axis='source'):
        super().__init__()
        if channels % 2:
            raise ValueError(f'APFF needs an even width (F_g1 and F_s1 take half each), got {channels}')
        if softmax_axis not in GUIDE_SOFTMAX_AXES:
            raise ValueError(f'softmax_axis must be one of {GUIDE_SOFTMAX_AXES}, got {softmax_axis!r}')
        self.use_gan_prior, self.use_parsing_prior = use_gan_prior, use_parsing_prior
        self.use_adain, self.use_sft = use_adain, use_sft
        self.softmax_axis = softmax_axis
        self.rcabs = nn.Sequential(*[RCAB(channels, rcab_reduction) for _ in range(num_rcab)])
        self.conv_s2 = conv3x3(channels, channels)
        if use_gan_prior:
            self.conv_g1 = conv3x3(channels, channels // 2)
            self.conv_g2 = conv3x3(channels, channels)
            self.conv_s1 = conv3x3(channels, channels // 2)
        if use_parsing_prior:
            if use_sft:
                self.sft = SFTLayer(parse_channels, channels)  # alpha * x + beta, eq. 6
            else:
                self.parse_fusion = conv3x3(channels + parse_channels, channels)

    def _parse_guidance(self, feat, parse):
        if not self.use_parsing_prior:
            return feat
        if self.use_sft:
            return self.sft(feat, parse)
        return self.parse_fusion(torch.cat([feat, parse], dim=1))

    def forward(self, spatial, gan=None, parse=None):
        """Fuse one resolution.

        Args:
            spatial (Tensor): Decoded features F_spatial (b, C, h, w).
            gan (Tensor | None): F_GAN (b, C, h, w); required with the GAN prior.
            parse (Tensor | None): F_parse (b, parse_channels, h, w); required with the parsing prior.

        Returns:
            Tensor: F_output (b, C, h, w).
        """
        spatial = self.rcabs(spatial)
        spatial2 = self.conv_s2(spatial)
        if not self.use_gan_prior:
            return self._parse_guidance(spatial2, parse)
        if self.use_adain:
            gan = adaptive_instance_norm(gan, spatial)  # eq. 4
        guide = torch.cat([self.conv_g1(gan), self.conv_s1(spatial)], dim=1)
        guide = self._parse_guidance(guide, parse)  # eq. 5-6
        return apff_fusion(self.conv_g2(gan), spatial2, guide, self.softmax_axis)  # eq. 7


@ARCH_REGISTRY.register()
class MPCNet(nn.Module):
    """Multi-prior collaboration network (Teng et al. 2022, section 3, Figure 2).

    Encoder: a 3x3 convolution at ``out_size`` then down-sampling residual groups to 4 x 4 (7 groups at
    512, like the parsing network's 7 down-sampling blocks, 3.2.3); F_latent = MLP(global average pool of
    the 4 x 4 features) is one code w in StyleGAN2's W space (eq. 2-3), given to every layer of the prior.
    Decoder: from the 4 x 4 features, each resolution 8 .. ``out_size`` upsamples (bilinear x2 + 3x3
    convolution), adds the encoder feature of that resolution (U-net skip) and applies an APFF block with
    F_GAN and F_parse of that resolution: seven APFF blocks and seven GAN blocks at 512 (3.2.2). A single
    1x1 ToRGB convolution maps F_decode^7 to the image (3.2.1). Widths follow the StyleGAN2 prior
    (``stylegan2_channels``), so AdaIN (eq. 4) aligns F_GAN and F_spatial channel by channel.

    Size. The paper gives no widths or block counts, but trains at batch 8 on two 11 GB RTX 2080 Ti (4.1): 4
    faces of 512 px per GPU, in fp32, with the discriminator, the priors and Adam states. The default
    (``channel_multiplier=1, narrow=0.5``: 256 channels at 4..32 px, 128 / 64 / 32 / 16 at 64 / 128 / 256 /
    512 px; 2 residual blocks per encoder group, 2 RCABs per APFF block, "cascading RCABs", Figure 4) is, of
    the StyleGAN2 widths (``channel_multiplier`` 1 or 2, ``narrow`` 0.5 or 1), the one whose training iteration
    at batch 4 fits that budget (9.1 GiB measured; by the generator's saved activations, channel_multiplier 2
    with narrow 0.5 would need about 11 GiB; README, MPCNet). The config-f width (``channel_multiplier=2,
    narrow=1``, option file ``train_MPCNet_large_FFHQ512.yml``) keeps 2.5 times the activations per face
    (4.4 GiB) and has 150.9M trainable parameters: it cannot have been trained so, and stays as the large
    configuration.

    Spectral normalisation (3.4, "in both generator and discriminator ... each convolution layer") wraps
    every convolution MPCNet trains: encoder, decoder, APFF (RCAB and SFT included) and ToRGB. The frozen
    pretrained priors keep their weights as trained: normalising them would change the features they were
    pretrained to give.

    Inputs of another size are resized to ``out_size`` with bicubic sampling first (3.2.1).

    Args:
        out_size (int): Input/output size (512 in the paper; a power of two >= 8).
        num_style_feat (int): Latent size of the StyleGAN2 prior. Default: 512.
        channel_multiplier (int): StyleGAN2 width of prior and backbone (2 = config-f, the large configuration;
            the paper does not say). Default: 1.
        narrow (float): Width ratio of prior and backbone (1 in the large configuration; tiny test models use
            less). Default: 0.5.
        gan_num_mlp (int): Mapping-MLP depth of the prior (loaded with it, unused: F_latent is already in W).
            Default: 8.
        num_group_blocks (int): Residual blocks per down-sampling group. Default: 2.
        num_latent_mlp (int): Layers of the F_latent MLP ("several MLP layers", eq. 3). Default: 4.
        num_rcab (int): Cascaded RCABs per APFF block (Figure 4). Default: 2.
        softmax_axis (str): Gate of eq. 7 ('source' or 'channel'), see :func:`apff_fusion`. Default: 'source'.
        use_gan_prior (bool): Table 1 'w/o GAN prior' when False. Default: True.
        use_parsing_prior (bool): Table 1 'w/o Parsing map prior' when False. Default: True.
        use_adain (bool): Table 1 'w/o AdaIN' when False. Default: True.
        use_sft (bool): Table 1 'w/o SFT' when False. Default: True.
        parser_opt (dict | None): Keyword arguments of the parsing mask prediction network
            :class:`~facesr_arch.archs.parsing_arch.FaceParseNet` (3.2.3); ``in_size`` defaults to ``out_size``
            and ``min_feat_size`` must be 4 (7 down- and 7 up-sampling blocks at 512), so that its up-sampling
            blocks give F_parse at every APFF resolution. None uses FaceParseNet's defaults. Default: None.
        gan_prior_path (str | None): Pretrained noise-free FaceStyleGAN2Generator checkpoint at ``out_size`` and
            this width (section 2: the StyleGAN2 blocks are "reformed" by removing the noise inputs, and the prior
            is pretrained so, 3.2.2). None builds it randomly (the full MPCNet checkpoint then supplies it, or
            tests). Default: None.
        drop_prior_noise (bool): Accept a prior pretrained *with* noise inputs (e.g. a converted public config-f
            checkpoint) by dropping its noise strengths. Its features then differ from those it was trained to
            give, which the paper's noise-free pretraining avoids; without this switch such a checkpoint is
            refused. Default: False.
        parsing_prior_path (str | None): Pretrained FaceParseNet checkpoint (3.2.3). None builds it randomly, as
            ``gan_prior_path``. Default: None.
        freeze_priors (bool): Keep both pretrained priors fixed (the paper embeds them as pretrained
            priors and reports no fine-tuning). Default: True.
        use_spectral_norm (bool): Spectral normalisation on the trained convolutions. Default: True.
    """

    # the files loaded at construction: (option path, what it is, the switch that builds it, on by default); a
    # trained checkpoint holds their weights (toolkit.checkpoints), a launch without them is refused (models/priors.py)
    pretrained_file_options = ((('gan_prior_path', ), 'frozen noise-free StyleGAN2 prior', 'use_gan_prior'),
                               (('parsing_prior_path', ), 'frozen face parsing prior', 'use_parsing_prior'))

    def __init__(self, out_size=512, num_style_feat=512, channel_multiplier=1, narrow=0.5, gan_num_mlp=8,
                 num_group_blocks=2, num_latent_mlp=4, num_rcab=2, softmax_axis='source', use_gan_prior=True,
                 use_parsing_prior=True, use_adain=True, use_sft=True, parser_opt=None, gan_prior_path=None,
                 parsing_prior_path=None, drop_prior_noise=False, freeze_priors=True, use_spectral_norm=True):
        super().__init__()
        log_size = int(math.log2(out_size)) if out_size > 0 else 0
        if 2**log_size != out_size or not 8 <= out_size <= 1024:
            raise ValueError(f'MPCNet out_size must be a power of two in 8..1024, got {out_size}')
        if use_adain and not use_gan_prior:
            raise ValueError('use_adain needs the GAN prior (Table 1: w/o GAN prior has no AdaIN)')
        if use_sft and not use_parsing_prior:
            raise ValueError('use_sft needs the parsing prior (Table 1: w/o Parsing map prior has no SFT)')
        self.out_size = out_size
        self.use_gan_prior, self.use_parsing_prior = use_gan_prior, use_parsing_prior
        self.freeze_priors = freeze_priors
        channels = stylegan2_channels(channel_multiplier, narrow)
        self.decoder_resolutions = [2**i for i in range(3, log_size + 1)]  # 8 .. out_size: one APFF each

        # spatial-features encoder (3.2.1, eq. 2)
        self.conv_first = nn.Sequential(conv3x3(3, channels[out_size]), nn.LeakyReLU(0.2, True))
        self.encoder = nn.ModuleList(
            DownResidualGroup(channels[res], channels[res // 2], num_group_blocks)
            for res in reversed(self.decoder_resolutions))
        # F_latent = MLP(global pooling of F_spatial) (eq. 3), only needed to drive the GAN prior
        if use_gan_prior:
            latent_layers = []
            in_features = channels[4]
            for i in range(num_latent_mlp):
                latent_layers.append(nn.Linear(in_features, num_style_feat))
                if i < num_latent_mlp - 1:
                    latent_layers.append(nn.LeakyReLU(0.2, True))
                in_features = num_style_feat
            self.latent_mlp = nn.Sequential(*latent_layers)

        # pretrained parsing mask prediction network (3.2.3); built first for the widths of F_parse
        self.parsing_prior = None
        parse_channels = {res: 0 for res in self.decoder_resolutions}
        if use_parsing_prior:
            parser_opt = {'in_size': out_size, **(parser_opt or {})}
            if parser_opt.get('min_feat_size', 4) != 4 or parser_opt['in_size'] != out_size:
                raise ValueError(f'MPCNet needs a parser with in_size={out_size} and min_feat_size=4 (F_parse at '
                                 f'every APFF resolution), got {parser_opt}')
            parser = FaceParseNet(**parser_opt)
            if parsing_prior_path is not None:
                parser.load_state_dict(
                    read_state_dict(parsing_prior_path, f'MPCNet parsing prior (FaceParseNet, {out_size} px)',
                                    PARSER_SOURCE))
            # widths of its up-sampling blocks (facexlib ResidualBlock: conv2 gives the block output), 8 .. out_size
            parse_channels = {res: block.conv2.conv2d.out_channels
                              for res, block in zip(self.decoder_resolutions, parser.decoder)}

        # decoder: upsampling + APFF blocks (3.3) + ToRGB
        self.upsamples = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
                          conv3x3(channels[res // 2], channels[res]), nn.LeakyReLU(0.2, True))
            for res in self.decoder_resolutions)
        self.apff_blocks = nn.ModuleList(
            APFFBlock(channels[res], parse_channels[res], num_rcab, use_gan_prior=use_gan_prior,
                      use_parsing_prior=use_parsing_prior, use_adain=use_adain, use_sft=use_sft,
                      softmax_axis=softmax_axis) for res in self.decoder_resolutions)
        self.to_rgb = nn.Conv2d(channels[out_size], 3, 1)
        if use_spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, nn.Conv2d):
                    spectral_norm(module)

        # pretrained priors, attached after spectral normalisation so that they keep their weights
        if use_parsing_prior:
            self.parsing_prior = parser
        self.gan_prior = None
        if use_gan_prior:
            self.gan_prior = FaceStyleGAN2Generator(out_size, num_style_feat, gan_num_mlp, channel_multiplier, narrow,
                                                    noise_mode='none')  # no noise inputs (3.2.2)
            if gan_prior_path is not None:
                what = f'MPCNet StyleGAN2 prior (FaceStyleGAN2Generator, {out_size} px)'
                state = read_state_dict(gan_prior_path, what, GAN_PRIOR_SOURCE)
                noise_keys = [k for k in state if k.endswith('.noise.weight')]
                if noise_keys and not drop_prior_noise:
                    raise ValueError(f'{gan_prior_path} is a StyleGAN2 prior trained with noise inputs ({noise_keys[0]}); '
                                     'MPCNet pretrains its prior noise-free (3.2.2): ' + GAN_PRIOR_SOURCE +
                                     ', or set drop_prior_noise: true to use it without its noise strengths')
                self.gan_prior.load_state_dict({k: v for k, v in state.items() if k not in noise_keys})
        if freeze_priors:
            for prior in self._priors():
                prior.requires_grad_(False).eval()

    def _priors(self):
        return [prior for prior in (self.gan_prior, self.parsing_prior) if prior is not None]

    @staticmethod
    def _parse_features(parser, x):
        """F_parse^j: outputs of the parser's up-sampling blocks, keyed by resolution (its forward pass up
        to the final output convolution, which MPCNet does not need)."""
        feat = parser.encoder(x)
        feat = feat + parser.body(feat)
        features = {}
        for block in parser.decoder:
            feat = block(feat)
            features[feat.shape[-1]] = feat
        return features

    def train(self, mode=True):
        """Train mode for the trained parts; frozen priors stay in eval mode."""
        super().train(mode)
        if self.freeze_priors:
            for prior in self._priors():
                prior.eval()
        return self

    def forward(self, x):
        """Restore faces.

        Args:
            x (Tensor): LQ faces (b, 3, h, w) in [-1, 1]; resized to ``out_size`` (bicubic) when h, w differ.

        Returns:
            Tensor: Restored faces (b, 3, out_size, out_size), about [-1, 1].
        """
        if x.shape[-2:] != (self.out_size, self.out_size):
            x = F.interpolate(x, size=(self.out_size, self.out_size), mode='bicubic', align_corners=False)
        feat = self.conv_first(x)
        skips = {self.out_size: feat}
        for group in self.encoder:
            feat = group(feat)
            skips[feat.shape[-1]] = feat
        gan_feats = {}
        if self.use_gan_prior:
            latent = self.latent_mlp(feat.mean(dim=(2, 3)))  # eq. 3
            _, gan_feats = self.gan_prior(latent, input_is_latent=True, return_features=True)
        parse_feats = {}
        if self.use_parsing_prior:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_priors):
                parse_feats = self._parse_features(self.parsing_prior, x)
        for res, upsample, apff in zip(self.decoder_resolutions, self.upsamples, self.apff_blocks):
            spatial = upsample(feat) + skips[res]
            feat = apff(spatial, gan_feats.get(res), parse_feats.get(res))
        return self.to_rgb(feat)


@ARCH_REGISTRY.register()
class MPCNetDiscriminator(nn.Module):
    """Discriminator of MPCNet's hinge adversarial loss (section 3.4, eq. 9), spectral norm on every layer.

    The paper specifies only spectral normalisation (Miyato et al. 2018) on each convolution and the hinge
    loss (Brock et al. 2018; Zhang et al. 2019). This is the SNGAN/SAGAN-style stack those references use:
    a 3x3 convolution, stride-2 4x4 convolutions (LeakyReLU 0.2) doubling the width up to
    ``max_channels`` until 4 x 4, and a final 4x4 convolution to one unbounded score per image.

    Args:
        in_size (int): Input size (512 in the paper; a power of two >= 8).
        num_feat (int): Width at full resolution. Default: 64.
        max_channels (int): Width cap. Default: 512.
    """

    def __init__(self, in_size=512, num_feat=64, max_channels=512):
        super().__init__()
        log_size = int(math.log2(in_size)) if in_size > 0 else 0
        if 2**log_size != in_size or in_size < 8:
            raise ValueError(f'MPCNetDiscriminator in_size must be a power of two >= 8, got {in_size}')
        self.in_size = in_size
        layers = [spectral_norm(conv3x3(3, num_feat)), nn.LeakyReLU(0.2, True)]
        channels = num_feat
        for _ in range(log_size - 2):  # in_size -> 4
            out_channels = min(channels * 2, max_channels)
            layers += [spectral_norm(nn.Conv2d(channels, out_channels, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            channels = out_channels
        layers.append(spectral_norm(nn.Conv2d(channels, 1, 4)))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        if x.shape[-2:] != (self.in_size, self.in_size):
            raise ValueError(f'MPCNetDiscriminator expects {self.in_size} px inputs, got {tuple(x.shape[-2:])}')
        return self.body(x).flatten(1)
