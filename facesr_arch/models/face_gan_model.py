"""Generic GAN training for face restoration: generator, EMA, global discriminator, YAML-configured losses."""
from collections import OrderedDict


from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.losses.gan_loss import r1_penalty
from basicsr.utils.registry import MODEL_REGISTRY

from .base import FaceBaseModel


ADAM_BETAS = (0.9, 0.999)  # torch.optim.Adam's default


def lazy_reg_corrected(optim_opt, reg_every):
    """An optimiser block with StyleGAN2's lazy-regularisation correction: lr * c, betas ** c, c = k / (k + 1).

    Args:
        optim_opt (dict): BasicSR optimiser options (``type``, ``lr``, optional ``betas``).
        reg_every (int): The network's regularisation interval k.

    Returns:
        dict: A new block; ``optim_opt`` is unchanged.
    """
    ratio = reg_every / (reg_every + 1)
    betas = optim_opt.get('betas', ADAM_BETAS)
    return dict(optim_opt, lr=optim_opt['lr'] * ratio, betas=[beta**ratio for beta in betas])


def saturating_generator_loss(cri_gan, pred):
    """The generator's term of the original minimax GAN: minimise log(1 - D(G(x))) = -BCE(D(G(x)), fake),
    weighted by the loss's ``loss_weight`` (a ``GANLoss`` of ``gan_type`` 'vanilla'; the usual non-saturating
    alternative is ``cri_gan(pred, True, is_disc=False)`` = -log D(G(x)))."""
    return -cri_gan(pred, False, is_disc=False)


def require_vanilla_gan_loss(cri_gan, what):
    """Raise unless ``cri_gan`` is the log-likelihood ('vanilla') GAN loss that ``what`` is written in."""
    if cri_gan is not None and cri_gan.gan_type != 'vanilla':
        raise ValueError(f"{what} needs gan_type 'vanilla' (the log-likelihood GAN loss), got {cri_gan.gan_type!r}")


