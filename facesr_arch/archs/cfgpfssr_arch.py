"""CFGPFSSR: face super-resolution combining a frozen StyleGAN2 (GAN prior) and face parsing maps (facial prior).

Liu et al., "CFGPFSSR: A Generative Method Combining Facial and GAN Priors for Face Super-Resolution",
Neural Processing Letters 2024.

How the paper's block counts map onto sizes (16x task, 64 -> 1024, section 4 names E0..E5, S0..S7, D0..D4).
The decoder admits two readings, both built by :class:`CFGPFSSR` (``decoder_layout``):

- Encoder: E0 is the RRDBNet giving f0 at 64 px; E1..E4 halve the size to f1..f4 at 32, 16, 8, 4 px
  (eq. 1, N = log2(in_size / 4) = 4); E5 is the conv + fully connected latent head (eq. 2).
- GAN Prior Bank: StyleGAN2 blocks, one latent vector each; the blocks at 4..32 px are modulated from
  Concat[f_{N-k}, p_k] with the encoder feature of their size (eq. 4), the larger ones from p_k alone.
- ``decoder_layout='glean'`` (default): GLEAN's decoder (Chan et al., "GLEAN: generative latent bank for
  large-factor image super-resolution", CVPR 2021), on which CFGPFSSR builds. The prior runs to the HR size
  (4..1024 px); D0 is a 3x3 conv + pixel shuffle on f0 (64 -> 128 px); D1..D3 each fuse d_{i-1} with the
  prior feature of its size (128, 256, 512 px) by a 3x3 conv + pixel shuffle; D4 fuses d_3 with the 1024 px
  prior feature in the final 3x3 output conv (RGB). Evidence: eq. 7 fuses g_{N-1+i} for i = 1..4, i.e. four
  prior features g_4..g_7 after D0, and the decoder has five blocks D0..D4 (section 4); "a pixel shuffle
  layer is existed after each convolutional layer besides the final output layer" (3.4) puts a pixel
  shuffle after D0 too, so d_0 is already at 128 px and D1..D4 meet the prior at 128..1024 px; the last
  one, D4, is the output layer. Counting S0..S7 as the eight blocks that produce g_0..g_7 at 8..1024 px
  (the 4 px constant and first conv being S0's stem) matches section 4's S0..S7 too. The 1024 px prior
  block's texture reaches the output, as in GLEAN.
- ``decoder_layout='half'``: the earlier reading. The prior stops at half the HR size (4..512 px, blocks
  S0..S7 counted from 4 px, the size of the parsing map P, 3.1); D0 is a conv over f0 at 64 px without pixel
  shuffle; D1..D4 fuse g at 64..512 px, each with a conv + pixel shuffle, so d_4 is at 1024 px; a separate
  output conv gives RGB. It needs an extra output layer beyond D0..D4 and never uses the 1024 px prior block.
- Eq. 3 writes S_k(w_k, j_{k-1}); the modulated g_{k-1} is what S_k receives here (otherwise g_0..g_3, which
  no decoder block takes, would have no effect), so the CS-SFT layers act on each block's output.

Parameter counts at the paper configuration (64 -> 1024, config-f prior, ParseNet FPN; total / trainable):
'glean' 167,867,653 / 116,194,339; 'half' 170,636,640 / 119,056,803 (``tests/test_cfgpfssr_arch.py``).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from basicsr.archs.rrdbnet_arch import RRDB
from basicsr.archs.arch_util import make_layer
from basicsr.utils.registry import ARCH_REGISTRY

from ..toolkit.checkpoints import read_state_dict
from .modules import SFTLayer
from .stylegan2_arch import FaceStyleGAN2Generator, stylegan2_channels

DECODER_LAYOUTS = ('glean', 'half')
# seed of the prior's fixed noise maps (see CFGPFSSR: "Deterministic outputs")
PRIOR_NOISE_SEED = 0

PRIOR_SOURCE = ('Convert the public FFHQ StyleGAN2 (rosinality stylegan2-ffhq-config-f.pt) with '
                '`python scripts/convert_weights.py stylegan2_rosinality stylegan2-ffhq-config-f.pt DST.pth`, '
                'or use a face StyleGAN2 you trained; see weights/README.md.')


class RRDBFeatureExtractor(nn.Module):
    """E0 (section 3.2): RRDBNet trunk of ESRGAN without upsampling, then a conv to the encoder width.

    Args:
        in_channels (int): Image channels.
        out_channels (int): Channels of f0.
        num_feat (int): RRDB width (64 in ESRGAN).
        num_block (int): Number of RRDBs (23 in ESRGAN).
        num_grow_ch (int): Growth channels of the dense blocks (32 in ESRGAN).
    """

    def __init__(self, in_channels, out_channels, num_feat, num_block, num_grow_ch):
        super().__init__()
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_out = nn.Sequential(nn.Conv2d(num_feat, out_channels, 3, 1, 1), nn.LeakyReLU(0.2, True))

    def forward(self, x):
        feat = self.conv_first(x)
        return self.conv_out(feat + self.conv_body(self.body(feat)))


def encoder_block(in_channels, out_channels):
    """E_i (eq. 1): a stride-2 and a stride-1 3x3 convolution, each followed by LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.LeakyReLU(0.2, True))


