"""Run directories: one folder per run with its config, checkpoints, results tables and figures.

Layout of a run directory::

    <run>/config.yaml        the run's configuration (everything needed to rebuild it)
    <run>/checkpoints/       Lightning checkpoints (``last.ckpt``, per-epoch ones)
    <run>/metrics.parquet    the long results table (:mod:`infolens.runs.metrics`)
    <run>/metrics.csv        its CSV twin
    <run>/plots/             figures, PNG and PDF

Guarantees:

* **atomic files**: every file is written to a temporary name in the same folder, flushed to
  disk and renamed over the target (``os.replace``), so a crash never leaves a half-written
  file; either the old or the new version is there, whole;
* **one run per folder**: :func:`new_run_dir` creates a folder that did not exist before
  (``mkdir`` fails on an existing one, also between processes), and :func:`run_lock` marks a
  folder as in use by one live process, so resuming a run that is still running is refused.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import yaml

from infolens._validation import InfolensError

CONFIG_NAME = "config.yaml"
LOCK_NAME = ".lock"
CHECKPOINTS = "checkpoints"
PLOTS = "plots"


def _safe_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", str(name)).strip("-.")
    return name or "run"


def new_run_dir(root: str | Path, name: str) -> Path:
    """Create a fresh ``root/<UTC timestamp>-<name>`` folder and return it.

    The folder is created with ``mkdir`` (which fails if it exists), so two runs started at the
    same moment, in threads or in separate processes, always get two different folders
    (``...-<name>``, ``...-<name>-1``, ...). ``name`` is reduced to ``[A-Za-z0-9._+-]``.
    """
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = f"{stamp}-{_safe_name(name)}"
    for i in range(10_000):
        path = root / (base + (f"-{i}" if i else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise InfolensError(f"could not create a fresh run directory under {root}")


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a run directory (a folder with a ``config.yaml``)."""
    return (Path(path) / CONFIG_NAME).is_file()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask is process-wide, so never toggle it while threads write


def _mkstemp(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` with the permissions a plain ``open`` would give."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_UMASK)
    return fd, tmp


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem allows it
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | Path, write: Callable[[IO], Any], *, binary: bool = False) -> Path:
    """Write ``path`` atomically: ``write(fh)`` fills a temporary file that then replaces ``path``.

    The temporary file lives in the target's folder (so the rename is atomic), is flushed and
    fsynced before the rename, and is removed if ``write`` raises; the previous ``path``, if any,
    is then left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_path(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Like :func:`atomic_write` for writers that want a file *name* (``write(tmp_path)``).

    Used for libraries that open the file themselves (pyarrow, matplotlib).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _plain(value: Any) -> Any:
    """YAML-safe form of a config value (paths and tuples become strings and lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_yaml(path: str | Path, data: dict) -> Path:
    """Write ``data`` as YAML to ``path`` atomically (paths and tuples become strings and lists)."""
    return atomic_write(path, lambda fh: yaml.safe_dump(_plain(data), fh, sort_keys=False))


def write_config(run_dir: str | Path, config: dict) -> Path:
    """Write ``config.yaml`` into the run directory (atomically; paths become strings)."""
    return write_yaml(Path(run_dir) / CONFIG_NAME, config)


def read_config(run_dir: str | Path) -> dict:
    """Read a run directory's ``config.yaml``; a clear error when ``run_dir`` is not a run."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise InfolensError(
            f"{run_dir} is not an infolens run directory (no {CONFIG_NAME}); pass a folder made "
            "by `infolens train` or `infolens demo`."
        )
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def write_table(run_dir: str | Path, name: str, table: pd.DataFrame) -> Path:
    """Write a results table as CSV (``<name>.csv``) into the run directory (atomically)."""
    path = Path(run_dir) / f"{name}.csv"
    atomic_write(path, lambda fh: table.to_csv(fh, index=False))
    return path


# --------------------------------------------------------------------------------------
# One live process per run directory
# --------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _read_lock(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` while a process writes into the run directory.

    The lock file is created exclusively (``O_EXCL``) and holds the owner's host and pid. If it
    exists and its owner is alive (or on another host), :class:`InfolensError` is raised: two
    processes never write into one run directory. A lock left by a dead process on this host is
    taken over. The lock is removed on exit.
    """
    path = Path(run_dir) / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_lock(path)
            same_host = owner.get("host") == me["host"]
            pid = owner.get("pid")
            if same_host and isinstance(pid, int) and pid != me["pid"] and not _pid_alive(pid):
                path.unlink(missing_ok=True)  # stale lock of a crashed run
                continue
            raise InfolensError(
                f"run directory {run_dir} is in use by process {pid} on {owner.get('host')!r} "
                f"({path}); two runs never write into one directory. Wait for it to finish, or "
                "delete the lock file if that process is gone."
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        break
    try:
        yield path
    finally:
        if _read_lock(path) == me:
            path.unlink(missing_ok=True)
