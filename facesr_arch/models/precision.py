"""Mixed-precision training and memory layout: the ``train.mixed_precision`` and ``train.channels_last`` options.

``mixed_precision``:

- ``none`` (default): float32 throughout, as the papers train.
- ``bf16``: forward passes and the losses that tolerate it run under ``torch.autocast`` with bfloat16 (on the
  model's device type; CPUs support it). bfloat16 has float32's exponent range, so no loss scaling is needed.
- ``fp16``: the same with float16, and one ``torch.amp.GradScaler`` per optimiser: each backward pass is scaled by
  the scaler of the optimiser whose parameters it reaches; a step whose scaled gradients overflowed is skipped
  and the scale lowered. Such a skip is logged (when the losses are next logged) but is not a non-finite *loss*:
  it does not count towards ``train.max_nonfinite_steps``. The scalers' states are saved in the training state
  (key ``grad_scalers``, in the order of the model's optimisers), so a resumed run repeats the uninterrupted one.

What stays float32 in every mode: the parameters, hence the optimiser states and the EMA copy (autocast casts
weights per operation, it never changes them); the backward passes (run outside autocast, as PyTorch
recommends); R1 and path-length regularisation, whose gradient-of-gradient terms are run with autocast off
(:meth:`TrainingPrecision.float32`); the gram matrices of style losses (``FacePerceptualLoss``); validation.

``channels_last`` (default false): the trained networks, their EMA copy and the input batches use the
channels_last memory layout (faster convolutions on recent GPUs, above all with bf16 / fp16 tensor cores).
"""
import contextlib

import torch

from basicsr.utils import get_root_logger

from ..archs.optimize import to_channels_last
from ..utils.options import PRECISION_MODES, check_precision_options

# train.mixed_precision (the option checker, utils/options.py, validates it) -> autocast dtype
MIXED_PRECISION = dict(zip(PRECISION_MODES, (None, torch.bfloat16, torch.float16)))


class TrainingPrecision:
    """The precision and layout a model trains with, its autocast contexts and its fp16 loss scalers.

    Args:
        train_opt (dict | None): The ``train`` options (None when not training: float32, default layout).
    """

    def __init__(self, train_opt):
        train_opt = train_opt or {}
        check_precision_options(train_opt)
        self.mode = train_opt.get('mixed_precision') or 'none'
        self.dtype = MIXED_PRECISION[self.mode]
        self.channels_last = bool(train_opt.get('channels_last', False))
        self._scalers = {}  # id(optimizer) -> GradScaler, fp16 only
        self._pending_overflow = []  # (iteration, optimizer index, device flag) read at logging time
        self.overflow_steps = 0

    def check_device(self, device):
        """Raise ValueError when ``device`` cannot run the chosen precision (bf16 on a GPU without bfloat16)."""
        if self.dtype is torch.bfloat16 and device.type == 'cuda' and not torch.cuda.is_bf16_supported():
            raise ValueError('train.mixed_precision: bf16 needs a GPU with bfloat16 support (Ampere or newer); '
                             'use fp16 or none on this GPU')

    def autocast(self, device):
        """The autocast context of the forward passes and losses (a null context in float32 training)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def float32(self, device):
        """A context with autocast off (regularisers computed in float32), also inside :meth:`autocast`."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, enabled=False)

    def to_layout(self, net):
        """``net`` (the same module) with its 4-D weights in channels_last when asked (StyleGAN2's 5-D modulated
        weights keep their layout, see ``archs.optimize.to_channels_last``)."""
        if self.channels_last:
            to_channels_last(net)
        return net

    def input_layout(self, tensor):
        """A 4-D batch in the training memory layout."""
        if self.channels_last and torch.is_tensor(tensor) and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    # fp16 loss scaling
    def scaler(self, optimizer):
        """The GradScaler of ``optimizer`` (fp16), created on first use; None in float32 / bf16 training."""
        if self.dtype is not torch.float16:
            return None
        key = id(optimizer)
        if key not in self._scalers:
            device = next((p.device for group in optimizer.param_groups for p in group['params']),
                          torch.device('cpu'))
            self._scalers[key] = torch.amp.GradScaler(device.type)
        return self._scalers[key]

    def backward(self, loss, optimizer):
        """``loss.backward()``, scaled by ``optimizer``'s scaler in fp16 training."""
        scaler = self.scaler(optimizer)
        (loss if scaler is None else scaler.scale(loss)).backward()

    def step(self, optimizer, finite, step_if_finite, index=0, current_iter=None):
        """Step ``optimizer`` through ``step_if_finite(optimizer, flag)``; in fp16 first unscale its gradients and
        skip the step also when they overflowed, then update its scale.

        Args:
            optimizer (Optimizer): The optimiser whose backward passes are done.
            finite (Tensor): Device flag: every loss of the step is finite.
            step_if_finite (Callable): ``FaceBaseModel.step_if_finite``.
            index (int): The optimiser's position in the model's list (for messages).
            current_iter (int | None): The iteration (for messages).
        """
        scaler = self.scaler(optimizer)
        if scaler is None:
            step_if_finite(optimizer, finite)
            return
        scaler.unscale_(optimizer)
        # the flags unscale_ computed (a device tensor per device); reading them needs no host sync
        found = scaler._per_optimizer_states[id(optimizer)]['found_inf_per_device']
        overflow = torch.stack([flag.to(finite.device) for flag in found.values()]).sum() > 0
        step_if_finite(optimizer, finite & ~overflow)
        for attribute in ('grad_scale', 'found_inf'):  # set by a fused step; GradScaler reads them when present
            if hasattr(optimizer, attribute):
                delattr(optimizer, attribute)
        scaler.update()
        self._pending_overflow.append((current_iter, index, finite & overflow))

    def log_overflows(self):
        """Read the overflow flags recorded since the last call (one host sync for all) and log each skipped step;
        returns how many there were. They are not non-finite losses and do not end training."""
        pending, self._pending_overflow = self._pending_overflow, []
        if not pending:
            return 0
        flags = torch.stack([flag for _, _, flag in pending]).tolist()
        skipped = [(it, index) for (it, index, _), flag in zip(pending, flags) if flag]
        for current_iter, index in skipped:
            get_root_logger().info(f'Iteration {current_iter}: fp16 gradients of optimiser {index} overflowed; its '
                                   'step was skipped and its loss scale lowered (not a non-finite loss).')
        self.overflow_steps += len(skipped)
        return len(skipped)

    def state_dict(self, optimizers):
        """The scalers' states in the order of ``optimizers`` (None for an optimiser without one)."""
        return [self._scalers[id(o)].state_dict() if id(o) in self._scalers else None for o in optimizers]

    def load_state_dict(self, states, optimizers):
        """Restore :meth:`state_dict` output onto the scalers of ``optimizers`` (fp16); refuses a mismatch."""
        if self.dtype is not torch.float16:
            if any(states):
                get_root_logger().warning('The training state holds fp16 loss-scaler states but this run is not '
                                          f'fp16 (train.mixed_precision: {self.mode}); they are not used.')
            return
        if len(states) != len(optimizers):
            raise ValueError(f'The training state holds {len(states)} loss-scaler states for {len(optimizers)} '
                             'optimisers: it was not written by this model')
        for optimizer, state in zip(optimizers, states):
            if state is not None:
                self.scaler(optimizer).load_state_dict(state)
