#!/usr/bin/env bash
# Run the test suite in .venv. pytest's exit code 5 (no tests collected) counts as a failure here,
# because a suite that collects nothing has tested nothing.
set -uo pipefail
cd "$(dirname "$0")/.."

export DO_NOT_TRACK=1
export MLFLOW_ENABLE_TELEMETRY=false
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$status"
