"""Safe outputs and one-line errors for the command-line tools.

- :func:`check_writable`: an output location is checked before any work is done.
- :func:`refuse_input_inside`: an output that would replace (or be written into) its own input is refused.
- :func:`staged_folder`: a dataset, test set or report folder is built in a temporary folder beside its
  destination and renamed into place when complete; an existing destination (``overwrite``) is moved aside
  only after the new folder is complete, and deleted only once the new one is in place.
- :func:`run_cli`: the common ``main`` wrapper: a user error (missing file, bad value, refused output) is one
  line ``<prog>: error: ...`` on stderr and exit status 2, never a traceback. ``FACESR_TRACEBACK=1`` shows
  the traceback for bug reports.
"""
import contextlib
import errno
import os
import shutil
import sys
import tempfile

# user errors: missing / existing / unreadable files, bad values (ImageDecodeError, OptionError and
# MissingWeightsError derive from these), refused pickles, and OS errors such as a read-only folder
USER_ERRORS = (ValueError, KeyError, OSError)


class UnsafeOutputError(ValueError):
    """An output location that cannot be written, or whose writing would destroy an input."""


def _existing_ancestor(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable(path, what='output'):
    """Raise :class:`UnsafeOutputError` unless ``path`` (a folder or file, existing or not) can be created or
    written: its nearest existing ancestor must be a writable folder (or ``path`` a writable file)."""
    target = os.path.abspath(path)
    existing = _existing_ancestor(target)
    if os.path.isfile(existing) and existing != target:
        raise UnsafeOutputError(f'cannot create the {what} {path}: {existing} is a file, not a folder')
    folder = existing if os.path.isdir(existing) else os.path.dirname(existing)
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.isfile(existing) and not os.access(existing, os.W_OK)):
        raise UnsafeOutputError(f'cannot write the {what} {path}: {folder} is not writable (choose another '
                                'output location or fix its permissions); nothing was written')
    return target


def is_inside(path, folder):
    """True when ``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_input_inside(inputs, output, what='output'):
    """Raise :class:`UnsafeOutputError` when an input lies inside ``output`` (which would be replaced)."""
    for path in inputs:
        if path and is_inside(path, output):
            raise UnsafeOutputError(f'the input {path} lies inside the {what} {output}, which would be replaced: '
                                    'write to another folder (nothing was changed)')


@contextlib.contextmanager
def staged_folder(destination, overwrite=False):
    """Build a folder beside ``destination`` and rename it into place when the block completes.

    Yields the temporary folder to fill. On an exception the temporary folder is removed and
    ``destination`` is untouched. With ``overwrite`` an existing ``destination`` is moved aside once the
    new folder is complete, replaced, then deleted; without it an existing one is refused before any work.

    Raises:
        FileExistsError: ``destination`` exists and ``overwrite`` is False.
    """
    destination = os.path.abspath(destination)
    if os.path.exists(destination) and not overwrite:
        raise FileExistsError(f'{destination} exists; pass --overwrite to replace it (it is replaced only once '
                              'the new one is complete)')
    parent = os.path.dirname(destination)
    check_writable(parent)  # the new folder is made and renamed there
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.tmp_{os.path.basename(destination)}_', dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        replace_folder(tmp, destination)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_folder(new, destination):
    """Rename the complete folder ``new`` to ``destination``; an existing ``destination`` is moved aside first
    and deleted only after the rename succeeded (restored if it failed)."""
    old = None
    if os.path.lexists(destination):
        old = tempfile.mkdtemp(prefix=f'.old_{os.path.basename(destination)}_', dir=os.path.dirname(destination))
        os.rmdir(old)
        os.replace(destination, old)
    try:
        os.replace(new, destination)
    except BaseException:
        if old is not None:
            os.replace(old, destination)
        raise
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)


def error_line(err):
    """The message of a user error, as one line."""
    if isinstance(err, KeyError) and err.args:
        message = str(err.args[0])
    elif isinstance(err, OSError) and err.strerror and err.filename:
        message = f'{err.filename}: {err.strerror}'
        if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            message += ' (choose a writable output location or fix its permissions)'
    else:
        message = str(err) or type(err).__name__
    return ' '.join(message.split())


def run_cli(main, prog, argv=None):
    """Run ``main(argv)``; a user error becomes ``<prog>: error: <one line>`` on stderr and exit status 2.

    Returns:
        int: ``main``'s status (0 when it returns None), or 2 after a user error.
    """
    try:
        status = main(argv)
    except USER_ERRORS as err:
        if os.environ.get('FACESR_TRACEBACK'):
            raise
        print(f'{prog}: error: {error_line(err)}', file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f'{prog}: interrupted (finished outputs are kept; a rerun continues)', file=sys.stderr)
        return 130
    return 0 if status is None else status
