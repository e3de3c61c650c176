#!/usr/bin/env bash
# Build the reference environment for the benchmarks: deep-ei 0.7.0 in its own virtual
# environment at .bench/deepei-venv (git-ignored; $DEEPEI_VENV moves it). infolens never imports
# deep-ei: the benchmarks run benchmarks/_deep_ei_runner.py with this venv's python, through
# benchmarks/reference.py.
#
# Idempotent: does nothing when the venv already imports deep_ei with the pinned versions.
#
# Why these pins:
#   torch==2.13.0     the small CPU wheel (local find-links); an unpinned torch pulls a multi-GB
#                     CUDA build. Installed first and repeated in every later pip call, so that
#                     nothing can replace it.
#   networkx==2.5.1   deep-ei's topology graph has a `None` node, which networkx >= 2.6 rejects.
#   numpy==1.26.4     the version the reference values were recorded with (numpy 1.x).
#   scipy==1.13.1, scikit-learn==1.5.2, fast-histogram==0.14: releases that support numpy 1.26.4
#                     on Python 3.10-3.12.
#
# Usage: bash benchmarks/setup_reference_env.sh   (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DEEPEI_VENV:-$ROOT/.bench/deepei-venv}"
PYTHON="${PYTHON:-python3}"
PY="$VENV/bin/python"

TORCH_PIN="torch==2.13.0"
PINS=(
    "deep-ei==0.7.0"
    "networkx==2.5.1"
    "numpy==1.26.4"
    "scipy==1.13.1"
    "scikit-learn==1.5.2"
    "fast-histogram==0.14"
)

check() {
    # Exit 0 when the venv imports deep_ei and every pinned package has its pinned version.
    "$PY" - "$TORCH_PIN" "${PINS[@]}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version

import deep_ei  # noqa: F401

for pin in sys.argv[1:]:
    name, want = pin.split("==")
    have = version(name).split("+")[0]
    if have != want:
        sys.exit(f"{name} {have} != {want}")
EOF
}

if [[ -x "$PY" ]] && check; then
    echo "deep-ei reference venv already set up: $VENV"
    exit 0
fi

if [[ ! -x "$PY" ]]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

# torch first, alone, so that the CPU wheel is the one in place ...
"$PY" -m pip install --quiet --quiet "$TORCH_PIN"
# ... and pinned again here so that resolving deep-ei's dependencies cannot change it.
"$PY" -m pip install --quiet --quiet "$TORCH_PIN" "${PINS[@]}"

if ! check; then
    echo "error: $VENV does not import deep_ei with the pinned versions" >&2
    "$PY" -m pip list >&2 || true
    exit 1
fi

"$PY" - <<'EOF'
import deep_ei  # noqa: F401
import networkx
import numpy
import torch

print(f"torch {torch.__version__}, numpy {numpy.__version__}, networkx {networkx.__version__}")
EOF
echo "deep-ei reference venv ready: $VENV"
echo "python: $PY"
