"""The one compatibility shim facesr_arch needs, installed before the first ``import basicsr``.

PyPI ``basicsr`` 1.4.2 (``basicsr/data/degradations.py``) imports
``torchvision.transforms.functional_tensor.rgb_to_grayscale``. That private module was removed from
torchvision (0.17+); the same function lives in ``torchvision.transforms.functional``. We register an
alias module under the old name so ``import basicsr`` works with current torchvision.
"""
import importlib
import sys
import types


def install_torchvision_alias():
    """Alias ``torchvision.transforms.functional_tensor`` if torchvision no longer ships it. Idempotent."""
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ImportError:
        from torchvision.transforms import functional
        alias = types.ModuleType(name)
        alias.rgb_to_grayscale = functional.rgb_to_grayscale
        sys.modules[name] = alias


install_torchvision_alias()
