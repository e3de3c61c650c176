"""``plot_run``: every plot a run's (or several runs') measures allow, PNG and PDF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from infolens._validation import InfolensError
from infolens.plots._common import MissingMeasures
from infolens.plots.causal_plane import plot_causal_plane_epochs
from infolens.plots.curves import plot_complexity, plot_loss_accuracy, plot_nc1, plot_weight_ei
from infolens.plots.planes import plot_information_plane, plot_vinformation_plane
from infolens.runs.metrics import merge_tables, read_metrics
from infolens.runs.rundir import PLOTS

#: name → plotting function, in the order ``plot_run`` makes them.
PLOTS_BY_NAME: dict[str, Callable] = {
    "loss_accuracy": plot_loss_accuracy,
    "causal_plane": plot_causal_plane_epochs,
    "info_plane": plot_information_plane,
    "complexity": plot_complexity,
    "nc1": plot_nc1,
    "vinfo_plane": plot_vinformation_plane,
    "weight_ei": plot_weight_ei,
}


@dataclass
class PlotReport:
    """What :func:`plot_run` did: files written per plot, and plots skipped with the reason."""

    out_dir: Path
    written: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        made = ", ".join(self.written) or "none"
        text = f"plots in {self.out_dir}: {made}"
        if self.skipped:
            text += "; skipped (measures not present): " + ", ".join(self.skipped)
        return text


def _load(source) -> tuple[pd.DataFrame, list[Path]]:
    if isinstance(source, pd.DataFrame):
        return source, []
    if isinstance(source, (str, Path)):
        source = [source]
    runs = [Path(s) for s in source]
    if not runs:
        raise InfolensError("plot_run needs at least one run directory or a table")
    return merge_tables(*(read_metrics(r) for r in runs)), runs


def plot_run(source, out_dir: str | Path | None = None, *, only: Sequence[str] | None = None) -> PlotReport:
    """Make every plot whose measures are present; skip the others silently.

    ``source`` is a run directory, a list of run directories (several runs or seeds are drawn
    with mean ± 1 s.d. bands) or a long results table. Figures go to ``out_dir`` (default: the
    run's ``plots/`` folder; for several runs, ``plots/`` in the first run's parent folder) as
    PNG and PDF. ``only`` restricts the plots by name (:data:`PLOTS_BY_NAME`). Returns a
    :class:`PlotReport` naming what was written and what was skipped.
    """
    table, runs = _load(source)
    if out_dir is None:
        if not runs:
            raise InfolensError("plot_run(table) needs out_dir")
        out_dir = runs[0] / PLOTS if len(runs) == 1 else runs[0].parent / PLOTS
    out_dir = Path(out_dir)
    names = list(PLOTS_BY_NAME) if only is None else list(only)
    unknown = [n for n in names if n not in PLOTS_BY_NAME]
    if unknown:
        raise InfolensError(f"unknown plot(s) {unknown}; choose from {list(PLOTS_BY_NAME)}")
    report = PlotReport(out_dir=out_dir)
    for name in names:
        try:
            _, paths = PLOTS_BY_NAME[name](table, out_dir)
        except MissingMeasures as err:  # the measures this plot needs are absent
            report.skipped[name] = str(err)
            continue
        report.written[name] = paths
    return report
