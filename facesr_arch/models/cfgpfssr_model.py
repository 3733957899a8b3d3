"""CFGPFSSR training: the generic GAN model with the paper's minimax generator loss (eq. 10)."""
from basicsr.utils.registry import MODEL_REGISTRY

from .face_gan_model import FaceGANModel, require_vanilla_gan_loss, saturating_generator_loss


@MODEL_REGISTRY.register()
class CFGPFSSRModel(FaceGANModel):
    """Trains :class:`~facesr_arch.archs.cfgpfssr_arch.CFGPFSSR` (Liu et al. 2024, sections 3.5 and 4.1).

    Everything but the generator's adversarial term is :class:`FaceGANModel`: MSE (eq. 8), VGG16 perceptual
    (eq. 9) and the discriminator loss of eq. 11 (``GANLoss`` 'vanilla': D minimises
    -log D(HR) - log(1 - D(SR))). Only parameters with ``requires_grad`` reach the optimiser, so the frozen
    GAN Prior Bank and parsing network stay fixed (section 4).

    Eq. 10 gives the generator the original minimax ("saturating") loss log(1 - D(SR)), which is
    -BCE(D(SR), fake) of the configured vanilla GAN loss; ``saturating_gan_loss: false`` uses the usual
    non-saturating -log D(SR) instead.

    Extra ``train`` option:
        saturating_gan_loss (bool): Generator adversarial loss log(1 - D(SR)) (eq. 10). Default: True.
    """

    train_option_keys = FaceGANModel.train_option_keys | {'saturating_gan_loss'}

    def init_training_settings(self):
        self.saturating_gan_loss = self.opt['train'].get('saturating_gan_loss', True)
        super().init_training_settings()
        if self.saturating_gan_loss:
            require_vanilla_gan_loss(self.cri_gan, 'saturating_gan_loss (eq. 10): gan_opt')

    def generator_losses(self, output):
        if not self.saturating_gan_loss or self.cri_gan is None:
            return super().generator_losses(output)
        cri_gan, self.cri_gan = self.cri_gan, None  # the pixel and perceptual terms of the parent class
        try:
            losses = super().generator_losses(output)
        finally:
            self.cri_gan = cri_gan
        # eq. 10: minimise log(1 - D(SR)) = -BCE(D(SR), 0), weighted by alpha_g (eq. 12)
        losses['l_g_gan'] = saturating_generator_loss(self.cri_gan, self.net_d(output))
        return losses
