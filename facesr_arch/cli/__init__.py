"""The command lines: one module per command, each with a light top level (standard library imports only),
``build_parser()`` and ``main(argv=None)`` returning the exit status (``scripts/_light.py`` runs them)."""
