"""VGG feature extractors that load torchvision-layout weights from an explicit local file.

BasicSR's ``VGGFeatureExtractor`` downloads ImageNet weights when its fixed path is missing; this one
never downloads: the weight file is an option, and a missing file raises an error that says where the
public file comes from.
"""
from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from basicsr.utils.registry import ARCH_REGISTRY

from ..toolkit.checkpoints import read_state_dict

_BLOCKS = {'vgg16': (2, 2, 3, 3, 3), 'vgg19': (2, 2, 4, 4, 4), 'vggface': (2, 2, 3, 3, 3)}
_CONFIGS = {'vgg16': 'D', 'vgg19': 'E', 'vggface': 'D'}  # torchvision's layer tables (features only)
# input normalisation (mean, std) applied to RGB in [0, 1]: ImageNet for torchvision's files; VGGFace (Parkhi et
# al., BMVC 2015, the VGG16 layout) subtracts its RGB mean on the 0-255 scale with no std division
_INPUT_NORM = {
    'vgg16': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'vgg19': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'vggface': ((129.1863 / 255, 104.7624 / 255, 93.5940 / 255), (1 / 255, 1 / 255, 1 / 255)),
}
WEIGHT_SOURCES = {
    'vgg16': 'torchvision ImageNet VGG16 (vgg16-397923af.pth, from torchvision.models.VGG16_Weights.IMAGENET1K_V1); '
             'see weights/README.md',
    'vgg19': 'torchvision ImageNet VGG19 (vgg19-dcbb9e9d.pth, from torchvision.models.VGG19_Weights.IMAGENET1K_V1); '
             'see weights/README.md',
    'vggface': 'VGGFace (Parkhi et al. 2015, VGG16 layout; e.g. vgg_face_dag.pth), converted to the torchvision layout '
               'with RGB input by `python scripts/convert_weights.py vggface SRC DST`; see weights/README.md',
}


def vgg_layer_names(vgg_type):
    """Names of the ``features`` layers in order: conv1_1, relu1_1, conv1_2, ..., pool5."""
    names = []
    for block, num_convs in enumerate(_BLOCKS[vgg_type], start=1):
        for conv in range(1, num_convs + 1):
            names += [f'conv{block}_{conv}', f'relu{block}_{conv}']
        names.append(f'pool{block}')
    return names


@ARCH_REGISTRY.register()
class FaceVGGFeatureExtractor(nn.Module):
    """Frozen VGG16 / VGG19 / VGGFace ``features`` truncated after the deepest requested layer.

    Args:
        layer_name_list (list[str]): Layers whose outputs are returned, e.g. ['conv4_3'] or ['relu2_1'].
        vgg_type (str): 'vgg16', 'vgg19' or 'vggface' (VGG16 layout with VGGFace weights and input
            normalisation: RGB on the 0-255 scale minus the VGGFace mean; MPCNet). Default: 'vgg16'.
        weights_path (str | None): torchvision-layout checkpoint ('features.N.weight' keys). None builds
            random weights, for tests and for checkpoints loaded afterwards. Default: None.
        use_input_norm (bool): Normalise the input as the weights expect (ImageNet mean/std for vgg16/vgg19,
            the VGGFace mean on the 0-255 scale for vggface). Default: True.
        range_norm (bool): Map inputs from [-1, 1] to [0, 1] first. Default: False.
        requires_grad (bool): Train the extractor. Default: False.
    """

    def __init__(self, layer_name_list, vgg_type='vgg16', weights_path=None, use_input_norm=True, range_norm=False,
                 requires_grad=False):
        super().__init__()
        if vgg_type not in _BLOCKS:
            raise ValueError(f"vgg_type must be one of {sorted(_BLOCKS)}, got {vgg_type!r}")
        names = vgg_layer_names(vgg_type)
        unknown = [n for n in layer_name_list if n not in names]
        if unknown:
            raise ValueError(f'Unknown {vgg_type} layers {unknown}; valid names: {names}')
        self.layer_name_list = list(layer_name_list)
        features = make_layers(cfgs[_CONFIGS[vgg_type]])
        if weights_path is not None:
            state = read_state_dict(weights_path, f'{vgg_type.upper()} feature extractor', WEIGHT_SOURCES[vgg_type])
            state = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
            features.load_state_dict(state, strict=True)
        last = max(names.index(n) for n in self.layer_name_list)
        self.vgg_net = nn.Sequential(OrderedDict(zip(names[:last + 1], list(features)[:last + 1])))
        self.use_input_norm, self.range_norm = use_input_norm, range_norm
        mean, std = _INPUT_NORM[vgg_type]
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(requires_grad)
        if not requires_grad:
            self.eval()

    def forward(self, x):
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        output = {}
        for name, layer in self.vgg_net.named_children():
            x = layer(x)
            if name in self.layer_name_list:
                output[name] = x.clone()
        return output
