"""The toolkit floor: what every command and the training side go through, importing nothing else of the package.

- :mod:`.errors`: :class:`UserError`, the one error type that means "the user's input is at fault"; only it
  becomes a command's one-line ``<tool>: error: ...`` and exit status 2 (:func:`.errors.run_cli`).
- :mod:`.outputs`: the output contract of every command (never inside an input, ``--overwrite`` or refused,
  replaced whole, writable before the work) and the atomic writes under the user's umask it is built on.
- :mod:`.inputs`: the one image listing and decoding path of every command and dataset.
"""
