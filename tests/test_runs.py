"""Run directories and the long results table: schema, atomic writes, unique folders, RunWriter."""

from __future__ import annotations

import json
import math
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from infolens._validation import InfolensError
from infolens.runs.metrics import (
    CSV_NAME,
    DTYPES,
    PARQUET_NAME,
    WIDE_NAME,
    merge_tables,
    read_metrics,
    records_to_table,
    thesis_table,
    wide_table,
    write_metrics,
)
from infolens.runs.rundir import (
    atomic_write,
    new_run_dir,
    read_config,
    run_lock,
    write_config,
)
from infolens.runs.writer import RunWriter
from infolens.training.callbacks._base import MeasureCallback
from infolens.training.records import COLUMNS, record


def _records(epochs=(0, 1, 2), layers=("layer_1", "layer_2")):
    rows = []
    for e in epochs:
        for split in ("train", "test"):
            rows.append(record(epoch=e, step=10 * e, measure="loss", value=1.0 / (e + 1), unit="nats",
                               split=split, samples=100))
            rows.append(record(epoch=e, step=10 * e, measure="acc", value=e / 10, unit="1", split=split))
            for layer in layers:
                rows.append(record(epoch=e, step=10 * e, measure="nc1", value=0.5 ** e, unit="1",
                                   split=split, layer=layer, estimator="two-pass", samples=100))
                rows.append(record(epoch=e, step=10 * e, measure="nc1_trace", value=2 * 0.5 ** e,
                                   unit="1", split=split, layer=layer))
        rows.append(record(epoch=e, step=10 * e, measure="weight_ei", value=math.nan, unit="bits",
                           bins="8 levels"))
    return rows


# --------------------------------------------------------------------------------------
# Long table
# --------------------------------------------------------------------------------------


def test_long_table_schema_and_csv_parquet_equality(tmp_path):
    table = records_to_table(_records(), run="r", seed=7)
    assert tuple(table.columns) == COLUMNS
    assert {c: str(t) for c, t in table.dtypes.items()} == DTYPES
    assert (table["run"] == "r").all() and (table["seed"] == 7).all()
    write_metrics(tmp_path, table)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([PARQUET_NAME, CSV_NAME, WIDE_NAME])
    from_parquet = read_metrics(tmp_path)
    from_csv = read_metrics(tmp_path / CSV_NAME)
    pd.testing.assert_frame_equal(from_parquet, from_csv)
    pd.testing.assert_frame_equal(from_parquet, merge_tables(table))
    assert from_parquet["value"].isna().sum() == 3  # NaN values survive both formats
    assert from_parquet["samples"].isna().any() and from_parquet["bins"].notna().any()
    # the parquet file itself has exactly the columns, nothing else
    import pyarrow.parquet as pq

    assert pq.read_schema(tmp_path / PARQUET_NAME).names == list(COLUMNS)


def test_extra_record_columns_are_dropped_and_run_seed_filled():
    rows = [record(epoch=0, step=0, measure="m", value=1.0, unit="1", note="extra")]
    table = records_to_table(rows, run="x", seed=3)
    assert tuple(table.columns) == COLUMNS and table.loc[0, "seed"] == 3


def test_merge_keeps_last_row_per_key():
    a = records_to_table(_records(epochs=(0, 1)), run="r", seed=0)
    b = a[a["measure"] == "nc1"].assign(value=42.0)
    merged = merge_tables(a, b)
    assert len(merged) == len(a)
    assert (merged.loc[merged["measure"] == "nc1", "value"] == 42.0).all()
    # a different estimator is a different measurement, not a duplicate
    c = b.assign(estimator="other")
    assert len(merge_tables(a, c)) == len(a) + len(c)


def test_wide_view_and_thesis_export():
    table = records_to_table(_records(), run="r", seed=0)
    wide = wide_table(table)
    assert list(wide.columns[:6]) == ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert {"nc1_layer_1_train", "nc1_layer_1_val", "nc1trace_layer_2_val", "weight_ei"} <= set(wide.columns)
    assert wide["epoch"].tolist() == [0, 1, 2] and wide["step"].tolist() == [0, 10, 20]
    assert wide.loc[2, "nc1_layer_2_val"] == pytest.approx(0.25)
    thesis = thesis_table(table)
    assert "nc_layer_1_train" in thesis.columns and not any(c.startswith("nc1trace") for c in thesis)
    assert "nc_layer_0_train" in thesis_table(table, zero_based=True).columns
    both = pd.concat([table, table.assign(seed=1)])
    assert {"run", "seed"} <= set(wide_table(both).columns)


def test_read_metrics_errors_and_empty(tmp_path):
    assert read_metrics(tmp_path).empty
    with pytest.raises(InfolensError, match="does not exist"):
        read_metrics(tmp_path / "nope.parquet")


# --------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_atomic_csv_write_failure_leaves_previous_file(tmp_path, monkeypatch):
    table = records_to_table(_records(epochs=(0,)), run="r", seed=0)
    write_metrics(tmp_path, table)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    real = pd.DataFrame.to_csv

    def broken(self, fh, *args, **kwargs):
        real(self.head(3), fh, *args, **kwargs)  # half the file is out, then the "crash"
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    bigger = records_to_table(_records(epochs=(0, 1, 2)), run="r", seed=0)
    with pytest.raises(OSError, match="disk full"):
        write_metrics(tmp_path, bigger)
    monkeypatch.undo()
    assert _no_temp_files(tmp_path)
    assert (tmp_path / CSV_NAME).read_bytes() == before[CSV_NAME]
    pd.testing.assert_frame_equal(read_metrics(tmp_path / CSV_NAME), merge_tables(table))


