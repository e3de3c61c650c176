"""Seed sweeps: the same run for several seeds, with Ray when installed, else without.

:func:`run_sweep` creates one sweep folder ``<out>/<UTC stamp>-sweep-<name>/`` holding a
``sweep.yaml`` (settings, seeds, backend) and one run folder per seed. Backends:

* ``"ray"``: one Ray task per seed (``pip install "infolens[ray]"``); ``jobs`` caps how many
  run at once;
* ``"sequential"``: one after another in this process;
* ``"subprocess"``: ``python -m infolens.runs.experiment CONFIG.yaml`` per seed, ``jobs`` at a
  time;
* ``"auto"``: Ray if it is importable, else sequential.

Every backend runs :func:`infolens.runs.experiment.train_run` on the same per-seed settings,
which seed everything from the run's seed, so the results are the same whichever is used.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from infolens._validation import InfolensError
from infolens.runs.experiment import RunConfig, train_run
from infolens.runs.rundir import is_run_dir, new_run_dir, write_yaml

SWEEP_FILE = "sweep.yaml"
BACKENDS = ("auto", "ray", "sequential", "subprocess")


def seed_configs(cfg: RunConfig, seeds: Sequence[int], sweep_dir: Path) -> list[RunConfig]:
    """One config per seed, writing into ``sweep_dir`` as ``<name>-seed<k>``."""
    base = cfg.name or f"{cfg.model}-{cfg.dataset}"
    return [dataclasses.replace(cfg, seed=int(s), out=str(sweep_dir), name=f"{base}-seed{int(s)}")
            for s in seeds]


def _train_dict(values: dict) -> str:
    """Train one run from a settings dict (the unit of work of every backend)."""
    return str(train_run(RunConfig.from_dict(values)).run_dir)


def _ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def _run_ray(configs: list[RunConfig], jobs: int) -> list[str]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(1, jobs), include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_train_dict)
        return list(ray.get([task.remote(c.to_dict()) for c in configs]))
    finally:
        if started:
            ray.shutdown()


def _run_subprocess(configs: list[RunConfig], jobs: int) -> list[str]:
    out: list[str | None] = [None] * len(configs)
    with tempfile.TemporaryDirectory(prefix="infolens-sweep-") as tmp:
        pending = list(enumerate(configs))
        running: list[tuple[int, subprocess.Popen, Path]] = []
        env = dict(os.environ)
        while pending or running:
            while pending and len(running) < jobs:
                i, cfg = pending.pop(0)
                path = Path(tmp) / f"seed{cfg.seed}.yaml"
                path.write_text(yaml.safe_dump(cfg.to_dict()), encoding="utf-8")
                proc = subprocess.Popen(
                    [sys.executable, "-m", "infolens.runs.experiment", str(path)],
                    stdout=subprocess.PIPE, text=True, env=env,
                )
                running.append((i, proc, path))
            i, proc, _ = running.pop(0)
            stdout, _ = proc.communicate()
            if proc.returncode != 0:
                for _, other, _ in running:
                    other.kill()
                raise InfolensError(f"sweep run for seed {configs[i].seed} failed (exit {proc.returncode})")
            out[i] = stdout.strip().splitlines()[-1]
    return [str(o) for o in out]


def run_sweep(cfg: RunConfig, seeds: Sequence[int], *, backend: str = "auto", jobs: int = 1
              ) -> tuple[Path, list[Path]]:
    """Train ``cfg`` once per seed; returns ``(sweep folder, run folders in seed order)``."""
    if backend not in BACKENDS:
        raise InfolensError(f"unknown sweep backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InfolensError(f"--seeds needs distinct seeds, got {seeds}.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InfolensError(f"jobs must be a positive integer, got {jobs!r}.")
    cfg.validate()
    if backend == "auto":
        backend = "ray" if _ray_available() else "sequential"
    if backend == "ray" and not _ray_available():
        raise InfolensError('the ray backend needs Ray: pip install "infolens[ray]"')
    sweep_dir = new_run_dir(cfg.out, f"sweep-{cfg.name or f'{cfg.model}-{cfg.dataset}'}")
    configs = seed_configs(cfg, seeds, sweep_dir)
    doc = {"job": "sweep", "backend": backend, "seeds": seeds, "jobs": jobs, "args": cfg.to_dict()}
    write_yaml(sweep_dir / SWEEP_FILE, doc)
    if backend == "ray":
        dirs = _run_ray(configs, jobs)
    elif backend == "subprocess":
        dirs = _run_subprocess(configs, jobs)
    else:
        dirs = [_train_dict(c.to_dict()) for c in configs]
    runs = [Path(d) for d in dirs]
    doc["runs"] = [r.name for r in runs]
    write_yaml(sweep_dir / SWEEP_FILE, doc)
    return sweep_dir, runs


def expand_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders named by ``paths``: a sweep folder expands to its runs, in seed order."""
    out: list[Path] = []
    for p in map(Path, paths):
        sweep = p / SWEEP_FILE
        if sweep.is_file():
            doc = yaml.safe_load(sweep.read_text(encoding="utf-8")) or {}
            names = doc.get("runs") or sorted(c.name for c in p.iterdir() if is_run_dir(c))
            out.extend(p / n for n in names)
        elif is_run_dir(p) or (p / "metrics.parquet").is_file():
            out.append(p)
        else:
            raise InfolensError(f"{p} is not a run folder (no config.yaml) nor a sweep folder ({SWEEP_FILE}).")
    return out
