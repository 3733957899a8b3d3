"""``python -m facesr_arch.train`` and ``python -m facesr_arch.test``: BasicSR's pipelines under the commands'
error contract.

The arguments are BasicSR's (``-opt``, ``--launcher``, ``--auto_resume``, ``--debug``, ``--local_rank``);
``--help`` answers with them and exit status 0, a wrong argument is exit status 2 (argparse). A fault of the
user's option file is one line ``facesr_arch.<phase>: error: ...`` with exit status 2, found before BasicSR
creates anything where it can be (:func:`facesr_arch.utils.launch.prepare`); a network option the
architecture refuses while BasicSR builds the model (``APFF needs an even width``) is one line naming the
option block, and the experiment / results folder the failed run created is removed (an earlier one that
BasicSR renamed ``*_archived_*`` is put back). Any other error keeps its traceback and its folders.
"""
import argparse
import os
import shutil
import sys

from ..toolkit.errors import UserError, run_cli

# folders under the current directory that BasicSR's pipelines create runs in (experiments, results, logs)
RUN_FOLDERS = {'train': ('experiments', 'tb_logger'), 'test': ('results', )}


def build_parser(phase):
    """BasicSR's arguments of ``basicsr/<phase>.py`` (``--force_yml`` refused: BasicSR ``exec``s its value)."""
    what = ('Train with BasicSR\'s pipeline; experiments go to ./experiments/<name>' if phase == 'train' else
            'Test with BasicSR\'s pipeline; results go to ./results/<name>')
    parser = argparse.ArgumentParser(prog=f'python -m facesr_arch.{phase}', description=f'{what}.')
    parser.add_argument('-opt', required=True, help='option file (YAML)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='distributed launcher (torchrun: pytorch)')
    parser.add_argument('--auto_resume', action='store_true', help='resume from the latest training state')
    parser.add_argument('--debug', action='store_true', help="BasicSR's debug mode (frequent logs, debug_ name)")
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help='set by the launcher')
    return parser


def run_pipeline(phase, argv=None):
    """Run BasicSR's ``phase`` ('train' or 'test') pipeline with ``argv`` (default: ``sys.argv[1:]``); returns
    the exit status (2 after a user error)."""
    return run_cli(lambda args: _run(phase, args), f'facesr_arch.{phase}', argv)


