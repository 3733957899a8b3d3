"""Your own method beside the others: how an architecture registered in BasicSR's ``ARCH_REGISTRY`` outside this
package is fed, declared once, so that inference, ``scripts/reproduce.py`` and the metrics report run it as they
run the built-in methods (a declaration becomes the :class:`~facesr_arch.inference.specs.MethodSpec` the
inference code uses).

Two equivalent ways to declare it:

- an ``inference:`` block in the method's option file, read wherever an option file names the network
  (``scripts/inference.py -opt``, ``scripts/reproduce.py --checkpoint-opt``, :func:`network_config`)::

      network_g:
        type: MyFaceSR            # registered with @ARCH_REGISTRY.register() in my_face_sr.py
        num_feat: 32
      inference:
        import: my_face_sr.py     # the file that registers it (relative to the option file) or a module name
        task: fsr                 # fsr: faces made larger; bfr: restored at their size
        input_size: 32            # px the network takes: a number, or the name of an attribute of the network
        output_size: 128          # px it returns: the same
        mean: [0.5, 0.5, 0.5]     # normalisation of its inputs and outputs, (x - mean) / std: here [-1, 1]
        std: [0.5, 0.5, 0.5]
        condition: upscale        # optional: called net(x, c), c = the factor / condition_norm (b, 1)
        condition_norm: 1
        interpolation: bicubic    # how a face is resized to input_size: bicubic (MATLAB) or bilinear

- :func:`register_method` called in the user's file next to the registration (the same arguments).
"""
import hashlib
import importlib
import importlib.util
import os
import sys

from ..toolkit.errors import BadInputError
from .specs import SPECS, MethodSpec

# the declaration's keys besides ``import`` (the arguments of register_method)
DECLARATION_KEYS = ('task', 'input_size', 'output_size', 'mean', 'std', 'condition', 'condition_norm',
                    'interpolation')
TASKS = ('fsr', 'bfr')
CONDITIONS = ('upscale', )
INTERPOLATIONS = ('bicubic', 'bilinear')
# the methods of this package: their specs are fixed
BUILT_IN = frozenset(SPECS)
_declared = {}  # name -> the declaration it was registered with


def _size(net, value, what):
    if isinstance(value, str):
        if not isinstance(getattr(net, value, None), int):
            raise BadInputError(f'{type(net).__name__} has no integer attribute {value!r} (inference: {what})')
        return getattr(net, value)
    return value


def _check(name, task, input_size, output_size, mean, std, condition, condition_norm, interpolation):
    where = f'inference declaration of {name}'
    if task not in TASKS:
        raise BadInputError(f'{where}: task must be one of {TASKS}, got {task!r}')
    for key, value in (('input_size', input_size), ('output_size', output_size)):
        if not (isinstance(value, str) and value) and not (isinstance(value, int) and not isinstance(value, bool)
                                                           and value > 0):
            raise BadInputError(f'{where}: {key} must be a positive number of pixels or the name of a network '
                             f'attribute, got {value!r}')
    for key, value in (('mean', mean), ('std', std)):
        if len(value) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise BadInputError(f'{where}: {key} needs three numbers (one per RGB channel), got {value!r}')
    if not all(s > 0 for s in std):
        raise BadInputError(f'{where}: std must be positive, got {std!r}')
    if condition is not None and condition not in CONDITIONS:
        raise BadInputError(f'{where}: condition must be one of {CONDITIONS} or null, got {condition!r}')
    if not isinstance(condition_norm, (int, float)) or isinstance(condition_norm, bool) or condition_norm <= 0:
        raise BadInputError(f'{where}: condition_norm must be a positive number, got {condition_norm!r}')
    if interpolation not in INTERPOLATIONS:
        raise BadInputError(f'{where}: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}')


