"""Run directories: one folder per run with its config, results table and figures.

Files are written atomically (to a temporary name, then renamed), so an interrupted run
never leaves a half-written file behind.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path

import pandas as pd
import yaml


def new_run_dir(root: str | Path, name: str) -> Path:
    """Create ``root/<UTC timestamp>-<name>`` (unique) and return it."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = root / (f"{stamp}-{name}" + (f"-{i}" if i else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run directory under {root}")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config(run_dir: Path, config: dict) -> Path:
    """Write ``config.yaml`` into the run directory."""
    path = Path(run_dir) / "config.yaml"
    _atomic_write(path, lambda fh: yaml.safe_dump(config, fh, sort_keys=False))
    return path


def write_table(run_dir: Path, name: str, table: pd.DataFrame) -> Path:
    """Write a results table as CSV (``<name>.csv``) into the run directory."""
    path = Path(run_dir) / f"{name}.csv"
    _atomic_write(path, lambda fh: table.to_csv(fh, index=False))
    return path
