"""Small building blocks shared by several methods: SFT / CS-SFT, AdaIN, channel and spatial attention.

- Spatial feature transform (SFT, Wang et al., "Recovering Realistic Texture in Image Super-resolution by
  Deep Spatial Feature Transform", CVPR 2018): ``alpha * x + beta`` with per-pixel (alpha, beta) predicted
  from a condition (CFGPFSSR eq. 5, MPCNet's APFF blocks, W-Net).
- Channel-split SFT (CS-SFT, Wang et al., GFPGAN, CVPR 2021; CFGPFSSR eq. 6): the leading channels pass
  through unchanged (realness), the trailing channels are modulated (fidelity).
- AdaIN (Huang and Belongie, ICCV 2017; MPCNet eq. 4).
- Channel attention and the residual channel attention block RCAB (Zhang et al., RCAN, ECCV 2018;
  MPCNet Figure 4, W-Net's SCAB).
- Spatial attention (Woo et al., CBAM, ECCV 2018).
"""
import torch
from torch import nn
from torch.nn import functional as F


def spatial_feature_transform(feat, scale, shift):
    """SFT: ``scale * feat + shift`` (CFGPFSSR eq. 5).

    Args:
        feat (Tensor): Features (b, c, h, w).
        scale (Tensor): Per-pixel scale alpha, broadcastable to ``feat``.
        shift (Tensor): Per-pixel shift beta, broadcastable to ``feat``.

    Returns:
        Tensor: Modulated features, same shape as ``feat``.
    """
    return feat * scale + shift


def channel_split_feature_transform(feat, scale, shift):
    """CS-SFT (CFGPFSSR eq. 6, GFPGAN): modulate the trailing ``scale.shape[1]`` channels, pass the rest.

    ``Concat[Identity(feat[:, :c - m]), scale * feat[:, c - m:] + shift]`` with m = ``scale.shape[1]``.
    The papers modulate half the channels, i.e. m = c // 2 (the layout of GFPGAN, so for odd c the
    pass-through part is the larger one).

    Args:
        feat (Tensor): Features (b, c, h, w).
        scale (Tensor): Scale for the modulated part (b, m, h, w), 0 < m <= c.
        shift (Tensor): Shift for the modulated part (b, m, h, w).

    Returns:
        Tensor: Features (b, c, h, w).
    """
    num_modulated = scale.shape[1]
    if not 0 < num_modulated <= feat.shape[1]:
        raise ValueError(f'CS-SFT scale has {num_modulated} channels; the feature has {feat.shape[1]}')
    identity, modulated = feat.split([feat.shape[1] - num_modulated, num_modulated], dim=1)
    return torch.cat([identity, modulated * scale + shift], dim=1)


