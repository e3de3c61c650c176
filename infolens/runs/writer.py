"""``RunWriter``: keep a run's ``metrics.parquet``/``metrics.csv`` current during training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pandas as pd

from infolens.runs.metrics import merge_tables, read_metrics, records_to_table, write_metrics
from infolens.training.callbacks._base import MeasureCallback


def measure_callbacks(trainer: pl.Trainer) -> list[MeasureCallback]:
    """The trainer's measure callbacks, in the trainer's order."""
    return [cb for cb in trainer.callbacks if isinstance(cb, MeasureCallback)]


class RunWriter(pl.Callback):
    """Rewrite the run's long results table from the measure callbacks' records.

    After the initial measurement (fit start), after every training epoch, at fit end and when
    training fails, the table is rebuilt from the ``records`` of every
    :class:`~infolens.training.callbacks._base.MeasureCallback` on the trainer. Those records
    are checkpointed, so they are the source of truth: a run resumed from a checkpoint restores
    them and the table never holds a row twice. Rows that were already in the run's table when
    training started (an earlier, interrupted attempt, or ``infolens measure`` after the fact)
    are kept unless a callback re-measures the same key (:data:`infolens.runs.metrics.KEY`).

    Only the global-zero rank writes; every file is replaced atomically
    (:func:`infolens.runs.metrics.write_metrics`). Put the writer after the measure callbacks
    in the trainer's callback list (it also catches up at the next epoch start otherwise).

    ``run`` (default: the folder name) and ``seed`` fill the table's ``run``/``seed`` columns.
    """

    def __init__(self, run_dir: str | Path, *, run: str | None = None, seed: int | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.run = run or self.run_dir.name
        self.seed = seed
        self.writes = 0
        self._base: pd.DataFrame | None = None
        self._signature: tuple | None = None
        # per callback: (its records list, rows converted so far, their frames)
        self._frames: dict[int, tuple[list, int, list[pd.DataFrame]]] = {}

    # -- table ------------------------------------------------------------------------------

    def _callback_frames(self, cb: MeasureCallback) -> list[pd.DataFrame]:
        """The callback's records as tables, converting only records added since the last call.

        Records are append-only between checkpoint loads; a restored callback (a new list) is
        converted again from scratch.
        """
        records: list[dict[str, Any]] = cb.records
        known, done, frames = self._frames.get(id(cb), (None, 0, []))
        if known is not records or done > len(records):
            done, frames = 0, []
        if len(records) > done:
            frames = [*frames, records_to_table(records[done:], run=self.run, seed=self.seed)]
        self._frames[id(cb)] = (records, len(records), frames)
        return frames

    def table(self, trainer: pl.Trainer) -> pd.DataFrame:
        """The current long table: earlier rows of the run merged with all callback records."""
        frames = [f for cb in measure_callbacks(trainer) for f in self._callback_frames(cb)]
        return merge_tables(self._base, *frames)

    def _signature_of(self, trainer: pl.Trainer) -> tuple:
        return tuple((id(cb), len(cb.records)) for cb in measure_callbacks(trainer))

    def write(self, trainer: pl.Trainer, *, force: bool = False, final: bool = False) -> bool:
        """Write the table now (global-zero rank only); returns whether a file was written.

        Skips writing when no callback has new records since the last write, unless ``force``.
        ``final`` also writes the wide per-epoch view ``metrics_wide.csv`` (at fit end and on
        failure; the long files are written every time).
        """
        if not trainer.is_global_zero:
            return False
        sig = self._signature_of(trainer)
        if not force and sig == self._signature:
            return False
        write_metrics(self.run_dir, self.table(trainer), wide=final, canonical=True)
        self._signature = sig
        self.writes += 1
        return True

    # -- Lightning hooks ----------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Load the rows already in the run's table (kept unless re-measured)."""
        if stage == "fit" and trainer.is_global_zero:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._base = read_metrics(self.run_dir)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the epoch-0 measurements."""
        self.write(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Catch up on records made after this writer's last hook (callback order)."""
        self.write(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the epoch's measurements."""
        self.write(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Final write (always)."""
        self.write(trainer, force=True, final=True)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Keep what was measured before a failure (or Ctrl-C)."""
        self.write(trainer, force=True, final=True)
