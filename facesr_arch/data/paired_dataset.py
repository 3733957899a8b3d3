"""Fixed test sets: LQ/GT pairs matched by file stem, and LQ-only (no-reference) sets."""
import cv2

from basicsr.utils.registry import DATASET_REGISTRY

from .base_dataset import SkipCorruptDataset
from .face_degraded_dataset import to_tensor
from .image_source import ImageSource, limit_keys, normalisation


def _resize(img, size, interpolation):
    if size is None or img.shape[:2] == (size, size):
        return img
    return cv2.resize(img, (size, size), interpolation=interpolation)


@DATASET_REGISTRY.register()
class FacePairedDataset(SkipCorruptDataset):
    """LQ and GT images (folders or LMDBs, e.g. written by ``scripts/make_testset.py``) paired by stem.

    Options:
        dataroot_lq (str): LQ folder or ``*.lmdb``.
        dataroot_gt (str): GT folder or ``*.lmdb``.
        io_backend (dict): {'type': 'disk' | 'lmdb'}; omitted, each root is detected by its ``data.mdb``.
        lq_size (int | None): Bicubic-resize LQs to this size (MPCNet feeds 512 px, paper 3.2). Default: None.
        gt_size (int | None): Area-resize GTs to this size. Default: None.
        mean, std (list[float]): Normalisation. Default: 0.5 / 0.5, i.e. [-1, 1].
        max_items (int | None): Use only the first N pairs. Default: None.
        max_corrupt_samples (int): Undecodable images skipped (logged) before giving up. Default: 10.

    Returns (per item): 'lq', 'gt' in [-1, 1], 'key', 'lq_path', 'gt_path'.

    Raises:
        KeyError: LQ stems without a GT (or GT stems without an LQ), named in the message.
    """

    option_keys = {'dataroot_lq', 'dataroot_gt', 'io_backend', 'lq_size', 'gt_size', 'mean', 'std', 'max_items',
                   'max_corrupt_samples'}

    def __init__(self, opt):
        super().__init__()
        self.opt = opt  # BasicSR's test and validation loops read dataset.opt['name']
        backend = opt.get('io_backend', {}).get('type')
        self.lq_source = ImageSource(opt['dataroot_lq'], backend)
        self.gt_source = ImageSource(opt['dataroot_gt'], backend)
        lq_keys, gt_keys = set(self.lq_source.keys), set(self.gt_source.keys)
        if lq_keys != gt_keys:
            only_lq, only_gt = sorted(lq_keys - gt_keys), sorted(gt_keys - lq_keys)
            raise KeyError(f"LQ and GT sets differ: {len(only_lq)} LQ stem(s) without GT in {opt['dataroot_gt']} "
                           f"(e.g. {only_lq[:5]}), {len(only_gt)} GT stem(s) without LQ in {opt['dataroot_lq']} "
                           f'(e.g. {only_gt[:5]})')
        self.keys = limit_keys(sorted(lq_keys), opt)
        self.lq_size, self.gt_size = opt.get('lq_size'), opt.get('gt_size')
        self.mean, self.std = normalisation(opt)

    def __len__(self):
        return len(self.keys)

    def load_item(self, index):
        key = self.keys[index]
        lq = _resize(self.lq_source.read(key), self.lq_size, cv2.INTER_CUBIC).clip(0, 1)
        gt = _resize(self.gt_source.read(key), self.gt_size, cv2.INTER_AREA)
        return {'lq': to_tensor(lq, self.mean, self.std), 'gt': to_tensor(gt, self.mean, self.std), 'key': key,
                'lq_path': self.lq_source.path(key), 'gt_path': self.gt_source.path(key)}


@DATASET_REGISTRY.register()
class FaceSingleImageDataset(SkipCorruptDataset):
    """LQ faces without references (real-world sets), from a folder or an LMDB.

    Options:
        dataroot_lq (str): LQ folder or ``*.lmdb``.
        io_backend (dict): {'type': 'disk' | 'lmdb'}; omitted, detected by ``data.mdb``.
        lq_size (int | None): Bicubic-resize LQs to this size. Default: None.
        mean, std (list[float]): Normalisation. Default: 0.5 / 0.5, i.e. [-1, 1].
        max_items (int | None): Use only the first N images. Default: None.
        max_corrupt_samples (int): Undecodable images skipped (logged) before giving up. Default: 10.

    Returns (per item): 'lq' in [-1, 1], 'key', 'lq_path'.
    """

    option_keys = {'dataroot_lq', 'io_backend', 'lq_size', 'mean', 'std', 'max_items', 'max_corrupt_samples'}

    def __init__(self, opt):
        super().__init__()
        self.opt = opt  # BasicSR's test and validation loops read dataset.opt['name']
        self.source = ImageSource(opt['dataroot_lq'], opt.get('io_backend', {}).get('type'))
        self.keys = limit_keys(self.source.keys, opt)
        self.lq_size = opt.get('lq_size')
        self.mean, self.std = normalisation(opt)

    def __len__(self):
        return len(self.keys)

    def load_item(self, index):
        key = self.keys[index]
        lq = _resize(self.source.read(key), self.lq_size, cv2.INTER_CUBIC).clip(0, 1)
        return {'lq': to_tensor(lq, self.mean, self.std), 'key': key, 'lq_path': self.source.path(key)}
