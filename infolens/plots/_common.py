"""Shared plotting helpers: headless matplotlib, PNG+PDF saving, seed bands, epoch axes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from infolens.runs.metrics import normalize
from infolens.runs.rundir import atomic_write_path

FORMATS: tuple[str, ...] = ("png", "pdf")


class MissingMeasures(ValueError):
    """A plot's measures are not in the table (``plot_run`` skips that plot)."""


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_dir: str | Path, name: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``out_dir/<name>.<fmt>`` for every format (atomically) and close it."""
    plt = pyplot()
    paths = []
    try:
        for fmt in formats:
            path = Path(out_dir) / f"{name}.{fmt}"
            atomic_write_path(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=130))
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def with_replicate(table: pd.DataFrame) -> pd.DataFrame:
    """The long table with a ``replicate`` column (one per run and seed) and plain dtypes."""
    t = normalize(table)
    t = t.assign(
        replicate=t["run"].fillna("").astype(str) + "|" + t["seed"].astype("string").fillna("").astype(str),
        epoch=t["epoch"].astype("float64"),
        value=t["value"].astype("float64"),
        split=t["split"].astype(str),
        layer=t["layer"].astype(str),
        measure=t["measure"].astype(str),
    )
    return t


def select(table: pd.DataFrame, aliases: Iterable[str]) -> pd.DataFrame:
    """Rows of the first measure name in ``aliases`` that the table holds (empty if none)."""
    aliases = list(aliases)
    for name in aliases:
        rows = table[table["measure"] == name]
        if len(rows):
            return rows
    return table.iloc[0:0]


def band_stats(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, s.d. and count of ``value`` across replicates for each ``by`` + epoch.

    Each replicate contributes one value per group (its mean, should it hold several rows).
    """
    keys = [*by, "epoch"]
    per_rep = rows.groupby([*keys, "replicate"], dropna=False)["value"].mean().reset_index()
    stats = per_rep.groupby(keys, dropna=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats.sort_values(keys).reset_index(drop=True)


def plot_band(ax, stats: pd.DataFrame, *, label: str, color=None, ls: str = "-", marker: str = "o"):
    """Draw a mean line with a ±1 s.d. band (the band only when several replicates exist)."""
    x = stats["epoch"].to_numpy(float)
    mean = stats["mean"].to_numpy(float)
    (line,) = ax.plot(x, mean, ls=ls, marker=marker, ms=3, lw=1.4, color=color, label=label)
    if (stats["count"] > 1).any():
        sd = stats["std"].to_numpy(float)
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, lw=0)
    return line


def looks_log_spaced(epochs: Iterable[float]) -> bool:
    """Whether measured epochs look log-spaced (gaps growing by well over an order of magnitude)."""
    e = np.unique(np.asarray([x for x in epochs if np.isfinite(x)], dtype=float))
    e = e[e > 0]
    if len(e) < 4:
        return False
    gaps = np.diff(e)
    return e[-1] / e[0] >= 20 and gaps[-1] >= 5 * gaps[0]


def epoch_axis(ax, epochs: Iterable[float], *, log: bool | None = None) -> bool:
    """Label the x axis "epoch"; log-epoch (symlog, so epoch 0 shows) when ``log`` or log-spaced.

    Returns whether the log scale was used.
    """
    epochs = list(epochs)
    use_log = looks_log_spaced(epochs) if log is None else log
    if use_log:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.4)
        ax.set_xlim(left=-0.1)
    ax.set_xlabel("epoch (log scale; 0 = initial weights)" if use_log else "epoch")
    return use_log


def epoch_norm(epochs: Iterable[float]):
    """Colour normalisation for epochs: symmetric-log when log-spaced, linear otherwise."""
    from matplotlib.colors import Normalize, SymLogNorm

    e = np.asarray([x for x in epochs if np.isfinite(x)], dtype=float)
    lo, hi = (float(e.min()), float(e.max())) if len(e) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    if looks_log_spaced(e):
        return SymLogNorm(linthresh=1.0, linscale=0.4, vmin=lo, vmax=hi, base=10)
    return Normalize(vmin=lo, vmax=hi)


