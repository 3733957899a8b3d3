"""HQ faces (LMDB or folder) -> degraded LQ/GT pairs, degradation chosen by name in YAML."""
import os

import cv2
import numpy as np
import torch
from torch.utils import data

from basicsr.utils.registry import DATASET_REGISTRY

from .degradations import DEGRADATIONS, apply_degradation
from .image_io import decode_image, list_images
from .lmdb_util import LmdbReader, read_meta_keys


def to_tensor(img, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    """BGR float image (h, w, 3) -> normalised RGB tensor (3, h, w); [0, 1] -> [-1, 1] by default."""
    tensor = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))).float()
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (tensor - mean) / std


class HQSource:
    """HQ images from an LMDB (``*.lmdb`` folder with ``meta_info.txt``) or an image folder, by key."""

    def __init__(self, root, io_backend):
        self.root = root
        self.backend = io_backend.get('type', 'disk')
        if self.backend == 'lmdb':
            self.keys = read_meta_keys(root)
            self._reader = LmdbReader(root)
        elif self.backend == 'disk':
            self._paths = {os.path.splitext(os.path.basename(p))[0]: p for p in list_images(root)}
            self.keys = sorted(self._paths)
            if not self.keys:
                raise FileNotFoundError(f'No images found in {root}')
        else:
            raise ValueError(f"io_backend.type must be 'disk' or 'lmdb', got {self.backend!r}")

    def read(self, key):
        if self.backend == 'lmdb':
            return decode_image(self._reader.get(key), f'{self.root}:{key}')
        path = self._paths[key]
        with open(path, 'rb') as f:
            return decode_image(f.read(), path)


@DATASET_REGISTRY.register()
class FaceDegradedPairDataset(data.Dataset):
    """Degraded-pair dataset: reads an HQ face, resizes it to ``gt_size``, flips it, degrades it.

    Options:
        dataroot_gt (str): HQ LMDB or image folder.
        io_backend (dict): {'type': 'lmdb' | 'disk'}.
        gt_size (int): HQ size fed to the network; other sizes are resized with area interpolation
            (e.g. FFHQ 1024 -> 512). None keeps the stored size (which must then be square).
        degradation (dict): {'type': name in facesr_arch.data.degradations.DEGRADATIONS, **parameters}.
        use_hflip (bool): Random horizontal flip (training). Default: False.
        mean, std (list[float]): Normalisation. Default: 0.5 / 0.5, i.e. [-1, 1].
        factor_norm (float): Divisor turning the drawn factor into the network's condition
            (GCFSR: 64, so that s in {4..64} maps into (0, 1], paper 3.5). Default: 64.
        deterministic (bool): Draw each index's degradation from (seed, index), so validation/test pairs
            are the same every time. Default: False (training draws from the worker's seeded generator).
        seed (int): Seed of the deterministic mode. Default: 0.
        max_items (int | None): Use only the first N keys (small validation sets). Default: None.

    Returns (per item): 'lq', 'gt' in [-1, 1], 'factor' (normalised condition, when the degradation draws
    one), 'key', 'lq_path', 'gt_path' (the key, for BasicSR's validation naming).
    """

    option_keys = {
        'dataroot_gt', 'io_backend', 'gt_size', 'degradation', 'use_hflip', 'mean', 'std', 'factor_norm',
        'deterministic', 'seed', 'max_items',
    }

    @staticmethod
    def check_options(opt, where):
        """Validate the nested degradation block against the degradation function's parameters."""
        from ..utils.options import OptionError, check_function_keys
        degradation = opt.get('degradation')
        if not isinstance(degradation, dict) or 'type' not in degradation:
            raise OptionError(f"{where}.degradation must be a mapping with a 'type' key")
        if degradation['type'] not in DEGRADATIONS:
            raise OptionError(f"Unknown degradation '{degradation['type']}' in {where}.degradation; "
                              f'known: {sorted(DEGRADATIONS)}')
        check_function_keys(DEGRADATIONS[degradation['type']], degradation, f'{where}.degradation')

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.source = HQSource(opt['dataroot_gt'], opt.get('io_backend', {'type': 'disk'}))
        self.keys = self.source.keys[:opt['max_items']] if opt.get('max_items') else self.source.keys
        self.gt_size = opt.get('gt_size')
        self.degradation = dict(opt['degradation'])
        self.use_hflip = opt.get('use_hflip', False)
        self.mean = opt.get('mean', [0.5, 0.5, 0.5])
        self.std = opt.get('std', [0.5, 0.5, 0.5])
        self.factor_norm = float(opt.get('factor_norm', 64))
        self.deterministic = opt.get('deterministic', False)
        self.seed = opt.get('seed', 0)

    def __len__(self):
        return len(self.keys)

    def _rng(self, index):
        if self.deterministic:
            return np.random.default_rng([self.seed, index])
        # seeded per worker by BasicSR's worker_init_fn (seed + rank + worker id)
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))

    def __getitem__(self, index):
        key = self.keys[index]
        gt = self.source.read(key)
        if self.gt_size is not None and gt.shape[:2] != (self.gt_size, self.gt_size):
            gt = cv2.resize(gt, (self.gt_size, self.gt_size), interpolation=cv2.INTER_AREA)
        elif gt.shape[0] != gt.shape[1]:
            raise ValueError(f'{key}: faces must be square aligned crops, got {gt.shape[1]}x{gt.shape[0]}; '
                             'set gt_size to resize')
        rng = self._rng(index)
        if self.use_hflip and rng.random() < 0.5:
            gt = np.ascontiguousarray(gt[:, ::-1])
        lq, record = apply_degradation(gt, rng, self.degradation)
        item = {'lq': to_tensor(lq, self.mean, self.std), 'gt': to_tensor(gt, self.mean, self.std),
                'key': key, 'lq_path': key, 'gt_path': key}
        if 'factor' in record:
            item['factor'] = torch.tensor([record['factor'] / self.factor_norm], dtype=torch.float32)
        return item
