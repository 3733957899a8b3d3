"""The user-error type shared by every command.

A command raises :class:`UserError` (or a subclass) where the user's input is at fault: a missing or
unreadable file, a bad option value, a refused output location. The command wrapper prints it as one line
``<tool>: error: <message>`` with exit status 2. Any other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """The user's input is at fault; the message says what to fix, in one line."""
