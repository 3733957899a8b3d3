"""The output contract of every command, and the atomic writes it is built on.

The contract (:func:`check_output`, checked before any work; :func:`staged_folder` while writing):

1. An output is never an input and never lies inside one (files or folders, links resolved), and no input
   lies inside an output that is replaced: a command never writes over or into what it reads (a report in its
   own results folder would be scored as a face on the next run).
2. An existing output (other than an empty folder) is refused unless the user passed ``--overwrite``;
   ``--overwrite`` replaces it whole: the new folder is built beside it and renamed into place, so no file of
   the old run survives and a failed run leaves the old one untouched.
3. A destination that cannot be written (read-only, not a folder, full) is one line before the work; an
   error of the file system during the work (disk full, permissions changed) is one line too
   (:class:`OutputWriteError`), never a traceback.
4. Files and folders get the mode a plain ``open`` / ``os.makedirs`` would give under the user's umask.

Atomic writes (:func:`atomic_write`): a temporary file is written in the destination's folder (so the rename
stays on one file system), flushed to disk and renamed over the destination; a file appears complete under
its final name, or not at all.
"""
import contextlib
import errno
import os
import shutil
import tempfile

from .errors import ExistingOutputError, UserError

# below this much free space a destination counts as full (a face PNG is ~0.1-1 MB)
MIN_FREE_BYTES = 1 << 20
# errors of the file system that are the destination's state, not a bug
_DESTINATION_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


class UnsafeOutputError(UserError, ValueError):
    """An output location that cannot be written, or whose writing would destroy or pollute an input."""


class OutputWriteError(UserError, OSError):
    """Writing an output failed for a reason of the destination (full, read-only, permissions)."""


def umask_mode(directory=False):
    """The mode ``open`` / ``os.makedirs`` would give a new file (0o666) or folder (0o777) under the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def _destination_error(err, path):
    """An :class:`OutputWriteError` for ``err`` when it is the destination's state, else None."""
    if isinstance(err, OSError) and err.errno in _DESTINATION_ERRNOS:
        hint = ('free some space or choose another location' if err.errno in (errno.ENOSPC, errno.EDQUOT)
                else 'choose a writable location or fix its permissions')
        return OutputWriteError(err.errno, f'cannot write {err.filename or path}: {err.strerror} ({hint})')
    return None


