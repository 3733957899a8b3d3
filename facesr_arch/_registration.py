"""Idempotent registration of facesr_arch into BasicSR's registries.

BasicSR's ``Registry.register`` raises when a name is registered twice. Python imports a module only
once, so a second ``import facesr_arch`` is a no-op; ``register_all`` only imports the subpackages.
"""


def register_all():
    from . import archs, data, losses, metrics, models  # noqa: F401
