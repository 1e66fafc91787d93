#!/usr/bin/env bash
# The in-process suites and the stdio end-to-end tests against the replay servers (see `args`)
# under every Python version pyproject.toml declares besides the one that runs the main suite.
#
# The versions come from pyproject's "Programming Language :: Python :: 3.N" classifiers, so the
# declared list and the tested list cannot drift apart. Each interpreter is found, not assumed:
# `python3.N` on PATH, then pyenv (`pyenv prefix`), then the usual install folders. A declared
# version that cannot be found is a failure under CI (CI=true) and a warning elsewhere.
#
# Usage: scripts/test-pythons.sh [pytest args...]     (default: the fast suites, quietly)
# Env:   TYPILOT_PYTHONS="3.10 3.12"  test only these; MAIN_PYTHON  the main run's interpreter
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[test-pythons] %s\n' "$*" >&2; }

MAIN_PYTHON="${MAIN_PYTHON:-.venv/bin/python}"
main_version="$("$MAIN_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"

declared() {
  python3 - <<'EOF'
import re, pathlib
text = pathlib.Path("pyproject.toml").read_text()
print(" ".join(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)))
EOF
}
versions="${TYPILOT_PYTHONS:-$(declared)}"
[[ -n "$versions" ]] || { log "pyproject.toml declares no Python versions"; exit 1; }

# Prints the path of an interpreter for version $1 (e.g. 3.10), or nothing.
find_python() {
  local want="$1" candidate prefix
  local -a candidates=("$(command -v "python$want" 2>/dev/null || true)")
  if command -v pyenv >/dev/null 2>&1; then
    # `pyenv prefix 3.10` fails unless that exact name is installed: ask for each installed 3.10.x.
    while read -r name; do
      prefix="$(pyenv prefix "$name" 2>/dev/null)" && candidates+=("$prefix/bin/python$want")
    done < <(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -rV)
  fi
  for root in "${PYENV_ROOT:-$HOME/.pyenv}/versions" /opt/python /usr/local/python /opt/hostedtoolcache/Python; do
    for dir in "$root"/"$want"*; do [[ -d "$dir" ]] && candidates+=("$dir/bin/python$want"); done
  done
  candidates+=("/usr/local/bin/python$want" "/usr/bin/python$want")
  for candidate in "${candidates[@]}"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    if [[ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$want" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Every suite that runs in this Python or starts `typilot-lsp` over stdio: the server's code
# under this version. The suites that drive other programs (Neovim, Emacs, code-server, Whisper,
# llama-server, strace in network namespaces) exercise the same server through the main run's
# interpreter; running them once more per version would double CI's time.
if (($#)); then args=("$@"); else
  args=(-q tests/test_*.py tests/runs tests/features tests/backends tests/replay tests/e2e
    tests/context tests/history tests/faults tests/privacy/test_guards.py
    tests/privacy/test_backend_guards.py)
fi
failed=()
for version in $versions; do
  [[ "$version" == "$main_version" ]] && continue
  python="$(find_python "$version")"
  if [[ -z "$python" ]]; then
    if [[ "${CI:-}" == "true" ]]; then
      log "Python $version is declared in pyproject.toml but not installed on this machine"
      failed+=("python$version (missing)")
    else
      log "WARNING: Python $version is declared but not found here: not tested"
    fi
    continue
  fi
  venv=".venv-py$version"
  log "Python $version: $python -> $venv"
  if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" || { failed+=("python$version (venv)"); continue; }
  fi
  # pip's output goes to a log, shown only when the install fails.
  mkdir -p test-output
  pip_log="test-output/pip-py$version.log"
  if ! { "$venv/bin/python" -m pip install -q --upgrade pip &&
    "$venv/bin/python" -m pip install -q -e '.[voice,test]'; } >"$pip_log" 2>&1; then
    tail -n 30 "$pip_log" >&2
    failed+=("python$version (install)")
    continue
  fi
  # The suites start `typilot-lsp` from PATH: this version's.
  PATH="$ROOT/$venv/bin:$PATH" "$venv/bin/python" -m pytest -p no:cacheprovider "${args[@]}" ||
    failed+=("python$version (pytest)")
done

if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
