"""The long results table of a run (``metrics.parquet`` and its CSV twin) and its wide views.

The long table has exactly the columns of :data:`infolens.training.records.COLUMNS`, one row per
measured value, with fixed dtypes so that the parquet file and the CSV twin read back equal:

========== ============ =====================================================================
column     dtype        meaning
========== ============ =====================================================================
run        string       the run's name (its folder name)
seed       Int64        the run's global seed
epoch      Int64        completed training epochs when measured (0 = initial weights)
step       Int64        optimiser steps when measured
split      string       ``train``, ``test`` or ``""``
layer      string       measurement point, ``""`` for whole-network values
measure    string       quantity name (``nc1``, ``ei_parts``, ``pid_C``, ``train_loss``, ...)
value      float64      the value (NaN allowed)
unit       string       ``bits``, ``nats``, ``1``
estimator  string       how it was estimated, ``""`` where not applicable
samples    Int64        sample count, missing where not applicable
bins       string       bins/levels (``"30"``, ``"8 levels"``), missing where not applicable
========== ============ =====================================================================

A measurement is identified by :data:`KEY` (who, when, where, what and how); merging tables
keeps the last row per key, so re-measuring replaces instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infolens._validation import InfolensError
from infolens.runs.rundir import atomic_write, atomic_write_path
from infolens.training.records import COLUMNS

PARQUET_NAME = "metrics.parquet"
CSV_NAME = "metrics.csv"
WIDE_NAME = "metrics_wide.csv"

DTYPES: dict[str, str] = {
    "run": "string", "seed": "Int64", "epoch": "Int64", "step": "Int64", "split": "string",
    "layer": "string", "measure": "string", "value": "float64", "unit": "string",
    "estimator": "string", "samples": "Int64", "bins": "string",
}
#: Columns that identify one measurement (the rest is its value, unit and step).
KEY: tuple[str, ...] = ("run", "seed", "epoch", "split", "layer", "measure", "estimator", "bins")
_NONEMPTY_STR = ("split", "layer", "estimator")  # "" rather than missing


def empty_table() -> pd.DataFrame:
    """A long table with no rows and the standard columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[c]) for c in COLUMNS})


def normalize(table: pd.DataFrame) -> pd.DataFrame:
    """Cast a long table to exactly :data:`COLUMNS` with the standard dtypes.

    Extra columns are dropped, missing optional ones (``samples``, ``bins``, ``estimator``,
    ``split``, ``layer``, ``run``, ``seed``, ``step``) are added empty; ``split``, ``layer`` and
    ``estimator`` use ``""`` for "not applicable".
    """
    if tuple(table.columns) == COLUMNS and all(
        str(dt) == DTYPES[c] for c, dt in table.dtypes.items()
    ):
        return table  # already normal (the common case: skip the copy)
    required = {"epoch", "measure", "value"}
    missing = required - set(table.columns)
    if missing:
        raise InfolensError(f"a results table needs the columns {sorted(required)}; missing {sorted(missing)}")
    out = {}
    n = len(table)
    for col in COLUMNS:
        if col in table.columns:
            s = table[col]
        else:
            s = pd.Series([None] * n, index=table.index, dtype="object")
        if DTYPES[col] == "string":
            s = s.astype("string")
            if col in _NONEMPTY_STR or col == "unit":
                s = s.fillna("")
        elif DTYPES[col] == "Int64":
            s = pd.to_numeric(s, errors="coerce").astype("Float64").round().astype("Int64")
        else:
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        out[col] = s.reset_index(drop=True)
    return pd.DataFrame(out, columns=list(COLUMNS))


def records_to_table(
    records: Iterable[Mapping[str, Any]], *, run: str | None = None, seed: int | None = None
) -> pd.DataFrame:
    """Build the long table from record dicts, filling in ``run`` and ``seed`` where unset."""
    rows = [dict(r) for r in records]
    if not rows:
        table = empty_table()
    else:
        table = normalize(pd.DataFrame(rows))
    if run is not None:
        table["run"] = table["run"].fillna(str(run))
    if seed is not None:
        table["seed"] = table["seed"].fillna(int(seed))
    return table


