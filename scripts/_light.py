"""Start-up of the scripts: the checkout importable, and arguments parsed before anything heavy is imported
(the loading itself is ``facesr_commands.py``, shared with the console commands of ``pip install .``)."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if REPO not in sys.path:  # python scripts/NAME.py from the checkout, no PYTHONPATH needed
    sys.path.insert(1, REPO)

import facesr_commands  # noqa: E402

light_module = facesr_commands.light_module


def run_command(name):
    """Run the command ``facesr_arch.cli.<name>`` with the script's arguments and exit with its status (see
    :func:`facesr_commands.run_command`)."""
    sys.exit(facesr_commands.run_command(name))
