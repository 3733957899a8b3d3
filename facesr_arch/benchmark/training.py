"""Training-iteration cost of every method: time of one iteration through the method's real model class and
the share of it spent waiting for data. Used by ``scripts/benchmark.py models --train-step``.

Two data sources:

- real data (``train_data``: an HQ image folder or LMDB): the method's own training dataset, built from the
  ``datasets.train`` block of its option file (type from BasicSR's registry, ``gt_size`` set to the model's
  output size), loaded through BasicSR's ``build_dataloader`` with worker processes; the sidecars the block
  names (parsing maps, component boxes) are generated, with random content, into a temporary folder. The
  blind degradations can run on the training device (``degradation_on_device``, in ``feed_data``);
- no ``train_data``: :class:`InMemoryFaces`, random tensors with every key a model reads. No decoding and no
  degradation: this measures the model cost only, and its data-wait share is near zero by construction.

Per timed iteration: the time blocked in ``next(loader)``, in ``feed_data`` (device transfer, and the batched
degradation when it runs on the device) and in ``optimize_parameters``. The first iteration is a warm-up.

Memory of training (every device): the resident state (parameters, buffers, gradients and optimiser states of
every network the model holds: generator, discriminators, priors, loss networks), and the activations of an
iteration: the peak bytes of tensors held for backward (:class:`SavedTensorPeak`) over batch size gives the
activation memory per face. The peak memory of the iterations is the CUDA peak allocation, or on CPU the
process's resident-set (RSS) peak, above the level before the model was built: it holds state, activations
and temporaries (on CPU also what the allocator keeps cached).
"""
import copy
import gc
import inspect
import json
import math
import os
import statistics
import tempfile
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..inference.specs import Controls, get_spec
from .configs import method_options
from .timing import PeakMemory, sync_device, time_calls

# component boxes of the generated training faces, as fractions of the side: [x1, y1, x2, y2]
_BOXES = {'left_eye': (0.25, 0.35, 0.45, 0.5), 'right_eye': (0.55, 0.35, 0.75, 0.5), 'mouth': (0.3, 0.65, 0.7, 0.85)}
# label classes of the generated parsing maps (CelebAMask-HQ / BiSeNet)
_PARSING_CLASSES = 19


class InMemoryFaces(Dataset):
    """Random training items with every key a method's ``feed_data`` reads: 'gt', 'lq', 'factor', 'parsing'
    and component boxes. No decoding, no degradation: model cost only.

    Args:
        gt_size (int): HR side.
        lq_size (int): Network input side.
        components (Iterable[str]): Names of the 'box_<name>' entries.
        length (int): Number of items. Default: 64.
    """

    def __init__(self, gt_size, lq_size, components=(), length=64):
        self.gt_size, self.lq_size, self.length = gt_size, lq_size, length
        self.components = list(components)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        item = {'gt': torch.rand(3, self.gt_size, self.gt_size, generator=generator) * 2 - 1,
                'lq': torch.rand(3, self.lq_size, self.lq_size, generator=generator) * 2 - 1,
                'factor': torch.tensor([4.0]),
                'parsing': torch.randint(0, _PARSING_CLASSES, (self.gt_size, self.gt_size), generator=generator),
                'key': f'{index:05d}'}
        for name in self.components:
            item[f'box_{name}'] = torch.tensor(_BOXES[name], dtype=torch.float32) * self.gt_size
        return item


class SavedTensorPeak:
    """Peak bytes of the tensors autograd holds for backward while the context is open (each storage once).

    Tensors sharing a storage with ``exclude`` (parameters and buffers, counted as state) are not counted.

    Args:
        exclude (Iterable[Tensor]): Resident tensors to leave out.

    Attributes:
        peak_bytes (int): The peak, set while the context is open.
    """

    def __init__(self, exclude=()):
        self._exclude = {t.untyped_storage()._cdata for t in exclude}
        self._refs, self._storage_bytes = {}, {}
        self.current_bytes = self.peak_bytes = 0

    class _Held:
        __slots__ = ('tensor', 'key', 'tracker')

        def __del__(self):  # autograd freed the saved tensor
            self.tracker._release(self.key)

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._exclude:
            return tensor
        if not self._refs.get(key):
            self._storage_bytes[key] = storage.nbytes()
            self.current_bytes += storage.nbytes()
            self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        self._refs[key] = self._refs.get(key, 0) + 1
        held = self._Held()
        held.tensor, held.key, held.tracker = tensor, key, self
        return held

    def _release(self, key):
        self._refs[key] -= 1
        if not self._refs[key]:
            self.current_bytes -= self._storage_bytes.pop(key)

    @staticmethod
    def _unpack(held):
        return held.tensor if isinstance(held, SavedTensorPeak._Held) else held

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


