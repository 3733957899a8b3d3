"""The batched on-device path against the CPU path: PSNR(LQ, GT) distributions over many seeds."""
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

import facesr_arch  # noqa: F401
from facesr_arch.data.batched_degradations import degrade_batch, record_to_tensors
from facesr_arch.data.degradations import apply_blind, sample_blind_params
from facesr_arch.data.face_degraded_dataset import FaceDegradedPairDataset
from facesr_arch.data.image_source import ImageSource


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b)**2))


@pytest.mark.parametrize('opt', [{'type': 'gfpgan_blind'}, {'type': 'pvfr_blind', 'out_size': 128},
                                 {'type': 'mpcnet_blind', 'out_size': 128}])
def test_batched_path_matches_cpu_psnr_distribution(ffhq_small_dir, opt):
    source = ImageSource(ffhq_small_dir)
    faces = [source.read(key) for key in source.keys]
    cpu, device, records, gts = [], [], [], []
    for seed in range(24):
        face = faces[seed % len(faces)]
        rng = np.random.default_rng(seed)
        record = sample_blind_params(rng, opt)
        cpu.append(psnr(apply_blind(face, rng, record), face))
        records.append(record_to_tensors(record))
        gts.append(torch.from_numpy(face[:, :, ::-1].transpose(2, 0, 1).copy()))
    lq = degrade_batch(torch.stack(gts), default_collate(records), torch.Generator().manual_seed(0))
    for i, face in enumerate(gts):
        device.append(psnr(lq[i].numpy(), face.numpy()))
    cpu, device = np.array(cpu), np.array(device)
    # same parameters: each pair close; DiffJPEG is ~0.3 dB harsher than libjpeg, the rest matches exactly
    assert np.abs(cpu - device).max() < 1.5
    assert abs(cpu.mean() - device.mean()) < 0.5 and abs(cpu.std() - device.std()) < 0.5


def test_on_device_dataset_feeds_the_model(ffhq_small_dir):
    from facesr_arch.models.base import FaceBaseModel
    opt = {'dataroot_gt': ffhq_small_dir, 'gt_size': 64, 'degradation': {'type': 'pvfr_blind', 'out_size': 64},
           'degradation_on_device': True}
    batch = default_collate([FaceDegradedPairDataset(opt)[i] for i in range(3)])
    assert 'lq' not in batch and batch['degradation']['kernel'].shape == (3, 41, 41)
    from facesr_arch.models.precision import TrainingPrecision
    model = FaceBaseModel.__new__(FaceBaseModel)  # feed_data needs only the device and the precision
    model.device, model.precision = torch.device('cpu'), TrainingPrecision(None)
    model.feed_data(batch)
    assert model.lq.shape == model.gt.shape == (3, 3, 64, 64)
    assert -1 <= model.lq.min() and model.lq.max() <= 1 and not torch.equal(model.lq, model.gt)


def test_on_device_option_rejects_non_blind_degradations():
    from facesr_arch.utils.options import OptionError
    with pytest.raises(OptionError, match='degradation_on_device'):
        FaceDegradedPairDataset.check_options(
            {'degradation': {'type': 'wnet_bicubic'}, 'degradation_on_device': True}, 'datasets.train')
