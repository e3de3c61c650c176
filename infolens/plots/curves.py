"""Measures against epoch: loss and accuracy, NC1, representational complexity, weight-graph EI.

Every function takes a long results table (:mod:`infolens.runs.metrics`) of one or several runs
(several runs or seeds are drawn as mean ± 1 s.d. bands), saves ``<name>.png`` and
``<name>.pdf`` into ``out_dir`` when given, returns ``(figure, paths)``, and raises
``ValueError`` when the table lacks the measures the plot needs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from infolens.plots._common import (
    MissingMeasures,
    band_stats,
    epoch_axis,
    layer_order,
    plot_band,
    pyplot,
    save_figure,
    seeds_note,
    with_replicate,
)

LOSS_NAMES = ("loss",)
ACC_NAMES = ("acc", "accuracy")
_SPLIT_STYLE = {"train": "-", "test": "--", "val": "--"}
_SPLIT_LABEL = {"train": "train", "test": "test", "val": "test"}


def _split_rows(t: pd.DataFrame, names) -> pd.DataFrame:
    """Rows of a per-split measure: ``<name>`` with a split, or ``train_<name>``/``test_<name>``."""
    rows = t[t["measure"].isin(names) & (t["layer"] == "")]
    if len(rows):
        return rows
    pat = re.compile(rf"^(train|test|val)_({'|'.join(names)})$")
    hit = t[t["measure"].str.match(pat.pattern) & (t["layer"] == "")]
    if hit.empty:
        return hit
    return hit.assign(split=hit["measure"].str.extract(pat, expand=True)[0])


def _finish(fig, out_dir, name):
    fig.tight_layout()
    return fig, (save_figure(fig, out_dir, name) if out_dir is not None else [])


def plot_loss_accuracy(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                       name: str = "loss_accuracy", log_epochs: bool | None = None):
    """Loss and accuracy against epoch, train (solid) and test (dashed)."""
    plt = pyplot()
    t = with_replicate(table)
    loss = _split_rows(t, LOSS_NAMES)
    acc = _split_rows(t, ACC_NAMES)
    if loss.empty and acc.empty:
        raise MissingMeasures("no loss or accuracy measures in the table")
    panels = [(rows, label) for rows, label in ((loss, "loss"), (acc, "accuracy")) if len(rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (rows, label) in zip(axes[0], panels):
        stats = band_stats(rows, ["split"])
        for split in sorted(stats["split"].unique(), key=lambda s: (s != "train", s)):
            plot_band(ax, stats[stats["split"] == split], label=_SPLIT_LABEL.get(split, split or "all"),
                      ls=_SPLIT_STYLE.get(split, "-"), marker="")
        unit = rows["unit"].dropna().astype(str)
        unit = unit.iloc[0] if len(unit) and unit.iloc[0] not in ("", "1") else ""
        ax.set_ylabel(f"{label} [{unit}]" if unit else label)
        epoch_axis(ax, rows["epoch"], log=log_epochs)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Loss and accuracy" + seeds_note(pd.concat([loss, acc])))
    return _finish(fig, out_dir, name)


def plot_nc1(table: pd.DataFrame, out_dir: str | Path | None = None, *, name: str = "nc1",
             measure: str = "nc1", log_epochs: bool | None = None):
    """NC1 per layer against epoch on a log y axis: one colour per layer, train solid, test dashed."""
    plt = pyplot()
    t = with_replicate(table)
    rows = t[t["measure"] == measure]
    if rows.empty:
        raise MissingMeasures(f"no {measure} measures in the table")
    rows = rows[np.isfinite(rows["value"]) & (rows["value"] > 0)]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    stats = band_stats(rows, ["layer", "split"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, layer in enumerate(layer_order(stats["layer"])):
        color = colors[i % len(colors)]
        for split in ("train", "test", "val"):
            part = stats[(stats["layer"] == layer) & (stats["split"] == split)]
            if len(part):
                plot_band(ax, part, label=f"{layer} ({_SPLIT_LABEL[split]})", color=color,
                          ls=_SPLIT_STYLE[split], marker="o")
    ax.set_yscale("log")
    ax.set_ylabel("NC1 = tr(Σ_W Σ_B⁺)/C" if measure == "nc1" else measure)
    epoch_axis(ax, rows["epoch"], log=log_epochs)
    ax.set_title("Neural collapse per layer, train (solid) vs test (dashed)" + seeds_note(rows), fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    return _finish(fig, out_dir, name)


C_NAMES = ("pid_C", "C", "complexity")
_PI = re.compile(r"^(?:pid_)?(?:Pi|pi|Π)_?(\d+)$")


def plot_complexity(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                    name: str = "complexity", split: str | None = None):
    """Representational complexity C and the degree-of-synergy atoms Π_m against log epoch.

    First panel: C per layer; then one panel per layer with its Π_m (m = 1..n). The epoch
    axis is logarithmic with epoch 0 shown (symlog). ``split`` picks the data split when the
    PID was measured on several (default: train if present).
    """
    plt = pyplot()
    t = with_replicate(table)
    c_rows = t.iloc[0:0]
    for alias in C_NAMES:
        c_rows = t[t["measure"] == alias]
        if len(c_rows):
            break
    pi_rows = t[t["measure"].str.match(_PI.pattern)]
    if c_rows.empty and pi_rows.empty:
        raise MissingMeasures("no representational complexity (pid_C, pid_Pi_m) measures in the table")
    splits = sorted(set(c_rows["split"]) | set(pi_rows["split"]))
    chosen = split if split is not None else ("train" if "train" in splits else splits[0])
    c_rows, pi_rows = c_rows[c_rows["split"] == chosen], pi_rows[pi_rows["split"] == chosen]
    layers = layer_order(set(c_rows["layer"]) | set(pi_rows["layer"]))
    n = (1 if len(c_rows) else 0) + (len(layers) if len(pi_rows) else 0)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    flat = list(axes.ravel())
    epochs = pd.concat([c_rows["epoch"], pi_rows["epoch"]])
    if len(c_rows):
        ax = flat.pop(0)
        stats = band_stats(c_rows, ["layer"])
        for layer in layer_order(stats["layer"]):
            plot_band(ax, stats[stats["layer"] == layer], label=layer)
        ax.set_ylabel("C (representational complexity)")
        ax.set_title("C" + seeds_note(c_rows), fontsize=10)
        epoch_axis(ax, epochs, log=True)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if len(pi_rows):
        pi_rows = pi_rows.assign(m=pi_rows["measure"].str.extract(_PI, expand=False).astype(int))
        unit = pi_rows["unit"].iloc[0] or "bits"
        for layer in layers:
            ax = flat.pop(0)
            rows = pi_rows[pi_rows["layer"] == layer]
            stats = band_stats(rows, ["m"])
            for m in sorted(stats["m"].unique()):
                plot_band(ax, stats[stats["m"] == m], label=f"Π_{m}", marker=".")
            ax.axhline(0.0, color="0.6", lw=0.6)
            ax.set_ylabel(f"Π_m [{unit}]")
            ax.set_title(f"{layer}: degree-of-synergy atoms", fontsize=10)
            epoch_axis(ax, epochs, log=True)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    for ax in flat:
        ax.set_visible(False)
    fig.suptitle(f"Representational complexity ({chosen} split)")
    return _finish(fig, out_dir, name)


WEIGHT_EI_NAMES = ("weight_ei", "weight_ei_ei")
_WEIGHT_EXTRA = ("weight_determinism", "weight_degeneracy", "weight_effectiveness")


def plot_weight_ei(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                   name: str = "weight_ei", log_epochs: bool | None = None):
    """Weight-graph EI against epoch: the whole network and, when recorded, each layer.

    Determinism and degeneracy (when recorded) get a second panel.
    """
    plt = pyplot()
    t = with_replicate(table)
    rows = t.iloc[0:0]
    for alias in WEIGHT_EI_NAMES:
        rows = t[t["measure"] == alias]
        if len(rows):
            break
    if rows.empty:
        raise MissingMeasures("no weight-graph EI (weight_ei) measures in the table")
    extra = t[t["measure"].isin(_WEIGHT_EXTRA) & (t["layer"] == "")]
    fig, axes = plt.subplots(1, 2 if len(extra) else 1, figsize=(11 if len(extra) else 6, 4),
                             squeeze=False)
    ax = axes[0][0]
    stats = band_stats(rows, ["layer"])
    for layer in layer_order(stats["layer"]):
        part = stats[stats["layer"] == layer]
        plot_band(ax, part, label=layer or "network", ls="-" if layer == "" else "--")
    ax.set_ylabel(f"EI of the weight graph [{rows['unit'].iloc[0] or 'bits'}]")
    epoch_axis(ax, rows["epoch"], log=log_epochs)
    ax.set_title("Weight-graph EI" + seeds_note(rows), fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if len(extra):
        ax = axes[0][1]
        stats = band_stats(extra, ["measure"])
        for measure in sorted(stats["measure"].unique()):
            plot_band(ax, stats[stats["measure"] == measure], label=measure.replace("weight_", ""))
        ax.set_ylabel("bits (effectiveness: a fraction)" if "weight_effectiveness" in set(extra["measure"])
                      else "bits")
        epoch_axis(ax, extra["epoch"], log=log_epochs)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _finish(fig, out_dir, name)
