"""Face-parsing pretraining: a parser learns 19-class label maps from degraded faces (MPCNet 4.1, CFGPFSSR's FPN)."""
import os
from collections import OrderedDict

import numpy as np
import torch
from torch.nn import functional as F

from basicsr.archs import build_network
from basicsr.utils.registry import MODEL_REGISTRY

from ..toolkit.outputs import write_image_atomic
from ..utils.face_parsing import NUM_CLASSES
from .base import FaceBaseModel

PARSING_METRICS = ('mean_iou', 'pixel_accuracy')


def confusion_matrix(pred, target, num_classes=NUM_CLASSES):
    """(num_classes, num_classes) int64 counts, rows = target class, columns = predicted class."""
    index = target.flatten() * num_classes + pred.flatten()
    return torch.bincount(index, minlength=num_classes**2).view(num_classes, num_classes).cpu()


def parsing_scores(confusion):
    """Mean IoU over the classes present in the target or the prediction, and pixel accuracy.

    Args:
        confusion (Tensor): Confusion matrix of :func:`confusion_matrix`, summed over a dataset.

    Returns:
        dict[str, float]: 'mean_iou' (IoU_c = TP / (TP + FP + FN), averaged over classes with TP + FP + FN > 0)
        and 'pixel_accuracy' (correct pixels / all pixels).
    """
    confusion = confusion.double()
    true_pos = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_pos
    present = union > 0
    return {'mean_iou': (true_pos[present] / union[present]).mean().item(),
            'pixel_accuracy': (true_pos.sum() / confusion.sum()).item()}


@MODEL_REGISTRY.register()
class FaceParsingModel(FaceBaseModel):
    """Train a parser (``network_g``, e.g. ``FaceParseNet``) with pixel-wise cross-entropy on label maps.

    The data are ``FaceDegradedPairDataset`` items with ``parsing_root`` set: 'lq' (the degraded face, the
    parser's input) and 'parsing' (int64 labels of ``utils/face_parsing.LABELS``, flipped with the image).
    MPCNet 3.2.3 / 4.1 and CFGPFSSR 3.1 give no loss for their parsers; cross-entropy over the 19
    CelebAMask-HQ classes is the standard segmentation objective (as PSFRGAN's ParseNet, whose design
    ``FaceParseNet`` is).

    Validation (computed here, over the whole validation set, not averaged per image): ``val.metrics`` names
    any of ``mean_iou`` and ``pixel_accuracy`` (each ``{better: higher}`` or ``{}``); they are logged and
    tracked as best metrics like BasicSR's. ``val.save_img`` writes the predicted label maps as
    ``<key>_<iter>.png`` (the sidecar format of ``data/sidecars.py``).

    ``train`` options: ``optim_g``, ``scheduler``, ``total_iter``, ``warmup_iter`` (BasicSR), ``ema_decay``
    (0 or absent: no EMA), ``max_nonfinite_steps``, ``mixed_precision`` and ``channels_last`` (as in
    :class:`FaceGANModel`; the cross-entropy is computed in float32 by autocast).
    """

    train_option_keys = {'optim_g', 'scheduler', 'total_iter', 'warmup_iter', 'ema_decay', 'max_nonfinite_steps',
                         'mixed_precision', 'channels_last'}

    def init_training_settings(self):
        self.net_g.train()
        self.ema_decay = self.opt['train'].get('ema_decay', 0)
        if self.ema_decay > 0:
            self.net_g_ema = self.precision.to_layout(build_network(self.opt['network_g']).to(self.device))
            self.model_ema(0)
            self.net_g_ema.eval().requires_grad_(False)
        self.optimizer_g = self.build_optimizer(self.opt['train']['optim_g'],
                                                [p for p in self.net_g.parameters() if p.requires_grad])
        self.setup_schedulers()

    def feed_data(self, data):
        super().feed_data(data)
        if 'parsing' not in data:
            raise KeyError("FaceParsingModel needs label maps: set the dataset's parsing_root")
        self.labels = data['parsing'].to(self.device)
        self.keys = data['key']

    def optimize_parameters(self, current_iter):
        buffers = self.snapshot_buffers()  # BatchNorm statistics, restored when the step is skipped
        self.optimizer_g.zero_grad(set_to_none=True)
        with self.autocast():
            logits = self.net_g(self.lq)
            loss = F.cross_entropy(logits, self.labels)
        self.backward(loss, self.optimizer_g)
        self.finish_step(current_iter, {'l_ce': loss}, [self.optimizer_g], buffers)
        self.log_dict = self.reduce_loss_dict(OrderedDict(l_ce=loss.detach()))

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        dataset_name = dataloader.dataset.opt['name']
        metrics = list((self.opt.get('val') or {}).get('metrics') or {})
        unknown = sorted(set(metrics) - set(PARSING_METRICS))
        if unknown:
            raise ValueError(f'val.metrics {unknown} are not parsing metrics; FaceParsingModel reports '
                             f'{list(PARSING_METRICS)}')
        confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
        for val_data in dataloader:
            self.feed_data(val_data)
            self.test()
            pred = self.output.argmax(dim=1)
            confusion += confusion_matrix(pred, self.labels)
            if save_img:
                folder = os.path.join(self.opt['path']['visualization'], dataset_name)
                for key, labels in zip(self.keys, pred.cpu().numpy().astype(np.uint8)):
                    write_image_atomic(os.path.join(folder, f'{key}_{current_iter}.png'), labels)
            del self.lq, self.output, self.labels
        if not metrics:
            return
        self._initialize_best_metric_results(dataset_name)
        scores = parsing_scores(confusion)
        self.metric_results = {name: scores[name] for name in metrics}
        for name, value in self.metric_results.items():
            self._update_best_metric_result(dataset_name, name, value, current_iter)
        self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