def merge_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Concatenate long tables; for each :data:`KEY` the row from the *last* table wins.

    The result is sorted by run, seed, epoch, measure, layer and split, so writing the same
    measurements twice gives the same file.
    """
    parts = [normalize(t) for t in tables if t is not None and len(t)]
    if not parts:
        return empty_table()
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    table = table[~table.duplicated(subset=list(KEY), keep="last")]
    order = ["run", "seed", "epoch", "measure", "layer", "split", "estimator", "bins"]
    table = table.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)
    return table


def _arrow_table(table: pd.DataFrame):
    import pyarrow as pa

    schema = pa.schema([
        ("run", pa.string()), ("seed", pa.int64()), ("epoch", pa.int64()), ("step", pa.int64()),
        ("split", pa.string()), ("layer", pa.string()), ("measure", pa.string()),
        ("value", pa.float64()), ("unit", pa.string()), ("estimator", pa.string()),
        ("samples", pa.int64()), ("bins", pa.string()),
    ])
    return pa.Table.from_pandas(table, schema=schema, preserve_index=False)


def write_metrics(run_dir: str | Path, table: pd.DataFrame, *, wide: bool = True,
                  canonical: bool = False) -> Path:
    """Write ``metrics.parquet`` and its twin ``metrics.csv`` (and ``metrics_wide.csv``) atomically.

    The table is written in canonical form (:func:`merge_tables`: one row per key, sorted;
    ``canonical=True`` says it already is, e.g. a ``merge_tables`` result). Each
    file is written to a temporary name and renamed into place, so a crash mid-write leaves the
    previous complete file (or none), never a partial one. Returns the parquet path.
    """
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    table = normalize(table) if canonical else merge_tables(table)
    arrow = _arrow_table(table)
    path = atomic_write_path(run_dir / PARQUET_NAME, lambda tmp: pq.write_table(arrow, tmp))
    atomic_write(run_dir / CSV_NAME, lambda fh: table.to_csv(fh, index=False))
    if wide:
        view = wide_table(table)
        atomic_write(run_dir / WIDE_NAME, lambda fh: view.to_csv(fh, index=False))
    return path


def read_metrics(source: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Read the long table of a run directory (or of several, concatenated).

    Reads ``metrics.parquet`` (or ``metrics.csv`` when there is no parquet file); a path to
    one of those files works too. A run without measurements gives an empty table.
    """
    if isinstance(source, (list, tuple)):
        return merge_tables(*(read_metrics(s) for s in source))
    path = Path(source)
    if path.is_dir():
        parquet, csv = path / PARQUET_NAME, path / CSV_NAME
        if parquet.is_file():
            path = parquet
        elif csv.is_file():
            path = csv
        else:
            if not path.exists():
                raise InfolensError(f"run directory {source} does not exist")
            return empty_table()
    elif not path.is_file():
        raise InfolensError(f"{source} does not exist; pass a run directory or a metrics file")
    if path.suffix == ".parquet":
        return normalize(pd.read_parquet(path))
    if path.suffix == ".csv":
        raw = pd.read_csv(path, dtype={c: "string" for c, d in DTYPES.items() if d == "string"},
                          keep_default_na=False, na_values={"value": ["", "NaN", "nan"],
                                                            "samples": [""], "seed": [""],
                                                            "step": [""], "epoch": [""]})
        raw["bins"] = raw["bins"].replace("", pd.NA)
        raw["run"] = raw["run"].replace("", pd.NA)
        return normalize(raw)
    raise InfolensError(f"{source}: expected a .parquet or .csv metrics file")


# --------------------------------------------------------------------------------------
# Wide per-epoch view (geometry spec §6)
# --------------------------------------------------------------------------------------