def model_modules(model):
    """Every ``nn.Module`` attribute of a BasicSR model (networks, EMA copies, loss networks)."""
    return [m for m in vars(model).values() if isinstance(m, torch.nn.Module)]


def state_bytes(model):
    """Bytes of the model's resident training state: parameters, buffers and gradients of every network it
    holds, and its optimisers' states (each storage once)."""
    tensors = []
    for module in model_modules(model):
        tensors += list(module.parameters()) + list(module.buffers())
        tensors += [p.grad for p in module.parameters() if p.grad is not None]
    for optimizer in getattr(model, 'optimizers', []):
        tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    storages = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def build_model(opt, device, work_dir):
    """The method's real model class (BasicSR registry) built for training on ``device``."""
    from basicsr.models import build_model as basicsr_build_model
    opt = copy.deepcopy(opt)
    opt.update(name=f"benchmark_{opt['name']}", is_train=True, dist=False, rank=0, world_size=1,
               num_gpu=1 if device.type == 'cuda' else 0)
    opt['path'].update(experiments_root=work_dir, models=work_dir, training_states=work_dir, log=work_dir,
                       visualization=work_dir)
    return basicsr_build_model(opt)


def is_lmdb_path(path):
    """True for a BasicSR LMDB: a folder named ``*.lmdb`` or holding ``data.mdb``."""
    path = path.rstrip('/')
    return path.endswith('.lmdb') or os.path.isfile(os.path.join(path, 'data.mdb'))


def write_sidecars(source, keys, folder, parsing=False, components=False, seed=0):
    """Random sidecars for ``keys`` of ``source`` (``data.image_source.ImageSource``), in the formats of
    ``data/sidecars.py``, at each stored image's size.

    Args:
        parsing (bool): Write ``folder/parsing/<stem>.png``: uint8 label maps, labels 0..18 drawn uniformly.
        components (bool): Write ``folder/components.json``: the fixed eye / mouth boxes of :data:`_BOXES`.

    Returns:
        dict: 'parsing_root' and / or 'components_file' (the dataset options to set).
    """
    options = {}
    if not (parsing or components):
        return options
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    boxes = {}
    if parsing:
        options['parsing_root'] = os.path.join(folder, 'parsing')
        os.makedirs(options['parsing_root'], exist_ok=True)
    for key in keys:
        h, w = source.read(key).shape[:2]
        if parsing:
            labels = rng.integers(0, _PARSING_CLASSES, (h, w), dtype=np.uint8)
            cv2.imwrite(os.path.join(options['parsing_root'], f'{key}.png'), labels)
        boxes[key] = {name: [x1 * w, y1 * h, x2 * w, y2 * h] for name, (x1, y1, x2, y2) in _BOXES.items()}
    if components:
        options['components_file'] = os.path.join(folder, 'components.json')
        with open(options['components_file'], 'w') as f:
            json.dump(boxes, f)
    return options


def real_dataset_options(opt, train_data, gt_size, lq_size, samples, degradation_on_device, work_dir):
    """The method's ``datasets.train`` block pointed at ``train_data``, sized for the model, with sidecars.

    Args:
        opt (dict): The method's training options.
        train_data (str): HQ image folder or LMDB.
        gt_size, lq_size (int): The model's output and input sides.
        samples (int): Images the measurement draws; the keys are limited to that many (bounds the sidecars).
        degradation_on_device (bool): Requested; applied only to blind degradations.
        work_dir (str): Folder for the sidecars.

    Returns:
        tuple[dict, dict]: The dataset block and notes for the result: 'degradation',
        'degradation_on_device' (True / False, or the reason it does not apply).
    """
    from ..data.degradations import BLIND_SAMPLERS, DEGRADATIONS
    from ..data.image_source import ImageSource
    block = copy.deepcopy(opt['datasets']['train'])
    backend = 'lmdb' if is_lmdb_path(train_data) else 'disk'
    block.update(phase='train', dataroot_gt=train_data, io_backend={'type': backend}, gt_size=gt_size)
    degradation = dict(block['degradation'])
    if 'out_size' in inspect.signature(DEGRADATIONS[degradation['type']]).parameters:
        degradation['out_size'] = lq_size  # the blind paper degradations return 512 px unless told
    notes = {'degradation': degradation['type']}
    for name in ('factors', 'scales'):  # MATLAB bicubic needs an LR of 2 px or more (tiny GT sizes)
        if name in degradation and any(f > gt_size / 2 for f in degradation[name]):
            kept = [f for f in degradation[name] if f <= gt_size / 2]
            notes['degradation_note'] = f'{name} {degradation[name]} cut to {kept} at gt_size {gt_size}'
            degradation[name] = kept
    block['degradation'] = degradation
    if degradation['type'] in BLIND_SAMPLERS:
        block['degradation_on_device'] = notes['degradation_on_device'] = bool(degradation_on_device)
    else:
        block.pop('degradation_on_device', None)
        notes['degradation_on_device'] = (f"not applicable: '{degradation['type']}' is not a blind degradation "
                                          f'({sorted(BLIND_SAMPLERS)})' if degradation_on_device else False)
    source = ImageSource(train_data, backend)
    keys = source.keys[:samples]
    block['max_items'] = len(keys)
    block.update(write_sidecars(source, keys, os.path.join(work_dir, 'sidecars'),
                                parsing='parsing_root' in block, components='components_file' in block))
    return block, notes


