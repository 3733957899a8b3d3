"""Training-iteration benchmark on real data (facesr_arch/benchmark/training.py): each method's own
training dataset on the real FFHQ faces, BasicSR's dataloader, generated sidecars, the on-device degradation
toggle. Tiny configurations, one timed iteration; the numbers themselves are not checked."""
import json

import pytest
import torch

from facesr_arch.benchmark.training import training_cost

CPU = torch.device('cpu')
TIMES = ('iter_ms', 'step_ms', 'data_wait_ms', 'loader_wait_ms', 'feed_data_ms')


def check_times(result):
    for key in TIMES:
        assert result[key] >= 0, key
    assert result['iter_ms'] > 0 and result['step_ms'] > 0 and result['data_wait_ms'] > 0
    assert result['iter_ms'] == pytest.approx(result['step_ms'] + result['data_wait_ms'], abs=0.05)
    assert 0 <= result['data_wait_share'] < 1


def test_non_blind_method_on_real_faces(ffhq_dir):
    """GCFSR: its multiscale bicubic dataset on the 1024 px faces with loader workers; the tiny 64 px GT keeps
    only the factors that leave an LR of 2 px or more; the on-device toggle is recorded as not applicable."""
    result = training_cost('GCFSR', 'tiny', CPU, batch_size=2, iterations=1, r1_every=1000, train_data=ffhq_dir,
                           num_workers=1, degradation_on_device=True)
    check_times(result)
    assert result['data'].startswith('FaceDegradedPairDataset on ') and result['num_workers'] == 1
    assert result['degradation'] == 'multiscale_bicubic'
    assert result['degradation_on_device'].startswith('not applicable')
    assert 'cut to [4, 8, 16, 32]' in result['degradation_note']
    assert {'lq', 'gt', 'factor'} <= set(result['batch_keys']) and 'degradation' not in result['batch_keys']
    assert result['lq_size'] == [64, 64]


@pytest.mark.parametrize('on_device', [False, True])
def test_blind_method_on_real_faces(ffhq_dir, on_device):
    """PVFR: blind degradation in the loader (items carry 'lq') or on the device in feed_data (items carry the
    drawn 'degradation' parameters); the component boxes the local discriminators need are generated."""
    result = training_cost('PVFR', 'tiny', CPU, batch_size=2, iterations=1, r1_every=1000, train_data=ffhq_dir,
                           num_workers=0 if on_device else 1, degradation_on_device=on_device)
    check_times(result)
    assert result['degradation'] == 'pvfr_blind' and result['degradation_on_device'] is on_device
    keys = set(result['batch_keys'])
    assert {'gt', 'box_left_eye', 'box_right_eye', 'box_mouth'} <= keys
    assert ('degradation' in keys) is on_device and ('lq' in keys) is not on_device
    assert result['lq_size'] == [32, 32]  # the blind degradation's out_size follows the tiny input size


def test_lmdb_with_parsing_sidecars(ffhq_small_lmdb):
    """W-Net reads an LMDB (detected by its name) and needs parsing maps, which are generated."""
    result = training_cost('WNet', 'tiny', CPU, batch_size=2, iterations=1, train_data=ffhq_small_lmdb,
                           num_workers=0)
    check_times(result)
    assert result['data'].endswith('(lmdb)') and 'parsing' in result['batch_keys']


def test_in_memory_batches_are_model_cost_only():
    result = training_cost('MPCNet', 'tiny', CPU, batch_size=1, iterations=1)
    assert result['data'].startswith('in-memory') and result['degradation'] is None
    assert 'lq' in result['batch_keys'] and result['iter_ms'] > 0


def test_models_command_options(ffhq_dir, tmp_path, capsys):
    """scripts/benchmark.py models passes the training-data options through and records them."""
    from facesr_arch.cli import benchmark
    with pytest.raises(SystemExit):
        benchmark.main(['models', '--degradation-on-device'])
    assert '--train-data' in capsys.readouterr().err
    out = tmp_path / 'models.json'
    assert benchmark.main(['--output', str(out), 'models', '--config', 'tiny', '--methods', 'MPCNet', '--warmup',
                           '0', '--repeats', '1', '--train-step', '--train-batch', '1', '--train-iterations', '1',
                           '--train-data', ffhq_dir, '--train-workers', '0', '--degradation-on-device']) == 0
    result = json.loads(out.read_text())
    assert result['options']['train_data'] == ffhq_dir and result['options']['degradation_on_device'] is True
    train = result['results'][0]['train']
    assert train['num_workers'] == 0 and train['degradation_on_device'] is True
    assert 'degradation' in train['batch_keys']


def test_saved_tensor_peak_counts_what_backward_holds():
    """x * w saves x (w, a parameter, is resident state and left out); exp saves its output; sum saves no tensor."""
    from facesr_arch.benchmark.training import SavedTensorPeak
    w = torch.randn(100, requires_grad=True)
    x = torch.randn(100)
    with SavedTensorPeak([w]) as saved:
        y = (x * w).exp().sum()
    assert saved.peak_bytes == 2 * 100 * 4 and saved.current_bytes == 800
    y.backward()
    assert saved.current_bytes == 0 and saved.peak_bytes == 800  # the graph freed its saved tensors


def test_memory_of_a_training_iteration_in_memory():
    """MPCNet tiny on in-memory batches: resident state, activations per face and the iteration peak."""
    result = training_cost('MPCNet', 'tiny', CPU, batch_size=2, iterations=1)
    # state and activations are exact tensor bytes; the CPU peak is RSS growth, which is 0 when the worker
    # process already holds freed memory from earlier tests that the allocator reuses
    assert result['state_mb'] > 0 and result['activation_mb'] > 0 and result['peak_mem_mb'] >= 0
    assert result['activation_mb_per_face'] == pytest.approx(result['activation_mb'] / 2, abs=0.1)
    assert result['peak_mem_kind'] == 'CPU RSS peak'