def layer_order(layers: Iterable[str]) -> list[str]:
    """Layers in network order: ``input`` first, then by the numbers in their names
    (``layer_2`` < ``layer_10``, ``layer_2.0`` < ``layer_2.1``), ``output``/``head`` last."""
    import re

    def key(name: str):
        if name in ("input", ""):
            return (0, (), name)
        if name.split(".")[0] in ("output",):
            return (2, (), name)
        if name.split(".")[0] in ("head", "logits"):
            return (3, (), name)
        return (1, tuple(int(n) for n in re.findall(r"\d+", name)), name)

    return sorted(set(layers), key=key)


def n_replicates(rows: pd.DataFrame) -> int:
    """Number of runs/seeds in ``rows``."""
    return int(rows["replicate"].nunique()) if len(rows) else 0


def seeds_note(rows: pd.DataFrame) -> str:
    """``" (mean ± s.d. over n seeds)"`` for several replicates, else ``""``."""
    n = n_replicates(rows)
    return f" (mean ± s.d. over {n} runs)" if n > 1 else ""


def trajectory_points(table: pd.DataFrame, x: Sequence[str], y: Sequence[str], by: Sequence[str] = ("layer",)) -> pd.DataFrame:
    """Pair the values of two measures per ``by`` + epoch + replicate, then average replicates.

    ``x`` and ``y`` are alias lists (:func:`select`). Returns columns ``by``, ``epoch``, ``x``,
    ``y``, ``x_sd``, ``y_sd``, ``count``; empty when either measure is absent.
    """
    xs, ys = select(table, x), select(table, y)
    if xs.empty or ys.empty:
        return pd.DataFrame(columns=[*by, "epoch", "x", "y", "x_sd", "y_sd", "count"])
    keys = [*by, "epoch", "replicate"]
    a = xs.groupby(keys, dropna=False)["value"].mean().rename("x")
    b = ys.groupby(keys, dropna=False)["value"].mean().rename("y")
    pts = pd.concat([a, b], axis=1, join="inner").reset_index()
    agg = pts.groupby([*by, "epoch"], dropna=False).agg(
        x=("x", "mean"), y=("y", "mean"), x_sd=("x", "std"), y_sd=("y", "std"), count=("x", "size"))
    return agg.reset_index().fillna({"x_sd": 0.0, "y_sd": 0.0}).sort_values([*by, "epoch"])


def draw_trajectories(ax, points: pd.DataFrame, *, by: str = "layer", norm=None, cmap: str = "viridis",
                      label_fmt: str = "{}"):
    """One line per ``by`` group (its own colour) with markers coloured by epoch.

    With several replicates, ±1 s.d. error bars are drawn in both directions. Returns the
    scatter artist (for a colour bar) or ``None`` when nothing was drawn.
    """
    sc = None
    if norm is None:
        norm = epoch_norm(points["epoch"])
    for group in layer_order(points[by].astype(str)):
        rows = points[points[by].astype(str) == group]
        if rows.empty:
            continue
        (line,) = ax.plot(rows["x"], rows["y"], "-", lw=1.2, alpha=0.8, label=label_fmt.format(group))
        if (rows["count"] > 1).any():
            ax.errorbar(rows["x"], rows["y"], xerr=rows["x_sd"], yerr=rows["y_sd"], fmt="none",
                        ecolor=line.get_color(), alpha=0.35, lw=0.8)
        sc = ax.scatter(rows["x"], rows["y"], c=rows["epoch"], cmap=cmap, norm=norm, s=22,
                        edgecolors=line.get_color(), linewidths=0.8, zorder=3)
    return sc


def epoch_colorbar(fig, sc, ax) -> None:
    """Add an "epoch" colour bar for the scatter ``sc`` next to ``ax`` (axes or list of axes)."""
    if sc is not None:
        cbar = fig.colorbar(sc, ax=ax)
        cbar.set_label("epoch")
