"""What every facesr_arch model adds to BasicSR's ``SRModel``: CPU-capable DDP (with SyncBatchNorm on GPUs),
images in [-1, 1], self-describing checkpoints written atomically (``toolkit.checkpoints``), exact resume
(random states in the training state) and the skipping of non-finite optimisation steps."""
import os
from collections import OrderedDict

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from basicsr.archs import build_network
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only

from ..archs.optimize import optimize_for_inference
from ..data.batched_degradations import degrade_batch
from ..data.degradations import degradation_scales
from ..toolkit.checkpoints import describe, merge_network, save, write
from ..utils.resume import capture_rng_state, restore_rng_state
from .precision import TrainingPrecision
from .priors import prior_log_lines


def with_checkpoint_network(opt):
    """``opt`` with ``network_g`` taking the network options recorded in ``path.pretrain_network_g``, if any.

    A self-describing checkpoint (e.g. a converted official release) states the constructor options its weights
    need; building from the option file's block alone could pick another reading of the same weights (GCFSR's
    ``positive_scales``, ``factor_norm``). Returns a new dict; ``opt`` is not changed.
    """
    load_path = (opt.get('path') or {}).get('pretrain_network_g')
    if not load_path or 'network_g' not in opt:
        return opt
    stored = describe(os.path.expanduser(load_path), 'path.pretrain_network_g').network
    if stored is None:
        return opt
    block, differing = merge_network(opt['network_g'], stored, load_path)
    if differing:
        changes = ', '.join(f'{k}={new!r} (option file: {old!r})' for k, (old, new) in differing.items())
        get_root_logger().warning(f'Using the network options {load_path} was saved with: {changes}.')
    return dict(opt, network_g=block)


def trained_scales(opt):
    """The upscaling factors the training set of ``opt`` produces (``datasets.train.degradation``), or None
    (blind degradations, pre-made pairs): recorded in every saved checkpoint."""
    train = (opt.get('datasets') or {}).get('train') or {}
    return degradation_scales(train.get('degradation'))


class NonFiniteLossError(RuntimeError):
    """Training stopped: too many consecutive iterations with non-finite losses."""


class LazyLossLog(OrderedDict):
    """Logged losses kept as device tensors, read as floats: the host waits for the device only when a value
    is read (BasicSR's training loop reads them every ``logger.print_freq`` iterations)."""

    def __getitem__(self, key):
        return float(super().__getitem__(key))

    def values(self):
        return [self[key] for key in self]

    def items(self):
        return [(key, self[key]) for key in self]

    def update(self, other=(), **kwargs):
        """Merge, keeping the tensors of another :class:`LazyLossLog` unread."""
        super().update(OrderedDict.items(other) if isinstance(other, LazyLossLog) else other, **kwargs)


