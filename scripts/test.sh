#!/usr/bin/env bash
# Installs aef-ee with its development extras (and the Debian packages the browser tests need), then runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; browser tests will be skipped" >&2
fi
python -m pip install -q -e ".[dev]"
python -m pytest -q -p no:cacheprovider "$@"
