"""Data-pipeline throughput: pairs/s per worker for each degradation (CPU path, and the batched path on
a torch device), and LMDB read throughput. Used by ``scripts/benchmark.py data``."""
import os
import tempfile
import time

import cv2
import numpy as np
import torch
from torch.utils.data import default_collate

from ..data.batched_degradations import degrade_batch, record_to_tensors
from ..data.degradations import BLIND_SAMPLERS, apply_degradation, sample_blind_params
from ..data.image_source import ImageSource

# each paper's model at its own resolution, plus the blind ones at the 512 px the issue compares
CPU_CASES = {
    'multiscale_bicubic': (1024, {'type': 'multiscale_bicubic'}),
    'cfgpfssr_bicubic': (1024, {'type': 'cfgpfssr_bicubic'}),
    'wnet_bicubic': (128, {'type': 'wnet_bicubic'}),
    'gfpgan_blind': (512, {'type': 'gfpgan_blind'}),
    'mpcnet_blind': (512, {'type': 'mpcnet_blind'}),
    'pvfr_blind': (512, {'type': 'pvfr_blind'}),
}


def _faces(source, size, count):
    return [cv2.resize(source.read(key), (size, size), interpolation=cv2.INTER_AREA) for key in source.keys[:count]]


def cpu_pairs_per_second(faces, opt, pairs):
    """Pairs/s of the CPU path in this process (one worker)."""
    start = time.perf_counter()
    for i in range(pairs):
        apply_degradation(faces[i % len(faces)], np.random.default_rng(i), opt)
    return pairs / (time.perf_counter() - start)


def batched_pairs_per_second(faces, opt, batch_size, batches, device):
    """Pairs/s of the batched path on ``device`` (parameter drawing excluded: the workers do it)."""
    gt = torch.stack([torch.from_numpy(f[:, :, ::-1].transpose(2, 0, 1).copy()) for f in faces])
    gt = gt.repeat((batch_size + len(faces) - 1) // len(faces), 1, 1, 1)[:batch_size].to(device)
    params = [default_collate([record_to_tensors(sample_blind_params(np.random.default_rng([b, i]), opt))
                               for i in range(batch_size)]) for b in range(batches + 1)]
    degrade_batch(gt, params[0])  # warm-up (DiffJPEG tables, kernels)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for b in range(1, batches + 1):
        degrade_batch(gt, params[b])
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return batches * batch_size / (time.perf_counter() - start)


def lmdb_read_throughput(folder, count, repeats):
    """Images/s and MB/s reading + decoding PNGs from an LMDB packed from ``folder``."""
    from ..data.lmdb_build import create_lmdb
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'bench.lmdb')
        create_lmdb(folder, path)
        source = ImageSource(path)
        keys = source.keys[:count]
        raw = sum(len(source._reader.get(key)) for key in keys)
        start = time.perf_counter()
        for _ in range(repeats):
            for key in keys:
                source.read(key)
        seconds = time.perf_counter() - start
    return {'images_per_s': round(len(keys) * repeats / seconds, 2),
            'MB_per_s': round(raw * repeats / seconds / 1e6, 2), 'image_size': list(source.read(keys[0]).shape[:2])}


def run_data_benchmark(hq_folder, pairs=20, batch_size=16, batches=3, devices=('cpu', ), blind_size=512):
    """All data numbers as one JSON-serialisable dict.

    Args:
        hq_folder (str): HQ faces (folder or LMDB), resized to each case's size.
        pairs (int): Pairs per CPU measurement.
        batch_size (int): Batch of the batched path.
        batches (int): Timed batches per device.
        devices (Sequence[str]): Torch devices for the batched path.
        blind_size (int): Resolution of the CPU-vs-batched comparison.
    """
    source = ImageSource(hq_folder)
    result = {'torch_threads': torch.get_num_threads(), 'cpu_path_pairs_per_s_per_worker': {},
              f'blind_{blind_size}px': {}}
    for name, (size, opt) in CPU_CASES.items():
        rate = cpu_pairs_per_second(_faces(source, size, 4), opt, pairs)
        result['cpu_path_pairs_per_s_per_worker'][name] = {'size': size, 'pairs_per_s': round(rate, 2)}
    faces = _faces(source, blind_size, 4)
    for name in BLIND_SAMPLERS:
        opt = {'type': name} if name == 'gfpgan_blind' else {'type': name, 'out_size': blind_size}
        entry = {'cpu_pairs_per_s_per_worker': round(cpu_pairs_per_second(faces, opt, pairs), 2)}
        for device in devices:
            entry[f'batched_{device}_pairs_per_s'] = round(
                batched_pairs_per_second(faces, opt, batch_size, batches, torch.device(device)), 2)
        result[f'blind_{blind_size}px'][name] = entry
    if not os.path.isfile(os.path.join(hq_folder, 'data.mdb')):
        result['lmdb_read'] = lmdb_read_throughput(hq_folder, count=len(source.keys), repeats=3)
    return result