class FaceBaseModel(SRModel):
    """``SRModel`` whose networks may be wrapped in DDP on CPU (gloo), with outputs in [-1, 1].

    Faces are normalised to [-1, 1] (mean 0.5, std 0.5) by the datasets, as in the StyleGAN2-based
    methods; ``get_current_visuals`` maps back to [0, 1] for BasicSR's saving and metrics.

    Reliability:
        - Checkpoints and training states are written atomically (:meth:`save_network`,
          :meth:`save_training_state`, through ``toolkit.checkpoints``).
        - Training states also hold every rank's torch / numpy / python random states (key ``rng``, one
          entry per rank), restored by :meth:`resume_training`; validation leaves them untouched. With the
          data order restored by ``utils/resume.py``, a resumed run repeats the uninterrupted one.
        - :meth:`finish_step` (or its parts :meth:`all_finite`, :meth:`step_if_finite`, :meth:`update_ema`)
          lets ``optimize_parameters`` skip optimiser and EMA updates when a loss is non-finite, decided on
          the device (fused Adam's ``found_inf``): no host sync per iteration. With a :meth:`snapshot_buffers`
          taken first, a skipped step also leaves the networks' buffers unchanged. Skipped steps are counted
          when the losses are logged, and training stops after ``train.max_nonfinite_steps`` in a row
          (default 20).
        - Top-level option ``sync_bn`` (default true): in distributed GPU training, networks holding
          BatchNorm layers are converted to ``SyncBatchNorm``. PyTorch's SyncBatchNorm has no CPU
          implementation, so CPU (gloo) runs keep per-process BatchNorm statistics, with a warning.
        - The log names every pretrained part (StyleGAN2 / parsing / loss networks) and the file it was loaded
          from, with a short SHA-256, or says it has random weights (``models/priors.py``).

    Precision (``train.mixed_precision``: none, bf16, fp16; ``train.channels_last``; see ``models/precision.py``):
    subclasses run their forward passes and losses in :meth:`autocast`, regularisers in :meth:`float32`, every
    backward pass through :meth:`backward` and every optimiser step through :meth:`step_optimizer`.
    """

    def __init__(self, opt):
        self.nonfinite_streak = 0
        self._pending_finite = []
        self.precision = TrainingPrecision(opt.get('train') if opt.get('is_train') else None)
        super().__init__(with_checkpoint_network(opt))
        if opt.get('rank', 0) == 0:
            logger = get_root_logger()
            for line in prior_log_lines(opt, opt.get('is_train', False)):
                logger.info(line)

    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        """Save ``<net_label>_<iter>.pth`` (``latest`` for iteration -1) atomically and self-describing.

        Replaces BasicSR's save (same file name, ``param_key`` entries and CPU tensors without ``module.``) and
        writes through ``toolkit.checkpoints.write``: a temporary file renamed over the target, so a run killed
        mid-save leaves the previous checkpoint intact. The file also holds the network block it was built from
        (the option block ``network_<suffix>`` of ``net_<suffix>``, pretrained-file options None) and the
        upscaling factors of the training set (:func:`trained_scales`), so ``scripts/inference.py --weights FILE``
        rebuilds it alone and ``reproduce`` knows which test sets it is for. Networks not built from one such
        block (PVFR's ModuleDict of local discriminators) are saved without it.
        """
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'{len(nets)} networks for the checkpoint keys {keys}')
        states = []
        for one in nets:
            state = self.get_bare_model(one).state_dict()
            states.append({k.removeprefix('module.'): v.cpu() for k, v in state.items()})
        block = self.opt.get(f'network_{net_label.removeprefix("net_")}')
        bare = self.get_bare_model(nets[0])
        network = block if isinstance(block, dict) and type(bare).__name__ == block.get('type') else None
        name = f'{net_label}_{"latest" if current_iter == -1 else current_iter}.pth'
        write(os.path.join(self.opt['path']['models'], name), states, network=network,
              scales=trained_scales(self.opt) if network is not None else None, param_key=keys)

    def save_training_state(self, epoch, current_iter):
        """BasicSR's training state plus every rank's random states, written atomically by rank 0.

        Called on every rank (the random states are gathered); only rank 0 writes.
        """
        if current_iter == -1:
            return
        rng = capture_rng_state()
        if self.opt['dist']:
            states = [None] * dist.get_world_size()
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        self._write_training_state(epoch, current_iter, states)

    @master_only
    def _write_training_state(self, epoch, current_iter, rng_states):
        state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers], 'rng': rng_states}
        state.update(self.precision_state())
        save(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'), state)

    def resume_training(self, resume_state):
        """BasicSR's optimiser and scheduler restore, plus this rank's random states when saved."""
        super().resume_training(resume_state)
        self.load_precision_state(resume_state)
        rng_states = resume_state.get('rng')
        world_size = self.opt.get('world_size', 1)
        if rng_states is None:
            get_root_logger().warning('The training state holds no random states (older run): the resumed run '
                                      'will not repeat the uninterrupted one exactly.')
        elif len(rng_states) != world_size:
            get_root_logger().warning(f'The training state holds random states of {len(rng_states)} process(es), '
                                      f'this run has {world_size}: random states not restored.')
        else:
            restore_rng_state(rng_states[self.opt.get('rank', 0)])

    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BasicSR's validation, leaving the training's random states as they were."""
        rng = capture_rng_state()
        try:
            super().validation(dataloader, current_iter, tb_logger, save_img)
        finally:
            restore_rng_state(rng)

    def build_optimizer(self, optim_opt, params):
        """An optimiser from an option block ({'type': 'Adam', 'lr': ..., ...}), appended to ``self.optimizers``."""
        optim_opt = dict(optim_opt)
        optimizer = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(optimizer)
        return optimizer

    def setup_ema(self, decay):
        """Build ``net_g_ema`` (BasicSR's EMA copy of ``net_g``) when ``decay`` > 0, from the pretrained
        ``params_ema`` when ``path.pretrain_network_g`` is set, else from ``net_g``; sets ``self.ema_decay``."""
        self.ema_decay = decay
        if decay <= 0:
            return
        get_root_logger().info(f'Use Exponential Moving Average with decay: {decay}')
        self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
        load_path = self.opt['path'].get('pretrain_network_g')
        if load_path is not None:
            self.load_network(self.net_g_ema, load_path, self.opt['path'].get('strict_load_g', True), 'params_ema')
        else:
            self.model_ema(0)
        self.net_g_ema.eval().requires_grad_(False)
        self.precision.to_layout(self.net_g_ema)

    def model_to_device(self, net):
        self.precision.check_device(self.device)
        net = self.precision.to_layout(net.to(self.device))
        if self.opt['dist']:
            net = self._sync_batchnorm(net)
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
            net = DistributedDataParallel(
                net, device_ids=device_ids, find_unused_parameters=self.opt.get('find_unused_parameters', False))
        elif self.opt['num_gpu'] > 1:
            net = torch.nn.DataParallel(net)
        return net

    def _sync_batchnorm(self, net):
        """Convert BatchNorm to SyncBatchNorm for distributed GPU training (option ``sync_bn``)."""
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, torch.nn.SyncBatchNorm)
                     for m in net.modules())
        if not has_bn or not self.opt.get('sync_bn', True):
            return net
        if self.device.type != 'cuda':
            get_root_logger().warning(f'{net.__class__.__name__} has BatchNorm layers but SyncBatchNorm needs GPUs: '
                                      'on CPU each process keeps its own batch statistics.')
            return net
        get_root_logger().info(f'{net.__class__.__name__}: BatchNorm converted to SyncBatchNorm.')
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)

    def all_finite(self, losses):
        """Device-side flag (0-dim bool tensor): every loss is finite, on every rank.

        No host sync: under DDP the flag is all-reduced (MIN) so that every rank skips the same steps.

        Args:
            losses (Iterable[Tensor]): Loss tensors of the step.
        """
        flags = [torch.isfinite(loss.detach()).all() for loss in losses]
        finite = torch.stack(flags).all() if flags else torch.ones((), dtype=torch.bool, device=self.device)
        if self.opt['dist']:
            finite = finite.float()
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            finite = finite.bool()
        return finite

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        """BasicSR's optimiser factory, with Adam / AdamW fused by default (option ``fused: false`` to opt out):
        a fused Adam skips a step on the device when told its losses were not finite (``found_inf``, as
        ``torch.amp.GradScaler`` uses it), so :meth:`step_if_finite` needs no host sync."""
        if optim_type in ('Adam', 'AdamW'):
            kwargs.setdefault('fused', True)
        return super().get_optimizer(optim_type, params, lr, **kwargs)

    @staticmethod
    def step_if_finite(optimizer, finite):
        """``optimizer.step()`` when ``finite`` (the :meth:`all_finite` flag) is true, else nothing changes (weights,
        moments, step counts). Fused Adam decides on the device; other optimisers (and states resumed from
        unfused runs) read the flag on the host."""
        if all(group.get('fused') for group in optimizer.param_groups):
            optimizer.grad_scale = None
            optimizer.found_inf = (~finite).float()
            optimizer.step()
        elif finite:
            optimizer.step()

    def update_ema(self, finite):
        """EMA of ``net_g`` (``train.ema_decay``) when ``finite``; a skipped step leaves ``net_g_ema`` as it was.
        The decay is chosen on the device (1 when not finite), so there is no host sync."""
        if self.ema_decay <= 0:
            return
        weight = torch.where(finite, 1 - self.ema_decay, 0.0)
        params = dict(self.get_bare_model(self.net_g).named_parameters())
        with torch.no_grad():
            for name, ema in self.net_g_ema.named_parameters():
                ema.lerp_(params[name], weight)

    def finish_step(self, current_iter, loss_dict, optimizers, buffers=None):
        """End an iteration whose backward passes are done: step ``optimizers`` and update EMA only if every loss
        in ``loss_dict`` is finite on every rank, else restore ``buffers`` (:meth:`snapshot_buffers`); the
        skip is decided on the device. Skipped steps are counted when the losses are next logged
        (:meth:`check_nonfinite`)."""
        finite = self.all_finite(loss_dict.values())
        for optimizer in optimizers:
            self.step_optimizer(optimizer, finite, current_iter)
        self.update_ema(finite)
        if buffers is not None:
            self.restore_buffers_unless(finite, buffers)
        self.record_finite(current_iter, finite, loss_dict)

    def record_finite(self, current_iter, finite, loss_dict):
        """Keep an iteration's finiteness flag and losses (device tensors) for :meth:`check_nonfinite`."""
        self._pending_finite.append((current_iter, finite, {k: v.detach() for k, v in loss_dict.items()}))

    def check_nonfinite(self):
        """Read the flags recorded since the last check (one host sync for all), warn about every skipped
        iteration and raise :class:`NonFiniteLossError` past ``train.max_nonfinite_steps`` in a row. Called
        when the losses are logged (every ``logger.print_freq`` iterations); the skipped steps changed nothing,
        so checkpoints saved meanwhile hold good weights."""
        self.precision.log_overflows()
        pending, self._pending_finite = self._pending_finite, []
        if not pending:
            return
        flags = torch.stack([finite for _, finite, _ in pending]).tolist()
        for (current_iter, _, loss_dict), finite in zip(pending, flags):
            self.count_nonfinite(finite, current_iter, loss_dict)

    def snapshot_buffers(self):
        """Copies of the buffers of the trained networks (every ``net_*`` but ``net_g_ema``), taken before an
        iteration's forward passes, which update some of them in place (BatchNorm running statistics,
        spectral-norm vectors): :meth:`restore_buffers_unless` puts them back when the iteration is skipped.
        Device-side copies only (no host sync)."""
        nets = [net for name, net in vars(self).items()
                if name.startswith('net_') and name != 'net_g_ema' and isinstance(net, torch.nn.Module)]
        buffers = list({id(b): b for net in nets for b in net.buffers()}.values())
        return buffers, [b.detach().clone() for b in buffers]

    def restore_buffers_unless(self, finite, buffers):
        """Put back the :meth:`snapshot_buffers` copies when ``finite`` is false (on the device, no host sync)."""
        with torch.no_grad():
            for buffer, saved in zip(*buffers):
                buffer.copy_(torch.where(finite, buffer, saved))

    def count_nonfinite(self, finite, current_iter, loss_dict):
        """Count consecutive skipped steps; raise :class:`NonFiniteLossError` past ``train.max_nonfinite_steps``.

        Args:
            finite (bool): Whether this iteration's losses were finite (the step was taken).
            current_iter (int): The iteration, for messages.
            loss_dict (dict[str, Tensor]): The iteration's losses, named in the messages.
        """
        if finite:
            self.nonfinite_streak = 0
            return
        self.nonfinite_streak += 1
        limit = self.opt['train'].get('max_nonfinite_steps', 20)
        values = ', '.join(f'{k}={v.detach().float().mean().item():.4g}' for k, v in loss_dict.items())
        get_root_logger().warning(f'Iteration {current_iter}: non-finite loss ({values}); optimiser step skipped '
                                  f'({self.nonfinite_streak} in a row, limit train.max_nonfinite_steps={limit}).')
        if self.nonfinite_streak >= limit:
            raise NonFiniteLossError(
                f'Training stopped at iteration {current_iter}: {self.nonfinite_streak} consecutive iterations had '
                f'non-finite losses ({values}). No update was applied during them, so the last checkpoint in '
                f"{self.opt['path'].get('models')} holds good weights. Lower the learning rates or loss weights, "
                'check the data, then resume with --auto_resume.')

    def feed_data(self, data):
        if 'gt' in data:
            self.gt = self.precision.input_layout(data['gt'].to(self.device))
        if 'degradation' in data:  # dataset option degradation_on_device: degrade the batch here
            self.lq = degrade_batch((self.gt + 1) / 2, data['degradation']) * 2 - 1
        else:
            self.lq = data['lq'].to(self.device)
        self.lq = self.precision.input_layout(self.lq)

    def generate(self, net):
        """Run a generator on the current batch; subclasses pass their extra inputs."""
        return net(self.lq)

    def inference_net(self):
        """The network that restores validation / test batches: ``net_g_ema`` when present, else ``net_g``.

        In the test pipeline (``is_train`` false) it is first turned into the optimised inference path once
        (``archs/optimize.py``: folded BatchNorm and weight scales, channels_last; equal within 1e-4),
        unless ``val.optimize_inference`` is false. Training validation runs the trained network untouched.
        """
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.net_g
        if (not self.is_train and (self.opt.get('val') or {}).get('optimize_inference', True)
                and not getattr(self, '_inference_optimized', False)):
            optimize_for_inference(self.get_bare_model(net))
            self._inference_optimized = True
            get_root_logger().info('Testing with the optimised inference path (folded weights, channels_last); '
                                   'val.optimize_inference: false runs the network as trained.')
        return net

    def test(self):
        net = self.inference_net()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            self.output = self.generate(net)
        net.train(was_training)

    def reduce_loss_dict(self, loss_dict):
        """Losses for logging without a host sync: BasicSR's version calls ``.item()`` on every loss of every
        iteration; here they stay on the device (averaged over ranks by one all-reduce under DDP) in a
        :class:`LazyLossLog`, converted to floats when read.

        Args:
            loss_dict (dict[str, Tensor | float]): The iteration's losses.
        """
        with torch.no_grad():
            names = list(loss_dict)
            if not names:
                return LazyLossLog()
            losses = torch.stack([torch.as_tensor(loss_dict[k], device=self.device).detach().float().mean()
                                  for k in names])
            if self.opt['dist']:
                dist.all_reduce(losses)
                losses /= self.opt['world_size']
            return LazyLossLog(zip(names, losses.unbind()))

    def get_current_log(self):
        """The logged losses as floats, after counting the skipped steps since the last log (the host syncs
        of the logging; BasicSR calls this every ``logger.print_freq`` iterations)."""
        self.check_nonfinite()
        return dict(self.log_dict.items())

    def get_current_visuals(self):
        visuals = {'lq': self.lq, 'result': self.output}
        if hasattr(self, 'gt'):
            visuals['gt'] = self.gt
        return {k: ((v.detach() + 1) / 2).clamp_(0, 1).cpu() for k, v in visuals.items()}

    # Mixed precision (train.mixed_precision) and loss scaling: models/precision.py

    def autocast(self):
        """Context of the forward passes and the losses: autocast to bf16 / fp16 on this model's device, or none."""
        return self.precision.autocast(self.device)

    def float32(self):
        """Context with autocast off, for what must stay float32 (R1, path-length regularisation)."""
        return self.precision.float32(self.device)

    def backward(self, loss, optimizer):
        """``loss.backward()`` for the parameters of ``optimizer`` (scaled by its loss scaler in fp16 training)."""
        self.precision.backward(loss, optimizer)

    def step_optimizer(self, optimizer, finite, current_iter=None):
        """:meth:`step_if_finite`, and in fp16 training also skipped when the scaled gradients overflowed (logged
        with the losses, not counted as a non-finite loss), with the loss scale updated."""
        index = next(i for i, o in enumerate(self.optimizers) if o is optimizer)
        self.precision.step(optimizer, finite, self.step_if_finite, index, current_iter)

    def precision_state(self):
        """Training-state entries of the precision: the fp16 loss scalers' states (key ``grad_scalers``)."""
        states = self.precision.state_dict(self.optimizers)
        return {'grad_scalers': states} if any(states) else {}

    def load_precision_state(self, resume_state):
        """Restore the fp16 loss scalers from a training state written by :meth:`precision_state`."""
        states = resume_state.get('grad_scalers')
        if states is not None:
            self.precision.load_state_dict(states, self.optimizers)
        elif self.precision.mode == 'fp16':
            get_root_logger().warning('The training state holds no fp16 loss-scaler states (the run was not fp16): '
                                      'the loss scales start afresh.')
