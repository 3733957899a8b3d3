"""W-Net training: pixel MSE, parsing-map MSE and the key-region loss from the face-parsing sidecars."""
from collections import OrderedDict

from torch.nn import functional as F

from basicsr.losses import build_loss
from basicsr.utils.registry import MODEL_REGISTRY

from ..losses.key_region_loss import region_masks
from ..utils.face_parsing import LABEL_INDEX
from .base import FaceBaseModel


@MODEL_REGISTRY.register()
class WNetModel(FaceBaseModel):
    """Trains :class:`~facesr_arch.archs.wnet_arch.WNet` with L_fine (W-Net eq. 29).

    L_fine = lambda_pixel * MSE(SR, HR) (eq. 24) + lambda_par * MSE(P, P_target) (eq. 25)
    + lambda_key * L_key (eq. 26-28), where P is the predicted parsing map, P_target is made from the
    binarised HR map (skin = 1, the rest 0; section 3.1) repeated over P's channels, and L_key uses the eyes /
    brows / nose / mouth masks.

    P_target. Section 4.2 "downsample[s] the HR parsing maps using bicubic interpolation to 32x32 and 16x16,
    serving as LR parsing map images for x4 and x8 FSR ground truth". The Parsing Block predicts P at 128 px
    from the bicubic-upsampled LR face (see WNet), so that LR ground truth is brought to P's grid the way the
    LR face is: bicubic back to 128 px (``parsing_target_scale``: 4 or 8; values clamped to [0, 1] after each
    resize; PyTorch bicubic, antialiased when downsampling). Decision: of the two readings (this one, or P
    downsampled to the LR size) it is the one that keeps P, which eq. 12-13 use at 128 px and above, at the
    resolution the network uses it. ``parsing_target_scale: null`` learns the binarised 128 px map itself. Both targets come from the dataset's ``parsing`` item: an int64 (b, h, w) label map in the
    CelebAMask-HQ order (``parsing_root`` sidecars). Images are in [0, 1] (dataset ``mean: [0, 0, 0]``,
    ``std: [1, 1, 1]``), the range in which the paper's MSE weights balance against the 0-1 parsing map.

    The BatchNorm layers of the up/down-sampling modules become SyncBatchNorm in distributed GPU training
    (``FaceBaseModel``'s ``sync_bn``; the paper's batch of 4 is split over 4 GPUs, section 4.2).

    ``train`` options:
        optim_g (dict), scheduler (dict), total_iter, warmup_iter: BasicSR's.
        pixel_opt (dict): Loss on the SR image (MSELoss, lambda_pixel). Required.
        parsing_opt (dict | None): Loss on the parsing map (MSELoss, lambda_par).
        key_region_opt (dict | None): :class:`~facesr_arch.losses.key_region_loss.KeyRegionLoss` (lambda_key).
        parsing_target_scale (int | None): The LR factor of the parsing ground truth (section 4.2; must equal
            the training degradation's ``scale``); None: the binarised HR map. Default: None.
        ema_decay (float): EMA of the generator; 0 (the paper) disables it. Default: 0.
        max_nonfinite_steps (int): Stop after this many consecutive steps with non-finite losses (those
            steps are skipped). Default: 20.
        mixed_precision (str), channels_last (bool): Precision and memory layout (``models/precision.py``).
            Default: 'none' (float32, as the paper), False.
    """

    train_option_keys = {
        'optim_g', 'scheduler', 'total_iter', 'warmup_iter', 'ema_decay', 'pixel_opt', 'parsing_opt',
        'key_region_opt', 'max_nonfinite_steps', 'parsing_target_scale', 'mixed_precision', 'channels_last',
    }

    def init_training_settings(self):
        train_opt = self.opt['train']
        self.net_g.train()
        self.setup_ema(train_opt.get('ema_decay', 0))
        if train_opt.get('pixel_opt') is None:
            raise ValueError('WNetModel needs train.pixel_opt (the pixel MSE of eq. 24)')
        self.cri_pix = build_loss(train_opt['pixel_opt']).to(self.device)
        self.cri_parsing = self._optional_loss('parsing_opt')
        self.cri_key_region = self._optional_loss('key_region_opt')
        self.parsing_target_scale = train_opt.get('parsing_target_scale')
        degradation = (self.opt.get('datasets', {}).get('train') or {}).get('degradation') or {}
        if self.parsing_target_scale is not None and degradation.get('scale', self.parsing_target_scale) != \
                self.parsing_target_scale:
            raise ValueError(f"train.parsing_target_scale ({self.parsing_target_scale}) must be the LR factor of "
                             f"datasets.train.degradation.scale ({degradation['scale']}): the parsing ground truth "
                             'is downsampled as the LR face is (W-Net section 4.2)')
        self.setup_optimizers()
        self.setup_schedulers()

    def _optional_loss(self, key):
        loss_opt = self.opt['train'].get(key)
        return None if loss_opt is None else build_loss(loss_opt).to(self.device)

    def setup_optimizers(self):
        self.optimizer_g = self.build_optimizer(self.opt['train']['optim_g'],
                                                [p for p in self.net_g.parameters() if p.requires_grad])

    def feed_data(self, data):
        super().feed_data(data)
        self.parsing_labels = data['parsing'].to(self.device) if 'parsing' in data else None

    def _labels(self):
        if self.parsing_labels is None:
            raise ValueError("WNetModel: the batch has no 'parsing' label maps; set parsing_root in the "
                             'training dataset (sidecars from scripts/prepare_parsing.py)')
        return self.parsing_labels

    def optimize_parameters(self, current_iter):
        """One step on L_fine, skipped (no optimiser or EMA update, BatchNorm statistics restored) when a loss
        is non-finite (``FaceBaseModel.finish_step``, decided on the device)."""
        buffers = self.snapshot_buffers()
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            output, parsing = self.net_g(self.lq, return_parsing=True)
            self.output, parsing = output.float(), parsing.float()
            losses = OrderedDict(l_pix=self.cri_pix(self.output, self.gt))
            if self.cri_parsing is not None:
                losses['l_parsing'] = self.cri_parsing(parsing, self.parsing_target().expand_as(parsing))
            if self.cri_key_region is not None:
                masks = region_masks(self._labels(), self.cri_key_region.regions)
                losses['l_key_region'] = self.cri_key_region(self.output, self.gt, masks)
        self.backward(sum(losses.values()), self.optimizer_g)
        self.finish_step(current_iter, losses, [self.optimizer_g], buffers)
        self.log_dict = self.reduce_loss_dict(losses)

    def parsing_target(self):
        """P_target (b, 1, h, w) from the batch's label maps: the binarised map (skin = 1, section 3.1), or with
        ``parsing_target_scale`` its bicubic LR version brought back to h x w (section 4.2)."""
        target = (self._labels() == LABEL_INDEX['skin']).float().unsqueeze(1)
        if self.parsing_target_scale is None:
            return target
        size = target.shape[-2:]
        low = F.interpolate(target, scale_factor=1 / self.parsing_target_scale, mode='bicubic', align_corners=False,
                            antialias=True).clamp(0, 1)
        return F.interpolate(low, size=size, mode='bicubic', align_corners=False).clamp(0, 1)

    def get_current_visuals(self):
        """Visuals for BasicSR's saving and metrics; W-Net's images are already in [0, 1]."""
        visuals = {'lq': self.lq, 'result': self.output}
        if hasattr(self, 'gt'):
            visuals['gt'] = self.gt
        return {k: v.detach().clamp(0, 1).cpu() for k, v in visuals.items()}