def real_loader(block, batch_size, num_workers, samples, seed=0):
    """BasicSR's training dataloader of a dataset block, with an EnlargedSampler covering ``samples`` items.

    Returns:
        tuple[DataLoader, EnlargedSampler]
    """
    from basicsr.data import build_dataloader
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.utils.registry import DATASET_REGISTRY
    block = dict(block, batch_size_per_gpu=batch_size, num_worker_per_gpu=num_workers,
                 persistent_workers=num_workers > 0)
    dataset = DATASET_REGISTRY.get(block['type'])(copy.deepcopy(block))
    if len(dataset) == 0:
        raise ValueError(f"No training images in {block['dataroot_gt']}")
    ratio = max(block.get('dataset_enlarge_ratio', 1), math.ceil(samples / len(dataset)))
    sampler = EnlargedSampler(dataset, num_replicas=1, rank=0, ratio=ratio)
    loader = build_dataloader(dataset, block, num_gpu=0, dist=False, sampler=sampler, seed=seed)
    return loader, sampler


def repeat_batches(loader, sampler=None):
    """Batches of ``loader`` forever, epoch after epoch (the sampler's epoch advanced as BasicSR does)."""
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError('The training loader yields no batch (fewer items than the batch size?)')
        epoch += 1


def default_workers(opt):
    """The option file's ``num_worker_per_gpu``, capped at the CPU count."""
    return min(int(opt['datasets']['train'].get('num_worker_per_gpu', 0)), os.cpu_count() or 1)


def _ms(seconds):
    return round(statistics.median(seconds) * 1e3, 2)


