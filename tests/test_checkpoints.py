"""The checkpoint format (``facesr_arch.toolkit.checkpoints``): one exact diagnosis per kind of bad file, shared by
every reader, on tiny files written here; atomic, self-describing writes."""
import os
import pickle

import pytest
import torch

import facesr_arch  # noqa: F401  (registers the architectures)
from facesr_arch.inference.loading import build_network, network_config
from facesr_arch.toolkit import checkpoints
from facesr_arch.toolkit.checkpoints import CheckpointError, MissingWeightsError, describe, load_checkpoint, write
from facesr_arch.toolkit.errors import UserError

STATE = {'weight': torch.arange(6.0).view(2, 3)}
TINY_GCFSR = {'type': 'GCFSR', 'out_size': 32, 'narrow': 0.0625, 'num_style_feat': 16}


def diagnosis(path, **kwargs):
    """The one-line message every reader gives for ``path``."""
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(str(path), 'test weights', **kwargs)
    message = str(info.value)
    assert '\n' not in message and isinstance(info.value, UserError)
    return message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match='not found: .*nothing.pth. Train it first'):
        load_checkpoint(str(tmp_path / 'nothing.pth'), 'test weights', how_to_get='Train it first.')
    (tmp_path / 'run.pth').mkdir()
    assert 'is a folder, not a checkpoint file' in diagnosis(tmp_path / 'run.pth')


def test_empty_image_and_foreign_files(tmp_path):
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert 'is empty (0 bytes)' in diagnosis(tmp_path / 'empty.pth')
    (tmp_path / 'face.pth').write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(64))
    assert 'is a PNG image, not a PyTorch checkpoint' in diagnosis(tmp_path / 'face.pth')
    (tmp_path / 'one_byte.pth').write_bytes(b'\x80')
    assert 'not a PyTorch checkpoint' in diagnosis(tmp_path / 'one_byte.pth')
    (tmp_path / 'notes.pth').write_text('weights: somewhere else\n')
    assert 'not a PyTorch checkpoint (neither a zip nor a pickle file)' in diagnosis(tmp_path / 'notes.pth')


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_truncated(tmp_path, legacy):
    whole = tmp_path / 'whole.pth'
    torch.save({'params': STATE}, whole, _use_new_zipfile_serialization=not legacy)
    data = whole.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    assert 'is truncated' in diagnosis(tmp_path / 'cut.pth')
    assert load_checkpoint(str(whole))['params']['weight'].equal(STATE['weight'])


class _Payload:
    """Unpickling this would create the file named by ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.mark.parametrize('kind', ['torch_zip', 'torch_legacy', 'plain_pickle'])
def test_pickled_code_refused_never_run(tmp_path, kind):
    marker = str(tmp_path / 'code_ran')
    path = tmp_path / 'evil.pth'
    obj = {'params': STATE, 'extra': _Payload(marker)}
    if kind == 'plain_pickle':
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=kind == 'torch_zip')
    for _ in range(2):  # also through the memory-mapped read of describe
        assert 'holds pickled Python objects (code)' in diagnosis(path)
        with pytest.raises(CheckpointError, match='refused and not loaded'):
            describe(str(path))
    assert not os.path.exists(marker)


def test_write_describe_and_state(tmp_path):
    path = tmp_path / 'models' / 'net_g_1.pth'
    write(str(path), [STATE, STATE], network={**TINY_GCFSR, 'factor_norm': 32}, scales=[8, 4, 4],
          param_key=['params', 'params_ema'])
    found = describe(str(path))
    assert found.network == {**TINY_GCFSR, 'factor_norm': 32} and found.scales == (4.0, 8.0)
    assert set(found.keys) == {'params', 'params_ema', 'network', 'scales'}
    assert checkpoints.read_state_dict(str(path), 'test', '')['weight'].equal(STATE['weight'])  # params_ema first
    assert os.listdir(path.parent) == ['net_g_1.pth']  # nothing left beside it
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(CheckpointError, match="has no 'g_ema' entry"):
        checkpoints.read_state_dict(str(path), 'test', '', param_key='g_ema')


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'net_g_latest.pth'
    write(str(path), STATE)
    before = path.read_bytes()
    with pytest.raises(AttributeError, match="Can't pickle local object"):
        checkpoints.save(str(path), {'params': lambda: None})  # not picklable: the write fails midway
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['net_g_latest.pth']


def test_pretrained_file_options_cleared():
    """Options naming files a network loads at construction are not stored (the checkpoint holds the weights)."""
    block = checkpoints.portable_network({'type': 'CFGPFSSR', 'prior_path': 'p.pth', 'out_size': 64,
                                          'parser_opt': {'weights_path': 'x.pth', 'in_size': 64}})
    assert block == {'type': 'CFGPFSSR', 'prior_path': None, 'out_size': 64,
                     'parser_opt': {'weights_path': None, 'in_size': 64}}


def test_network_description_and_configuration(tmp_path):
    """No network entry: pass --arch; --arch contradicting the entry; weights that fit another option value."""
    from facesr_arch.archs.gcfsr_arch import GCFSR
    options = {k: v for k, v in TINY_GCFSR.items() if k != 'type'}
    bare = tmp_path / 'bare.pth'
    torch.save({'params': GCFSR(**options).state_dict()}, bare)
    with pytest.raises(CheckpointError, match="does not name its network .* pass --arch NAME"):
        network_config(weights=str(bare))
    described = tmp_path / 'described.pth'
    write(str(described), GCFSR(**options).state_dict(), network=TINY_GCFSR)
    with pytest.raises(CheckpointError, match='contradicts .* holds a GCFSR network'):
        network_config(weights=str(described), arch='WNet')
    block, weights, key = network_config(arch='GCFSR', weights=str(bare), net_options={**options, 'narrow': 0.125})
    with pytest.raises(CheckpointError, match=r'does not fit GCFSR\(.*\): it fits narrow=0.0625 \(not 0.125\); '
                                              r'pass --net-opt narrow=0.0625'):
        build_network(block, weights, key)


def test_missing_release_names_publisher_and_place(tmp_path, monkeypatch):
    """``convert_weights.py gfpgan GFPGANv1.4.pth ...`` without the file: where it is published, where it goes."""
    from facesr_arch.archs.converters import convert_file
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingWeightsError) as info:
        convert_file('gfpgan', 'GFPGANv1.4.pth', 'gfpgan.pth')
    message = str(info.value)
    assert 'GFPGANv1.4.pth' in message and 'TencentARC/GFPGAN' in message and 'weights/README.md' in message
    assert not os.path.exists('gfpgan.pth')


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