def atomic_write(path, write):
    """Create ``path`` atomically: ``write(file_object)`` fills a temporary file beside it, then it is renamed.

    Args:
        path (str): Destination file; its folder is created when missing.
        write (callable): Called with the open binary file object.

    A process killed mid-write leaves the previous ``path`` intact and at most a ``.tmp_*`` file beside it.

    Raises:
        OutputWriteError: The destination is full, read-only or not permitted (one line, a user error).
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=os.path.splitext(path)[1])
        os.chmod(tmp, umask_mode())
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        user_error = _destination_error(err, path)
        if user_error is not None:
            raise user_error from err
        raise


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text):
    """Write ``text`` (str, UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def write_image_atomic(path, img):
    """Encode an image (uint8/uint16 BGR array) by the extension of ``path`` and write it atomically."""
    import cv2
    ok, buf = cv2.imencode(os.path.splitext(path)[1] or '.png', img)
    if not ok:
        raise UnsafeOutputError(f'cannot encode an image as {path}: use .png, .jpg, .bmp, .tif or .webp')
    atomic_write_bytes(path, buf.tobytes())


def is_inside(path, folder):
    """True when ``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def occupied(path):
    """True when ``path`` exists and is not an empty folder (an empty folder holds nothing to lose: a command
    writes into it without ``--overwrite``)."""
    if not os.path.lexists(path):
        return False
    return not (os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path))


def _existing_ancestor(path):
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable(path, what='output'):
    """Raise :class:`UnsafeOutputError` unless ``path`` (a folder or file, existing or not) can be created or
    written: its nearest existing ancestor must be a writable folder (or ``path`` a writable file) on a file
    system that is not full. Returns the absolute path."""
    target = os.path.abspath(path)
    existing = _existing_ancestor(target)
    if os.path.isfile(existing) and existing != target:
        raise UnsafeOutputError(f'cannot create the {what} {path}: {existing} is a file, not a folder')
    folder = existing if os.path.isdir(existing) else os.path.dirname(existing)
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.isfile(existing) and not os.access(existing, os.W_OK)):
        raise UnsafeOutputError(f'cannot write the {what} {path}: {folder} is not writable (choose another '
                                'output location or fix its permissions); nothing was written')
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows) or an unusual file system: the writes will tell
        return target
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        raise UnsafeOutputError(f'cannot write the {what} {path}: the file system of {folder} is full (free some '
                                'space or choose another location); nothing was written')
    return target


def refuse_input_inside(inputs, output, what='output'):
    """Raise :class:`UnsafeOutputError` when an input lies inside ``output`` (which would be replaced)."""
    for path in inputs:
        if path and is_inside(path, output):
            raise UnsafeOutputError(f'the input {path} lies inside the {what} {output}, which would be replaced: '
                                    'write to another folder (nothing was changed)')


def check_output(output, inputs=(), overwrite=False, what='output', resumable=False):
    """The output contract, checked before any work (see the module docstring); returns the absolute path.

    Args:
        output (str): The file or folder the command writes.
        inputs (Iterable[str | None]): Every file or folder the command reads (None entries are ignored).
        overwrite (bool): The user passed ``--overwrite``: an existing output will be replaced whole.
        what (str): What the output is, for the messages (e.g. 'report folder').
        resumable (bool): An existing output is a folder the command continues (it checks itself that the
            folder was made with the same settings) instead of one it refuses or replaces.

    Raises:
        UnsafeOutputError: The output is an input or lies inside one, an input lies inside an output that
            would be replaced, or the destination cannot be written.
        ExistingOutputError: The output exists, ``overwrite`` is False and it is not ``resumable``.
    """
    inputs = [path for path in inputs if path]
    for path in inputs:
        if is_inside(output, path):
            relation = 'is' if os.path.realpath(output) == os.path.realpath(path) else 'lies inside'
            kind = 'folder' if os.path.isdir(path) else 'file'
            raise UnsafeOutputError(f'the {what} {output} {relation} the input {kind} {path}: choose a location '
                                    'outside every input (inputs are never written to); nothing was changed')
    exists = occupied(output)
    if exists and overwrite and not resumable:
        refuse_input_inside(inputs, output, what)
    if exists and not (overwrite or resumable):
        raise ExistingOutputError(f'the {what} {output} exists; pass --overwrite to replace it (it is replaced '
                                  'whole, once the new one is complete) or choose another')
    return check_writable(output, what)


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


@contextlib.contextmanager
def staged_folder(destination, overwrite=False):
    """Build a folder beside ``destination`` and rename it into place when the block completes.

    Yields the temporary folder to fill. On an exception the temporary folder is removed and
    ``destination`` is untouched. With ``overwrite`` an existing ``destination`` is moved aside once the
    new folder is complete, replaced, then deleted; without it an existing one is refused before any work.
    The folder gets the umask's mode (``tempfile`` makes 0700).

    Raises:
        ExistingOutputError: ``destination`` exists and ``overwrite`` is False.
        OutputWriteError: The file system refused a write (full, read-only).
    """
    destination = os.path.abspath(destination)
    if occupied(destination) and not overwrite:
        raise ExistingOutputError(f'{destination} exists; pass --overwrite to replace it (it is replaced only once '
                                  'the new one is complete)')
    parent = os.path.dirname(destination)
    check_writable(parent)  # the new folder is made and renamed there
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f'.tmp_{os.path.basename(destination)}_', dir=parent)
    except OSError as err:
        raise (_destination_error(err, destination) or err) from err
    try:
        yield tmp
        os.chmod(tmp, umask_mode(directory=True))
        replace_folder(tmp, destination)
    except OSError as err:
        user_error = _destination_error(err, destination)
        if user_error is not None:
            raise user_error from err
        raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
