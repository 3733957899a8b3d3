"""GCFSR training: the generic GAN model with the conditional upscaling factor as a second input."""
from basicsr.utils.registry import MODEL_REGISTRY

from .face_gan_model import FaceGANModel


@MODEL_REGISTRY.register()
class GCFSRModel(FaceGANModel):
    """Feeds the upscaling factor s that the dataset returns as ``factor``; the network normalises it by its
    ``factor_norm`` (paper 3.5)."""

    def feed_data(self, data):
        super().feed_data(data)
        self.factor = data['factor'].to(self.device) if 'factor' in data else None

    def generate(self, net):
        return net(self.lq, self.factor)
