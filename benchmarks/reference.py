"""Run deep-ei 0.7.0, the reference implementation, beside infolens.

deep-ei lives in its own virtual environment (.bench/deepei-venv, built by
``bash benchmarks/setup_reference_env.sh``) because it needs networkx 2.5.1 and numpy 1.x. This
module runs in our environment, uses the standard library only, and talks to deep-ei through
benchmarks/_deep_ei_runner.py in a subprocess. The venv can be moved with $DEEPEI_VENV.

    from benchmarks.reference import reference_available, run_deep_ei

    if reference_available():
        result = run_deep_ei({"function": "ei_parts", "n_in": 20, "n_out": 10,
                              "samples": 100000, "in_bins": 64, "out_bins": 64, "threads": 1})
        result["value"], result["seconds"], result["peak_rss_mib"]
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).resolve().with_name("_deep_ei_runner.py")
SETUP = "bash benchmarks/setup_reference_env.sh"


def reference_venv() -> Path:
    return Path(os.environ.get("DEEPEI_VENV", ROOT / ".bench" / "deepei-venv"))


def reference_python() -> Path:
    return reference_venv() / "bin" / "python"


def _env() -> dict[str, str]:
    # Nothing from our environment may shadow the reference venv's packages.
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env


@functools.cache
def reference_available() -> bool:
    """True when the reference venv exists and imports deep_ei (checked once per process)."""
    python = reference_python()
    if not python.is_file():
        return False
    try:
        proc = subprocess.run(
            [str(python), "-c", "import deep_ei"],
            capture_output=True,
            env=_env(),
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def run_deep_ei(case: dict, timeout: float = 600.0) -> dict:
    """Run one case (see _deep_ei_runner.py) with deep-ei and return its parsed JSON result.

    Raises RuntimeError when the venv is missing or the runner fails, and
    subprocess.TimeoutExpired when it takes longer than ``timeout`` seconds.
    """
    python = reference_python()
    if not python.is_file():
        raise RuntimeError(f"no deep-ei reference venv at {reference_venv()}; run `{SETUP}`")
    proc = subprocess.run(
        [str(python), str(RUNNER), json.dumps(case)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"deep-ei runner failed (exit {proc.returncode}) on {case}:\n{proc.stderr.strip()}"
        )
    return json.loads(lines[-1])
