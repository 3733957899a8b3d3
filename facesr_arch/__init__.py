"""facesr_arch: five face super-resolution / restoration methods as a BasicSR plugin.

Importing the package registers every architecture, loss, dataset, model and metric into BasicSR's
registries. Registration is explicit (each subpackage imports its modules by name) and idempotent.
"""
from . import _compat  # noqa: F401  (must precede the first import of basicsr)
from ._registration import register_all

__version__ = '0.1.0'

register_all()
