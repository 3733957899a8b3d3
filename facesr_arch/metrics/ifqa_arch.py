"""IFQA: the per-pixel face quality discriminator of "IFQA: Interpretable Face Quality Assessment".

Jo, Cho, Park, Hong, WACV 2023 (used as a no-reference metric by PVFR). The evaluator is the
discriminator of an adversarial face-restoration framework: a U-Net of residual blocks (StarGAN v2 style:
instance norm, LeakyReLU 0.2, average-pool down / nearest up, outputs divided by sqrt(2)) that maps a
256x256 face to a map of per-pixel "real" probabilities. The image score is the mean of that map (higher
is better); the map itself is the interpretable part.

Module names follow the public release (``encoder128`` ... ``encoder8``, ``btn``, ``decoder16`` ...
``decoder256``; checkpoint key ``'D'``) so its ``IFQA_Metric.pth`` loads unchanged.
"""
import math
import os

from torch import nn
from torch.nn import functional as F

from facesr_arch.toolkit.checkpoints import read_state_dict

IFQA_FILE_NAME = 'IFQA_Metric.pth'
IFQA_HOW_TO_GET = ('Download IFQA_Metric.pth from the IFQA authors\' release (github.com/AIM-SKKU/IFQA, '
                   '"weights" folder) and place it in the pyiqa cache folder ($TORCH_HOME/hub/pyiqa/) or pass '
                   'its path explicitly.')


class IFQAResBlock(nn.Module):
    """Pre-activation residual block with instance norm, optionally halving or doubling the resolution.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels; a 1x1 convolution (no bias) adapts the shortcut when they differ.
        resample (str): 'down' (average pool after the first conv), 'up' (nearest upsampling before the first
            conv) or 'none'. Default: 'none'.
    """

    def __init__(self, in_channels, out_channels, resample='none'):
        super().__init__()
        if resample not in ('down', 'up', 'none'):
            raise ValueError(f'resample must be down, up or none, got {resample!r}')
        self.resample = resample
        self.norm1 = nn.InstanceNorm2d(in_channels, affine=True)
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.norm2 = nn.InstanceNorm2d(in_channels, affine=True)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.conv1x1 = nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False) if in_channels != out_channels else None

    def _shortcut(self, x):
        if self.resample == 'up':
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        if self.conv1x1 is not None:
            x = self.conv1x1(x)
        if self.resample == 'down':
            x = F.avg_pool2d(x, 2)
        return x

    def _residual(self, x):
        x = F.leaky_relu(self.norm1(x), 0.2)
        if self.resample == 'up':
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        x = self.conv1(x)
        if self.resample == 'down':
            x = F.avg_pool2d(x, 2)
        x = F.leaky_relu(self.norm2(x), 0.2)
        return self.conv2(x)

    def forward(self, x):
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class IFQANet(nn.Module):
    """IFQA evaluator: U-Net discriminator giving a per-pixel realness map and its mean as the score.

    Encoder 256 -> 8 px (64, 128, 256, 512, 1024 channels), four 1024-channel bottleneck blocks, decoder
    8 -> 256 px whose skip fusion is ``dec * enc + enc``, and a sigmoid on a one-channel map.

    Args:
        pretrained_model_path (str | None): IFQA checkpoint (the public ``IFQA_Metric.pth``: state dict
            under key 'D'). None: ``IFQA_Metric.pth`` in the pyiqa cache folder ($TORCH_HOME/hub/pyiqa).
        pretrained (bool): Load weights; False keeps a random initialisation (tests). Default: True.
        input_size (int): Faces are resized to this square size before evaluation. Default: 256.
    """

    def __init__(self, pretrained_model_path=None, pretrained=True, input_size=256):
        super().__init__()
        self.input_size = input_size
        channels = [3, 64, 128, 256, 512, 1024]
        for size, cin, cout in zip((128, 64, 32, 16, 8), channels[:-1], channels[1:]):
            self.add_module(f'encoder{size}', IFQAResBlock(cin, cout, 'down'))
        self.btn = nn.Sequential(*[IFQAResBlock(1024, 1024) for _ in range(4)])
        for size, cin, cout in zip((16, 32, 64, 128), channels[:1:-1], channels[-2:0:-1]):
            self.add_module(f'decoder{size}', IFQAResBlock(cin, cout, 'up'))
        self.decoder256 = nn.Sequential(IFQAResBlock(64, 1, 'up'), nn.Sigmoid())
        if pretrained:
            path = pretrained_model_path or os.path.join(default_weights_dir(), IFQA_FILE_NAME)
            state = read_state_dict(path, 'IFQA face quality evaluator', IFQA_HOW_TO_GET)
            self.load_state_dict(state.get('D', state))
        self.eval()

    def probability_map(self, x):
        """Per-pixel realness probabilities.

        Args:
            x (Tensor): RGB faces in [0, 1], shape (b, 3, h, w); resized to ``input_size`` (bilinear).

        Returns:
            Tensor: Shape (b, 1, input_size, input_size), values in (0, 1).
        """
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode='bilinear', align_corners=False)
        x = x * 2 - 1
        skips = []
        for size in (128, 64, 32, 16, 8):
            x = getattr(self, f'encoder{size}')(x)
            skips.append(x)
        x = self.btn(skips.pop())
        for size in (16, 32, 64, 128):
            x = getattr(self, f'decoder{size}')(x)
            skip = skips.pop()
            x = x * skip + skip
        return self.decoder256(x)

    def forward(self, x):
        """IFQA score per image (mean realness probability, higher is better), shape (b, 1)."""
        return self.probability_map(x).mean(dim=(2, 3))


def default_weights_dir():
    """The folder pyiqa reads its weights from: ``$TORCH_HOME/hub/pyiqa``, fixed when pyiqa is imported."""
    from pyiqa.utils.download_util import DEFAULT_CACHE_DIR
    return DEFAULT_CACHE_DIR


def register_ifqa_in_pyiqa():
    """Make ``pyiqa.create_metric('ifqa', ...)`` build :class:`IFQANet`. Idempotent.

    Adds the class to pyiqa's architecture registry under 'IFQA' and an 'ifqa' entry (no-reference,
    higher is better, range 0-1) to its default configurations.
    """
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    from pyiqa.utils.registry import ARCH_REGISTRY
    if 'IFQA' not in ARCH_REGISTRY:
        ARCH_REGISTRY.register(IFQANet, name='IFQA')
    DEFAULT_CONFIGS.setdefault('ifqa', {
        'metric_opts': {'type': 'IFQA'},
        'metric_mode': 'NR',
        'lower_better': False,
        'score_range': '0, 1',
    })
