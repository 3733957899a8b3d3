"""GCFSR training: the generic GAN model with the conditional upscaling factor as a second input."""
from basicsr.utils.registry import MODEL_REGISTRY

from .base import with_checkpoint_network
from .face_gan_model import FaceGANModel

# the datasets' default divisor (FaceDegradedPairDataset) and the network's (GCFSR)
DEFAULT_FACTOR_NORM = 64.0


def check_factor_norm(opt):
    """Every dataset that feeds a condition must normalise s as the network was built to read it.

    The condition is s / ``factor_norm`` (paper 3.5); a dataset dividing by 64 for a network trained with 32
    (the official 512 px release) would condition it on half the factor. Raises ValueError naming the dataset.
    """
    network = opt.get('network_g') or {}
    if network.get('blind'):
        return
    expected = float(network.get('factor_norm', DEFAULT_FACTOR_NORM))
    for phase, dataset in (opt.get('datasets') or {}).items():
        value = float(dataset.get('factor_norm', DEFAULT_FACTOR_NORM))
        if value != expected:
            raise ValueError(f'datasets.{phase}.factor_norm is {value:g} but network_g.factor_norm is {expected:g}: '
                             'set both to the divisor the model is trained / was trained with')


@MODEL_REGISTRY.register()
class GCFSRModel(FaceGANModel):
    """Feeds the normalised factor s / ``factor_norm`` (paper 3.5) that the dataset returns as ``factor``."""

    def __init__(self, opt):
        check_factor_norm(with_checkpoint_network(opt))
        super().__init__(opt)

    def feed_data(self, data):
        super().feed_data(data)
        self.factor = data['factor'].to(self.device) if 'factor' in data else None

    def generate(self, net):
        return net(self.lq, self.factor)
