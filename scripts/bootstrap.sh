#!/usr/bin/env bash
# Prepares a fresh machine for every make target: finds the machine's Python 3.13, installs uv
# into .tools/ if it is not on PATH (from PyPI, nothing else), and syncs the locked environment.
# Prints the uv binary to use on its last line. Idempotent and quiet when nothing is to do.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.8"

find_python() {
  local candidate
  for candidate in "${PYTHON313:-}" python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
      /usr/local/bin/python3.13 /usr/bin/python3.13 python3; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

python=$(find_python) || {
  echo "bootstrap: no Python 3.13 found. Install one (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13." >&2
  exit 1
}

if command -v uv >/dev/null 2>&1; then
  uv=$(command -v uv)
else
  uv=.tools/bin/uv
  if [ ! -x "$uv" ]; then
    echo "bootstrap: installing uv $UV_VERSION into .tools/ (one time)" >&2
    "$python" -m venv .tools
    .tools/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
  fi
fi

export UV_PYTHON_DOWNLOADS=never
# Compile every installed module to bytecode once, at install time. Where PYTHONDONTWRITEBYTECODE
# is set (it is on this project's CI machine), nothing else ever caches bytecode: each LocalStack
# start would compile ~9 s of imports and each local Lambda cold start ~0.9 s (measured on the
# 2-core machine: botocore + powertools import 1.95 s -> 1.06 s; LocalStack's providers 9.5 -> 4.1 s).
export UV_COMPILE_BYTECODE=1
# .venv exists and matches the lock: uv sync is a no-op taking ~50 ms.
# --all-extras: development gets the deploy tools too (the `deploy` extra of pyproject.toml);
# a plain `pip install` of the wheel is the slim consumer install.
"$uv" sync --frozen --quiet --all-extras --python "$python" >&2
echo "$uv"
