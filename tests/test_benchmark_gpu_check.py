"""The GPU check's CPU smoke test (``--device cpu --tiny``): GCFSR trains, validates, resumes, restores a face,
launches through torchrun and is timed in float32 and bf16; partial results are written; a spent budget skips
items with the reason. (The compile step is left to GPU machines: inductor on CPU takes minutes.)"""
import json

import torch

from facesr_arch.benchmark import gpu_check


def test_cpu_smoke_run_writes_every_step(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    out = tmp_path / 'check'
    code = gpu_check.main(['--out', str(out), '--device', 'cpu', '--tiny', '--methods', 'GCFSR',
                           '--steps', 'basics', 'torchrun', 'throughput'])
    results = json.loads((out / 'gpu_check.json').read_text())
    steps = results['steps']
    assert code == 0, json.dumps(steps, indent=1)[-3000:]
    assert results['finished'] and results['config'] == 'tiny' and results['device'] == 'cpu'
    basics = steps['basics']['GCFSR']
    assert basics['status'] == 'ok' and {'l_g_pix', 'l_d_real'} <= set(basics['train_losses'])
    assert basics['resumed_losses'] and basics['inference_output'] == [64, 64, 3]
    assert steps['torchrun']['GCFSR']['status'] == 'ok' and steps['torchrun']['GCFSR']['validated']
    assert (out / steps['torchrun']['GCFSR']['checkpoint']).is_file()
    throughput = steps['throughput']['GCFSR']
    for key in ('train_none', 'train_bf16'):
        assert throughput[key]['iter_per_s'] > 0
    assert throughput['inference_fp32']['latency_ms'] > 0
    assert steps['compile'] == {}  # not asked for
    markdown = (out / 'gpu_check.md').read_text()
    assert '| GCFSR | 2 |' in markdown and 'validated: True' in markdown


def test_spent_budget_skips_with_the_reason(tmp_path):
    out = tmp_path / 'check'
    assert gpu_check.main(['--out', str(out), '--device', 'cpu', '--tiny', '--methods', 'WNet', 'PVFR',
                           '--budget-s', '0']) == 0
    results = json.loads((out / 'gpu_check.json').read_text())
    for step in ('basics', 'throughput', 'compile'):
        assert set(results['steps'][step]) == {'WNet', 'PVFR'}
        assert all(r['status'] == 'skipped' and 'time budget spent' in r['reason']
                   for r in results['steps'][step].values())
    assert results['steps']['torchrun']['GCFSR']['status'] == 'skipped'
    assert 'skipped: time budget spent' in (out / 'gpu_check.md').read_text()
    assert torch.device(results['device']).type == 'cpu'
