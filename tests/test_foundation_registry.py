"""Importing facesr_arch registers everything once, in any order with basicsr, without collisions."""
import subprocess
import sys

from helpers import REPO

OURS = {
    'ARCH_REGISTRY': ['GCFSR', 'FaceStyleGAN2Discriminator', 'FaceVGGFeatureExtractor'],
    'MODEL_REGISTRY': ['FaceGANModel', 'GCFSRModel'],
    'DATASET_REGISTRY': ['FaceDegradedPairDataset'],
    'LOSS_REGISTRY': ['FacePerceptualLoss'],
}


def run_python(code):
    return subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={'PYTHONPATH': REPO, 'PATH': '/usr/bin:/bin'})


def test_import_twice_then_basicsr():
    code = ('import facesr_arch, importlib\n'
            'import basicsr\n'
            'import facesr_arch\n'
            'importlib.reload(importlib.import_module("facesr_arch._registration")).register_all()\n'
            'from basicsr.utils.registry import ARCH_REGISTRY\n'
            'print("GCFSR" in ARCH_REGISTRY)')
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'True'


def test_import_after_basicsr_in_an_environment_that_already_aliases_torchvision():
    # e.g. next to GFPGAN / CodeFormer, whose environments provide the old torchvision module themselves
    code = ('import sys, types, torchvision.transforms.functional as F\n'
            'm = types.ModuleType("torchvision.transforms.functional_tensor"); m.rgb_to_grayscale = F.rgb_to_grayscale\n'
            'sys.modules[m.__name__] = m\n'
            'import basicsr\n'
            'from basicsr.utils.registry import ARCH_REGISTRY\n'
            'import facesr_arch\n'
            'print("GCFSR" in ARCH_REGISTRY, sys.modules[m.__name__] is m)')
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'True True'


def test_registered_names_are_ours_and_do_not_shadow_basicsr():
    import facesr_arch  # noqa: F401
    from basicsr.utils import registry
    for registry_name, names in OURS.items():
        reg = getattr(registry, registry_name)
        for name in names:
            assert name in reg, f'{name} missing from {registry_name}'
            assert reg.get(name).__module__.startswith('facesr_arch.'), name
    # BasicSR's own classes stay reachable under their names
    assert registry.ARCH_REGISTRY.get('StyleGAN2Discriminator').__module__.startswith('basicsr.')
    assert registry.LOSS_REGISTRY.get('PerceptualLoss').__module__.startswith('basicsr.')


def test_torchvision_alias_is_installed_once():
    import facesr_arch  # noqa: F401
    import torchvision.transforms.functional as functional
    mod = sys.modules['torchvision.transforms.functional_tensor']
    assert mod.rgb_to_grayscale is functional.rgb_to_grayscale
