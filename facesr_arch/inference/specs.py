"""What each method needs at inference: its input/output sizes, its extra inputs and how it is called.

A :class:`MethodSpec` is all the inference code knows about a method; adding a method of this package to
inference means adding one spec here (a user's own architecture is declared through ``own_method.py``). Sizes
are read from the built network, so tiny test models and paper-size models go through the same code.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class Controls:
    """User controls of the methods that have them.

    Args:
        upscale (float | None): The factor the input faces were downscaled by. GCFSR: its condition when
            the input size does not tell it (LR faces already upsampled to the output size); None derives it
            from each input (output size / input side). W-Net (x4 / x8 models): faces are first brought to
            128 / upscale px, the LR size the model was trained on; None feeds them straight to 128 px.
        strength (float | None): GCFSR's generative-strength override: the conditional factor s fed to
            the network whatever the real factor (paper 3.6: a larger s adds generated detail, a smaller
            one keeps closer to the input). None uses the upscale factor.
        size (int | None): Input/output side of the fully convolutional W-Net (trained at 128 px; any
            multiple of its size divisor runs). None: 128.
        fidelity (float | None): CodeFormer's fidelity weight w in [0, 1] (0: the codebook's face, quality;
            1: closest to the input, fidelity). None: 0.5, the default of CodeFormer's inference script.
    """

    upscale: Optional[float] = None
    strength: Optional[float] = None
    size: Optional[int] = None
    fidelity: Optional[float] = None


@dataclass(frozen=True)
class MethodSpec:
    """How to run one method.

    Args:
        name (str): Registry name of the architecture.
        task (str): 'fsr' (super-resolution of LR faces) or 'bfr' (restoration at a fixed size).
        sizes (Callable): (net, Controls) -> (lr_size or None, in_size, out_size). ``lr_size`` is the LR
            size a method bicubic-upsamples to ``in_size`` (W-Net); None feeds any face straight to
            ``in_size`` (resized as ``interpolation`` says).
        condition (Callable | None): (net, input side, Controls) -> float per image passed to ``run``,
            or None for methods without one.
        run (Callable): (net, batch, condition tensor or None) -> restored batch.
        mean, std (tuple[float]): The normalisation the method was trained with (its datasets' mean / std).
            Default: 0.5 / 0.5, i.e. [-1, 1]; W-Net: 0 / 1, i.e. [0, 1].
        describe (Callable | None): (net, input side, Controls) -> one line saying what the method is fed for
            inputs of that side (printed once per side); raises ValueError for an input that does not fit.
        interpolation (str): How a face is resized to ``in_size``: 'bicubic' (MATLAB bicubic of the float
            image, as the training data are made) or 'bilinear-8bit' (OpenCV ``INTER_LINEAR`` of the 8-bit
            image, what the inference scripts of GFPGAN, GPEN and CodeFormer do with aligned faces; see
            ``preprocess.bilinear_resize_8bit``). Default: 'bicubic'.
        quantisation (str): How the output is brought to 8 bits: 'round' (BasicSR's ``tensor2img``, also
            GFPGAN's and CodeFormer's scripts) or 'truncate' (GPEN's ``face_gan.py``). Default: 'round'.
    """

    name: str
    task: str
    sizes: Callable
    run: Callable
    condition: Optional[Callable] = None
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    describe: Optional[Callable] = None
    interpolation: str = 'bicubic'
    quantisation: str = 'round'


# the smallest factor of every GCFSR training set (paper 3.5: s in {4, ..., 64}; official 512 px: {4, ..., 32})
GCFSR_MIN_FACTOR = 4.0


def gcfsr_condition(net, side, controls):
    """GCFSR's conditional factor s for one input of side ``side`` (the network divides it by its
    ``factor_norm``); None when blind.

    s is ``controls.strength``, else ``controls.upscale``, else out_size / side. It is clipped to the model's
    trained range [4, factor_norm] (64 for the 1024 px model, 32 for the official 512 px one; an input already
    at the output size runs as 4x unless a factor is given: ``gcfsr_describe`` refuses it).
    """
    if net.blind:
        return None
    factor = controls.strength or controls.upscale or net.out_size / side
    return min(max(float(factor), GCFSR_MIN_FACTOR), net.factor_norm)


def gcfsr_describe(net, side, controls):
    """What GCFSR is fed for a ``side`` px input: its factor s, where s comes from, the condition value.

    Raises:
        ValueError: The input is already at the output size and neither ``upscale`` nor ``strength`` says
            its factor (it would silently run as the mildest trained factor).
    """
    if net.blind:
        return f'GCFSR (blind): {side} px inputs resized to {net.out_size} px, no condition'
    if side >= net.out_size and not (controls.strength or controls.upscale):
        raise ValueError(f'{side} px input is already at GCFSR\'s output size ({net.out_size} px), so its factor is '
                         'unknown: give --upscale F (the factor it was downscaled by) or --strength S')
    factor = float(controls.strength or controls.upscale or net.out_size / side)
    source = ('--strength' if controls.strength else '--upscale' if controls.upscale else
              f'output {net.out_size} px / input {side} px')
    low, high = GCFSR_MIN_FACTOR, net.factor_norm
    clipped = '' if low <= factor <= high else f', outside the trained {low:g}-{high:g}: clipped'
    return (f'GCFSR: {side} px inputs -> bicubic to {net.out_size} px; factor s = {factor:g} ({source}{clipped}); '
            f'condition fed = {gcfsr_condition(net, side, controls) / net.factor_norm:.6g}')


def _run_gcfsr(net, x, condition):
    return net(x) if net.blind else net(x, condition)


def _run_image_only(net, x, condition):
    return net(x)


# W-Net works on 128 px faces for both its x4 and x8 models (section 4.2)
WNET_SIZE = 128


def _wnet_sizes(net, controls):
    size = controls.size or WNET_SIZE
    if size % net.min_size_divisor:
        raise ValueError(f'W-Net needs a size divisible by {net.min_size_divisor}, got {size}')
    lr_size = int(round(size / controls.upscale)) if controls.upscale else None
    return lr_size, size, size


# CodeFormer's inference script default (``--fidelity_weight 0.5``); w is used in [0, 1] (paper 3.3)
CODEFORMER_FIDELITY = 0.5


def codeformer_fidelity(net, side, controls):
    """CodeFormer's fidelity weight w for one input: ``controls.fidelity``, else 0.5."""
    w = CODEFORMER_FIDELITY if controls.fidelity is None else float(controls.fidelity)
    if not 0 <= w <= 1:
        raise ValueError(f'CodeFormer fidelity weight w must be in [0, 1], got {w} (--fidelity)')
    return w


def _run_codeformer(net, x, condition):
    return net(x, w=condition)


def _fixed_size(net, controls):
    return None, net.out_size, net.out_size


# Baselines (GFPGAN, GPEN, CodeFormer): as their own inference scripts, the 8-bit aligned face is resized to the
# network size with OpenCV's bilinear resize, divided by 255 and normalised to [-1, 1]; the output is clamped to
# [-1, 1] and brought to 8 bits rounded (GFPGAN's ``GFPGANer.enhance`` and CodeFormer's ``inference_codeformer.py``
# through BasicSR's ``tensor2img``) or truncated (GPEN's ``FaceGAN.tensor2img``: ``astype(np.uint8)``)
SPECS = {
    'CFGPFSSR': MethodSpec(name='CFGPFSSR', task='fsr', sizes=lambda net, controls: (None, net.in_size, net.out_size),
                           run=_run_image_only),
    'GCFSR': MethodSpec(name='GCFSR', task='fsr', sizes=lambda net, controls: (None, net.out_size, net.out_size),
                        condition=gcfsr_condition, run=_run_gcfsr, describe=gcfsr_describe),
    'MPCNet': MethodSpec(name='MPCNet', task='bfr', sizes=lambda net, controls: (None, net.out_size, net.out_size),
                         run=_run_image_only),
    'PVFR': MethodSpec(name='PVFR', task='bfr', sizes=lambda net, controls: (None, net.out_size, net.out_size),
                       run=_run_image_only),
    'WNet': MethodSpec(name='WNet', task='fsr', sizes=_wnet_sizes, run=_run_image_only, mean=(0.0, 0.0, 0.0),
                       std=(1.0, 1.0, 1.0)),
    'FaceGFPGAN': MethodSpec(name='FaceGFPGAN', task='bfr', sizes=_fixed_size, run=_run_image_only,
                             interpolation='bilinear-8bit'),
    'FaceGPEN': MethodSpec(name='FaceGPEN', task='bfr', sizes=_fixed_size, run=_run_image_only,
                           interpolation='bilinear-8bit', quantisation='truncate'),
    'FaceCodeFormer': MethodSpec(name='FaceCodeFormer', task='bfr', sizes=_fixed_size, condition=codeformer_fidelity,
                                 run=_run_codeformer, interpolation='bilinear-8bit'),
}


def get_spec(name):
    """The :class:`MethodSpec` of an architecture registry name."""
    if name not in SPECS:
        raise ValueError(f'No inference declaration for architecture {name!r} (declared: {", ".join(sorted(SPECS))}); '
                         'for your own architecture say how it is fed: an inference: block in its option file '
                         '(-opt, or --checkpoint-opt NAME=FILE for reproduce.py) or facesr_arch.inference.'
                         'register_method (docs/own-method.md)')
    return SPECS[name]


def condition_tensor(values, device):
    """Per-image conditions (list of float or None) -> (b, 1) tensor, or None if the method has none."""
    if values[0] is None:
        return None
    return torch.tensor(values, dtype=torch.float32, device=device).view(-1, 1)
