#!/usr/bin/env bash
# Installs evlog and runs the main job on the embedded default: a short training script logs a
# run into a local run folder, then `evlog tail` prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
.venv/bin/python examples/train.py
.venv/bin/evlog tail evlog/latest-run
