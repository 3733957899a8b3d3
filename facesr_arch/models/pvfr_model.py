"""PVFR training: fine-tuned StyleGAN2 prior with FreezeD, local facial-component GANs, identity loss."""
from torch import nn
from torch.nn import functional as F

from basicsr.archs import build_network
from basicsr.utils.registry import MODEL_REGISTRY

from ..archs.discriminator_arch import crop_components
from .face_gan_model import FaceGANModel, require_vanilla_gan_loss, saturating_generator_loss


@MODEL_REGISTRY.register()
class PVFRModel(FaceGANModel):
    """Training of PVFR (Hu et al., sections 3.3, 3.4 and 4.2) on top of :class:`FaceGANModel`.

    Generator loss (eq. 13-16): lambda_g * global non-saturating GAN (eq. 11, ``gan_opt``) + lambda_l * the sum
    of the local GAN losses of the left eye, right eye and mouth (eq. 12, ``gan_local_opt``) + lambda_L1 * L1
    (``pixel_opt``) + lambda_FM * VGG feature matching (``feature_matching_opt``) + lambda_FP * ArcFace
    face-preserving loss (``identity_opt``) + the per-scale L1 restoration loss of the codec's outputs
    (``pyramid_opt``, section 3.1, "similar to" GFPGAN's pyramid loss). Each is optional (a missing block is
    the Table 5 "w/o" variant).

    Eq. 12 gives the generator the saturating minimax term log(1 - D_comp(G(x)_comp)) for each component,
    where eq. 11 (global) is the non-saturating log(1 + exp(-D)); ``saturating_local_gan_loss: false`` uses the
    non-saturating -log D_comp instead (the local discriminators' own loss is the same either way).

    FreezeD (3.3, 4.2) is the global discriminator's ``num_frozen_layers``: frozen layers never enter the
    optimiser and stay frozen across the discriminator steps. The local discriminators (``network_d_local``,
    one copy per component, held in a ``ModuleDict``) see crops of the output and the ground truth at the
    boxes the dataset returns as ``box_<component>`` ([x1, y1, x2, y2] at the training size, flips applied),
    resampled to ``component_crop_sizes``.

    Extra ``train`` options:
        lr_per_module (dict[str, float]): Learning rate of each group of ``PVFR.parameter_groups()``
            (section 4.2: codec 2e-3, stylegan2 2e-4, noise_branches 2e-3); ``optim_g`` then has no ``lr``.
        optim_d_local (dict): Optimiser of the local discriminators (section 4.2: lr 2e-3).
        component_crop_sizes (dict[str, int]): Component name -> crop side in pixels; the names are those of
            the local discriminators and of the dataset's ``box_<name>`` entries.
        pyramid_opt, feature_matching_opt, identity_opt, gan_local_opt (dict): Loss options.
        pyramid_scales (list[int] | None): Sizes of the codec outputs the per-scale L1 loss compares with the
            resized ground truth (GFPGAN: 8 .. out_size); None: every scale 4 .. out_size. Default: None.
        remove_pyramid_loss (int | None): The per-scale L1 loss stops after this iteration (GFPGAN: 50000);
            None: never. Default: None.
        saturating_local_gan_loss (bool): Generator term log(1 - D_comp) of eq. 12 (needs ``gan_local_opt``
            of ``gan_type`` 'vanilla'). Default: True.
    """

    train_option_keys = FaceGANModel.train_option_keys | {
        'lr_per_module', 'optim_d_local', 'component_crop_sizes', 'pyramid_opt', 'feature_matching_opt',
        'identity_opt', 'gan_local_opt', 'pyramid_scales', 'remove_pyramid_loss', 'saturating_local_gan_loss',
    }

    def init_training_settings(self):
        train_opt = self.opt['train']
        self.component_crop_sizes = dict(train_opt.get('component_crop_sizes') or {})
        self.net_d_local = None
        if self.opt.get('network_d_local') is not None:
            if not self.component_crop_sizes:
                raise ValueError('network_d_local needs train.component_crop_sizes (component name -> crop size)')
            self.net_d_local = nn.ModuleDict({
                name: self.model_to_device(build_network(self.opt['network_d_local']))
                for name in self.component_crop_sizes
            })
            load_path = self.opt['path'].get('pretrain_network_d_local')
            if load_path is not None:
                self.load_network(self._bare_local_discriminators(), load_path,
                                  self.opt['path'].get('strict_load_d_local', True), 'params')
            self.net_d_local.train()
        self.cri_pyramid = self._build_loss('pyramid_opt')
        self.cri_feature_matching = self._build_loss('feature_matching_opt')
        self.cri_identity = self._build_loss('identity_opt')
        self.cri_gan_local = self._build_loss('gan_local_opt')
        self.pyramid_scales = train_opt.get('pyramid_scales')
        self.remove_pyramid_loss = train_opt.get('remove_pyramid_loss')
        self.saturating_local_gan_loss = train_opt.get('saturating_local_gan_loss', True)
        if self.saturating_local_gan_loss:
            require_vanilla_gan_loss(self.cri_gan_local, 'saturating_local_gan_loss (eq. 12): gan_local_opt')
        if (self.cri_gan_local is None) != (self.net_d_local is None):
            raise ValueError('train.gan_local_opt and network_d_local go together: set both (local discriminators '
                             'of section 3.4) or neither (the "w/o LocalD" ablation)')
        super().init_training_settings()

    def _bare_local_discriminators(self):
        return nn.ModuleDict({name: self.get_bare_model(net) for name, net in self.net_d_local.items()})

    def setup_optimizers(self):
        train_opt = self.opt['train']
        lrs = train_opt.get('lr_per_module')
        optim_g = dict(train_opt['optim_g'])
        if lrs is None or 'lr' in optim_g:
            raise ValueError('PVFRModel sets the generator learning rates per module: give train.lr_per_module '
                             '(codec, stylegan2, noise_branches; section 4.2) and no optim_g.lr')
        groups = self.get_bare_model(self.net_g).parameter_groups()
        if set(lrs) != set(groups):
            raise ValueError(f'train.lr_per_module must name exactly the groups {list(groups)}, got {list(lrs)}')
        param_groups = []
        for name, params in groups.items():
            trainable = [p for p in params if p.requires_grad]
            if trainable:
                param_groups.append({'params': trainable, 'lr': lrs[name], 'name': name})
        optim_type = optim_g.pop('type')
        self.optimizer_g = self.get_optimizer(optim_type, param_groups, param_groups[0]['lr'], **optim_g)
        self.optimizers.append(self.optimizer_g)
        if self.net_d is not None:
            self.optimizer_d = self.build_optimizer(train_opt['optim_d'],
                                                    [p for p in self.net_d.parameters() if p.requires_grad])
        if self.net_d_local is not None:
            self.optimizer_d_local = self.build_optimizer(train_opt['optim_d_local'],
                                                          list(self.net_d_local.parameters()))

    def feed_data(self, data):
        super().feed_data(data)
        self.boxes = {key[len('box_'):]: value.to(self.device) for key, value in data.items() if key.startswith('box_')}

    def generate(self, net):
        output, self.pyramid = net(self.lq, return_pyramid=True)
        return output

    def _components(self, images):
        """Crops of ``images`` per component at the batch's boxes."""
        missing = [name for name in self.component_crop_sizes if name not in self.boxes]
        if missing:
            raise KeyError(f'local discriminators need the boxes {["box_" + n for n in missing]} from the dataset '
                           '(FaceDegradedPairDataset option components_file)')
        return {name: crop_components(images, self.boxes[name], size)
                for name, size in self.component_crop_sizes.items()}

    def optimize_parameters(self, current_iter):
        """FaceGANModel's step, with the local discriminators' step in :meth:`backward_extra_networks`: one
        finiteness check covers all the losses, and a non-finite iteration steps no optimiser."""
        self.current_iter = current_iter
        if self.net_d_local is not None:
            self.net_d_local.requires_grad_(False)  # the generator's local GAN loss must not reach them
        super().optimize_parameters(current_iter)

    def pyramid_loss(self, pyramid):
        """Per-scale L1 of the codec's RGB outputs against the bilinearly (antialiased) resized ground truth.

        Scales outside ``pyramid_scales``, and every scale after ``remove_pyramid_loss``, enter with weight 0:
        their to-RGB convolutions stay in the graph (with zero gradients), so distributed training never meets
        unused parameters (GFPGAN keeps a 1e-12 weight for the same reason).
        """
        removed = self.remove_pyramid_loss is not None and getattr(self, 'current_iter', 0) > self.remove_pyramid_loss
        loss = 0
        for rgb in pyramid:
            size = rgb.shape[-1]
            term = self.cri_pyramid(rgb, F.interpolate(self.gt, size=rgb.shape[-2:], mode='bilinear',
                                                       align_corners=False, antialias=True))
            used = not removed and (self.pyramid_scales is None or size in self.pyramid_scales)
            loss = loss + (term if used else term * 0)
        return loss

    def generator_losses(self, output):
        losses = super().generator_losses(output)
        if self.cri_pyramid is not None:
            losses['l_g_pyramid'] = self.pyramid_loss(self.pyramid)
        if self.cri_feature_matching is not None:
            losses['l_g_fm'] = self.cri_feature_matching(output, self.gt)
        if self.cri_identity is not None:
            losses['l_g_identity'] = self.cri_identity(output, self.gt)
        if self.cri_gan_local is not None:
            fake = self._components(output)
            if self.saturating_local_gan_loss:  # eq. 12: log(1 - D_comp)
                terms = [saturating_generator_loss(self.cri_gan_local, self.net_d_local[name](crop))
                         for name, crop in fake.items()]
            else:
                terms = [self.cri_gan_local(self.net_d_local[name](crop), True, is_disc=False)
                         for name, crop in fake.items()]
            losses['l_g_gan_local'] = sum(terms)
        return losses

    def backward_extra_networks(self, loss_dict):
        """The local discriminators' losses on the component crops of the ground truth and the (detached) output."""
        if self.net_d_local is None:
            return []
        self.net_d_local.requires_grad_(True)
        self.optimizer_d_local.zero_grad(set_to_none=True)
        real, fake = self._components(self.gt), self._components(self.output.detach())
        for name, net in self.net_d_local.items():
            with self.autocast():
                l_real = self.cri_gan_local(net(real[name]), True, is_disc=True)
                l_fake = self.cri_gan_local(net(fake[name]), False, is_disc=True)
            self.backward(l_real + l_fake, self.optimizer_d_local)
            loss_dict[f'l_d_{name}'] = (l_real + l_fake).detach()
        return [self.optimizer_d_local]

    def save(self, epoch, current_iter):
        if self.net_d_local is not None:
            self.save_network(self._bare_local_discriminators(), 'net_d_local', current_iter)
        super().save(epoch, current_iter)
