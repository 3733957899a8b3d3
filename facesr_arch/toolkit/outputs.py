"""Atomic writes: a file appears complete under its final name, or not at all.

A temporary file is written in the destination's folder (so the rename stays on one file system), flushed
to disk and renamed over the destination. The result gets the mode a plain ``open`` would give under the
user's umask (``tempfile`` itself creates 0600 files and 0700 folders).
"""
import os
import tempfile


def umask_mode(directory=False):
    """The mode ``open`` / ``os.makedirs`` would give a new file (0o666) or folder (0o777) under the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def atomic_write(path, write):
    """Create ``path`` atomically: ``write(file_object)`` fills a temporary file beside it, then it is renamed.

    Args:
        path (str): Destination file; its folder is created when missing.
        write (callable): Called with the open binary file object.

    A process killed mid-write leaves the previous ``path`` intact and at most a ``.tmp_*`` file beside it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=os.path.splitext(path)[1])
    try:
        os.chmod(tmp, umask_mode())
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path, text):
    """Write ``text`` (str, UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))