def test_atomic_parquet_write_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def broken(table, where, *args, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(RuntimeError, match="killed"):
        write_metrics(tmp_path, records_to_table(_records(), run="r", seed=0))
    assert not (tmp_path / PARQUET_NAME).exists() and _no_temp_files(tmp_path)


def test_atomic_write_replaces_whole(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, lambda fh: fh.write("one"))
    with pytest.raises(ZeroDivisionError):
        atomic_write(target, lambda fh: (fh.write("two-partial"), 1 / 0))
    assert target.read_text() == "one" and _no_temp_files(tmp_path)


def test_config_round_trip(tmp_path):
    write_config(tmp_path, {"model": "MLP", "widths": (10, 7), "out": tmp_path})
    assert read_config(tmp_path) == {"model": "MLP", "widths": [10, 7], "out": str(tmp_path)}
    with pytest.raises(InfolensError, match="not an infolens run directory"):
        read_config(tmp_path / "missing")


# --------------------------------------------------------------------------------------
# One run per folder
# --------------------------------------------------------------------------------------


def _make_dirs(root: str, n: int) -> list[str]:
    return [str(new_run_dir(root, "same")) for _ in range(n)]


def test_unique_run_dirs_under_concurrent_creation(tmp_path):
    barrier = threading.Barrier(16)

    def one(_):
        barrier.wait()
        return str(new_run_dir(tmp_path, "same"))

    with ThreadPoolExecutor(16) as pool:
        from_threads = list(pool.map(one, range(16)))
    with ProcessPoolExecutor(3, mp_context=get_context("fork")) as pool:
        from_procs = [d for ds in pool.map(_make_dirs, [str(tmp_path)] * 3, [6] * 3) for d in ds]
    made = from_threads + from_procs
    assert len(set(made)) == len(made) == 34
    assert all(Path(d).is_dir() and not any(Path(d).iterdir()) for d in made)


def test_run_lock_refuses_a_second_writer_and_takes_over_stale_locks(tmp_path):
    with run_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(InfolensError, match="in use by process"):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()
    # a lock left behind by a dead process on this host is stale
    proc = get_context("fork").Process(target=os._exit, args=(0,))
    proc.start()
    proc.join()
    import socket

    (tmp_path / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": proc.pid}))
    with run_lock(tmp_path):
        pass
    assert not (tmp_path / ".lock").exists()


# --------------------------------------------------------------------------------------
# RunWriter under Lightning, including resume
# --------------------------------------------------------------------------------------


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _WeightNorm(MeasureCallback):
    family = "wnorm"

    def measure(self, model, *, epoch, step, dist):
        norm = sum(float(p.detach().double().norm()) for p in model.parameters())
        return [record(epoch=epoch, step=step, measure="wnorm", value=norm, unit="1"),
                record(epoch=epoch, step=step, measure="wnorm", value=norm, unit="1",
                       layer="0", split="train")]


def _fit(run_dir: Path, max_epochs: int, ckpt_path=None):
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 3), torch.randint(0, 2, (32,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    measure = _WeightNorm(schedule=1)
    writer = RunWriter(run_dir, seed=5)
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=-1,
                           filename="{epoch}", save_on_train_epoch_end=True)
    trainer = pl.Trainer(max_epochs=max_epochs, callbacks=[measure, writer, ckpt], logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=run_dir, accelerator="cpu")
    trainer.fit(_Tiny(), loader, ckpt_path=ckpt_path)
    return trainer, writer


def _assert_no_duplicates(table: pd.DataFrame):
    keys = table[["run", "seed", "epoch", "split", "layer", "measure", "estimator", "bins"]]
    assert not keys.astype(str).duplicated().any()


def test_run_writer_writes_every_epoch_and_resume_has_no_duplicates(tmp_path):
    run = new_run_dir(tmp_path, "tiny")
    _, writer = _fit(run, 2)
    first = read_metrics(run)
    assert writer.writes >= 3  # epoch 0, 1, 2 (and the final write)
    assert sorted(first["epoch"].unique().tolist()) == [0, 1, 2]
    assert (first["run"] == run.name).all() and (first["seed"] == 5).all()
    # an interrupted later attempt wrote epoch 3 into the table but never checkpointed it
    ghost = first[first["epoch"] == 2].assign(epoch=3, value=-1.0)
    write_metrics(run, merge_tables(first, ghost))
    _fit(run, 4, ckpt_path=run / "checkpoints" / "last.ckpt")
    table = read_metrics(run)
    _assert_no_duplicates(table)
    assert sorted(table["epoch"].unique().tolist()) == [0, 1, 2, 3, 4]
    assert len(table) == 2 * 5 and (table["value"] > 0).all()  # the ghost rows were re-measured
    pd.testing.assert_frame_equal(table[table["epoch"] <= 2], first)


def test_run_writer_only_on_global_zero(tmp_path):
    class _Trainer:
        is_global_zero = False

        def __init__(self):
            self.callbacks = [_WeightNorm()]

    writer = RunWriter(tmp_path)
    assert writer.write(_Trainer(), force=True) is False
    assert not any(tmp_path.iterdir())


def test_records_to_table_empty_has_columns():
    t = records_to_table([], run="r", seed=0)
    assert t.empty and tuple(t.columns) == COLUMNS
    assert np.isnan(records_to_table([record(epoch=0, step=0, measure="m", value=float("nan"), unit="1")])["value"][0])