@MODEL_REGISTRY.register()
class FaceGANModel(FaceBaseModel):
    """Generator trained with pixel / perceptual / adversarial losses against a global discriminator.

    ``train`` options (each loss optional; a missing ``gan_opt`` or ``network_d`` trains without GAN):
        ema_decay (float): EMA decay of ``net_g_ema``; 0 disables EMA. Default: 0.999.
        optim_g, optim_d (dict): BasicSR optimiser options.
        scheduler (dict): BasicSR scheduler options.
        pixel_opt, perceptual_opt, gan_opt (dict): Loss options (BasicSR or facesr_arch losses).
        r1_reg_weight (float): R1 penalty weight gamma (gamma/2 * E||grad D(real)||^2). Default: 0.
        net_d_reg_every (int): Lazy R1: every N iterations, scaled by N (StyleGAN2). Default: 16.
        net_d_iters, net_d_init_iters (int): D steps per G step / D-only warm-up iterations. Default: 1, 0.
        lazy_reg_correction (bool): StyleGAN2's optimiser correction for lazy regularisation (Karras et al.,
            "Analyzing and improving the image quality of StyleGAN", CVPR 2020, appendix B): each network's
            learning rate is multiplied by c = k / (k + 1) and its Adam betas raised to the power c, with k its
            regularisation interval (``net_g_reg_every`` for G, ``net_d_reg_every`` for D). The official GCFSR
            release applies it to both networks. Default: False (the option files' learning rates as given).
        net_g_reg_every (int): G's interval k in ``lazy_reg_correction`` (the GCFSR release uses 4 although it
            trains its generator without a regulariser). Default: 4.
        total_iter, warmup_iter (int): BasicSR's schedule.
        max_nonfinite_steps (int): Stop training after this many consecutive iterations whose losses were
            non-finite (their optimiser steps are skipped). Default: 20.
        mixed_precision (str): 'none', 'bf16' or 'fp16' (``models/precision.py``): the forward passes and losses
            under autocast, R1 in float32. Default: 'none' (float32, as the papers).
        channels_last (bool): Train in the channels_last memory layout. Default: False.
    """

    train_option_keys = {
        'ema_decay', 'optim_g', 'optim_d', 'scheduler', 'total_iter', 'warmup_iter', 'pixel_opt', 'perceptual_opt',
        'gan_opt', 'r1_reg_weight', 'net_d_reg_every', 'net_d_iters', 'net_d_init_iters',
        'max_nonfinite_steps', 'lazy_reg_correction', 'net_g_reg_every', 'mixed_precision', 'channels_last',
    }

    def init_training_settings(self):
        train_opt = self.opt['train']
        self.net_g.train()
        self.setup_ema(train_opt.get('ema_decay', 0.999))

        self.net_d = None
        if self.opt.get('network_d') is not None:
            self.net_d = self.model_to_device(build_network(self.opt['network_d']))
            self.print_network(self.net_d)
            load_path = self.opt['path'].get('pretrain_network_d')
            if load_path is not None:
                self.load_network(self.net_d, load_path, self.opt['path'].get('strict_load_d', True),
                                  self.opt['path'].get('param_key_d', 'params'))
            self.net_d.train()

        self.cri_pix = self._build_loss('pixel_opt')
        self.cri_perceptual = self._build_loss('perceptual_opt')
        self.cri_gan = self._build_loss('gan_opt')
        if self.cri_gan is not None and self.net_d is None:
            raise ValueError('train.gan_opt is set but network_d is missing: add a discriminator or remove gan_opt')
        if self.cri_pix is None and self.cri_perceptual is None and self.cri_gan is None:
            raise ValueError('No generator loss configured: set at least one of train.pixel_opt, '
                             'train.perceptual_opt, train.gan_opt')
        self.r1_reg_weight = train_opt.get('r1_reg_weight', 0)
        self.net_d_reg_every = train_opt.get('net_d_reg_every', 16)
        self.net_d_iters = train_opt.get('net_d_iters', 1)
        self.net_d_init_iters = train_opt.get('net_d_init_iters', 0)

        self.setup_optimizers()
        self.setup_schedulers()

    def _build_loss(self, key):
        loss_opt = self.opt['train'].get(key)
        return None if loss_opt is None else build_loss(loss_opt).to(self.device)

    def setup_optimizers(self):
        train_opt = self.opt['train']
        optim_g, optim_d = train_opt['optim_g'], train_opt.get('optim_d')
        if train_opt.get('lazy_reg_correction', False):
            optim_g = lazy_reg_corrected(optim_g, train_opt.get('net_g_reg_every', 4))
            optim_d = optim_d and lazy_reg_corrected(optim_d, self.net_d_reg_every)
        self.optimizer_g = self.build_optimizer(optim_g, [p for p in self.net_g.parameters() if p.requires_grad])
        if self.net_d is not None:
            self.optimizer_d = self.build_optimizer(optim_d, [p for p in self.net_d.parameters() if p.requires_grad])

    def generator_losses(self, output):
        """Weighted generator losses for ``output``; extend in subclasses for method-specific terms."""
        losses = OrderedDict()
        if self.cri_pix is not None:
            losses['l_g_pix'] = self.cri_pix(output, self.gt)
        if self.cri_perceptual is not None:
            percep, style = self.cri_perceptual(output, self.gt)
            if percep is not None:
                losses['l_g_percep'] = percep
            if style is not None:
                losses['l_g_style'] = style
        if self.cri_gan is not None:
            losses['l_g_gan'] = self.cri_gan(self.net_d(output), True, is_disc=False)
        return losses

    def optimize_parameters(self, current_iter):
        """One G step and one D step; both are skipped when any of their losses is non-finite.

        Both backward passes run first (D sees the detached output, so the order of the steps does not
        matter), then those of :meth:`backward_extra_networks`, then a single finiteness check, on the device,
        decides whether the optimisers step (``FaceBaseModel.finish_step``; on a skipped step EMA is not
        updated and the networks' buffers updated by the forward passes are restored).
        """
        buffers = self.snapshot_buffers()
        loss_dict = OrderedDict()
        use_gan = self.cri_gan is not None
        if use_gan:
            self.net_d.requires_grad_(False)
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            self.output = self.generate(self.net_g).float()
        step_g = current_iter % self.net_d_iters == 0 and current_iter > self.net_d_init_iters
        if step_g:
            with self.autocast():
                losses = self.generator_losses(self.output)
            self.backward(sum(losses.values()), self.optimizer_g)
            loss_dict.update(losses)

        if use_gan:
            self._set_discriminator_trainable()
            self.optimizer_d.zero_grad(set_to_none=True)
            with self.autocast():
                real_pred = self.net_d(self.gt)
                fake_pred = self.net_d(self.output.detach())
                l_d_real = self.cri_gan(real_pred, True, is_disc=True)
                l_d_fake = self.cri_gan(fake_pred, False, is_disc=True)
            self.backward(l_d_real + l_d_fake, self.optimizer_d)
            loss_dict['l_d_real'] = l_d_real
            loss_dict['l_d_fake'] = l_d_fake
            if self.r1_reg_weight > 0 and current_iter % self.net_d_reg_every == 0:
                with self.float32():
                    # contiguous: r1_penalty views the gradient (the batch may be channels_last)
                    gt = self.gt.detach().contiguous().requires_grad_(True)
                    real_pred_reg = self.net_d(gt)
                    # lazy R1 (StyleGAN2): gamma/2 * penalty, applied every N steps and scaled by N; the
                    # 0 * real_pred_reg term keeps every D parameter in the graph for DDP.
                    l_d_r1 = self.r1_reg_weight / 2 * r1_penalty(real_pred_reg, gt) * self.net_d_reg_every
                self.backward(l_d_r1 + 0 * real_pred_reg[0].sum(), self.optimizer_d)
                loss_dict['l_d_r1'] = l_d_r1.detach()

        extra_optimizers = self.backward_extra_networks(loss_dict)

        optimizers = ([self.optimizer_g] if step_g else []) + ([self.optimizer_d] if use_gan else []) + extra_optimizers
        self.finish_step(current_iter, loss_dict, optimizers, buffers)
        if use_gan:
            loss_dict['out_d_real'] = real_pred.detach().mean()
            loss_dict['out_d_fake'] = fake_pred.detach().mean()
        self.log_dict = self.reduce_loss_dict(loss_dict)

    def backward_extra_networks(self, loss_dict):
        """Hook for subclasses training further networks (e.g. PVFR's local discriminators) in the same
        iteration: zero their gradients, run their forward passes in :meth:`autocast` and their backward passes
        through :meth:`backward` (``self.output`` is the generator's output) and add their losses to
        ``loss_dict``, so that the iteration's single finiteness check covers them.

        Returns:
            list[Optimizer]: Optimisers stepped with the others when the iteration's losses are finite.
        """
        return []

    def _set_discriminator_trainable(self):
        """Re-enable gradients for the discriminator, except layers it keeps frozen (FreezeD)."""
        net_d = self.get_bare_model(self.net_d)
        frozen = getattr(net_d, 'num_frozen_layers', 0)
        net_d.requires_grad_(True)
        if frozen:
            for layer in list(net_d.conv_body)[:frozen]:
                layer.requires_grad_(False)

    def save(self, epoch, current_iter):
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)
        if self.net_d is not None:
            self.save_network(self.net_d, 'net_d', current_iter)
        self.save_training_state(epoch, current_iter)
