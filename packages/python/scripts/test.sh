#!/usr/bin/env bash
# Runs the Python SDK's tests (pytest against a real tidepool, mypy --strict) in a venv.
# The venv (packages/python/.venv, or $TIDEPOOL_PY_VENV) is made once and re-synced only when
# requirements-dev.txt changes. `--setup-only` just prepares it (.ci/run does that before `npm test`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TIDEPOOL_PY_VENV:-$PWD/.venv}"
python="${TIDEPOOL_PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum requirements-dev.txt | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >"$stamp"
fi
[ "${1:-}" = "--setup-only" ] && exit 0

"$venv/bin/python" -m pytest -q "$@"
