"""Self-describing checkpoints (toolkit.checkpoints.NETWORK_KEY) through the inference CLI: the checkpoint alone rebuilds
its network, its options win over an option file's, --net-opt over both (reported), and a checkpoint without a
network block still loads with --arch/--net-opt, with one line naming the option that does not fit."""
import os

import pytest
import torch
import yaml

import facesr_arch  # noqa: F401  (registers the architectures)
from facesr_arch.archs.gcfsr_arch import GCFSR
from facesr_arch.cli import inference as cli
from facesr_arch.inference.loading import network_config
from facesr_arch.toolkit.checkpoints import portable_network
from facesr_arch.toolkit.checkpoints import NETWORK_KEY
from helpers import run_script

TINY = {'out_size': 64, 'narrow': 0.0625, 'num_style_feat': 32}


def save(path, network=True, **options):
    torch.manual_seed(0)
    ckpt = {'params_ema': GCFSR(**{**TINY, **options}).state_dict()}
    if network:
        ckpt[NETWORK_KEY] = portable_network({'type': 'GCFSR', **TINY, **options})
    torch.save(ckpt, path)
    return str(path)


@pytest.fixture
def face(ffhq_small_dir):
    return os.path.join(ffhq_small_dir, sorted(os.listdir(ffhq_small_dir))[0])


def cli_args(args, face, cwd):
    return [*args, '-i', face, '-o', str(cwd / 'out'), '--device', 'cpu', '--no-progress', '--overwrite',
            '--upscale', '8']


def infer(args, face, cwd, capsys):
    """Run the inference CLI in this process; returns (stdout, stderr, error line or None).

    A user error is one stderr line ``inference: error: ...`` and exit status 2; the line is returned without
    the program name."""
    status = cli.main(cli_args(args, face, cwd))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith('inference: error: ')]
    assert (status == 2) == bool(lines), (status, err)
    return out, err, lines[-1].removeprefix('inference: ') if lines else None


def test_weights_alone_rebuilds_the_network(face, tmp_path):
    proc = run_script('inference.py', cli_args(['--weights', save(tmp_path / 'g.pth')], face, tmp_path),
                      cwd=str(tmp_path))
    assert 'GCFSR: 1 input(s)' in proc.stdout and 'output 64 px' in proc.stdout and 'Done: 1 image(s)' in proc.stdout


def test_checkpoint_options_win_over_option_file_and_net_opt_over_both(face, tmp_path, capsys, caplog):
    weights = save(tmp_path / 'g.pth')
    opt = tmp_path / 'test.yml'
    opt.write_text(yaml.safe_dump({'network_g': {'type': 'GCFSR', 'out_size': 128, 'narrow': 0.0625},
                                   'path': {'pretrain_network_g': weights}}))
    out, _, error = infer(['-opt', str(opt)], face, tmp_path, capsys)
    assert f'Using the network options {weights} was saved with: out_size=64 (option file: 128)' in caplog.text
    assert error is None and 'Done: 1 image(s)' in out
    _, _, error = infer(['--weights', weights, '--net-opt', 'narrow=0.125'], face, tmp_path, capsys)
    assert f'--net-opt narrow=0.125 overrides narrow=0.0625 recorded in {weights}' in caplog.text
    assert error.startswith(f'error: {weights} does not fit GCFSR(') and 'it fits narrow=0.0625' in error
    _, _, error = infer(['--weights', weights, '--arch', 'WNet'], face, tmp_path, capsys)
    assert error == (f'error: --arch WNet contradicts {weights}, which holds a GCFSR network (drop --arch: the '
                     'checkpoint names its network)')


def test_checkpoint_without_network_block(face, tmp_path, capsys):
    weights = save(tmp_path / 'old.pth', network=False)
    _, _, error = infer(['--weights', weights], face, tmp_path, capsys)
    assert 'does not name its network' in error and '--arch' in error
    _, err, error = infer(['--arch', 'GCFSR', '--weights', weights, '--net-opt', 'narrow=0.0625', '--net-opt',
                           'num_style_feat=32'], face, tmp_path, capsys)
    assert '\n' not in error and 'size mismatch' not in error + err
    assert error == (f'error: {weights} does not fit GCFSR(narrow=0.0625, num_style_feat=32): it fits out_size=64 '
                     '(not 1024); pass --net-opt out_size=64 (or -opt the option file it was trained with)')
    out, _, error = infer(['--arch', 'GCFSR', '--weights', weights, *[f'--net-opt={k}={v}' for k, v in TINY.items()]],
                          face, tmp_path, capsys)
    assert error is None and 'Done: 1 image(s)' in out


def test_pretrained_file_options_are_not_stored():
    block = portable_network({'type': 'PVFR', 'out_size': 32, 'prior_path': 'weights/prior.pth'})
    assert block == {'type': 'PVFR', 'out_size': 32, 'prior_path': None}
    nested = portable_network({'type': 'CFGPFSSR', 'prior_path': 'p.pth', 'parser_opt': {'weights_path': 'x.pth'}})
    assert nested['prior_path'] is None and nested['parser_opt'] == {'weights_path': None}


def test_params_ema_falls_back_to_params(tmp_path):
    path = tmp_path / 'converted.pth'
    torch.save({'params': GCFSR(**TINY).state_dict(), NETWORK_KEY: {'type': 'GCFSR', **TINY}}, path)
    block, weights, key = network_config(weights=str(path), param_key='params_ema')
    assert block == {'type': 'GCFSR', **TINY} and key == 'params'
