#!/usr/bin/env bash
# Builds the project's virtualenv ($VENV, default .venv) from $REQUIREMENTS (default
# requirements.txt), pinned.
#
# With uv (pinned to UV_VERSION below), in seconds: a uv of exactly that version on PATH is
# used as it is; otherwise it is bootstrapped from PyPI into $UV_TOOLS (default
# ~/.cache/cloudflare-secrets-store/uv-<version>, next to uv's own cache, so every clone on
# the machine reuses it) with the system Python's own pip
# (`pip install --target`, which needs no venv module and leaves the system untouched),
# or, when that pip is missing, from a throwaway venv's pip.
# When uv cannot be had at all (no pip, no PyPI), it says so and falls back to
# `python -m venv` + pip: the same pinned requirements, only slower (~25-60 s).
#
# requirements.txt holds `-e .[cli]`: the project itself is installed editable either way.
# The venv gets pip too (`--seed`): Pulumi.yaml's `toolchain: pip` runs pip inside it.
# Usage: scripts/venv.sh   (env: PYTHON, VENV, REQUIREMENTS, UV_TOOLS, SETUP_NO_UV=1 to force
# pip). The workflows use it too: VENV=policies/venv REQUIREMENTS=policies/requirements.txt.
set -euo pipefail

UV_VERSION=0.13.9
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}
UV_TOOLS=${UV_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cloudflare-secrets-store/uv-$UV_VERSION}

say() { printf 'setup: %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

pinned_uv() { # prints the path of a uv of exactly UV_VERSION, or fails
  local candidate
  for candidate in "$UV_TOOLS/bin/uv" "$(command -v uv 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
      [ "$("$candidate" --version 2>/dev/null | awk '{print $2}')" = "$UV_VERSION" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

bootstrap_uv() { # installs uv==UV_VERSION into UV_TOOLS; quiet unless it fails
  local start tmp log
  start=$(now)
  tmp="$UV_TOOLS.partial.$$"
  log="$tmp.log"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$UV_TOOLS")"
  say "bootstrapping uv $UV_VERSION from PyPI into $UV_TOOLS"
  if "$PYTHON" -m pip --version >/dev/null 2>&1 &&
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$tmp/target" "uv==$UV_VERSION" >"$log" 2>&1; then
    mkdir -p "$tmp/bin" && mv "$tmp/target/bin/uv" "$tmp/bin/uv"
  elif "$PYTHON" -m venv "$tmp/venv" >"$log" 2>&1 &&
    "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "uv==$UV_VERSION" >>"$log" 2>&1; then
    mkdir -p "$tmp/bin" && cp "$tmp/venv/bin/uv" "$tmp/bin/uv"
  else
    say "could not install uv $UV_VERSION ($(tail -n 1 "$log" 2>/dev/null || echo 'no pip'))"
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$UV_TOOLS" "$tmp/target" "$tmp/venv" "$log"
  mv "$tmp" "$UV_TOOLS" # whole or not at all: a killed bootstrap leaves no half-installed uv
  say "uv $UV_VERSION ready ($(since "$start"))"
}

with_uv() {
  local uv=$1 start
  start=$(now)
  say "creating $VENV with uv ($("$uv" --version))"
  "$uv" venv --quiet --seed --allow-existing --python "$PYTHON" "$VENV"
  say "installing $REQUIREMENTS into $VENV (uv pip install, pinned)"
  VIRTUAL_ENV="$VENV" "$uv" pip install --quiet --python "$VENV/bin/python" -r "$REQUIREMENTS"
  say "$VENV ready ($(since "$start"))"
}

with_pip() {
  local start
  start=$(now)
  say "falling back to pip: creating $VENV and installing $REQUIREMENTS (slower, ~25-60 s)"
  test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  say "$VENV ready with pip ($(since "$start"))"
}

if [ "${SETUP_NO_UV:-}" = 1 ]; then
  with_pip
elif uv=$(pinned_uv) || { bootstrap_uv && uv=$(pinned_uv); }; then
  with_uv "$uv"
else
  say "uv $UV_VERSION cannot be had here"
  with_pip
fi
