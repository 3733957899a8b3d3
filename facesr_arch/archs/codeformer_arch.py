"""CodeFormer as an inference baseline.

Zhou et al., "Towards Robust Blind Face Restoration with Codebook Lookup Transformer", NeurIPS 2022
(arXiv:2206.11253). A VQGAN encoder maps the degraded face to a grid of features; a Transformer over the grid
tokens predicts, for each token, a code of the learned HQ codebook (section 3.2, code prediction as
classification); the VQGAN decoder renders the looked-up codes. Controllable feature transformation (CFT,
section 3.3) fuses encoder features into the decoder at chosen resolutions:
``F_d + w * (alpha * F_d + beta)`` with (alpha, beta) predicted from the concatenated encoder and decoder
features, where the fidelity weight w trades quality (w = 0) for fidelity to the input (w = 1).

The layout (block order, names) is that of the public release (``codeformer.pth``), so
``scripts/convert_weights.py codeformer`` loads it as is.
"""
import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from .modules import adaptive_instance_norm


def group_norm(channels):
    """GroupNorm(32 groups, eps 1e-6) of the VQGAN blocks."""
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class VQResBlock(nn.Module):
    """Pre-activation residual block: (GroupNorm, swish, conv3x3) twice; a 1x1 ``conv_out`` skip when the width
    changes."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.conv_out = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x):
        out = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return out + (x if self.conv_out is None else self.conv_out(x))


class VQAttnBlock(nn.Module):
    """Single-head self-attention over the pixels of a feature map (1x1 q, k, v, proj_out), residual."""

    def __init__(self, channels):
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        feat = self.norm(x)
        q, k, v = (conv(feat).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))  # (b, hw, c)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(c)) v
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Zero-pad right and bottom by one, then a stride-2 3x3 convolution."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest 2x upsampling, then a 3x3 convolution."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class TokenTransformerLayer(nn.Module):
    """Pre-norm Transformer encoder layer; the position embedding is added to queries and keys only.

    Tokens are (sequence, batch, channels) as ``nn.MultiheadAttention`` takes them by default; the position
    embedding is (sequence, channels).
    """

    def __init__(self, dim, num_heads, dim_mlp):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, dim_mlp)
        self.linear2 = nn.Linear(dim_mlp, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, tokens, position):
        feat = self.norm1(tokens)
        query = feat + position.unsqueeze(1)
        tokens = tokens + self.self_attn(query, query, value=feat, need_weights=False)[0]
        return tokens + self.linear2(F.gelu(self.linear1(self.norm2(tokens))))


class VectorQuantizer(nn.Module):
    """The codebook (``embedding``: codebook_size x emb_dim); inference only looks codes up."""

    def __init__(self, codebook_size, emb_dim):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, emb_dim)

    def lookup(self, indices, shape):
        """Codes of ``indices`` (b, h * w) as a feature map (b, emb_dim, h, w) of ``shape`` = (b, h, w)."""
        return self.embedding(indices).view(*shape, -1).permute(0, 3, 1, 2)


class ControllableFeatureTransform(nn.Module):
    """CFT (section 3.3): ``dec + w * (dec * scale + shift)``, (scale, shift) from ``VQResBlock(cat[enc, dec])``
    through conv3x3 - LeakyReLU(0.2) - conv3x3 branches."""

    def __init__(self, channels):
        super().__init__()
        self.encode_enc = VQResBlock(2 * channels, channels)
        self.scale = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(channels, channels, 3, 1, 1))
        self.shift = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, enc_feat, dec_feat, w):
        feat = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * (dec_feat * self.scale(feat) + self.shift(feat))


class VQCodec(nn.Module):
    """Block list of the VQGAN encoder or decoder (``blocks``), recording where CFT reads / writes features."""

    def __init__(self, blocks, fuse_index):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.fuse_index = fuse_index  # {resolution: index of the block after which the feature is taken/fused}


def vq_encoder(img_size, nf, ch_mult, emb_dim):
    """VQGAN encoder: conv3x3, per level two ResBlocks (+ attention at the last level) and a downsampling, then
    ResBlock - attention - ResBlock, GroupNorm, conv3x3 to ``emb_dim``. CFT reads each level's feature after its
    last ResBlock (before the attention of the last level)."""
    blocks, fuse_index, res = [nn.Conv2d(3, nf, 3, 1, 1)], {}, img_size
    in_ch = nf
    for level, mult in enumerate(ch_mult):
        last = level == len(ch_mult) - 1
        for _ in range(2):
            blocks.append(VQResBlock(in_ch, nf * mult))
            in_ch = nf * mult
            fuse_index[res] = len(blocks) - 1
            if last:
                blocks.append(VQAttnBlock(in_ch))
        if not last:
            blocks.append(Downsample(in_ch))
            res //= 2
    blocks += [VQResBlock(in_ch, in_ch), VQAttnBlock(in_ch), VQResBlock(in_ch, in_ch), group_norm(in_ch),
               nn.Conv2d(in_ch, emb_dim, 3, 1, 1)]
    return VQCodec(blocks, fuse_index)


def vq_generator(img_size, nf, ch_mult, emb_dim):
    """VQGAN decoder: conv3x3 from ``emb_dim``, ResBlock - attention - ResBlock, per level (deepest first) two
    ResBlocks (+ attention at the deepest) and an upsampling, GroupNorm, conv3x3 to RGB. CFT fuses after the
    first ResBlock of each level, and after the second (before its attention) at the deepest level, the block
    indices of the release (``fuse_generator_block``: 16 px -> 6, 32 px -> 9, ..., 512 px -> 21)."""
    in_ch = nf * ch_mult[-1]
    res = img_size // 2**(len(ch_mult) - 1)
    blocks = [nn.Conv2d(emb_dim, in_ch, 3, 1, 1), VQResBlock(in_ch, in_ch), VQAttnBlock(in_ch),
              VQResBlock(in_ch, in_ch)]
    fuse_index = {}
    for level in reversed(range(len(ch_mult))):
        deepest = level == len(ch_mult) - 1
        for i in range(2):
            blocks.append(VQResBlock(in_ch, nf * ch_mult[level]))
            in_ch = nf * ch_mult[level]
            if i == (1 if deepest else 0):
                fuse_index[res] = len(blocks) - 1
            if deepest:
                blocks.append(VQAttnBlock(in_ch))
        if level:
            blocks.append(Upsample(in_ch))
            res *= 2
    blocks += [group_norm(in_ch), nn.Conv2d(in_ch, 3, 3, 1, 1)]
    return VQCodec(blocks, fuse_index)


def _layout(feat):
    """The memory format of a 4-D tensor: channels_last when it is laid out so (the optimised inference path),
    else contiguous."""
    if feat.is_contiguous(memory_format=torch.channels_last) and not feat.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


@ARCH_REGISTRY.register()
class FaceCodeFormer(nn.Module):
    """CodeFormer: VQGAN encoder, codebook lookup Transformer, VQGAN decoder with CFT fusion.

    Defaults are the public release (``codeformer.pth``, built by CodeFormer's ``inference_codeformer.py``):
    512 px, 64 base channels with multipliers (1, 2, 2, 4, 4, 8), a 1024 x 256 codebook over the 16 x 16 grid,
    9 Transformer layers of width 512 with 8 heads (MLP width 1024), CFT at 32, 64, 128 and 256 px. As that
    script does, the looked-up codes are first given the per-channel mean and standard deviation of the encoder
    output (AdaIN with unbiased variances, ``adain``).

    Args:
        img_size (int): Input and output side. Default: 512.
        nf (int): Base channels (a multiple of 32: GroupNorm has 32 groups). Default: 64.
        ch_mult (tuple[int]): Channel multiplier per level, full resolution first; the grid is
            ``img_size / 2^(len(ch_mult) - 1)``. Default: (1, 2, 2, 4, 4, 8).
        emb_dim (int): Codebook vector size. Default: 256.
        codebook_size (int): Number of codes. Default: 1024.
        dim_embd (int): Transformer width. Default: 512.
        n_head (int): Attention heads. Default: 8.
        n_layers (int): Transformer layers. Default: 9.
        connect_list (tuple[int]): Resolutions with CFT. Default: (32, 64, 128, 256).
        adain (bool): AdaIN of the codes to the encoder statistics. Default: True.
    """

    def __init__(self, img_size=512, nf=64, ch_mult=(1, 2, 2, 4, 4, 8), emb_dim=256, codebook_size=1024,
                 dim_embd=512, n_head=8, n_layers=9, connect_list=(32, 64, 128, 256), adain=True):
        super().__init__()
        self.out_size, self.adain = img_size, adain
        self.grid = img_size // 2**(len(ch_mult) - 1)
        if self.grid * 2**(len(ch_mult) - 1) != img_size:
            raise ValueError(f'img_size {img_size} is not divisible by 2^{len(ch_mult) - 1}')
        self.encoder = vq_encoder(img_size, nf, ch_mult, emb_dim)
        self.quantize = VectorQuantizer(codebook_size, emb_dim)
        self.generator = vq_generator(img_size, nf, ch_mult, emb_dim)
        unknown = sorted(set(int(r) for r in connect_list) - set(self.generator.fuse_index))
        if unknown:
            raise ValueError(f'connect_list has {unknown}; resolutions are {sorted(self.generator.fuse_index)}')
        self.connect_list = [int(r) for r in connect_list]
        self.position_emb = nn.Parameter(torch.zeros(self.grid**2, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(*[TokenTransformerLayer(dim_embd, n_head, 2 * dim_embd)
                                         for _ in range(n_layers)])
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))
        channels = {res: self.generator.blocks[i].conv2.out_channels for res, i in self.generator.fuse_index.items()}
        self.fuse_convs_dict = nn.ModuleDict({str(res): ControllableFeatureTransform(channels[res])
                                              for res in self.connect_list})
        self._encoder_taps = {self.encoder.fuse_index[res]: res for res in self.connect_list}
        self._generator_taps = {self.generator.fuse_index[res]: res for res in self.connect_list}

    def forward(self, x, w=0.5, return_logits=False):
        """Restore faces.

        Args:
            x (Tensor): Degraded faces (b, 3, img_size, img_size) in [-1, 1].
            w (float | Tensor): Fidelity weight, a number or one per image (b, 1). 0 skips CFT. Default: 0.5.
            return_logits (bool): Also return the code logits (b, grid^2, codebook_size). Default: False.

        Returns:
            Tensor | tuple[Tensor, Tensor]: Restored faces (about [-1, 1]).
        """
        encoder_feats = {}
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in self._encoder_taps:
                encoder_feats[self._encoder_taps[i]] = x
        lq_feat = x
        b, _, h, w_grid = lq_feat.shape
        if h * w_grid != self.position_emb.shape[0]:
            raise ValueError(f'FaceCodeFormer takes {self.out_size} px faces, got {tuple(x.shape)} features')
        tokens = self.feat_emb(lq_feat.flatten(2).permute(2, 0, 1))  # (hw, b, dim_embd)
        for layer in self.ft_layers:
            tokens = layer(tokens, self.position_emb)
        logits = self.idx_pred_layer(tokens).permute(1, 0, 2)  # (b, hw, codebook_size)
        # the looked-up codes are a permuted (channels-last-strided) view: laid out as the encoder's features
        # before the decoder, whose convolutions otherwise run channels_last (float32 error several times larger
        # at 512 px than the contiguous layout CodeFormer's own code gives them)
        x = self.quantize.lookup(logits.argmax(dim=2), (b, h, w_grid)).contiguous(memory_format=_layout(lq_feat))
        if self.adain:
            x = adaptive_instance_norm(x, lq_feat, unbiased=True)
        if torch.is_tensor(w):
            w = w.view(-1, 1, 1, 1).to(x.dtype)
        fuse = torch.is_tensor(w) or w > 0
        for i, block in enumerate(self.generator.blocks):
            x = block(x)
            if fuse and i in self._generator_taps:
                res = self._generator_taps[i]
                x = self.fuse_convs_dict[str(res)](encoder_feats[res], x, w)
        return (x, logits) if return_logits else x
