"""Datasets of unconditional prior training (StyleGAN2 on FFHQ): HQ faces alone, and fixed latent codes whose
samples the validation saves."""
import cv2
import numpy as np
import torch
from torch.utils import data

from basicsr.utils.registry import DATASET_REGISTRY

from .face_degraded_dataset import to_tensor
from .image_source import ImageSource, limit_keys, normalisation


@DATASET_REGISTRY.register()
class FaceHQImageDataset(data.Dataset):
    """HQ faces only (no degradation): the real images of a GAN's discriminator.

    Options:
        dataroot_gt (str): HQ LMDB or image folder.
        io_backend (dict): {'type': 'lmdb' | 'disk'}.
        gt_size (int | None): Training size; other sizes are resized with area interpolation (FFHQ 1024 ->
            512). None keeps the stored size (which must then be square). Default: None.
        use_hflip (bool): Random horizontal flip (the official StyleGAN2 FFHQ runs use mirror augmentation,
            ``--mirror-augment=true`` in the release's training command). Default: False.
        mean, std (list[float]): Normalisation. Default: 0.5 / 0.5, i.e. [-1, 1].
        max_items (int | None): Use only the first N keys. Default: None.

    Returns (per item): 'gt' (3, gt_size, gt_size) in [-1, 1], 'key', 'gt_path' (the key).
    """

    option_keys = {'dataroot_gt', 'io_backend', 'gt_size', 'use_hflip', 'mean', 'std', 'max_items'}

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.source = ImageSource(opt['dataroot_gt'], opt.get('io_backend', {'type': 'disk'}).get('type', 'disk'))
        self.keys = limit_keys(self.source.keys, opt)
        self.gt_size = opt.get('gt_size')
        self.use_hflip = opt.get('use_hflip', False)
        self.mean, self.std = normalisation(opt)

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, index):
        key = self.keys[index]
        gt = self.source.read(key)
        if self.gt_size is not None and gt.shape[:2] != (self.gt_size, self.gt_size):
            gt = cv2.resize(gt, (self.gt_size, self.gt_size), interpolation=cv2.INTER_AREA)
        elif gt.shape[0] != gt.shape[1]:
            raise ValueError(f'{key}: faces must be square aligned crops, got {gt.shape[1]}x{gt.shape[0]}; '
                             'set gt_size to resize')
        # np.random is seeded per data-loader worker by BasicSR's worker_init_fn
        if self.use_hflip and np.random.random() < 0.5:
            gt = np.ascontiguousarray(gt[:, ::-1])
        return {'gt': to_tensor(gt, self.mean, self.std), 'key': key, 'gt_path': key}


@DATASET_REGISTRY.register()
class FaceLatentDataset(data.Dataset):
    """Fixed latent codes z ~ N(0, I), the same at every validation, so saved samples show training progress.

    Options:
        num_samples (int): Number of codes. Default: 16.
        num_style_feat (int): Latent size (the generator's ``num_style_feat``). Default: 512.
        seed (int): Code i is drawn from ``numpy.random.default_rng([seed, i])``. Default: 0.

    Returns (per item): 'latent' (num_style_feat,) float32, 'key' and 'lq_path' ('sample_<i>', the name under
    which BasicSR's validation saves the sample).
    """

    option_keys = {'num_samples', 'num_style_feat', 'seed'}

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.num_samples = opt.get('num_samples', 16)
        self.num_style_feat = opt.get('num_style_feat', 512)
        self.seed = opt.get('seed', 0)

    def __len__(self):
        return self.num_samples

    def __getitem__(self, index):
        latent = np.random.default_rng([self.seed, index]).standard_normal(self.num_style_feat)
        name = f'sample_{index:03d}'
        return {'latent': torch.from_numpy(latent.astype(np.float32)), 'key': name, 'lq_path': name}
