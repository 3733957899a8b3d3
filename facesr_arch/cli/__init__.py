"""Command lines of facesr_arch: one module per command, with a light top level (standard library imports
only), ``build_parser()`` and ``main(argv=None)`` returning the exit status (see ``scripts/_light.py``)."""
