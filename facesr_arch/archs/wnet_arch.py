"""W-Net: facial feature-guided face super-resolution (parsing block, LPF fusion, SCAB encoder-decoder).

Liu, Yang and Liu, "W-Net: A Facial Feature-Guided Face Super-Resolution Network"
(arXiv:2406.00676, 2024). Building blocks first, the network last.

Input convention. Section 3.3 upsamples the fused input by 2, 4 and 8 and says the features then reach
1024x1024 and come back to 128x128 (eq. 17-19), with 128 px HR faces and 32 / 16 px LR faces (4.2). Both
statements hold only if the network input is the LR face bicubic-upsampled to the HR size, 128x128, for
x4 and x8 alike (as in FSRNet / DIC, which 4.1 follows): the same network then serves both factors and the
dataset's ``multiscale_bicubic`` degradation with ``factors: [4]`` or ``[8]`` and ``out_size: 128`` makes
the input. The parsing map is predicted from that input at 128x128 and learnt against the binarised HR
parsing map (eq. 25).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from .modules import RCAB, ChannelAttention, SpatialAttention


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 plus identity (F_Res of eq. 3, and the hourglass's residual unit).

    Args:
        channels (int): Feature channels.
    """

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


class HourGlass(nn.Module):
    """Stacked-hourglass module of Newell et al. (ECCV 2016, the paper's [44]) of a given depth.

    Each level keeps a residual branch at its resolution, max-pools by 2, recurses, and adds the
    nearest-upsampled result back; the innermost level is a residual block. Depth 4 on a 128 px input
    reaches 8x8.

    Args:
        channels (int): Feature channels.
        depth (int): Number of pooling levels (4 in eq. 3). Default: 4.
    """

    def __init__(self, channels, depth=4):
        super().__init__()
        self.skip = ResidualBlock(channels)
        self.down = ResidualBlock(channels)
        self.inner = HourGlass(channels, depth - 1) if depth > 1 else ResidualBlock(channels)
        self.up = ResidualBlock(channels)

    def forward(self, x):
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2, mode='nearest')


