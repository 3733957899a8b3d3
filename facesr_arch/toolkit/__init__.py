"""The toolkit floor: what every command and the training side go through, importing nothing else of the package.

- :mod:`.errors`: :class:`UserError`, the one error type that means "the user's input is at fault"; only it
  becomes a command's one-line ``<tool>: error: ...`` and exit status 2.
- :mod:`.outputs`: atomic file writes under the user's umask (and the output contract built on them).
"""