def training_cost(method, config, device, batch_size=2, iterations=4, r1_every=2, train_data=None, num_workers=None,
                  degradation_on_device=False):
    """Time of a training iteration (median), the share of it spent waiting for data, and EMA / R1 costs.

    R1 (where the method uses it) is applied every ``r1_every`` iterations so that iterations with and
    without it are both measured; the first iteration is a warm-up (it also starts the loader workers).

    Args:
        method (str): Method name (``benchmark.configs.PAPER_OPTIONS``).
        config (str): 'paper' or 'tiny'.
        device (torch.device): Training device.
        batch_size, iterations (int): Batch size and timed iterations.
        r1_every (int): R1 period of the measurement.
        train_data (str | None): HQ image folder or LMDB: real data through the method's training dataset.
            None: :class:`InMemoryFaces` (model cost only: no decoding, no degradation).
        num_workers (int | None): Loader workers for real data. Default: the option file's
            ``num_worker_per_gpu``, capped at ``os.cpu_count()``.
        degradation_on_device (bool): Blind degradations on the training device (in ``feed_data``); recorded as
            not applicable for the other degradations.

    Returns:
        dict: 'batch_size', 'data' ('in-memory' or the dataset block's type and root), 'num_workers',
        'degradation', 'degradation_on_device', 'iter_ms' (median whole iteration: data wait + step),
        'step_ms' (median ``optimize_parameters``), 'data_wait_ms' (median ``next(loader)`` + ``feed_data``),
        'loader_wait_ms' / 'feed_data_ms' (its two parts), 'data_wait_share' (total data wait over total
        iteration time), 'iter_ms_with_r1' / 'iter_ms_without_r1' (whole iterations, when R1 is used),
        'ema_ms' (one EMA update) or None, 'batch_keys' (keys of the first batch); memory in MiB:
        'state_mb' (parameters, buffers, gradients, optimiser states), 'activation_mb' (peak held for backward
        in the warm-up iteration) and 'activation_mb_per_face' (that over the batch size), 'peak_mem_mb' with
        'peak_mem_kind' (CUDA allocation peak, or CPU RSS peak, above the level before the model was built).
    """
    device = torch.device(device)
    opt = method_options(method, config)
    if opt['train'].get('r1_reg_weight', 0) > 0:
        opt['train']['net_d_reg_every'] = r1_every
    samples = (iterations + 1) * batch_size
    with tempfile.TemporaryDirectory() as work_dir, PeakMemory(device) as peak_memory:
        torch.manual_seed(0)
        model = build_model(opt, device, work_dir)
        net = model.get_bare_model(model.net_g)
        _, lq_size, out_size = get_spec(method).sizes(net, Controls())
        result = {'batch_size': batch_size}
        if train_data is None:
            dataset = InMemoryFaces(out_size, lq_size, opt['train'].get('component_crop_sizes') or ())
            loader, sampler = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0,
                                         drop_last=True), None
            result.update(data='in-memory (no decoding/degradation: model cost only)', num_workers=0,
                          degradation=None, degradation_on_device=None)
        else:
            workers = default_workers(opt) if num_workers is None else num_workers
            block, notes = real_dataset_options(opt, train_data, out_size, lq_size, samples, degradation_on_device,
                                                work_dir)
            loader, sampler = real_loader(block, batch_size, workers, samples)
            result.update(data=f"{block['type']} on {train_data} ({block['io_backend']['type']})",
                          num_workers=workers, **notes)
        batches = repeat_batches(loader, sampler)
        fetches, feeds, steps, with_r1 = [], [], [], []
        try:
            for current_iter in range(1, iterations + 2):
                start = time.perf_counter()
                data = next(batches)
                fetched = time.perf_counter()
                model.feed_data(data)
                sync_device(device)
                fed = time.perf_counter()
                if current_iter == 1:  # activations counted in the untimed warm-up (the hooks cost time)
                    resident = [t for m in model_modules(model) for t in (*m.parameters(), *m.buffers())]
                    with SavedTensorPeak(resident) as saved:
                        model.optimize_parameters(current_iter)
                else:
                    model.optimize_parameters(current_iter)
                sync_device(device)
                if current_iter == 1:
                    result['batch_keys'] = sorted(data)
                    result['lq_size'] = list(model.lq.shape[-2:])
                else:
                    fetches.append(fetched - start)
                    feeds.append(fed - fetched)
                    steps.append(time.perf_counter() - fed)
                    with_r1.append(current_iter % model.opt['train'].get('net_d_reg_every', 16) == 0
                                   and getattr(model, 'r1_reg_weight', 0) > 0)
        finally:
            batches.close()  # drops the loader's iterator: persistent workers shut down before the folder goes
            del batches, loader, sampler
            gc.collect()
        waits = [a + b for a, b in zip(fetches, feeds)]
        totals = [w + s for w, s in zip(waits, steps)]
        result.update(iter_ms=_ms(totals), step_ms=_ms(steps), data_wait_ms=_ms(waits), loader_wait_ms=_ms(fetches),
                      feed_data_ms=_ms(feeds), data_wait_share=round(sum(waits) / sum(totals), 4), ema_ms=None)
        if any(with_r1) and not all(with_r1):
            result['iter_ms_with_r1'] = _ms([t for t, r in zip(totals, with_r1) if r])
            result['iter_ms_without_r1'] = _ms([t for t, r in zip(totals, with_r1) if not r])
        if hasattr(model, 'net_g_ema'):
            result['ema_ms'] = round(statistics.median(
                time_calls(lambda: model.model_ema(model.ema_decay), device, 1, 3)) * 1e3, 3)
        result.update(state_mb=round(state_bytes(model) / 2**20, 1), activation_mb=round(saved.peak_bytes / 2**20, 1),
                      activation_mb_per_face=round(saved.peak_bytes / batch_size / 2**20, 1))
    result.update(peak_mem_mb=round(peak_memory.peak_mb, 1),
                  peak_mem_kind='CUDA max allocated' if device.type == 'cuda' else 'CPU RSS peak')
    return result