class MultiScaleAttentionUnit(nn.Module):
    """The multi-scale feature attention unit of the Parsing Block (eq. 4-7).

    y1 = act(conv1x1(F)), y2 = act(conv3x3(F)), y3 = act(conv3x3(F)) (eq. 4); y4 = act(conv3x3([y1, y2, y3]))
    with doubled channels, y5 = act(conv3x3(y3)) with halved channels (eq. 5); y6 = CA(z) + SA(z) with
    z = [y2, y4, y5] (eq. 6); output conv1x1(y6) + F (eq. 7). Reading of "doubled" / "halved": relative to
    the unit's width C, so y4 has 2C and y5 C/2 channels and z has 3.5C; y1..y3 keep C. The activation is
    ReLU, as in the Parsing Block's residual blocks (eq. 3).

    Args:
        channels (int): Width C (even).
        reduction (int): Channel-attention reduction (RCAN's 16). Default: 16.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        half = channels // 2
        self.branch1 = nn.Conv2d(channels, channels, 1)
        self.branch2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.branch3 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.merge = nn.Conv2d(3 * channels, 2 * channels, 3, 1, 1)
        self.abstract = nn.Conv2d(channels, half, 3, 1, 1)
        mixed = 3 * channels + half
        self.channel_attention = ChannelAttention(mixed, reduction)
        self.spatial_attention = SpatialAttention()
        self.project = nn.Conv2d(mixed, channels, 1)

    def forward(self, x):
        y1, y2, y3 = F.relu(self.branch1(x)), F.relu(self.branch2(x)), F.relu(self.branch3(x))
        y4 = F.relu(self.merge(torch.cat([y1, y2, y3], dim=1)))
        y5 = F.relu(self.abstract(y3))
        mixed = torch.cat([y2, y4, y5], dim=1)
        y6 = self.channel_attention(mixed) + self.spatial_attention(mixed)
        return self.project(y6) + x


class ParsingBlock(nn.Module):
    """Parsing Block (section 3.1, Figure 2): LR face -> parsing map (eq. 2-8).

    Args:
        in_channels (int): Image channels. Default: 3.
        out_channels (int): Parsing-map channels (3 in eq. 8). Default: 3.
        channels (int): Width (64 in eq. 2). Default: 64.
        num_res_blocks (int): Residual blocks of F_Res (eq. 3; the paper gives no number: 3, the prior
            estimation network of FSRNet it builds on). Default: 3.
        hourglass_depth (int): Depth of the HourGlass (4, eq. 3). Default: 4.
    """

    def __init__(self, in_channels=3, out_channels=3, channels=64, num_res_blocks=3, hourglass_depth=4):
        super().__init__()
        self.shallow = nn.Conv2d(in_channels, channels, 3, 1, 1)
        self.residual = nn.Sequential(*[ResidualBlock(channels) for _ in range(num_res_blocks)])
        self.hourglass = HourGlass(channels, hourglass_depth)
        self.attention = MultiScaleAttentionUnit(channels)
        self.head = nn.Conv2d(channels, out_channels, 3, 1, 1)

    def forward(self, x):
        deep = self.hourglass(self.residual(self.shallow(x)))
        return self.head(self.attention(deep))


class ConvParsingBlock(nn.Module):
    """The "standard ConvBlock" that replaces the Parsing Block in the ablation (4.4, Table 3 Exp. A/C/D/F):
    conv3x3 - ReLU - conv3x3 - ReLU - conv3x3 at the Parsing Block's width.

    Args:
        in_channels (int): Image channels. Default: 3.
        out_channels (int): Parsing-map channels. Default: 3.
        channels (int): Width. Default: 64.
    """

    def __init__(self, in_channels=3, out_channels=3, channels=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(inplace=True), nn.Conv2d(channels, out_channels, 3, 1, 1))

    def forward(self, x):
        return self.body(x)


class PixelAttention(nn.Module):
    """Pixel attention weights sigma = sigmoid(conv1x1(x)), one weight per channel and pixel (PA of eq. 10,
    the pixel attention of Zhao et al., PAN, ECCV-W 2020).

    Args:
        channels (int): Feature channels.
    """

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


class LPF(nn.Module):
    """LR-Parsing map Fusion module (section 3.2, Figure 3, eq. 9-11).

    Both inputs are C-channel feature maps of the same size: the reconstruction features F_LR and the
    parsing features F_parsing (the W-Net embeds the nearest-upsampled parsing map with a conv3x3 first,
    since eq. 10-11 add F_parsing to F_LR).

    Args:
        channels (int): Feature channels C.
        reduction (int): Channel-attention reduction. Default: 16.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.conv_lr1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv_lr2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv_parsing = nn.Conv2d(channels, channels, 3, 1, 1)
        self.channel_attention = ChannelAttention(channels, reduction)
        self.spatial_attention = SpatialAttention()
        self.conv_att = nn.Conv2d(channels, channels, 3, 1, 1)
        self.pixel_attention = PixelAttention(channels)
        self.conv_fuse1 = nn.Conv2d(2 * channels, channels, 3, 1, 1)
        self.conv_fuse2 = nn.Conv2d(channels, channels, 1)

    def forward(self, feat_lr, feat_parsing):
        lr1, lr2 = self.conv_lr1(feat_lr), self.conv_lr2(feat_lr)  # eq. 9
        parsing = self.conv_parsing(feat_parsing)
        att = self.conv_att(self.channel_attention(lr1) + self.spatial_attention(lr1))  # eq. 10
        sigma = self.pixel_attention(lr2 + parsing)
        pixel = sigma * lr2 + (1 - sigma) * parsing
        fuse1 = self.conv_fuse1(torch.cat([att, parsing], dim=1))
        fuse2 = self.conv_fuse2(pixel + feat_lr + feat_parsing)
        return fuse1 + fuse2 + lr2 + parsing  # eq. 11


class CascadeFusion(nn.Module):
    """The "basic cascade" that replaces LPF in the ablation (4.4, Table 3 Exp. A/B/D/E):
    conv3x3 over the concatenated features.

    Args:
        channels (int): Feature channels C.
    """

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, channels, 3, 1, 1)

    def forward(self, feat_lr, feat_parsing):
        return self.conv(torch.cat([feat_lr, feat_parsing], dim=1))


class ConvSelfAttention(nn.Module):
    """Convolutional multi-head self-attention of SCAB (eq. 20-21).

    Q, K, V = conv1x1(dwconv3x3(F)) each (eq. 20), split into ``num_heads`` heads over the channels. The
    attention is taken between the channels of a head ("encoding channel-level context", C x C per head as
    in Restormer's transposed attention), so that its cost is linear in the number of pixels at 128x128;
    every weight is a dot product over all positions, i.e. global. d of eq. 21 is the dot product's length,
    h * w.

    Args:
        channels (int): Feature channels (divisible by ``num_heads``).
        num_heads (int): Heads (4 in section 3.3). Default: 4.
    """

    def __init__(self, channels, num_heads=4):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'SCAB: {channels} channels do not split into {num_heads} heads')
        self.num_heads = num_heads

        def projection():
            return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, groups=channels), nn.Conv2d(channels, channels, 1))

        self.query, self.key, self.value = projection(), projection(), projection()
        self.project_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = (proj(x).reshape(b, self.num_heads, c // self.num_heads, h * w)
                   for proj in (self.query, self.key, self.value))
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(h * w), dim=-1)
        return self.project_out((attn @ v).reshape(b, c, h, w))


