#!/usr/bin/env bash
# The README's test command: installs everything the tests need from this repository's own files,
# then runs every suite — lint and types, the VS Code extension (unit + real VS Code), and pytest
# (the server over stdio, real Neovim, real Emacs, real Whisper on real audio, real SQLite,
# the privacy proof under strace, a real model in llama.cpp's server). Exit status is non-zero
# if anything failed, or if anything did not run under CI=true (tests/prerequisites.py). It ends
# by printing, for every suite, how many tests ran and skipped and why.
#
# Usage: bash scripts/test.sh [pytest args...]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '\n==> %s\n' "$*"; }
failed=()

log "system packages (scripts/install-test-deps.sh)"
bash scripts/install-test-deps.sh || exit 1

log "Python environment (.venv: the package with its voice and test extras)"
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  if ! "$PYTHON" -m venv .venv; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$PYTHON" -m venv .venv || exit 1
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip || exit 1
.venv/bin/python -m pip install -q -e '.[voice,test]' || exit 1
export PATH="$ROOT/.venv/bin:$PATH"

mkdir -p test-output
# Every suite (pytest under each Python, node --test) appends its tally here; summed at the end.
export TYPILOT_TEST_TALLY="$ROOT/test-output/tally.jsonl"
: >"$TYPILOT_TEST_TALLY"

log "a real model: llama.cpp's server and SmolLM2-135M (scripts/install-llama.sh; ~15 min once)"
bash scripts/install-llama.sh || failed+=("llama.cpp / SmolLM2 install (tests/llama fail under CI)")

log "ruff (lint + format) and mypy"
ruff check server tests bench scripts || failed+=("ruff check")
ruff format --check server tests bench scripts || failed+=("ruff format")
mypy || failed+=("mypy")

log "Python package: sdist and wheel (python -m build), twine check"
# tests/packaging installs this wheel into a clean venv; the .vsix bundles it (vscode-client/bundled).
rm -rf dist/python
if python -m build --outdir dist/python . >test-output/build.log 2>&1 \
  && twine check --strict dist/python/*; then
  export TYPILOT_DIST="$ROOT/dist/python"
  TYPILOT_WHEEL="$(ls "$TYPILOT_DIST"/typilot_lsp-*.whl)" && export TYPILOT_WHEEL
else
  tail -n 30 test-output/build.log
  failed+=("python -m build / twine check")
fi

log "VS Code extension (scripts/test-vscode.sh)"
if command -v npm >/dev/null 2>&1 || { apt-get install -y -qq nodejs npm >/dev/null 2>&1; }; then
  bash scripts/test-vscode.sh || failed+=("vscode")
else
  failed+=("vscode (npm could not be installed)")
fi

log "the in-process and stdio suites under every other declared Python (scripts/test-pythons.sh)"
bash scripts/test-pythons.sh || failed+=("other Python versions")

log "pytest"
mkdir -p test-output
python -m pytest -p no:cacheprovider -q "$@"
status=$?
[[ $status -eq 0 ]] || failed+=("pytest (exit $status)")

# What ran, what skipped and why, every suite together; under CI=true any skip fails the run.
python -m tests.prerequisites summary "$TYPILOT_TEST_TALLY" || failed+=("tests that did not run under CI")

if ((${#failed[@]})); then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
