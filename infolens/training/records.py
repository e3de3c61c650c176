"""Measurement records: the rows of a run's long results table.

Every measurement made during or after training is one record, a flat dict with the columns of
:data:`COLUMNS`:

* ``run``, ``seed``: filled in by the run writer (``infolens.runs``), left ``None`` by callbacks;
* ``epoch``: completed training epochs when measured (0 = the initial weights), ``step``: the
  optimiser step count at that moment;
* ``split``: ``"train"``, ``"test"`` or ``""`` when the measure has no data split (weight-graph EI,
  interventional EI);
* ``layer``: the module path / measurement point, ``""`` for whole-network measures;
* ``measure``: the quantity's name (``"nc1"``, ``"ei_parts"``, ``"pid_C"``, ``"train_loss"``, ...);
* ``value`` (float), ``unit`` (``"bits"``, ``"nats"``, ``"1"`` for dimensionless);
* ``estimator``, ``samples``, ``bins``: how it was estimated (``""``/``None`` where not applicable).

Records are plain data, so they pickle into checkpoints and gather across DDP ranks.
"""

from __future__ import annotations

from typing import Any

COLUMNS: tuple[str, ...] = (
    "run", "seed", "epoch", "step", "split", "layer", "measure", "value", "unit",
    "estimator", "samples", "bins",
)


def record(
    *,
    epoch: int,
    step: int,
    measure: str,
    value: float,
    unit: str,
    split: str = "",
    layer: str = "",
    estimator: str = "",
    samples: int | None = None,
    bins: int | str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One results row (see :data:`COLUMNS`); ``extra`` keys are kept as additional columns.

    ``value`` is stored as a Python float (NaN allowed); ``bins`` may be an int or a string such as
    ``"64x64"`` or ``"8 levels"``.
    """
    value = float(value)
    row: dict[str, Any] = {
        "run": None, "seed": None, "epoch": int(epoch), "step": int(step), "split": str(split),
        "layer": str(layer), "measure": str(measure), "value": value, "unit": str(unit),
        "estimator": str(estimator), "samples": None if samples is None else int(samples),
        "bins": None if bins is None else str(bins),
    }
    for key, val in extra.items():
        if key in row:
            raise ValueError(f"record(): extra column {key!r} clashes with a standard column")
        row[key] = val
    return row
