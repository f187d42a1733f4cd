#!/usr/bin/env bash
# Installs aef-ee with the local engine and the model, then runs the main job offline on the embedded local engine.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[all]"
aef-ee demo "$@"
