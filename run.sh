#!/usr/bin/env bash
# ./run.sh demo  — set up (venv, Python deps, front-end assets) and run the demo map
# ./run.sh test  — set up and run the whole test suite
# ./run.sh setup — set up only
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  if ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: npm is needed to fetch Leaflet and its plugins (install Node.js 18+)" >&2
    exit 1
  fi
  (cd static && npm ci --no-audit --no-fund --loglevel=error)
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/ccmap" demo "$@" ;;
  test) setup; exec "$VENV/bin/python" -m pytest -n "${CCMAP_TEST_WORKERS:-auto}" "$@" ;;
  *) echo "usage: ./run.sh demo|test|setup [args...]" >&2; exit 2 ;;
esac
