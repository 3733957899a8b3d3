"""Landmark distance (W-Net Table 2): mean Euclidean distance between 68 landmarks of output and GT.

Landmarks come from facexlib's FAN (stacked hourglasses) built directly and loaded from a user file: the
public ``alignment_WFLW_4HG.pth`` (4 modules, 98 WFLW points, converted to the 68-point layout by
facexlib's ``landmark_98_to_68``) or any FAN checkpoint with 68 points. The module count and point count
are read from the checkpoint. Distances are in pixels of the evaluated images (lower is better).
"""
import numpy as np
import torch
from facexlib.alignment import FAN, landmark_98_to_68

from facesr_arch.utils.weights import load_state_dict

DEFAULT_LANDMARK_FILE = 'weights/alignment_WFLW_4HG.pth'
LANDMARK_HOW_TO_GET = ('facexlib\'s FAN landmark model alignment_WFLW_4HG.pth (https://github.com/xinntao/'
                       'facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth); place it in weights/ or pass '
                       'its path.')


def build_fan(path, device='cpu'):
    """facexlib FAN with the module and landmark counts of the checkpoint at ``path``, loaded and in eval mode."""
    state = load_state_dict(path, 'facexlib FAN landmark detector', LANDMARK_HOW_TO_GET)
    num_modules = sum(1 for key in state if key.startswith('l') and key[1:].split('.')[0].isdigit()
                      and key.endswith('.weight'))
    if num_modules == 0 or 'l0.weight' not in state:
        raise ValueError(f'{path} is not a facexlib FAN checkpoint (no heatmap layers l0..lN)')
    num_landmarks = state['l0.weight'].shape[0] - 1
    net = FAN(num_modules=num_modules, num_landmarks=num_landmarks, device=str(device))
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()


class LandmarkDistance:
    """Mean distance (px) between the 68 landmarks detected on a restored face and on its ground truth.

    Args:
        device (str | torch.device): Where FAN runs.
        weights (str | None): FAN checkpoint; None: :data:`DEFAULT_LANDMARK_FILE`.
    """

    needs_reference = True

    def __init__(self, device, weights=None):
        path = weights or DEFAULT_LANDMARK_FILE
        self.net = build_fan(path, device)
        self.weight_files = [path]

    def landmarks(self, img):
        """68 (x, y) points of one RGB image tensor (3, h, w) in [0, 1], in its pixel coordinates."""
        bgr = (img.permute(1, 2, 0).flip(-1).clamp(0, 1) * 255).round().byte().cpu().numpy()
        points = self.net.get_landmarks(bgr)
        return landmark_98_to_68(points) if len(points) == 98 else points

    @torch.no_grad()
    def __call__(self, img, ref):
        """Distances, shape (b,). ``img``/``ref``: (b, 3, h, w) RGB in [0, 1]."""
        distances = [np.linalg.norm(self.landmarks(a) - self.landmarks(b), axis=1).mean() for a, b in zip(img, ref)]
        return torch.tensor(distances, dtype=torch.float32)