class SCAB(nn.Module):
    """Self-attention channel attention block (section 3.3): RCAB followed by the convolutional multi-head
    self-attention with its own residual connection, y = RCAB(x), out = y + MHSA(y).

    Args:
        channels (int): Feature channels.
        num_heads (int): Attention heads. Default: 4.
        reduction (int): RCAB channel-attention reduction. Default: 16.
    """

    def __init__(self, channels, num_heads=4, reduction=16):
        super().__init__()
        self.rcab = RCAB(channels, reduction)
        self.attention = ConvSelfAttention(channels, num_heads)

    def forward(self, x):
        x = self.rcab(x)
        return x + self.attention(x)


class Upsample(nn.Sequential):
    """x2 up-sampling module (eq. 14): conv3x3 (in -> 4C), PixelShuffle(2), BatchNorm.

    The conv is eq. 14's f_3x3,64; its width is chosen so that the shuffle leaves C = 64 channels.

    Args:
        in_channels (int): Input channels.
        channels (int): Output channels C.
    """

    def __init__(self, in_channels, channels):
        super().__init__(nn.Conv2d(in_channels, 4 * channels, 3, 1, 1), nn.PixelShuffle(2), nn.BatchNorm2d(channels))


class Downsample(nn.Sequential):
    """/2 down-sampling module (eq. 18): conv3x3 (C -> C/4), inverse PixelShuffle(2), BatchNorm.

    The conv is eq. 18's f_3x3,64 narrowed so that the inverse shuffle leaves C channels (C divisible by 4).

    Args:
        channels (int): Channels C.
    """

    def __init__(self, channels):
        super().__init__(nn.Conv2d(channels, channels // 4, 3, 1, 1), nn.PixelUnshuffle(2), nn.BatchNorm2d(channels))


@ARCH_REGISTRY.register()
class WNet(nn.Module):
    """W-Net (Liu, Yang and Liu, "W-Net: A Facial Feature-Guided Face Super-Resolution Network").

    Input: the LR face bicubic-upsampled to the output size (128x128 in the paper, for x4 and x8; see the
    module docstring), any size divisible by ``2 ** num_levels``. Stages:

    1. Parsing map P from the input (Parsing Block, 3.1).
    2. W part (3.3): [input, P] (eq. 12) -> Upsample x3 with fusions at 2x, 4x, 8x against P nearest-
       upsampled (eq. 13-17; 1024x1024 at 128 px) -> Downsample x3 with fusions at 4x, 2x, 1x (eq. 18-19).
       Each fusion embeds the parsing map with its own conv3x3 (P has 3 channels, the features C).
    3. Encoder-decoder (eq. 22-23): ``num_levels`` x (Downsample, 2 SCAB, fusion with P at that size), then
       ``num_levels`` x (Upsample, 2 SCAB). As eq. 22-23 write it, the whole face passes through the 8x8x64
       bottleneck: no encoder-decoder skips (the default; Table 3's ablation gaps were measured on that
       network). ``unet_skips=True`` makes the decoder add the encoder features of the same size (additive
       U-net skips, as in CTCNet, the paper's [31], whose encoder-decoder this mirrors).
    4. conv3x3 to RGB (the paper does not say how the output is formed; eq. 23 ends at F_Decoder, so the
       image is predicted directly). ``global_residual=True`` adds the bicubic input (global residual
       learning, VDSR's [59]).

    Table 3 ablations: ``parsing_block`` (Parsing Block / plain ConvBlock), ``lpf`` (LPF / basic cascade),
    ``scab`` (SCAB / RCAB). Exp. A = all False, Exp. H (the paper's W-Net) = all True.

    Args:
        in_channels (int): Image channels. Default: 3.
        num_feat (int): Feature width C (64, eq. 2 and 14); divisible by 4 and ``num_heads``. Default: 64.
        parsing_channels (int): Channels of the predicted parsing map (3, eq. 8). Default: 3.
        parsing_block (bool): Parsing Block; False uses the ConvBlock. Default: True.
        lpf (bool): LPF fusions; False uses the basic cascade. Default: True.
        scab (bool): SCAB in the encoder-decoder; False uses RCAB. Default: True.
        num_res_blocks (int): Residual blocks of the Parsing Block. Default: 3.
        hourglass_depth (int): Depth of its HourGlass. Default: 4.
        upscale_stages (int): x2 steps of the W part (3: 2x, 4x, 8x, eq. 13-17). Default: 3.
        num_levels (int): Encoder down-samplings (4: 128 -> 8, eq. 22). Default: 4.
        num_heads (int): SCAB attention heads (4). Default: 4.
        unet_skips (bool): Additive encoder-decoder skips (not in eq. 22-23). Default: False.
        global_residual (bool): Add the bicubic input to the output (not in the paper). Default: False.
    """

    def __init__(self, in_channels=3, num_feat=64, parsing_channels=3, parsing_block=True, lpf=True, scab=True,
                 num_res_blocks=3, hourglass_depth=4, upscale_stages=3, num_levels=4, num_heads=4, unet_skips=False,
                 global_residual=False):
        super().__init__()
        self.unet_skips, self.global_residual = unet_skips, global_residual
        if num_feat % 4:
            raise ValueError(f'WNet: num_feat must be divisible by 4 (inverse pixel shuffle), got {num_feat}')
        self.num_levels = num_levels
        self.min_size_divisor = 2**max(num_levels, hourglass_depth if parsing_block else 0)
        if parsing_block:
            self.parsing = ParsingBlock(in_channels, parsing_channels, num_feat, num_res_blocks, hourglass_depth)
        else:
            self.parsing = ConvParsingBlock(in_channels, parsing_channels, num_feat)

        def fusion():
            return LPF(num_feat) if lpf else CascadeFusion(num_feat)

        def embed():
            return nn.Conv2d(parsing_channels, num_feat, 3, 1, 1)

        def blocks():
            return nn.Sequential(*[SCAB(num_feat, num_heads) if scab else RCAB(num_feat) for _ in range(2)])

        # W part: upscale_stages up then the same number down; 2 ** stage is the scale of each fusion
        self.w_scales = [2**i for i in range(1, upscale_stages + 1)] + [2**i for i in range(upscale_stages - 1, -1, -1)]
        self.w_samplers = nn.ModuleList(
            [Upsample(in_channels + parsing_channels if i == 0 else num_feat, num_feat) for i in range(upscale_stages)]
            + [Downsample(num_feat) for _ in range(upscale_stages)])
        self.w_embeds = nn.ModuleList(embed() for _ in self.w_scales)
        self.w_fusions = nn.ModuleList(fusion() for _ in self.w_scales)
        # encoder-decoder
        self.enc_down = nn.ModuleList(Downsample(num_feat) for _ in range(num_levels))
        self.enc_blocks = nn.ModuleList(blocks() for _ in range(num_levels))
        self.enc_embeds = nn.ModuleList(embed() for _ in range(num_levels))
        self.enc_fusions = nn.ModuleList(fusion() for _ in range(num_levels))
        self.dec_up = nn.ModuleList(Upsample(num_feat, num_feat) for _ in range(num_levels))
        self.dec_blocks = nn.ModuleList(blocks() for _ in range(num_levels))
        self.to_rgb = nn.Conv2d(num_feat, in_channels, 3, 1, 1)

    def forward(self, x, return_parsing=False):
        """Super-resolve bicubic-upsampled LR faces.

        Args:
            x (Tensor): (b, 3, h, w) bicubic-upsampled LR faces, h and w divisible by ``min_size_divisor``.
            return_parsing (bool): Also return the predicted parsing map. Default: False.

        Returns:
            Tensor | tuple[Tensor, Tensor]: SR faces (b, 3, h, w), and the parsing map (b, 3, h, w) when asked.
        """
        h, w = x.shape[-2:]
        if h % self.min_size_divisor or w % self.min_size_divisor:
            raise ValueError(f'WNet input {h}x{w} must be divisible by {self.min_size_divisor}')
        parsing = self.parsing(x)

        def parsing_at(scale):  # eq. 13 (nearest up-sampling) and eq. 22 (nearest down-sampling)
            return F.interpolate(parsing, size=(int(h * scale), int(w * scale)), mode='nearest')

        feat = torch.cat([x, parsing], dim=1)  # eq. 12
        for sampler, embed, fuse, scale in zip(self.w_samplers, self.w_embeds, self.w_fusions, self.w_scales):
            feat = sampler(feat)  # eq. 14, 16-19
            feat = fuse(feat, embed(parsing_at(scale)))

        skips = []
        for level, (down, blocks, embed, fuse) in enumerate(
                zip(self.enc_down, self.enc_blocks, self.enc_embeds, self.enc_fusions), start=1):
            skips.append(feat)
            feat = blocks(down(feat))  # eq. 22
            feat = fuse(feat, embed(parsing_at(0.5**level)))
        for up, blocks in zip(self.dec_up, self.dec_blocks):
            feat = blocks(up(feat))  # eq. 23
            skip = skips.pop()
            if self.unet_skips:
                feat = feat + skip

        sr = self.to_rgb(feat)
        if self.global_residual:
            sr = sr + x
        return (sr, parsing) if return_parsing else sr
