"""Landmark distance (W-Net Table 2): mean Euclidean distance between 68 landmarks of output and GT.

Landmarks come from facexlib's FAN (stacked hourglasses) built directly and loaded from a user file: the
public ``alignment_WFLW_4HG.pth`` (4 modules, 98 WFLW points, converted to the 68-point layout by
facexlib's ``landmark_98_to_68``) or any FAN checkpoint with 68 points. The module count and point count
are read from the checkpoint. Distances are in pixels of the evaluated images (lower is better).
Heatmaps are decoded here, batched, rather than by ``FAN.get_landmarks`` (one image at a time, and it
uses ``np.float``, which current NumPy removed).
"""
import torch
from facexlib.alignment import FAN, landmark_98_to_68
from torch.nn import functional as F

from facesr_arch.toolkit.checkpoints import read_state_dict

DEFAULT_LANDMARK_FILE = 'weights/alignment_WFLW_4HG.pth'
LANDMARK_HOW_TO_GET = ('facexlib\'s FAN landmark model alignment_WFLW_4HG.pth (https://github.com/xinntao/'
                       'facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth); place it in weights/ or pass '
                       'its path.')


def build_fan(path, device='cpu'):
    """facexlib FAN with the module and landmark counts of the checkpoint at ``path``, loaded and in eval mode."""
    state = read_state_dict(path, 'facexlib FAN landmark detector', LANDMARK_HOW_TO_GET)
    num_modules = sum(1 for key in state if key.startswith('l') and key[1:].split('.')[0].isdigit()
                      and key.endswith('.weight'))
    if num_modules == 0 or 'l0.weight' not in state:
        raise ValueError(f'{path} is not a facexlib FAN checkpoint (no heatmap layers l0..lN)')
    num_landmarks = state['l0.weight'].shape[0] - 1
    net = FAN(num_modules=num_modules, num_landmarks=num_landmarks, device=str(device))
    net.load_state_dict(state, strict=True)
    return net.to(device).eval().requires_grad_(False)


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

    @torch.no_grad()
    def landmarks(self, img):
        """68 (x, y) points per image, in the images' pixel coordinates.

        FAN sees the faces resized to 256 px (bilinear, RGB in [0, 1]); the last hourglass's heatmaps (64 px,
        background channel dropped) are decoded by :func:`heatmap_points`.

        Args:
            img (Tensor): (b, 3, h, w) RGB in [0, 1].

        Returns:
            Tensor: (b, 68, 2).
        """
        h, w = img.shape[-2:]
        inp = F.interpolate(img, size=(256, 256), mode='bilinear', align_corners=False)
        heatmaps = self.net(inp)[0][-1][:, :-1]
        points = heatmap_points(heatmaps) * torch.tensor([w / heatmaps.shape[-1], h / heatmaps.shape[-2]],
                                                         device=heatmaps.device)
        if points.shape[1] == 98:
            points = torch.stack([torch.from_numpy(landmark_98_to_68(p.cpu().numpy())) for p in points]).float()
        return points.cpu()

    def __call__(self, img, ref):
        """Distances, shape (b,). ``img``/``ref``: (b, 3, h, w) RGB in [0, 1]."""
        return (self.landmarks(img) - self.landmarks(ref)).norm(dim=-1).mean(dim=1)


def heatmap_points(heatmaps):
    """Sub-pixel landmark positions from FAN heatmaps (Bulat & Tzimiropoulos' decoding).

    The arg-max of each heatmap, moved a quarter pixel towards the larger neighbour along x and y, plus half
    a pixel (pixel centres).

    Args:
        heatmaps (Tensor): (b, n, h, w).

    Returns:
        Tensor: (b, n, 2) (x, y) in heatmap pixels.
    """
    b, n, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, n, h * w)
    index = flat.argmax(dim=-1)
    x, y = index % w, index // w

    def value(xs, ys):
        return flat.gather(-1, (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).unsqueeze(-1)).squeeze(-1)

    dx = torch.sign(value(x + 1, y) - value(x - 1, y))
    dy = torch.sign(value(x, y + 1) - value(x, y - 1))
    return torch.stack([x + 0.25 * dx + 0.5, y + 0.25 * dy + 0.5], dim=-1)