#: Measure names whose wide column name differs from the measure name.
_WIDE_NAMES = {"nc1_trace": "nc1trace", "accuracy": "acc"}
_SPLIT_NAMES = {"test": "val", "val": "val", "train": "train"}


def _wide_column(measure: str, layer: str, split: str) -> str:
    name = _WIDE_NAMES.get(measure, measure)
    split_name = _SPLIT_NAMES.get(split, split)
    if name in ("loss", "acc") and not layer:
        return f"{split_name}_{name}" if split_name else name
    if name.startswith(("train_", "val_", "test_")) and not layer and not split:
        head, rest = name.split("_", 1)
        return f"{_SPLIT_NAMES[head]}_{rest}"
    parts = [name, layer, split_name]
    return "_".join(p for p in parts if p)


def wide_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, seed, epoch): ``epoch``, ``step``, then one column per measurement.

    Column names follow the geometry spec §6: ``train_loss``, ``train_acc``, ``val_loss``,
    ``val_acc``, ``nc1_<layer>_<split>``, ``nc1trace_<layer>_<split>``, ``vsuff_<l>_<split>``,
    ``vmin_<l>_<split>`` with split ∈ {train, val} (val = the test split); any other measure
    becomes ``<measure>[_<layer>][_<split>]``. When several estimators measured the same
    quantity, the column gets an ``@<estimator>`` suffix. ``run``/``seed`` columns are kept when
    the table holds several runs.
    """
    table = normalize(table)
    if table.empty:
        return pd.DataFrame(columns=["epoch", "step"])
    t = table.copy()
    t["column"] = [
        _wide_column(m, str(la), str(s)) for m, la, s in zip(t["measure"], t["layer"], t["split"])
    ]
    n_est = t.groupby("column")["estimator"].nunique()
    multi = set(n_est[n_est > 1].index)
    if multi:
        t["column"] = [
            f"{c}@{e}" if c in multi else c for c, e in zip(t["column"], t["estimator"])
        ]
    t["run"] = t["run"].fillna("")
    t["seed"] = t["seed"].fillna(-1)
    index = ["run", "seed", "epoch"]
    values = t.pivot_table(index=index, columns="column", values="value", aggfunc="last",
                           dropna=False, sort=False)
    steps = t.groupby(index)["step"].max()
    first = ["train_loss", "train_acc", "val_loss", "val_acc"]
    cols = [c for c in first if c in values.columns]
    cols += sorted(c for c in values.columns if c not in first)
    wide = values[cols].copy()
    wide.insert(0, "step", steps.reindex(wide.index).to_numpy())
    wide = wide.reset_index().sort_values(index, kind="stable").reset_index(drop=True)
    wide.columns.name = None
    if wide["run"].nunique() <= 1 and wide["seed"].nunique() <= 1:
        wide = wide.drop(columns=["run", "seed"])
    else:
        wide["seed"] = wide["seed"].replace(-1, np.nan)
    return wide


def thesis_table(table: pd.DataFrame, *, zero_based: bool = False) -> pd.DataFrame:
    """The wide view renamed as the thesis logged it: ``nc1trace_<hook>`` → ``nc_<hook>``.

    ``nc1trace_layer_k_<split>`` becomes ``nc_layer_k_<split>`` (``nc_layer_{k-1}_...`` with
    ``zero_based=True``, the thesis's numbering for ConvNeXt/ResNet) and ``nc1trace_output_...``
    becomes ``nc_output_...``; other columns keep their §6 names.
    """
    import re

    wide = wide_table(table)

    def rename(col: str) -> str:
        m = re.fullmatch(r"nc1trace_layer_(\d+)(_.*)?", col)
        if m:
            k = int(m.group(1)) - (1 if zero_based else 0)
            return f"nc_layer_{k}{m.group(2) or ''}"
        if col.startswith("nc1trace_output"):
            return "nc_output" + col[len("nc1trace_output"):]
        return col

    return wide.rename(columns=rename)