def _run(phase, argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(arg.startswith('--force_yml') for arg in argv):
        raise UserError('--force_yml is not supported (BasicSR exec()s its value); edit the option file')
    args = build_parser(phase).parse_args(argv)
    from ..models.priors import check_priors
    from ..utils.launch import prepare
    opt = prepare(args.opt, argv, is_train=phase == 'train')
    try:
        check_data_paths(opt)
        check_validation_weights(opt)
    except UserError as err:
        raise UserError(f'{args.opt}: {err}') from None
    check_priors(opt, phase == 'train', source=args.opt)  # no silent random priors
    root = os.getcwd()
    before = _run_folders(root, phase)
    try:
        if phase == 'train':
            from basicsr.train import train_pipeline
            train_pipeline(root)
        else:
            from basicsr.test import test_pipeline
            test_pipeline(root)
    except (ValueError, TypeError, AssertionError) as err:
        message = network_option_error(err, opt)
        if message is None:
            raise
        _remove_new_runs(root, phase, before)
        raise UserError(f'{args.opt}: {message}') from err
    except UserError:
        _remove_new_runs(root, phase, before)
        raise
    return 0


def check_data_paths(opt):
    """Raise :class:`OptionError` if a dataset's ``dataroot_*`` does not exist (checked at launch, before BasicSR
    creates the experiment folders; kept out of ``validate_options`` so option files validate anywhere)."""
    from ..data.lmdb_util import check_lmdb_integrity
    from ..utils.options import OptionError
    for phase, block in (opt.get('datasets') or {}).items():
        for key, path in block.items():
            if key.startswith('dataroot_') and path is not None and not os.path.exists(os.path.expanduser(path)):
                raise OptionError(f'datasets.{phase}.{key} names a missing folder: {path} (pack images with '
                                  'scripts/create_lmdb.py, make test sets with scripts/make_testset.py; see '
                                  'datasets/README.md)')
            if key.startswith('dataroot_') and path is not None and os.path.isfile(os.path.join(path, 'data.mdb')):
                try:
                    check_lmdb_integrity(os.path.expanduser(path))
                except ValueError as err:
                    raise OptionError(f'datasets.{phase}.{key}: {err}') from None


def check_validation_weights(opt):
    """Build each ``val.metrics`` entry of this package that needs weight files (LPIPS, identity, ...), so that a
    missing or refused file fails at launch, not at the first validation hours later (checked at launch,
    like :func:`check_data_paths`).

    Raises:
        OptionError: A metric's weights are missing or not loadable (the message names the file).
    """
    from ..metrics.catalog import METRICS, build_metric
    from ..utils.options import OptionError, did_you_mean
    metrics = (opt.get('val') or {}).get('metrics') or {}
    for name, block in metrics.items():
        if not isinstance(block, dict) or block.get('type') != 'calculate_face_metric':
            continue
        metric = block.get('metric', 'psnr_y')
        if metric not in METRICS:
            raise OptionError(f"val.metrics.{name}.metric '{metric}' is not a metric{did_you_mean(metric, METRICS)}")
        if metric.startswith(('psnr', 'ssim')) or metric == 'niqe':  # no weight files
            continue
        options = {k: v for k, v in block.items() if k not in ('type', 'metric', 'better', 'device')}
        try:
            build_metric(metric, device='cpu', **options)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise OptionError(f'val.metrics.{name} ({metric}) cannot be computed: {err}') from None


def network_option_error(err, opt):
    """The one-line message for ``err`` when an architecture's constructor raised it while BasicSR built a
    network from the option block ``network_*`` (the user's option value is at fault), else None."""
    frames, tb = [], err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    archs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'archs') + os.sep
    if not any(frame.f_code.co_filename.startswith(archs) for frame in frames):
        return None
    built = [frame.f_locals.get('network_type') for frame in frames if frame.f_code.co_name == 'build_network']
    if not built or built[-1] is None:
        return None
    blocks = [key for key, block in opt.items() if key.startswith('network_') and isinstance(block, dict)
              and block.get('type') == built[-1]]
    where = ' or '.join(blocks) or f'the {built[-1]} network block'
    return f'{where} ({built[-1]}): {" ".join(str(err).split())}; fix that option (nothing was kept of this run)'


def _run_folders(root, phase):
    """{path: inode} of the run folders under ``root`` (``RUN_FOLDERS[phase]``)."""
    entries = {}
    for parent in RUN_FOLDERS[phase]:
        folder = os.path.join(root, parent)
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                path = os.path.join(folder, name)
                entries[path] = os.lstat(path).st_ino
    return entries


def _remove_new_runs(root, phase, before):
    """Remove the run folders created since ``before`` (:func:`_run_folders`); an earlier folder that BasicSR
    moved aside (``<name>_archived_<time>``) is put back under its name."""
    after = _run_folders(root, phase)
    earlier = {inode: path for path, inode in before.items()}
    for path, inode in after.items():
        if before.get(path) != inode and inode not in earlier:  # made by this run
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    for path, inode in after.items():
        if before.get(path) != inode and inode in earlier and not os.path.lexists(earlier[inode]):
            os.replace(path, earlier[inode])  # moved aside by BasicSR: back under its name
    for parent in RUN_FOLDERS[phase]:
        folder = os.path.join(root, parent)
        if os.path.isdir(folder) and not os.listdir(folder) and not any(p.startswith(folder + os.sep) for p in before):
            os.rmdir(folder)
