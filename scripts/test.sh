#!/usr/bin/env bash
# `make test` after setup: ruff (lint and format, a second, fails fast), pytest without the
# engine suite on the whole machine, then the engine suite with mypy and the workerd tests
# (`npm test`) beside it. The offline pytest run is CPU-bound on 2 cores (measured: ~95% of
# both busy), so anything beside it only lengthens it; the engine suite waits on the engine's
# processes and leaves room. pytest prints live; mypy's and npm's output is kept and shown
# after the engine suite's: a summary line each when they pass, all of it when not.
# Exit status: non-zero when any of the four failed.
# Usage: make test   (runs scripts/test.sh with VENV, PYTEST_WORKERS=auto|N|0, MYPY_TARGETS;
# auto: 2 workers per core without the engine suite, 1 per core for it)
set -uo pipefail

VENV=${VENV:-.venv}
PYTEST_WORKERS=${PYTEST_WORKERS:-auto}
read -r -a MYPY_TARGETS <<<"${MYPY_TARGETS:?is set by the Makefile: run make test}"

say() { printf 'test: %s\n' "$*"; }

# With PYTHONDONTWRITEBYTECODE set (as on many CI images) every process would compile the
# same modules again: pytest's two workers each rewrite every test module, and each CLI
# process a test starts compiles pulumi and the project. Keep the bytecode, but in the venv
# (.venv/pycache), not next to the sources: the tree stays as clean as the setting wants.
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ]; then
  export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$PWD/$VENV/pycache}
  unset PYTHONDONTWRITEBYTECODE
fi

logs=$(mktemp -d)
jobs_pids=()
cleanup() {
  for pid in "${jobs_pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null; done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The engine suite (tests/test_engine_*.py) runs real `pulumi` commands: build the engine
# first (a second when cached). Without Go it cannot run, and this says so in one line.
if command -v go >/dev/null 2>&1; then
  python3 scripts/engine.py >/dev/null ||
    say "engine suite did not run: make engine failed (its error is above; the suite skips with the reason)"
else
  say "engine suite did not run: no Go toolchain on PATH (install Go 1.26.8 or newer, then make engine)"
fi

"$VENV/bin/ruff" check . || exit 1
"$VENV/bin/ruff" format --check --quiet . || { say "ruff format: run \`.venv/bin/ruff format .\`"; exit 1; }

# Each background job in its own process group, so an interrupt stops node and workerd too.
background() { # name command...
  local name=$1
  shift
  set -m
  ("$@" >"$logs/$name" 2>&1; echo $? >"$logs/$name.rc") &
  jobs_pids+=($!)
  set +m
}

# Two pytest runs, each timed: everything but the engine suite, with two workers per core
# (about half of those tests' time is spent waiting on workerd, git, the local API and the
# CLI processes they start: measured 121 s with 4 workers on 2 cores against 146-165 s with
# 2), then the engine suite (real `pulumi up`s: the engine is the CPU, one worker per core).
cores=$(nproc 2>/dev/null || echo 2)
if [ "$PYTEST_WORKERS" = auto ]; then
  offline_workers=$((2 * cores)) engine_workers=$cores
else
  offline_workers=$PYTEST_WORKERS engine_workers=$PYTEST_WORKERS
fi
start=$(date +%s)
"$VENV/bin/python" -m pytest -q -n "$offline_workers" -m "not engine"
status=$?
offline_done=$(date +%s)
say "pytest without the engine suite: $((offline_done - start)) s ($offline_workers workers)"
background mypy "$VENV/bin/mypy" "${MYPY_TARGETS[@]}"
background workerd npm test --silent
say "mypy and npm test (the Workers on workerd) run beside the engine suite; their results follow it"
"$VENV/bin/python" -m pytest -q -n "$engine_workers" -m engine
engine_status=$?
# exit 5: nothing collected (no engine test selected) is no failure
[ "$engine_status" = 0 ] || [ "$engine_status" = 5 ] || status=1
say "engine suite: $(($(date +%s) - offline_done)) s ($engine_workers workers)"

for pid in "${jobs_pids[@]}"; do wait "$pid" 2>/dev/null; done
jobs_pids=()
summary() { # name: the job's own summary lines
  case $1 in
  mypy) tail -n 1 "$logs/mypy" ;;
  workerd) grep -E '^# (tests|pass|fail|duration_ms)' "$logs/workerd" | tr '\n' ' ' ;;
  esac
}
for name in mypy workerd; do
  rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  if [ "$rc" = 0 ]; then
    say "$name ok: $(summary "$name")"
  else
    say "$name FAILED (exit $rc):"
    cat "$logs/$name"
    status=1
  fi
done
# pulumi>=3.272,<4: the range's lowest and newest releases, where either is not the locked one.
"$VENV/bin/python" scripts/sdk_range.py || status=1
say "done in $(($(date +%s) - start)) s after ruff ($([ "$status" = 0 ] && echo passed || echo FAILED))"
exit "$status"
