#!/usr/bin/env bash
# Build the project's virtual environment at $1 (idempotent, safe to run from several clones at once).
#
# The environment is about 7 GB, so the Makefile keys it by a hash of requirements.txt and this script
# and keeps it under the user's cache: every clone with the same requirements reuses one environment.
# Order matters: registry torch + torchvision first, then basicsr built against that torch without build
# isolation (its setup.py imports torch), then everything else. Every step installs the exact versions of
# constraints.txt (what the test suite passed with; `make lock` refreshes it).
set -euo pipefail
venv=${1:?usage: make_venv.sh VENV_DIR}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -f "$venv/.complete" ]; then
  exit 0
fi
rm -rf "$venv"
echo "Creating the facesr_arch environment in $venv (about 7 GB, several minutes, once per requirements set)"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -c "$here/constraints.txt")
"${pip[@]}" --upgrade pip setuptools wheel
"${pip[@]}" torch torchvision
"${pip[@]}" --no-build-isolation basicsr==1.4.2
"${pip[@]}" -r "$here/requirements.txt"
"$venv/bin/python" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
touch "$venv/.complete"
