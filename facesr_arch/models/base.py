"""What every facesr_arch model adds to BasicSR's ``SRModel``: CPU-capable DDP, images in [-1, 1], and
checkpoints written atomically."""
import os

import torch
from torch.nn.parallel import DistributedDataParallel

from basicsr.models.sr_model import SRModel

from ..data.batched_degradations import degrade_batch


class _atomic_torch_save:
    """Within the block, ``torch.save(obj, path)`` writes ``path.tmp`` and renames it over ``path``."""

    def __enter__(self):
        self._save = torch.save

        def atomic_save(obj, path, *args, **kwargs):
            tmp = f'{path}.tmp'
            self._save(obj, tmp, *args, **kwargs)
            os.replace(tmp, path)

        torch.save = atomic_save

    def __exit__(self, *exc):
        torch.save = self._save


class FaceBaseModel(SRModel):
    """``SRModel`` whose networks may be wrapped in DDP on CPU (gloo), with outputs in [-1, 1].

    Faces are normalised to [-1, 1] (mean 0.5, std 0.5) by the datasets, as in the StyleGAN2-based
    methods; ``get_current_visuals`` maps back to [0, 1] for BasicSR's saving and metrics.
    """

    def save_network(self, net, net_label, current_iter, param_key='params'):
        """BasicSR's save, made atomic: written to a temporary file, then renamed over the target."""
        with _atomic_torch_save():
            super().save_network(net, net_label, current_iter, param_key)

    def save_training_state(self, epoch, current_iter):
        """BasicSR's training-state save, made atomic (a kill mid-save leaves the previous state intact)."""
        with _atomic_torch_save():
            super().save_training_state(epoch, current_iter)

    def model_to_device(self, net):
        net = net.to(self.device)
        if self.opt['dist']:
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
            net = DistributedDataParallel(
                net, device_ids=device_ids, find_unused_parameters=self.opt.get('find_unused_parameters', False))
        elif self.opt['num_gpu'] > 1:
            net = torch.nn.DataParallel(net)
        return net

    def feed_data(self, data):
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)
        if 'degradation' in data:  # dataset option degradation_on_device: degrade the batch here
            self.lq = degrade_batch((self.gt + 1) / 2, data['degradation']) * 2 - 1
        else:
            self.lq = data['lq'].to(self.device)

    def generate(self, net):
        """Run a generator on the current batch; subclasses pass their extra inputs."""
        return net(self.lq)

    def test(self):
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.net_g
        was_training = net.training
        net.eval()
        with torch.no_grad():
            self.output = self.generate(net)
        net.train(was_training)

    def get_current_visuals(self):
        visuals = {'lq': self.lq, 'result': self.output}
        if hasattr(self, 'gt'):
            visuals['gt'] = self.gt
        return {k: ((v.detach() + 1) / 2).clamp_(0, 1).cpu() for k, v in visuals.items()}
