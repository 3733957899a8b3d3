"""The user-error type shared by every command, and the one wrapper that turns it into a command's exit.

A command raises :class:`UserError` (or a subclass) where the user's input is at fault: a missing or
unreadable file, a bad option value, a refused output location. :func:`run_cli` prints it as one line
``<tool>: error: <message>`` with exit status 2. Any other exception is a bug and keeps its traceback.
"""
import errno
import os
import sys


class UserError(Exception):
    """The user's input is at fault; the message says what to fix, in one line."""


class BadInputError(UserError, ValueError):
    """A value or file the user gave cannot be used; the message says which and what to do instead."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or holds nothing usable)."""


class ExistingOutputError(UserError, FileExistsError):
    """An output exists and ``--overwrite`` was not given."""


class UnknownNameError(UserError, KeyError):
    """A name the user gave (a key, a protocol, a table) is not known; the message lists the known ones."""

    def __str__(self):
        return str(self.args[0]) if self.args else ''


def user_os_error(err, what):
    """A :class:`UserError` for the OS error ``err`` met while reading or writing a path the user named
    (``what`` says which, e.g. 'output folder'); the message names the path and what to do."""
    message = f'cannot use the {what} {err.filename or ""}: {err.strerror or err}'.replace('  ', ' ')
    if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        message += ' (choose a writable location or fix its permissions)'
    elif err.errno in (errno.ENOSPC, errno.EDQUOT):
        message += ' (free some space or choose another location)'
    return UserError(message)


def error_line(err):
    """The message of a user error, as one line (a KeyError's own message, not its quoted repr)."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return ' '.join((message or type(err).__name__).split())


def run_cli(main, prog, argv=None):
    """Run ``main(argv)``; a :class:`UserError` becomes ``<prog>: error: <one line>`` on stderr and exit status 2.

    Any other exception propagates with its traceback (a bug, not the user's fault). ``FACESR_TRACEBACK=1``
    shows the traceback of a user error too (for bug reports).

    Returns:
        int: ``main``'s status (0 when it returns None), 2 after a user error, 130 after Ctrl-C.
    """
    try:
        status = main(argv)
    except UserError as err:
        if os.environ.get('FACESR_TRACEBACK'):
            raise
        print(f'{prog}: error: {error_line(err)}', file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f'{prog}: interrupted (finished outputs are kept)', file=sys.stderr, flush=True)
        return 130
    return 0 if status is None else status