def register_method(name, task, input_size, output_size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                    condition=None, condition_norm=1.0, interpolation='bicubic'):
    """Declare how the architecture ``name`` (a BasicSR ``ARCH_REGISTRY`` name) is fed at inference.

    Args:
        name (str): Registry name of the architecture.
        task (str): 'fsr' (LR faces in, ``output_size`` faces out) or 'bfr' (restoration: input and output
            sizes equal).
        input_size (int | str): Side of the faces the network takes (any face is resized to it), or the name of
            an integer attribute of the built network that holds it.
        output_size (int | str): Side of the faces it returns, likewise.
        mean, std (Sequence[float]): Normalisation of inputs and outputs, ``(x - mean) / std`` on RGB in [0, 1].
            Default: 0.5 / 0.5, i.e. [-1, 1] ([0, 1]: mean 0, std 1).
        condition (str | None): 'upscale': the network is called ``net(x, c)`` with ``c`` (b, 1) the factor the
            faces were downscaled by (``--upscale``, else output size / input side) divided by
            ``condition_norm``. None: ``net(x)``. Default: None.
        condition_norm (float): Divisor of the condition (the one used in training). Default: 1.
        interpolation (str): How faces are resized to ``input_size``: 'bicubic' (MATLAB bicubic, as the
            training pairs here are made) or 'bilinear' (OpenCV). Default: 'bicubic'.

    Returns:
        MethodSpec: The spec inference uses. Declaring a name again with the same arguments is a no-op.

    Raises:
        ValueError: A built-in method's name, a name declared before with other arguments, or a bad value.
    """
    mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    declaration = dict(task=task, input_size=input_size, output_size=output_size, mean=mean, std=std,
                       condition=condition, condition_norm=float(condition_norm), interpolation=interpolation)
    if name in BUILT_IN:
        raise BadInputError(f'{name} is a method of this package; its inference declaration is fixed '
                         '(facesr_arch/inference/specs.py): register your architecture under another name')
    if name in _declared:
        if _declared[name] != declaration:
            raise BadInputError(f'{name} is already declared with {_declared[name]}; a second declaration differs: '
                             f'{declaration}')
        return SPECS[name]
    _check(name, **declaration)

    def sizes(net, controls):
        in_size, out_size = _size(net, input_size, 'input_size'), _size(net, output_size, 'output_size')
        if task == 'bfr' and in_size != out_size:
            raise BadInputError(f'{name} is declared a restoration method (task: bfr) but takes {in_size} px and '
                             f'returns {out_size} px; declare task: fsr')
        return None, in_size, out_size

    def feed(net, side, controls):
        factor = controls.upscale or _size(net, output_size, 'output_size') / side
        return float(factor) / declaration['condition_norm']

    def run(net, x, c):
        return net(x) if c is None else net(x, c)

    SPECS[name] = MethodSpec(name=name, task=task, sizes=sizes, run=run, condition=feed if condition else None,
                             mean=mean, std=std, interpolation=interpolation)
    _declared[name] = declaration
    return SPECS[name]


def import_method_file(reference, base_dir=None):
    """Import the user's module that registers an architecture, once (BasicSR's registry refuses a name twice).

    Args:
        reference (str): A ``.py`` file (relative to ``base_dir``) or an importable module name.
        base_dir (str | None): Folder a relative file is found from (the option file's). Default: the current one.

    Returns:
        module: The imported module.
    """
    if not reference.endswith('.py'):
        return importlib.import_module(reference)
    path = os.path.realpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(reference)))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'inference.import: {path} not found (the file that registers your architecture; a '
                                'relative path is read from the option file\'s folder)')
    name = f'facesr_user_{os.path.splitext(os.path.basename(path))[0]}_{hashlib.sha256(path.encode()).hexdigest()[:8]}'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def declare_from_options(opt, opt_path=None):
    """Register the ``inference:`` block of an option file (see the module docstring); None without one.

    Raises:
        ValueError: The block has unknown keys, bad values, or its network is not registered after its import.
    """
    block = opt.get('inference')
    if block is None:
        return None
    where = f'{opt_path or "option file"}: inference'
    if not isinstance(block, dict):
        raise BadInputError(f'{where} must be a mapping (keys: import, {", ".join(DECLARATION_KEYS)})')
    unknown = set(block) - set(DECLARATION_KEYS) - {'import'}
    if unknown:
        raise BadInputError(f'{where}: unknown keys {sorted(unknown)} (valid: import, {", ".join(DECLARATION_KEYS)})')
    missing = {'task', 'input_size', 'output_size'} - set(block)
    if missing:
        raise BadInputError(f'{where}: {", ".join(sorted(missing))} missing (how the network is fed)')
    name = (opt.get('network_g') or {}).get('type')
    if not name:
        raise BadInputError(f'{where} declares network_g, which has no type')
    if block.get('import'):
        import_method_file(str(block['import']), os.path.dirname(os.path.abspath(opt_path)) if opt_path else None)
    from basicsr.utils.registry import ARCH_REGISTRY
    if name not in ARCH_REGISTRY:
        raise BadInputError(f"{where}: {name} is not in BasicSR's ARCH_REGISTRY; register it with "
                         '@ARCH_REGISTRY.register() in your file and name that file in inference.import')
    return register_method(name, **{k: block[k] for k in DECLARATION_KEYS if k in block})