@ARCH_REGISTRY.register()
class CFGPFSSR(nn.Module):
    """CFGPFSSR generator: encoder, frozen GAN Prior Bank modulated by CS-SFT, progressive fusion decoder.

    Liu et al., "CFGPFSSR: A Generative Method Combining Facial and GAN Priors for Face Super-Resolution",
    Neural Processing Letters 2024, section 3 (Figure 1). See the module docstring for the block layout.

    The LR face (b, 3, in_size, in_size) goes through the encoder (f_0..f_N and one latent vector per prior
    block, eq. 1-2); the frozen StyleGAN2 runs on those latents (eq. 3); the frozen parser segments the LR
    bicubic-upscaled to half the HR size (3.1) and its class probabilities are resized to every prior
    block (p_k, bicubic, 3.3); CS-SFT layers modulate the prior features from Concat[f_{N-k}, p_k] or p_k
    (eq. 4-6); the decoder fuses f_0 with the modulated prior features from the LR size to half the HR
    size, doubling the size after each fusion (eq. 7).

    Table 3 ablations: ``use_encoder_features=False, use_parsing=False`` is the Baseline (latent vectors
    only, no SFT layer); ``use_encoder_features=True, use_parsing=False`` is CS-SFT_feature (blocks with an
    encoder feature are modulated from it alone, the others not at all); both True is CFGPFSSR.
    ``channel_split=False`` swaps CS-SFT (eq. 6) for plain SFT over all channels (eq. 5).

    Only the encoder, the SFT layers and the decoder are trainable (section 4): the prior and the parser
    have ``requires_grad=False`` and stay in eval mode when the module is put in training mode.

    Deterministic outputs: the StyleGAN2 prior's noise injections get fixed noise maps, drawn once from a
    generator seeded with ``PRIOR_NOISE_SEED`` (buffers ``prior_noise_<i>``, not saved: every build has the
    same ones), so a face restored twice, in validation, testing or inference, gives the same result. The paper
    does not discuss the prior's noise; fixed noise is GLEAN's choice (Chan et al., CVPR 2021, whose GAN Prior
    Bank CFGPFSSR builds on: mmagic's GLEAN feeds the generator's stored ``injected_noise`` buffers). It keeps
    the per-layer noise the prior was trained with (StyleGAN2's stochastic detail) rather than removing it,
    which would change the prior's feature statistics at every block.

    Args:
        out_size (int): HR size (1024 in the paper). Default: 1024.
        in_size (int): LR size (64 in the paper, 16x). Must be a power of two in 8..out_size / 2. Default: 64.
        num_style_feat (int): StyleGAN2 latent size. Default: 512.
        channel_multiplier (int): StyleGAN2 channel multiplier of the prior (2 = config-f). Default: 2.
        narrow (float): Channel width ratio of the prior (tiny test models use < 1); the encoder and decoder
            widths follow the prior's channels per resolution, as in GLEAN. Default: 1.
        num_rrdb_feat (int): RRDB width of E0 (ESRGAN: 64). Default: 64.
        num_rrdb_block (int): RRDBs in E0 (ESRGAN: 23). Default: 23.
        num_rrdb_grow (int): Dense growth channels of E0 (ESRGAN: 32). Default: 32.
        prior_path (str | None): Face StyleGAN2 checkpoint in the ``FaceStyleGAN2Generator`` layout, of at
            least out_size / 2 px (only its blocks up to out_size / 2 are used; larger ones are dropped).
            None leaves the prior random, for loading a whole CFGPFSSR checkpoint afterwards (testing,
            resuming). Default: None.
        prior_num_mlp (int): Mapping-MLP depth of the prior checkpoint (unused in the forward pass, which
            feeds w directly, but part of its layout). Default: 8.
        parser_opt (dict | None): The face parsing network (FPN) as network options, e.g. ``{'type':
            'FaceParseNet', 'min_feat_size': 32, 'weights_path': ...}`` (``archs/parsing_arch.py``; its
            ``weights_path`` None leaves it random, see ``prior_path``). It maps RGB in [-1, 1] to
            ``num_parsing_classes`` logits. Required when ``use_parsing``. Default: None.
        num_parsing_classes (int): Parsing classes (19, CelebAMask-HQ). Default: 19.
        use_encoder_features (bool): Condition prior blocks on the encoder features f_{N-k} (eq. 4, k < N).
            Default: True.
        use_parsing (bool): Condition prior blocks on the parsing maps p_k (facial prior). Default: True.
        channel_split (bool): CS-SFT (eq. 6, half the channels modulated) instead of SFT (eq. 5). Default: True.
        decoder_layout (str): 'glean' (the prior runs to out_size; D0 = conv + pixel shuffle; the prior's
            out_size feature enters the output conv) or 'half' (the prior stops at out_size / 2; D0 without
            pixel shuffle; a separate output conv). See the module docstring for the evidence. Default: 'glean'.
    """

    # the files loaded at construction: (option path, what it is, the switch that builds it, on by default); a
    # trained checkpoint holds their weights (toolkit.checkpoints), a launch without them is refused (models/priors.py)
    pretrained_file_options = ((('prior_path', ), 'frozen StyleGAN2 prior', None),
                               (('parser_opt', 'weights_path'), 'frozen face parsing network', 'use_parsing'))

    def __init__(self, out_size=1024, in_size=64, num_style_feat=512, channel_multiplier=2, narrow=1.0,
                 num_rrdb_feat=64, num_rrdb_block=23, num_rrdb_grow=32, prior_path=None, prior_num_mlp=8,
                 parser_opt=None, num_parsing_classes=19, use_encoder_features=True,
                 use_parsing=True, channel_split=True, decoder_layout='glean'):
        super().__init__()
        log_out, log_in = int(math.log2(out_size)), int(math.log2(in_size))
        if 2**log_out != out_size or 2**log_in != in_size or not 3 <= log_in < log_out <= 10:
            raise ValueError(f'CFGPFSSR needs powers of two with 8 <= in_size < out_size <= 1024, '
                             f'got in_size={in_size}, out_size={out_size}')
        if use_parsing and parser_opt is None:
            raise ValueError('CFGPFSSR with use_parsing=True needs parser_opt (the face parsing network)')
        if decoder_layout not in DECODER_LAYOUTS:
            raise ValueError(f'CFGPFSSR decoder_layout must be one of {DECODER_LAYOUTS}, got {decoder_layout!r}')
        self.out_size, self.in_size, self.decoder_layout = out_size, in_size, decoder_layout
        self.parsing_size = out_size // 2  # the parser sees the LR bicubic-upscaled to half the HR size (3.1)
        # largest prior feature: the HR size (GLEAN) or the parsing-map size (the 'half' reading)
        self.prior_size = out_size if decoder_layout == 'glean' else out_size // 2
        self.num_stacks = log_in - 2  # N: encoder blocks E1..EN down to 4x4 (eq. 1)
        self.use_encoder_features, self.use_parsing = use_encoder_features, use_parsing
        self.num_style_feat = num_style_feat
        channels = stylegan2_channels(channel_multiplier, narrow)

        # encoder E0..E_{N+1} (eq. 1-2)
        self.encoder_sizes = [in_size // 2**i for i in range(self.num_stacks + 1)]  # sizes of f_0..f_N
        self.rrdb = RRDBFeatureExtractor(3, channels[in_size], num_rrdb_feat, num_rrdb_block, num_rrdb_grow)
        self.encoder_blocks = nn.ModuleList(
            encoder_block(channels[2 * res], channels[res]) for res in self.encoder_sizes[1:])

        # GAN Prior Bank S_0..S_{K-1} (eq. 3), frozen (section 4)
        self.prior = FaceStyleGAN2Generator(self.prior_size, num_style_feat, prior_num_mlp, channel_multiplier,
                                            narrow)
        if prior_path is not None:
            self.load_prior(prior_path)
        self.prior.requires_grad_(False)
        self.block_sizes = self.prior.resolutions  # j_k at 4 * 2^k
        generator = torch.Generator().manual_seed(PRIOR_NOISE_SEED)
        noise_sizes = [self.block_sizes[0]] + [res for res in self.block_sizes[1:] for _ in range(2)]
        self.num_prior_noise = len(noise_sizes)
        for i, res in enumerate(noise_sizes):  # one map per style conv, broadcast over the batch
            self.register_buffer(f'prior_noise_{i}', torch.randn(1, 1, res, res, generator=generator),
                                 persistent=False)
        self.num_blocks = len(self.block_sizes)
        # one latent vector per block (3.3); W+ index -> block: conv1 (0) is S_0, the two convs of block k are
        # 2k-1 and 2k; tRGB codes are unused (the decoder, not the prior, makes the image)
        layer_block = [min((i + 1) // 2, self.num_blocks - 1) for i in range(self.prior.num_latent)]
        self.register_buffer('latent_block_index', torch.tensor(layer_block), persistent=False)
        top = channels[4]
        self.latent_head = nn.Sequential(  # E_{N+1}: conv + fully connected layer (eq. 2)
            nn.Conv2d(channels[self.encoder_sizes[-1]], top, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Flatten(),
            nn.Linear(top * 4 * 4, self.num_blocks * num_style_feat))

        # facial prior: frozen face parsing network (3.1)
        self.num_parsing_classes = num_parsing_classes
        self.parser = None
        if use_parsing:
            from basicsr.archs import build_network
            self.parser = build_network(parser_opt).requires_grad_(False).eval()

        # CS-SFT / SFT layers (eq. 4-6), one per modulated prior block
        self.sft_layers = nn.ModuleDict()
        for k, res in enumerate(self.block_sizes):
            cond_channels = 0
            if use_encoder_features and k < self.num_stacks:
                cond_channels += channels[self.encoder_sizes[self.num_stacks - k]]
            if use_parsing:
                cond_channels += num_parsing_classes
            if cond_channels:
                feat_channels = self.prior.feature_channels[res]
                self.sft_layers[str(res)] = SFTLayer(cond_channels, feat_channels, hidden_channels=feat_channels,
                                                     channel_split=channel_split)

        # decoder D_0..D_4 (eq. 7)
        if decoder_layout == 'glean':
            # D_0: conv + pixel shuffle on f_0; D_i: conv + pixel shuffle over [d_{i-1}, g]; the last D fuses
            # the out_size prior feature into the RGB output conv
            self.decoder_sizes = [res for res in self.block_sizes if in_size < res < out_size]
            self.decoder_first = nn.Sequential(nn.Conv2d(channels[in_size], 4 * channels[2 * in_size], 3, 1, 1),
                                               nn.PixelShuffle(2), nn.LeakyReLU(0.2, True))
            out_in_channels = channels[out_size] + self.prior.feature_channels[out_size]
        else:
            # D_0: conv on f_0; D_i: conv + pixel shuffle over [d_{i-1}, g] from in_size to out_size / 2
            self.decoder_sizes = [res for res in self.block_sizes if res >= in_size]
            self.decoder_first = nn.Sequential(nn.Conv2d(channels[in_size], channels[in_size], 3, 1, 1),
                                               nn.LeakyReLU(0.2, True))
            out_in_channels = channels[out_size]
        self.decoder_fusions = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels[res] + self.prior.feature_channels[res], 4 * channels[2 * res], 3, 1, 1),
                nn.PixelShuffle(2), nn.LeakyReLU(0.2, True)) for res in self.decoder_sizes)
        self.decoder_out = nn.Conv2d(out_in_channels, 3, 3, 1, 1)

    def load_prior(self, path):
        """Load the face StyleGAN2 weights; keys of blocks above ``prior_size`` (a 1024 px prior) are dropped."""
        state = read_state_dict(path, 'CFGPFSSR GAN Prior Bank (face StyleGAN2)', PRIOR_SOURCE)
        own = self.prior.state_dict()
        missing = sorted(k for k in own if k not in state)
        if missing:
            raise KeyError(f'{path} is not a face StyleGAN2 of at least {self.prior_size} px in the '
                           f'FaceStyleGAN2Generator layout: missing {missing[:5]}. {PRIOR_SOURCE}')
        self.prior.load_state_dict({k: state[k] for k in own}, strict=True)

    def train(self, mode=True):
        """Training mode for the trainable parts; the frozen prior and parser stay in eval mode."""
        super().train(mode)
        self.prior.eval()
        if self.parser is not None:
            self.parser.eval()
        return self

    def parsing_maps(self, lq):
        """Parsing map P of the LR bicubic-upscaled to half the HR size (3.1), (b, C, s/2, s/2).

        The paper does not say whether P holds labels or scores; decision: the parser's softmax
        probabilities, which keep its uncertainty and resize smoothly to every p_k.
        """
        bicubic = F.interpolate(lq, size=(self.parsing_size, self.parsing_size), mode='bicubic',
                                align_corners=False)
        with torch.no_grad():
            logits = self.parser(bicubic.clamp(-1, 1))
        if logits.shape[1] != self.num_parsing_classes:
            raise ValueError(f'the parser returns {logits.shape[1]} channels; num_parsing_classes is '
                             f'{self.num_parsing_classes}')
        return logits.softmax(dim=1)

    def forward(self, lq):
        """Super-resolve LR faces.

        Args:
            lq (Tensor): LR faces (b, 3, in_size, in_size) in [-1, 1].

        Returns:
            Tensor: SR faces (b, 3, out_size, out_size), about [-1, 1].
        """
        if tuple(lq.shape[-2:]) != (self.in_size, self.in_size):
            raise ValueError(f'CFGPFSSR expects {self.in_size}x{self.in_size} LR faces, got {tuple(lq.shape[-2:])}')
        feats = [self.rrdb(lq)]  # f_0
        for block in self.encoder_blocks:
            feats.append(block(feats[-1]))  # f_1..f_N (eq. 1)
        latent = self.latent_head(feats[-1]).view(lq.shape[0], self.num_blocks, self.num_style_feat)  # W (eq. 2)
        w_plus = latent[:, self.latent_block_index]

        parsing = self.parsing_maps(lq) if self.use_parsing else None
        conditions = {}
        for k, res in enumerate(self.block_sizes):
            if str(res) not in self.sft_layers:
                continue
            cond = []
            if self.use_encoder_features and k < self.num_stacks:
                cond.append(feats[self.num_stacks - k])  # f_{N-k} (eq. 4)
            if parsing is not None:
                # p_k: P resized to the size of j_k by bicubic interpolation (3.3), antialiased when shrinking
                # (in fp32: the antialiased kernel has no bfloat16 CPU implementation, as under autocast)
                cond.append(F.interpolate(parsing.float(), size=(res, res), mode='bicubic', align_corners=False,
                                          antialias=res < self.parsing_size).to(parsing.dtype))
            conditions[res] = self.sft_layers[str(res)].predict(torch.cat(cond, dim=1))

        # g_k = CS-SFT(j_k) on each block's output; g_k feeds S_{k+1} and the decoder (eq. 3-7)
        noise = [getattr(self, f'prior_noise_{i}') for i in range(self.num_prior_noise)]
        _, prior_feats = self.prior(w_plus, input_is_latent=True, noise=noise, conditions=conditions,
                                    return_features=True, condition_after='last_conv')

        out = self.decoder_first(feats[0])  # d_0 = D_0(f_0)
        for res, fusion in zip(self.decoder_sizes, self.decoder_fusions):
            out = fusion(torch.cat([out, prior_feats[res]], dim=1))  # d_i = D_i(d_{i-1}, g_{N-1+i})
        if self.decoder_layout == 'glean':
            out = torch.cat([out, prior_feats[self.out_size]], dim=1)  # the last D_i is the output layer
        return self.decoder_out(out)
