"""HQ faces (LMDB or folder) -> degraded LQ/GT pairs, degradation chosen by name in YAML."""
import cv2
import numpy as np
import torch

from basicsr.utils.registry import DATASET_REGISTRY

from ..utils.face_parsing import flip_parsing
from .base_dataset import SkipCorruptDataset
from .batched_degradations import record_to_tensors
from .degradations import BLIND_SAMPLERS, DEGRADATIONS, apply_degradation, sample_blind_params
from .image_source import ImageSource, limit_keys, normalisation
from .sidecars import ComponentBoxes, ParsingMaps, flip_boxes


def to_tensor(img, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    """BGR float image (h, w, 3) -> normalised RGB tensor (3, h, w); [0, 1] -> [-1, 1] by default."""
    tensor = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))).float()
    mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (tensor - mean) / std


@DATASET_REGISTRY.register()
class FaceDegradedPairDataset(SkipCorruptDataset):
    """Degraded-pair dataset: reads an HQ face, resizes it to ``gt_size``, flips it, degrades it.

    Options:
        dataroot_gt (str): HQ LMDB or image folder.
        io_backend (dict): {'type': 'lmdb' | 'disk'}.
        gt_size (int): HQ size fed to the network; other sizes are resized with area interpolation
            (e.g. FFHQ 1024 -> 512). None keeps the stored size (which must then be square).
        degradation (dict): {'type': name in facesr_arch.data.degradations.DEGRADATIONS, **parameters}.
        use_hflip (bool): Random horizontal flip (training). Default: False.
        mean, std (list[float]): Normalisation. Default: 0.5 / 0.5, i.e. [-1, 1].
        deterministic (bool): Draw each index's degradation from (seed, index), so validation/test pairs
            are the same every time. Default: False (training draws from the worker's seeded generator).
        seed (int): Seed of the deterministic mode. Default: 0.
        max_items (int | None): Use only the first N keys (small validation sets). Default: None.
        degradation_on_device (bool): For the blind degradations (``BLIND_SAMPLERS``): draw the parameters
            here and return them as 'degradation' instead of 'lq'; the model degrades the batch on its
            device (``batched_degradations.py``, called by ``FaceBaseModel.feed_data``). Default: False.
        parsing_root (str | None): Folder of ``<stem>.png`` label maps (``sidecars.ParsingMaps``); adds
            'parsing', int64 (gt_size, gt_size), flipped with the image (left/right labels swapped).
        components_file (str | None): JSON of eye/mouth boxes (``sidecars.ComponentBoxes``); adds
            'box_left_eye', 'box_right_eye', 'box_mouth', float32 [x1, y1, x2, y2] in gt_size pixels,
            mirrored and swapped left/right with the image.
        max_corrupt_samples (int): Undecodable images skipped (logged, replaced by the next index) before
            the dataset gives up (``base_dataset.SkipCorruptDataset``). Default: 10.

    Returns (per item): 'lq' (or 'degradation') and 'gt' in [-1, 1], 'factor' (the upscaling factor s drawn, when
    the degradation draws one; GCFSR normalises it), the sidecar entries above, 'key', 'lq_path', 'gt_path' (the
    image's path, whose stem is the key: BasicSR's validation names its outputs by that stem, ``dots.in.name.png``
    as ``dots.in.name``).
    """

    option_keys = {
        'dataroot_gt', 'io_backend', 'gt_size', 'degradation', 'use_hflip', 'mean', 'std',
        'deterministic', 'seed', 'max_items', 'degradation_on_device', 'parsing_root', 'components_file',
        'max_corrupt_samples',
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
        if opt.get('degradation_on_device') and degradation['type'] not in BLIND_SAMPLERS:
            raise OptionError(f"{where}.degradation_on_device needs a blind degradation ({sorted(BLIND_SAMPLERS)}), "
                              f"got '{degradation['type']}'")

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.source = ImageSource(opt['dataroot_gt'], opt.get('io_backend', {'type': 'disk'}).get('type', 'disk'))
        self.keys = limit_keys(self.source.keys, opt)
        self.gt_size = opt.get('gt_size')
        self.degradation = dict(opt['degradation'])
        self.use_hflip = opt.get('use_hflip', False)
        self.mean, self.std = normalisation(opt)
        self.deterministic = opt.get('deterministic', False)
        self.seed = opt.get('seed', 0)
        self.on_device = opt.get('degradation_on_device', False)
        self.parsing = ParsingMaps(opt['parsing_root']) if opt.get('parsing_root') else None
        self.components = ComponentBoxes(opt['components_file']) if opt.get('components_file') else None

    def __len__(self):
        return len(self.keys)

    def _rng(self, index):
        if self.deterministic:
            return np.random.default_rng([self.seed, index])
        # seeded per worker by BasicSR's worker_init_fn (seed + rank + worker id)
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))

    def load_item(self, index):
        key = self.keys[index]
        gt = self.source.read(key)
        stored_size = gt.shape[:2]
        if self.gt_size is not None and gt.shape[:2] != (self.gt_size, self.gt_size):
            gt = cv2.resize(gt, (self.gt_size, self.gt_size), interpolation=cv2.INTER_AREA)
        elif gt.shape[0] != gt.shape[1]:
            raise ValueError(f'{key}: faces must be square aligned crops, got {gt.shape[1]}x{gt.shape[0]}; '
                             'set gt_size to resize')
        size = gt.shape[0]
        rng = self._rng(index)
        flip = self.use_hflip and rng.random() < 0.5
        if flip:
            gt = np.ascontiguousarray(gt[:, ::-1])
        path = self.source.path(key)
        item = {'gt': to_tensor(gt, self.mean, self.std), 'key': key, 'lq_path': path, 'gt_path': path}
        if self.on_device:
            record = sample_blind_params(rng, self.degradation)
            item['degradation'] = record_to_tensors(record)
        else:
            lq, record = apply_degradation(gt, rng, self.degradation)
            item['lq'] = to_tensor(lq, self.mean, self.std)
        if 'factor' in record:
            item['factor'] = torch.tensor([record['factor']], dtype=torch.float32)
        if self.parsing is not None:
            labels = self.parsing.read(key, size)
            item['parsing'] = torch.from_numpy(flip_parsing(labels) if flip else labels)
        if self.components is not None:
            boxes = self.components.read(key, stored_size, size)
            for name, box in (flip_boxes(boxes, size) if flip else boxes).items():
                item[f'box_{name}'] = torch.from_numpy(box)
        return item
