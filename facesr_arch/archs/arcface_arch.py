"""ArcFace identity networks: GFPGAN's ResNet-18 (gray 128 px) and facexlib's IR-SE50 (RGB 112 px).

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.

- ``resnet18``: the IR-block ResNet-18 that GFPGAN's identity loss uses (``arcface_resnet18.pth``). Network
  input: one gray channel, 128x128, values in [-1, 1], gray = 0.2989 R + 0.5870 G + 0.1140 B. Output: the
  512-d ``bn5`` feature (not normalised; GFPGAN compares it with an L1 loss).
- ``ir_se50``: facexlib's ``Backbone(50, mode='ir_se')`` (``recognition_arcface_ir_se50.pth``), built from
  facexlib's class itself. Network input: RGB, 112x112, values in [-1, 1]. Output: an L2-normalised 512-d
  embedding.

:class:`FaceArcFace` takes RGB images in [-1, 1] of any size and does the conversion (gray, bilinear resize)
itself, so identity losses and metrics call every variant the same way. The parameter names of both
variants are those of the public files, which therefore load without conversion.
"""
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from ..toolkit.checkpoints import read_state_dict

WEIGHT_SOURCES = {
    'resnet18': 'GFPGAN identity-loss ArcFace arcface_resnet18.pth (https://github.com/TencentARC/GFPGAN/releases/'
                'download/v0.1.0/arcface_resnet18.pth); loads as is, or run `python scripts/convert_weights.py '
                'arcface_resnet18 SRC DST`; see weights/README.md',
    'ir_se50': 'facexlib recognition_arcface_ir_se50.pth (https://github.com/xinntao/facexlib/releases/download/'
               'v0.1.0/recognition_arcface_ir_se50.pth); loads as is; see weights/README.md',
}
INPUT_SIZES = {'resnet18': 128, 'ir_se50': 112}


class IRBlock(nn.Module):
    """Improved-residual block: BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN (+ SE), residual, PReLU.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the second conv. Default: 1.
        use_se (bool): Squeeze-and-excitation on the residual branch. Default: False.
    """

    def __init__(self, in_channels, out_channels, stride=1, use_se=False):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SEBlock(out_channels) if use_se else None
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(self.bn0(x))))))
        if self.se is not None:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + residual)


class SEBlock(nn.Module):
    """Squeeze-and-excitation with PReLU (the SE block of the ArcFace ResNets)."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction), nn.PReLU(), nn.Linear(channels // reduction, channels),
            nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(self.avg_pool(x).flatten(1))[:, :, None, None]


class ArcFaceResNet(nn.Module):
    """ResNet with IR blocks on 128x128 gray faces (GFPGAN's identity network; layers (2, 2, 2, 2) = ResNet-18).

    Args:
        layers (tuple[int]): Blocks per stage. Default: (2, 2, 2, 2).
        use_se (bool): SE blocks (False in GFPGAN's file). Default: False.
    """

    def __init__(self, layers=(2, 2, 2, 2), use_se=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        in_channels = 64
        for stage, (channels, num_blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            blocks = [IRBlock(in_channels, channels, 1 if stage == 1 else 2, use_se)]
            blocks += [IRBlock(channels, channels, 1, use_se) for _ in range(num_blocks - 1)]
            setattr(self, f'layer{stage}', nn.Sequential(*blocks))
            in_channels = channels
        self.bn4 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(512 * 8 * 8, 512)
        self.bn5 = nn.BatchNorm1d(512)

    def forward(self, x):
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(x.flatten(1)))


def rgb_to_gray(img):
    """ITU-R 601 luma of an RGB tensor (b, 3, h, w) -> (b, 1, h, w), as GFPGAN's identity loss computes it."""
    return 0.2989 * img[:, 0:1] + 0.5870 * img[:, 1:2] + 0.1140 * img[:, 2:3]


@ARCH_REGISTRY.register()
class FaceArcFace(nn.Module):
    """Frozen ArcFace identity network taking aligned RGB faces in [-1, 1] (Deng et al., CVPR 2019).

    Args:
        arch (str): 'resnet18' (GFPGAN identity loss; 128 px gray) or 'ir_se50' (facexlib; 112 px RGB).
            Default: 'resnet18'.
        weights_path (str | None): Checkpoint in the public layout. None keeps random weights (tests, or
            weights loaded afterwards). Default: None.
        requires_grad (bool): Train the network (identity losses keep it frozen). Default: False.

    Input: (b, 3, h, w) RGB in [-1, 1], any size (aligned faces); converted to the network's input
    (:meth:`preprocess`). Output: (b, 512) embedding (L2-normalised for 'ir_se50' only, as published).
    """

    def __init__(self, arch='resnet18', weights_path=None, requires_grad=False):
        super().__init__()
        if arch not in INPUT_SIZES:
            raise ValueError(f'FaceArcFace arch must be one of {sorted(INPUT_SIZES)}, got {arch!r}')
        self.arch = arch
        self.input_size = INPUT_SIZES[arch]
        if arch == 'resnet18':
            self.net = ArcFaceResNet((2, 2, 2, 2), use_se=False)
        else:
            from facexlib.recognition.arcface_arch import Backbone
            self.net = Backbone(num_layers=50, drop_ratio=0.6, mode='ir_se')
        if weights_path is not None:
            state = read_state_dict(weights_path, f'ArcFace {arch}', WEIGHT_SOURCES[arch])
            self.net.load_state_dict({k.removeprefix('module.'): v for k, v in state.items()}, strict=True)
        self.requires_grad_(requires_grad)
        self.eval()

    def train(self, mode=True):
        """Stay in eval mode unless trainable (BatchNorm statistics and dropout of a frozen network)."""
        return super().train(mode and any(p.requires_grad for p in self.parameters()))

    def preprocess(self, img):
        """RGB [-1, 1] (b, 3, h, w) -> the network input (gray 128 px or RGB 112 px, bilinear)."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f'FaceArcFace expects RGB images (b, 3, h, w), got {tuple(img.shape)}')
        if self.arch == 'resnet18':
            img = rgb_to_gray(img)
        if img.shape[-2:] != (self.input_size, self.input_size):
            img = F.interpolate(img, size=(self.input_size, self.input_size), mode='bilinear', align_corners=False)
        return img

    def forward(self, img):
        return self.net(self.preprocess(img))


def identity_similarity(embedding_a, embedding_b):
    """Cosine similarity per sample between two (b, 512) embeddings."""
    return F.cosine_similarity(embedding_a, embedding_b, dim=1)


__all__ = ['FaceArcFace', 'ArcFaceResNet', 'IRBlock', 'identity_similarity', 'rgb_to_gray']
