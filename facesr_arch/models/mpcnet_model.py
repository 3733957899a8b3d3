"""MPCNet training: the generic GAN model plus the gram-matrix style loss and a learning rate halved on a
validation plateau."""
import torch
from torch import distributed as dist
from torch.optim.lr_scheduler import ReduceLROnPlateau

from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from .face_gan_model import FaceGANModel


@MODEL_REGISTRY.register()
class MPCNetModel(FaceGANModel):
    """MPCNet's objective and schedule (Teng et al. 2022, section 3.4 and 4.1).

    Losses come from the options as in :class:`FaceGANModel`: ``pixel_opt`` and ``perceptual_opt`` make the
    reconstruction loss (eq. 8), ``gan_opt`` the hinge adversarial loss (eq. 9) and ``style_opt`` the
    gram-matrix loss (eq. 10), a second ``FacePerceptualLoss`` over other layers with its own criterion.

    ``train.scheduler`` may be ``{type: ReduceLROnPlateau, factor, patience, threshold, threshold_mode,
    cooldown, min_lr}`` (PyTorch's scheduler, mode 'min'): "the learning rate ... decreased to half when the
    reconstruction loss is no longer dropping on the validation set" (4.1). BasicSR steps schedulers every
    iteration; this one is stepped by :meth:`validation` instead, with the mean reconstruction loss (eq. 8,
    as weighted in the options) over the validation images that have a ground truth. Every validation set
    steps it, so a paper-style run names one. Other scheduler types behave as in BasicSR.
    """

    train_option_keys = FaceGANModel.train_option_keys | {'style_opt'}
    _val_reconstruction = None  # a list while a plateau-stepping validation collects losses

    def init_training_settings(self):
        super().init_training_settings()
        self.cri_style = self._build_loss('style_opt')

    def generator_losses(self, output):
        losses = super().generator_losses(output)
        if self.cri_style is not None:
            _, style = self.cri_style(output, self.gt)
            losses['l_g_style'] = style
        return losses

    def setup_schedulers(self):
        scheduler_opt = dict(self.opt['train']['scheduler'])
        self.plateau = scheduler_opt.get('type') == 'ReduceLROnPlateau'
        if not self.plateau:
            super().setup_schedulers()
            return
        if self.opt['train'].get('warmup_iter', -1) > 0:
            raise ValueError('train.warmup_iter is not supported with the ReduceLROnPlateau scheduler; set it to -1')
        scheduler_opt.pop('type')
        for optimizer in self.optimizers:
            self.schedulers.append(ReduceLROnPlateau(optimizer, mode='min', **scheduler_opt))

    def update_learning_rate(self, current_iter, warmup_iter=-1):
        """Per-iteration scheduling of BasicSR; the plateau scheduler steps in :meth:`validation` only."""
        if not self.plateau:
            super().update_learning_rate(current_iter, warmup_iter)

    def test(self):
        super().test()
        if self._val_reconstruction is not None and hasattr(self, 'gt'):
            with torch.no_grad():
                self._val_reconstruction.append(self.reconstruction_loss(self.output, self.gt))

    def reconstruction_loss(self, output, gt):
        """Eq. 8 with the configured weights: pixel L1 plus the perceptual term (0 for absent losses)."""
        loss = output.new_zeros(())
        if self.cri_pix is not None:
            loss = loss + self.cri_pix(output, gt)
        if self.cri_perceptual is not None:
            percep, _ = self.cri_perceptual(output, gt)
            if percep is not None:
                loss = loss + percep
        return loss

    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BasicSR's validation, then one plateau step on the mean validation reconstruction loss.

        Under DDP only rank 0 validates (BasicSR); the sum and count are all-reduced so that every rank
        steps its schedulers with the same value and the learning rates stay equal.
        """
        stepping = self.opt['is_train'] and getattr(self, 'plateau', False)
        self._val_reconstruction = [] if stepping else None
        try:
            super().validation(dataloader, current_iter, tb_logger, save_img)
            losses = self._val_reconstruction
        finally:
            self._val_reconstruction = None
        if not stepping:
            return
        total = torch.stack(losses).sum().float() if losses else torch.zeros(())
        stats = torch.stack([total, torch.tensor(float(len(losses)))]).to(self.device)
        if self.opt['dist']:
            dist.all_reduce(stats)
        if stats[1] == 0:
            return
        val_loss = (stats[0] / stats[1]).item()
        for scheduler in self.schedulers:
            scheduler.step(val_loss)
        dataset_name = dataloader.dataset.opt['name']
        lrs = ', '.join(f'{lr:.3e}' for lr in self.get_current_learning_rate())
        get_root_logger().info(f'Validation {dataset_name} reconstruction loss (plateau scheduler): {val_loss:.4f}; '
                               f'learning rate: {lrs}')
        if tb_logger:
            tb_logger.add_scalar(f'losses/val_reconstruction/{dataset_name}', val_loss, current_iter)
