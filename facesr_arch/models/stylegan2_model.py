"""Unconditional StyleGAN2 training of the face prior (FFHQ), for users without a public checkpoint."""
import math
import random
from collections import OrderedDict

import torch
from torch import autograd

from basicsr.losses.gan_loss import r1_penalty
from basicsr.utils.registry import MODEL_REGISTRY

from .face_gan_model import FaceGANModel


@MODEL_REGISTRY.register()
class FaceStyleGAN2Model(FaceGANModel):
    """StyleGAN2 training: ``FaceStyleGAN2Generator`` from random latents against ``FaceStyleGAN2Discriminator``.

    Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020 (section 3.2 path-length
    regularisation, 3.1 lazy regularisation, appendix B; defaults of the official config-f). Each iteration:
    a discriminator step with the non-saturating logistic loss (``gan_opt``: BasicSR ``GANLoss`` with
    ``gan_type: wgan_softplus``), lazy R1 every ``net_d_reg_every`` steps (as in :class:`FaceGANModel`), a
    generator step, and every ``path_length_every`` steps the path-length penalty. Latents are drawn with
    style mixing (two codes and one crossover layer per batch, probability ``mixing_prob``); EMA of the
    generator as in :class:`FaceGANModel`. The dataset gives real faces only ('gt', e.g.
    ``FaceHQImageDataset``).

    In ``noise_mode: concat`` (PVFR's / GPEN's layout) there is no encoder while training the prior: every
    resolution's concatenated map is Gaussian noise of ``channels[r]`` channels, as GPEN pretrains its prior
    before the encoder replaces the noise. ``noise_mode: none`` trains MPCNet's noise-free generator.

    Validation: the dataset is ``FaceLatentDataset`` (fixed codes); the EMA generator's samples are saved
    by BasicSR's validation (``val.save_img``), with noise drawn from a fixed seed; there are no metrics.

    ``train`` options besides :class:`FaceGANModel`'s ``ema_decay``, ``optim_g``, ``optim_d``, ``scheduler``,
    ``total_iter``, ``warmup_iter``, ``gan_opt``, ``r1_reg_weight``, ``net_d_reg_every``:
        mixing_prob (float): Probability of style mixing per batch (0.9 in StyleGAN2). Default: 0.9.
        path_length_weight (float): Path-length weight (2 in StyleGAN2); 0 disables it. Default: 2.
        path_length_every (int): Lazy interval of the path-length penalty, which is scaled by it (4).
            Default: 4.
        path_length_decay (float): Decay of the running mean path length a (0.01). Default: 0.01.
        path_batch_shrink (int): The penalty uses batch / shrink samples (2, official release). Default: 2.
        max_nonfinite_steps (int): As in :class:`FaceGANModel`. Default: 20.
        mixed_precision (str), channels_last (bool): As in :class:`FaceGANModel`; R1 and the path-length penalty
            are computed in float32.
    """

    train_option_keys = {
        'ema_decay', 'optim_g', 'optim_d', 'scheduler', 'total_iter', 'warmup_iter', 'gan_opt', 'r1_reg_weight',
        'net_d_reg_every', 'mixing_prob', 'path_length_weight', 'path_length_every', 'path_length_decay',
        'path_batch_shrink', 'max_nonfinite_steps', 'mixed_precision', 'channels_last',
    }

    def init_training_settings(self):
        super().init_training_settings()
        if self.cri_gan is None:
            raise ValueError('FaceStyleGAN2Model trains adversarially: set train.gan_opt and network_d')
        train_opt = self.opt['train']
        self.mixing_prob = train_opt.get('mixing_prob', 0.9)
        self.path_length_weight = train_opt.get('path_length_weight', 2)
        self.path_length_every = train_opt.get('path_length_every', 4)
        self.path_length_decay = train_opt.get('path_length_decay', 0.01)
        self.path_batch_shrink = train_opt.get('path_batch_shrink', 2)
        # The running mean path length is kept in the generator optimiser's parameter group, so that BasicSR's
        # training state (optimizer state dicts) saves and resumes it with no change to the state layout.
        self.optimizer_g.param_groups[0].setdefault('mean_path_length', 0.0)

    def feed_data(self, data):
        if 'gt' in data:
            self.gt = self.precision.input_layout(data['gt'].to(self.device))
        if 'latent' in data:  # validation codes; BasicSR's validation loop expects (and deletes) self.lq
            self.lq = data['latent'].to(self.device)

    def random_latents(self, batch):
        """Codes z for one batch, (b, num_latent, num_style_feat): mixed with probability ``mixing_prob``.

        Mixing in z is mixing in W: the mapping MLP maps every code independently.
        """
        net = self.get_bare_model(self.net_g)
        z = torch.randn(2, batch, net.num_style_feat, device=self.device)
        if random.random() < self.mixing_prob:  # host-side draws (Python's generator, saved on resume): no sync
            crossover = random.randrange(1, net.num_latent)
        else:
            crossover = net.num_latent
        layer = torch.arange(net.num_latent, device=self.device)
        return torch.where((layer < crossover)[None, :, None], z[0][:, None], z[1][:, None])

    def synthesise(self, net, styles, return_latents=False):
        """Run a generator on codes; in 'concat' mode with Gaussian maps as the concatenated features."""
        bare = self.get_bare_model(net)
        concat = None
        if bare.noise_mode == 'concat':
            batch = styles.shape[0]
            concat = {res: torch.randn(batch, ch, res, res, device=self.device) for res, ch in bare.channels.items()}
        return net(styles, concat_features=concat, return_latents=return_latents)

    def generate(self, net):
        """Samples of the validation codes; noise from a fixed seed so that a sample changes only with training."""
        devices = [self.device] if self.device.type == 'cuda' else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            return self.synthesise(net, self.lq)

    def path_length_penalty(self, images, latents):
        """StyleGAN2 eq. 4: E[(||J_w^T y||_2 - a)^2], y ~ N(0, I) / sqrt(h w), a the running mean.

        Returns:
            tuple[Tensor, Tensor]: The penalty (differentiable) and the batch's path lengths (detached).
        """
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        grad, = autograd.grad((images * noise).sum(), latents, create_graph=True)
        path_lengths = grad.pow(2).sum(2).mean(1).sqrt()
        # the running mean lives in the optimiser's param group (saved with the training state), as a device
        # tensor so that updating it needs no host sync
        group = self.optimizer_g.param_groups[0]
        mean = torch.as_tensor(group['mean_path_length'], dtype=path_lengths.dtype, device=path_lengths.device)
        batch_mean = path_lengths.detach().mean()
        # a non-finite step is skipped; it must not poison the running mean
        mean = torch.where(torch.isfinite(batch_mean), mean + self.path_length_decay * (batch_mean - mean), mean)
        group['mean_path_length'] = mean
        return (path_lengths - mean).pow(2).mean(), path_lengths.detach()

    def optimize_parameters(self, current_iter):
        """A D step (with lazy R1), then a G step (with the lazy path-length penalty), as in StyleGAN2.

        Each phase's optimiser steps only when its losses are finite on every rank (``all_finite`` /
        ``step_if_finite``, decided on the device); the iteration counts as non-finite when either phase was
        skipped, and EMA is then not updated.
        """
        batch = self.gt.shape[0]

        # discriminator: softplus(D(fake)) + softplus(-D(real)), lazy R1
        losses_d = OrderedDict()
        self._set_discriminator_trainable()
        with torch.no_grad(), self.autocast():
            fake = self.synthesise(self.net_g, self.random_latents(batch))
        with self.autocast():
            real_pred = self.net_d(self.gt)
            fake_pred = self.net_d(fake)
            losses_d['l_d'] = (self.cri_gan(real_pred, True, is_disc=True)
                               + self.cri_gan(fake_pred, False, is_disc=True))
        self.optimizer_d.zero_grad(set_to_none=True)
        self.backward(losses_d['l_d'], self.optimizer_d)
        if self.r1_reg_weight > 0 and current_iter % self.net_d_reg_every == 0:
            with self.float32():
                # contiguous: r1_penalty views the gradient (the batch may be channels_last)
                gt = self.gt.detach().contiguous().requires_grad_(True)
                real_pred_reg = self.net_d(gt)
                losses_d['l_d_r1'] = self.r1_reg_weight / 2 * r1_penalty(real_pred_reg, gt) * self.net_d_reg_every
            # every D parameter in the graph (DDP)
            self.backward(losses_d['l_d_r1'] + 0 * real_pred_reg[0].sum(), self.optimizer_d)
        finite_d = self.all_finite(losses_d.values())
        self.step_optimizer(self.optimizer_d, finite_d, current_iter)

        # generator: softplus(-D(G(z))), lazy path-length penalty
        losses_g = OrderedDict()
        self.net_d.requires_grad_(False)
        with self.autocast():
            fake = self.synthesise(self.net_g, self.random_latents(batch))
            losses_g['l_g_gan'] = self.cri_gan(self.net_d(fake), True, is_disc=False)
        self.optimizer_g.zero_grad(set_to_none=True)
        self.backward(losses_g['l_g_gan'], self.optimizer_g)
        path_lengths = None
        if self.path_length_weight > 0 and current_iter % self.path_length_every == 0:
            pl_batch = max(1, batch // self.path_batch_shrink)
            with self.float32():
                fake, latents = self.synthesise(self.net_g, self.random_latents(pl_batch), return_latents=True)
                penalty, path_lengths = self.path_length_penalty(fake, latents)
                losses_g['l_g_path'] = self.path_length_weight * self.path_length_every * penalty
            # every G parameter in the graph (DDP)
            self.backward(losses_g['l_g_path'] + 0 * fake[0, 0, 0, 0], self.optimizer_g)
        finite_g = self.all_finite(losses_g.values())
        self.step_optimizer(self.optimizer_g, finite_g, current_iter)

        loss_dict = OrderedDict((k, v.detach()) for k, v in (*losses_d.items(), *losses_g.items()))
        self.update_ema(finite_d & finite_g)
        self.record_finite(current_iter, finite_d & finite_g, loss_dict)
        loss_dict['out_d_real'] = real_pred.detach().mean()
        loss_dict['out_d_fake'] = fake_pred.detach().mean()
        if path_lengths is not None:
            loss_dict['path_length'] = path_lengths.mean()
            loss_dict['mean_path_length'] = torch.as_tensor(self.optimizer_g.param_groups[0]['mean_path_length'],
                                                            device=self.device)
        self.log_dict = self.reduce_loss_dict(loss_dict)

    def get_current_visuals(self):
        return {'result': ((self.output.detach() + 1) / 2).clamp_(0, 1).cpu()}
