"""Face parsing networks producing 19-class logits in the label order of ``facesr_arch/utils/face_parsing.py``.

- :class:`FaceParseNet`: encoder - residual body - decoder parsing predictor (the PSFRGAN / facexlib
  ``ParseNet`` design, Chen et al., "Progressive Semantic-Aware Style Transformation for Blind Face
  Restoration", CVPR 2021), built from facexlib's own blocks so facexlib's ``parsing_parsenet.pth`` loads
  strictly. Its configurations:

  * MPCNet's parsing mask prediction network (Liu et al., MPCNet, section 3.2.3): 7 down-sampling residual
    blocks (512 -> 4 px, ``min_feat_size=4``), 10 residual blocks, 7 up-sampling residual blocks and a
    single output conv (the paper's "ToRGB" layer; it outputs the 19 parsing logits here, the paper's
    figure draws the colour-coded map).
  * CFGPFSSR's face parsing network (FPN): the paper pre-trains "a face parsing network" without giving its
    architecture; we use the same predictor at facexlib's configuration (4 down/up steps to 32 px), the
    public network GFPGAN-era pipelines use, so facexlib's file can serve as the FPN directly.
  * facexlib's ParseNet file: ``min_feat_size=32, with_image_head=True``.

- :class:`FaceBiSeNet`: facexlib's ``BiSeNet`` class (Yu et al., ECCV 2018) with a user-given weight file.

Input convention of both: RGB (b, 3, h, w) in [-1, 1]. Output: logits (b, 19, h, w).
facexlib's ``init_parsing_model`` downloads; it is never called here.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY

from ..utils.face_parsing import NUM_CLASSES
from ..toolkit.checkpoints import read_state_dict

WEIGHT_SOURCES = {
    'parsenet': "facexlib parsing_parsenet.pth (https://github.com/xinntao/facexlib/releases/download/v0.2.2/"
                "parsing_parsenet.pth; FaceParseNet(min_feat_size=32, with_image_head=True)), or train one with "
                "options/train/Parsing/*.yml; see weights/README.md",
    'bisenet': 'facexlib parsing_bisenet.pth (https://github.com/xinntao/facexlib/releases/download/v0.2.0/'
               'parsing_bisenet.pth); see weights/README.md',
}


@ARCH_REGISTRY.register()
class FaceParseNet(nn.Module):
    """Encoder - residual body - decoder face parsing predictor (MPCNet 3.2.3; CFGPFSSR's FPN).

    Args:
        in_size (int): Input size (power of two). Default: 512.
        min_feat_size (int): Bottleneck size; log2(in_size / min_feat_size) down- and up-sampling residual
            blocks. 4 gives MPCNet's 7 + 7 at 512 px; 32 is facexlib's ParseNet. Default: 4.
        base_channels (int): Channels of the first conv. Default: 64.
        channel_range (tuple[int]): Channel clip (min, max) of every block. Default: (32, 256).
        num_res_blocks (int): Residual blocks of the body (10 in MPCNet and ParseNet). Default: 10.
        num_classes (int): Parsing classes. Default: 19.
        with_image_head (bool): Also build ParseNet's auxiliary RGB head (only to load facexlib's file
            strictly; its output is not used). Default: False.
        weights_path (str | None): Checkpoint (our layout = facexlib's ParseNet layout). Default: None.
    """

    def __init__(self, in_size=512, min_feat_size=4, base_channels=64, channel_range=(32, 256), num_res_blocks=10,
                 num_classes=NUM_CLASSES, with_image_head=False, weights_path=None):
        super().__init__()
        from facexlib.parsing.parsenet import ConvLayer, ResidualBlock

        ratio = in_size // min_feat_size
        if in_size % min_feat_size or ratio < 1 or ratio & (ratio - 1):
            raise ValueError(f'in_size / min_feat_size must be a power of two, got {in_size} / {min_feat_size}')
        self.in_size = in_size
        num_steps = int(math.log2(ratio))
        min_ch, max_ch = channel_range

        def clip(ch):
            return max(min_ch, min(ch, max_ch))

        block_options = dict(norm_type='bn', relu_type='LeakyReLU')
        encoder = [ConvLayer(3, base_channels, 3, 1)]
        channels = base_channels
        for _ in range(num_steps):
            encoder.append(ResidualBlock(clip(channels), clip(channels * 2), scale='down', **block_options))
            channels *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(
            *[ResidualBlock(clip(channels), clip(channels), **block_options) for _ in range(num_res_blocks)])
        decoder = []
        for _ in range(num_steps):
            decoder.append(ResidualBlock(clip(channels), clip(channels // 2), scale='up', **block_options))
            channels //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(clip(channels), 3) if with_image_head else None
        self.out_mask_conv = ConvLayer(clip(channels), num_classes)
        if weights_path is not None:
            self.load_state_dict(read_state_dict(weights_path, 'face parsing network (FaceParseNet)',
                                                 WEIGHT_SOURCES['parsenet']), strict=True)

    def forward(self, x):
        """RGB (b, 3, h, w) in [-1, 1], h and w multiples of in_size / min_feat_size -> logits (b, C, h, w)."""
        feat = self.encoder(x)
        return self.out_mask_conv(self.decoder(feat + self.body(feat)))


@ARCH_REGISTRY.register()
class FaceBiSeNet(nn.Module):
    """facexlib's BiSeNet face parser with a user-given weight file, frozen (Yu et al., "BiSeNet", ECCV 2018).

    The input is mapped to [0, 1], normalised by the ImageNet mean/std and resized to ``in_size`` as
    facexlib's users do; the main output (the 8x-stride head) is resized back to the input size.

    Args:
        weights_path (str | None): facexlib ``parsing_bisenet.pth``. None keeps random weights (tests).
            Default: None.
        in_size (int): Working resolution (512 for the public file). Default: 512.
        num_classes (int): Classes. Default: 19.
    """

    def __init__(self, weights_path=None, in_size=512, num_classes=NUM_CLASSES):
        super().__init__()
        from facexlib.parsing.bisenet import BiSeNet

        self.net = BiSeNet(num_class=num_classes)
        if weights_path is not None:
            self.net.load_state_dict(read_state_dict(weights_path, 'face parsing network (BiSeNet)',
                                                     WEIGHT_SOURCES['bisenet']), strict=True)
        self.in_size = in_size
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        """Always in eval mode: a pretrained, frozen parser (BatchNorm statistics stay fixed)."""
        return super().train(False)

    def forward(self, x):
        """RGB (b, 3, h, w) in [-1, 1] -> logits (b, C, h, w)."""
        size = x.shape[-2:]
        x = ((x + 1) / 2 - self.mean) / self.std
        if tuple(size) != (self.in_size, self.in_size):
            x = F.interpolate(x, size=(self.in_size, self.in_size), mode='bilinear', align_corners=False)
        logits = self.net(x)[0]
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode='bilinear', align_corners=False)
        return logits


def build_face_parser(arch, weights_path, **kwargs):
    """A frozen, eval-mode parser: 'parsenet' (FaceParseNet; kwargs e.g. min_feat_size) or 'bisenet'."""
    if arch == 'bisenet':
        net = FaceBiSeNet(weights_path=weights_path, **kwargs)
    elif arch == 'parsenet':
        net = FaceParseNet(weights_path=weights_path, **kwargs)
    else:
        raise ValueError(f"parser arch must be 'parsenet' or 'bisenet', got {arch!r}")
    return net.eval().requires_grad_(False)
