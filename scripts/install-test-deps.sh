#!/usr/bin/env bash
# Installs what the full test suite needs. Idempotent: safe to run again.
# The one place CI installs system packages; add yours to APT_PACKAGES with the suite
# that needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # tests/editors: a real Emacs 28 with Eglot and lsp-mode (Debian 12 packages)
  emacs-nox elpa-eglot elpa-lsp-mode
  # voice: speech synthesis for test audio, audio I/O (libasound2-plugins: PortAudio's ALSA
  # default device reaches the tests' PulseAudio null sink through its pulse plugin)
  espeak-ng sox pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins
  # tests/llama: scripts/install-llama.sh builds llama.cpp's server from source (CMake comes from PyPI)
  g++
  # vscode tests, privacy tests and friends
  chromium libkrb5-dev strace iproute2
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
