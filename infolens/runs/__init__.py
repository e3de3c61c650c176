"""infolens.runs: run folders, the long results table, training runs and seed sweeps.

* :func:`read_metrics` / :func:`write_metrics`, :func:`wide_table`, :func:`thesis_table`
  (:mod:`infolens.runs.metrics`): a run's ``metrics.parquet`` and its views;
* :class:`RunWriter` (:mod:`infolens.runs.writer`): keeps that table current during training;
* :class:`RunConfig`, :func:`train_run`, :func:`resume_run`, :func:`measure_run`
  (:mod:`infolens.runs.experiment`): what ``infolens train``/``measure`` do;
* :func:`run_sweep` (:mod:`infolens.runs.sweep`): several seeds, with Ray when installed;
* :func:`new_run_dir`, :func:`run_lock`, :func:`write_config`, :func:`read_config`
  (:mod:`infolens.runs.rundir`).

Names load on first use (Lightning is imported only by the names that need it).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_metrics": "infolens.runs.metrics",
    "write_metrics": "infolens.runs.metrics",
    "wide_table": "infolens.runs.metrics",
    "thesis_table": "infolens.runs.metrics",
    "merge_tables": "infolens.runs.metrics",
    "records_to_table": "infolens.runs.metrics",
    "RunWriter": "infolens.runs.writer",
    "RunConfig": "infolens.runs.experiment",
    "train_run": "infolens.runs.experiment",
    "resume_run": "infolens.runs.experiment",
    "measure_run": "infolens.runs.experiment",
    "run_sweep": "infolens.runs.sweep",
    "new_run_dir": "infolens.runs.rundir",
    "run_lock": "infolens.runs.rundir",
    "write_config": "infolens.runs.rundir",
    "read_config": "infolens.runs.rundir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
