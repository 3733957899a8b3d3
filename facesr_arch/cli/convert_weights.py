"""``convert_weights``: import public checkpoints into facesr_arch's layouts (renaming and dropping only; no download).

Usage::

    python scripts/convert_weights.py SOURCE SRC.pth DST.pth [--key KEY]

SOURCE (see weights/README.md for the public files):

========================  ====================================================================================
stylegan2_rosinality      rosinality / NVIDIA-converted StyleGAN2 generator (``stylegan2-ffhq-config-f.pt``,
                          key ``g_ema``) -> FaceStyleGAN2Generator(1024, channel_multiplier=2)
stylegan2_rosinality_d    its discriminator (key ``d``) -> FaceStyleGAN2Discriminator
stylegan2_basicsr         GFPGAN's / BasicSR's fused StyleGAN2 prior (``StyleGAN2_512_Cmul1_FFHQ_*.pth``,
                          ``params_ema``) -> FaceStyleGAN2Generator(512, channel_multiplier=1)
stylegan2_basicsr_d       BasicSR StyleGAN2Discriminator -> FaceStyleGAN2Discriminator
stylegan2_gfpgan_clean    GFPGAN's clean StyleGAN2 (``StyleGAN2GeneratorClean``; alone, or the ``stylegan_decoder``
                          of ``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth``, ``params_ema``) ->
                          FaceStyleGAN2Generator(512, channel_multiplier=2, resample='bilinear'), exact rescaling
gfpgan                    GFPGAN v1.3 / v1.4 (``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth``, GFPGANv1Clean, ``params_ema``)
                          -> FaceGFPGAN (U-Net and SFT as they are, decoder as ``stylegan2_gfpgan_clean``)
gpen                      GPEN-BFR-512 / GPEN-BFR-256 (``GPEN-BFR-512.pth``, FullGenerator) -> FaceGPEN (encoder
                          ``ecd{i}`` -> ``encoder.{i}``, generator as ``gpen_g``)
gpen_g                    GPEN-BFR-512 generator (``GPEN-BFR-512.pth``): its StyleGAN2 part ->
                          FaceStyleGAN2Generator(512, noise_mode='concat'); GPEN's encoder is dropped
gpen_d                    GPEN-BFR-512 discriminator (``GPEN-BFR-512-D.pth``) -> FaceStyleGAN2Discriminator
codeformer                CodeFormer release (``codeformer.pth``, ``params_ema``) -> FaceCodeFormer (same names)
gcfsr                     official GCFSR releases (1024 ``params_ema``, blind 512) -> GCFSR; the file also holds
                          the network block (out_size, blind, positive_scales: false, factor_norm)
arcface_resnet18          GFPGAN ``arcface_resnet18.pth`` -> FaceArcFace('resnet18') (drops ``module.``)
facexlib                  facexlib parsing_parsenet / parsing_bisenet / recognition_arcface_ir_se50 (as is)
torchvision_vgg           torchvision vgg16/vgg19 ImageNet files -> FaceVGGFeatureExtractor (``features.*``)
vggface                   VGGFace ``vgg_face_dag.pth`` (conv1_1 ... conv5_3, RGB input) -> vgg_type='vggface'
========================  ====================================================================================

The output file holds ``{'params': state_dict}`` (plus ``'network'``, the network block, for sources that
name one) and is loaded with ``weights_only=True``.
Also ``python -m facesr_arch.cli.convert_weights`` and the console command ``facesr-convert-weights``.
"""
import argparse
import sys

from ..utils.safety import run_cli

# the keys of facesr_arch.archs.converters.CONVERTERS, listed here so that --help needs no torch
SOURCES = ('arcface_resnet18', 'codeformer', 'facexlib', 'gcfsr', 'gfpgan', 'gpen', 'gpen_d', 'gpen_g',
           'stylegan2_basicsr', 'stylegan2_basicsr_d', 'stylegan2_gfpgan_clean', 'stylegan2_rosinality',
           'stylegan2_rosinality_d', 'torchvision_vgg', 'vggface')


def build_parser():
    parser = argparse.ArgumentParser(prog='convert_weights', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source', choices=SOURCES)
    parser.add_argument('src', help='public checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--key', default=None, help='entry holding the state dict (default: per source)')
    return parser


def main(argv=None):
    """Convert one file; returns the exit status (2 after a user error)."""
    return run_cli(_main, 'convert_weights', argv)


def _main(argv=None):
    args = build_parser().parse_args(argv)
    from ..archs.converters import convert_file
    state = convert_file(args.source, args.src, args.dst, args.key)
    print(f'{args.source}: wrote {len(state)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
