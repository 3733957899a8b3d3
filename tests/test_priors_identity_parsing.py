"""ArcFace, parsing networks and VGGFace: paper-size parameter counts, input conventions, weight loading."""
import pytest
import torch

import facesr_arch  # noqa: F401  (before basicsr)
from basicsr.utils.registry import ARCH_REGISTRY
from facesr_arch.archs.arcface_arch import FaceArcFace, rgb_to_gray
from facesr_arch.archs.parsing_arch import FaceBiSeNet, FaceParseNet, build_face_parser
from facesr_arch.archs.vgg_arch import FaceVGGFeatureExtractor
from facesr_arch.toolkit.checkpoints import MissingWeightsError


def num_params(net):
    return sum(p.numel() for p in net.parameters())


def test_arcface_counts_and_input_conventions(tmp_path):
    torch.manual_seed(0)
    gfpgan = ARCH_REGISTRY.get('FaceArcFace')('resnet18')
    assert num_params(gfpgan) == 25_627_081
    faces = torch.rand(2, 3, 96, 96) * 2 - 1
    gray = rgb_to_gray(faces)
    assert torch.allclose(gray[:, 0, 5, 7], 0.2989 * faces[:, 0, 5, 7] + 0.5870 * faces[:, 1, 5, 7]
                          + 0.1140 * faces[:, 2, 5, 7])
    assert gfpgan.preprocess(faces).shape == (2, 1, 128, 128)
    # the public file's layout loads as is (state dict of GFPGAN's ResNetArcFace, with DataParallel prefix)
    path = tmp_path / 'arcface_resnet18.pth'
    torch.save({f'module.{k}': v for k, v in gfpgan.net.state_dict().items()}, path)
    loaded = FaceArcFace('resnet18', weights_path=str(path))
    loaded.train()  # frozen networks stay in eval mode
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert torch.allclose(loaded(faces), gfpgan(faces), atol=1e-5)
    with pytest.raises(MissingWeightsError, match='arcface_resnet18.pth'):
        FaceArcFace('resnet18', weights_path=str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='RGB'):
        gfpgan(torch.rand(1, 1, 128, 128))


def test_ir_se50_loads_facexlib_layout(tmp_path):
    from facexlib.recognition.arcface_arch import Backbone
    torch.manual_seed(0)
    reference = Backbone(num_layers=50, drop_ratio=0.6, mode='ir_se').eval()
    path = tmp_path / 'recognition_arcface_ir_se50.pth'
    torch.save(reference.state_dict(), path)
    ours = FaceArcFace('ir_se50', weights_path=str(path))
    assert num_params(ours) == 43_797_696
    faces = torch.rand(1, 3, 112, 112) * 2 - 1
    embedding = ours(faces)
    assert torch.allclose(embedding, reference(faces), atol=1e-5)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(1), atol=1e-5)


def test_parsing_networks_counts_and_shapes():
    mpcnet = ARCH_REGISTRY.get('FaceParseNet')()  # MPCNet 3.2.3: 512 px, 7 down, 10 res, 7 up
    assert len(mpcnet.encoder) == 1 + 7 and len(mpcnet.body) == 10 and len(mpcnet.decoder) == 7
    assert num_params(mpcnet) == 31_926_035
    tiny = FaceParseNet(in_size=64, min_feat_size=4, base_channels=8, channel_range=(8, 16), num_res_blocks=2)
    assert tiny(torch.rand(2, 3, 64, 64) * 2 - 1).shape == (2, 19, 64, 64)
    with pytest.raises(ValueError, match='power of two'):
        FaceParseNet(in_size=96, min_feat_size=64)
    with pytest.raises(ValueError, match="'parsenet' or 'bisenet'"):
        build_face_parser('unet', None)


def test_parsenet_and_bisenet_load_facexlib_files(tmp_path):
    from facexlib.parsing.bisenet import BiSeNet
    from facexlib.parsing.parsenet import ParseNet
    torch.manual_seed(0)
    reference = ParseNet(in_size=512, out_size=512, parsing_ch=19).eval()
    path = tmp_path / 'parsing_parsenet.pth'
    torch.save(reference.state_dict(), path)
    ours = build_face_parser('parsenet', str(path), min_feat_size=32, with_image_head=True)
    assert num_params(ours) == 21_303_254
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(ours(x), reference(x)[0])
    bisenet = BiSeNet(num_class=19).eval()
    path = tmp_path / 'parsing_bisenet.pth'
    torch.save(bisenet.state_dict(), path)
    wrapped = build_face_parser('bisenet', str(path), in_size=64)
    assert num_params(wrapped) == 13_300_416
    wrapped.train()
    assert not wrapped.training
    normalised = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(wrapped(x), bisenet(normalised)[0], atol=1e-5)
    with pytest.raises(MissingWeightsError, match='parsing_bisenet.pth'):
        FaceBiSeNet(weights_path=str(tmp_path / 'nope.pth'))


def test_vggface_input_normalisation(tmp_path):
    net = FaceVGGFeatureExtractor(['conv1_1'], vgg_type='vggface', range_norm=True)
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    conv = net.vgg_net.conv1_1
    expected = conv(((x + 1) / 2) * 255 - torch.tensor([129.1863, 104.7624, 93.5940]).view(1, 3, 1, 1))
    assert torch.allclose(net(x)['conv1_1'], expected, atol=1e-3)
    with pytest.raises(MissingWeightsError, match='convert_weights.py vggface'):
        FaceVGGFeatureExtractor(['conv1_1'], vgg_type='vggface', weights_path=str(tmp_path / 'vgg_face.pth'))
