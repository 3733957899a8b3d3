"""How the package sits in its hosts: BasicSR's replaced names live in one listed module, nothing patches torch or
datasets, ``models/`` does not import ``inference/``, inductor's flag is scoped to the compiled call, and
``FaceRestorer`` derives its sizes from the controls of each call."""
import ast
import glob
import os

import numpy as np
import torch

import facesr_arch  # noqa: F401  (registers the architectures)
from facesr_arch.archs.wnet_arch import WNet
from facesr_arch.inference.runner import FaceRestorer
from facesr_arch.inference.specs import Controls, get_spec
from facesr_arch.utils import basicsr_changes
from helpers import REPO

PACKAGE = os.path.join(REPO, 'facesr_arch')
TINY_WNET = {'num_feat': 8, 'num_res_blocks': 1, 'hourglass_depth': 2, 'upscale_stages': 1, 'num_levels': 2,
             'num_heads': 2}


def _imports(path):
    """Absolute module names ``path`` imports (relative imports resolved against its package)."""
    package = os.path.relpath(os.path.dirname(path), REPO).replace(os.sep, '.')
    names = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit('.', node.level - 1)[0] if node.level else ''
            names.append('.'.join(p for p in (base, node.module) if p))
    return names


def test_models_do_not_import_inference():
    for path in glob.glob(os.path.join(PACKAGE, 'models', '*.py')):
        assert not [n for n in _imports(path) if n.startswith('facesr_arch.inference')], path


def test_no_torch_or_dataset_patching():
    """No module assigns ``torch.save`` or rewrites methods in ``__init_subclass__``."""
    for path in glob.glob(os.path.join(PACKAGE, '**', '*.py'), recursive=True):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                targets = [ast.unparse(t) for t in node.targets]
                assert not [t for t in targets if t.startswith('torch.')], (path, targets)
            if isinstance(node, ast.FunctionDef):
                assert node.name != '__init_subclass__', path


def test_basicsr_replacements_listed_installed_and_undone():
    import basicsr.train
    import basicsr.utils.options
    before = {(m, n): getattr(__import__(m, fromlist=[n]), n) for m, n in
              ((r.module, r.name) for r in basicsr_changes.REPLACEMENTS)}
    assert all(r.why for r in basicsr_changes.REPLACEMENTS) and len(before) == 5
    previous = basicsr_changes.install(is_train=True, backend='gloo')
    try:
        assert set(previous) == set(before)
        assert basicsr.train.EnlargedSampler is not before['basicsr.train', 'EnlargedSampler']
        assert basicsr.utils.options.init_dist is not before['basicsr.utils.options', 'init_dist']
    finally:
        basicsr_changes.uninstall(previous)
    assert all(getattr(__import__(m, fromlist=[n]), n) is v for (m, n), v in before.items())
    test_only = basicsr_changes.install(is_train=False)
    basicsr_changes.uninstall(test_only)
    assert set(test_only) == {('basicsr.utils.options', 'init_dist')}


def test_inductor_flag_only_around_the_compiled_call():
    import torch._inductor.config as inductor_config
    restorer = FaceRestorer(WNet(**TINY_WNET), get_spec('WNet'), controls=Controls(size=32, upscale=4))
    default = inductor_config.fallback_random
    with restorer._compiled_scope():
        assert inductor_config.fallback_random == default  # not compiled: nothing set
    restorer.compiled = True
    with restorer._compiled_scope():
        assert inductor_config.fallback_random is True
    assert inductor_config.fallback_random == default


def test_restorer_sizes_follow_the_controls_of_each_call():
    """Reassigning ``controls`` (reproduce does, per test set) changes the LR size W-Net is fed: the x8 output of a
    restorer built for x4 equals that of a restorer built for x8."""
    torch.manual_seed(0)
    net = WNet(**TINY_WNET).eval()
    face = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    reused = FaceRestorer(net, get_spec('WNet'), controls=Controls(size=32, upscale=4), optimize=False)
    assert reused.sizes() == (8, 32, 32)
    x4 = reused.restore([face])[0]
    reused.controls = Controls(size=32, upscale=8)
    assert reused.sizes() == (4, 32, 32) and 'inputs -> 4 px' in reused.describe(32)
    fresh = FaceRestorer(net, get_spec('WNet'), controls=Controls(size=32, upscale=8), optimize=False)
    np.testing.assert_array_equal(reused.restore([face])[0], fresh.restore([face])[0])
    assert not np.array_equal(reused.restore([face])[0], x4)
    np.testing.assert_array_equal(reused.restore([face], Controls(size=32, upscale=4))[0], x4)