class SFTLayer(nn.Module):
    """Predicts (scale, shift) from a spatial condition and applies SFT or CS-SFT.

    Each of scale and shift comes from its own branch conv3x3 - LeakyReLU(0.2) - conv3x3 on the
    condition, as in SFTGAN / GFPGAN. The condition is resized (bilinear) to the feature size when they
    differ.

    Args:
        cond_channels (int): Channels of the condition (e.g. encoder features + parsing maps).
        feat_channels (int): Channels of the modulated feature map.
        hidden_channels (int | None): Width of the branches. None uses ``cond_channels``. Default: None.
        channel_split (bool): CS-SFT (modulate ``feat_channels // 2`` trailing channels, eq. 6) instead of
            SFT over all channels (eq. 5). Default: False.
        residual_scale (bool): Use ``1 + predicted`` as the scale so that a zero prediction is the identity
            (SFTGAN's form); False uses the prediction as alpha directly (CFGPFSSR eq. 5). Default: False.
    """

    def __init__(self, cond_channels, feat_channels, hidden_channels=None, channel_split=False, residual_scale=False):
        super().__init__()
        hidden_channels = hidden_channels or cond_channels
        self.channel_split = channel_split
        self.residual_scale = residual_scale
        self.num_modulated = feat_channels // 2 if channel_split else feat_channels
        if self.num_modulated == 0:
            raise ValueError(f'CS-SFT needs at least 2 feature channels, got {feat_channels}')

        def branch():
            return nn.Sequential(
                nn.Conv2d(cond_channels, hidden_channels, 3, 1, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(hidden_channels, self.num_modulated, 3, 1, 1))

        self.scale_branch = branch()
        self.shift_branch = branch()

    def predict(self, cond, size=None):
        """(scale, shift) from ``cond``, resized to ``size`` (h, w) first when given and different.

        Returns:
            tuple[Tensor, Tensor]: Scale and shift, each (b, num_modulated, h, w).
        """
        if size is not None and tuple(cond.shape[-2:]) != tuple(size):
            cond = F.interpolate(cond, size=size, mode='bilinear', align_corners=False)
        scale = self.scale_branch(cond)
        if self.residual_scale:
            scale = scale + 1
        return scale, self.shift_branch(cond)

    def forward(self, feat, cond):
        scale, shift = self.predict(cond, feat.shape[-2:])
        if self.channel_split:
            return channel_split_feature_transform(feat, scale, shift)
        return spatial_feature_transform(feat, scale, shift)


def adaptive_instance_norm(content, style, eps=1e-5, unbiased=False):
    """AdaIN (MPCNet eq. 4): ``std(style) * (content - mean(content)) / std(content) + mean(style)``.

    Statistics are per sample and channel over the spatial axes (biased variance, as instance norm, unless
    ``unbiased``).

    Args:
        content (Tensor): (b, c, h, w) features to restyle.
        style (Tensor): (b, c, h', w') features giving the target statistics.
        eps (float): Added to the variances. Default: 1e-5.
        unbiased (bool): Unbiased (n - 1) variances, as CodeFormer's inference computes them. Default: False.

    Returns:
        Tensor: (b, c, h, w).
    """
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(f'AdaIN needs equal batch and channels, got {tuple(content.shape)} and {tuple(style.shape)}')
    c_mean, c_var = content.mean((2, 3), keepdim=True), content.var((2, 3), keepdim=True, unbiased=unbiased)
    s_mean, s_var = style.mean((2, 3), keepdim=True), style.var((2, 3), keepdim=True, unbiased=unbiased)
    return (content - c_mean) * torch.sqrt((s_var + eps) / (c_var + eps)) + s_mean


class AdaIN(nn.Module):
    """Module form of :func:`adaptive_instance_norm` (no parameters).

    Args:
        eps (float): Added to the variances. Default: 1e-5.
    """

    def __init__(self, eps=1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, content, style):
        return adaptive_instance_norm(content, style, self.eps)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention of RCAN: x * sigmoid(W2 relu(W1 avgpool(x))).

    Args:
        channels (int): Feature channels.
        reduction (int): Channel reduction of the bottleneck (16 in RCAN). Default: 16.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class RCAB(nn.Module):
    """Residual channel attention block (RCAN): x + res_scale * CA(conv(relu(conv(x)))).

    Args:
        channels (int): Feature channels.
        reduction (int): Channel-attention reduction. Default: 16.
        res_scale (float): Residual scale. Default: 1.
    """

    def __init__(self, channels, reduction=16, res_scale=1.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 3, 1, 1),
            ChannelAttention(channels, reduction))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class SpatialAttention(nn.Module):
    """CBAM spatial attention: x * sigmoid(conv([mean_c(x), max_c(x)])).

    Args:
        kernel_size (int): Odd kernel size of the attention conv (7 in CBAM). Default: 7.
    """

    def __init__(self, kernel_size=7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'SpatialAttention kernel_size must be odd, got {kernel_size}')
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def attention_map(self, x):
        """The (b, 1, h, w) attention map in (0, 1)."""
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x):
        return x * self.attention_map(x)
