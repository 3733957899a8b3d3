"""The commands: one module per command, named as its script (``scripts/<command>.py``), each runnable as
``python -m facesr_arch.cli.<command>`` and installed as a ``facesr-...`` console command (setup.py).

A command module keeps a light top level (standard library and other light modules only: argument parsing
answers ``--help`` before torch is imported), and provides ``build_parser()`` and ``main(argv=None)``, which
returns the exit status. The work itself is done by the library modules it calls.
"""
