"""Plot layers in the causal plane (x' = EI/√2 against y' = (S + D)/√2)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from infolens.plots._common import (
    MissingMeasures,
    draw_trajectories,
    epoch_colorbar,
    pyplot,
    save_figure,
    seeds_note,
    with_replicate,
)

X_LABEL = "x' = EI/√2  (← degenerate · sensitive →)  [bits]"
Y_LABEL = "y' = (S + D)/√2  [bits]"


def plot_causal_plane(table: pd.DataFrame, path: str | Path | None = None, *, title: str = ""):
    """Scatter each layer at (x', y'); with an ``epoch`` column, draw each layer's trajectory.

    ``table`` is the output of :func:`infolens.causal_plane` (possibly concatenated over
    epochs). Writes a PNG when ``path`` is given (atomically: a partial file is never left
    behind) and returns the matplotlib figure.
    """
    plt = pyplot()
    missing = {"layer", "x_prime", "y_prime"} - set(table.columns)
    if missing:
        raise MissingMeasures(f"table lacks columns {sorted(missing)}; pass infolens.causal_plane(...)'s output.")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for layer, rows in table.groupby("layer", sort=False):
        if "epoch" in rows.columns:
            rows = rows.sort_values("epoch")
            ax.plot(rows["x_prime"], rows["y_prime"], "-o", ms=3, label=str(layer))
        else:
            ax.scatter(rows["x_prime"], rows["y_prime"], label=str(layer))
    ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title(title or "Causal plane")
    ax.legend(title="layer", fontsize=8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fig.savefig(tmp, format="png", dpi=120)
        tmp.replace(path)
    return fig


#: Measure names read from a long results table.
EI_NAMES = ("ei_parts",)
SENSITIVITY_NAMES = ("sensitivity",)
DEGENERACY_NAMES = ("degeneracy",)


def causal_plane_points(table: pd.DataFrame) -> pd.DataFrame:
    """The causal-plane coordinates of every (layer, epoch, run) in a long results table.

    Uses the ``x_prime``/``y_prime`` measures when recorded, otherwise derives them from
    ``ei_parts`` and ``sensitivity`` (D = S − EI_parts, x' = EI_parts/√2,
    y' = (S + D)/√2). Returns long rows (``measure`` = ``x_prime``/``y_prime``); empty when the
    table has no causal-plane measures.
    """
    t = with_replicate(table)
    have = set(t["measure"])
    if {"x_prime", "y_prime"} <= have:
        return t[t["measure"].isin(["x_prime", "y_prime"])]
    if not ({"ei_parts", "sensitivity"} <= have):
        return t.iloc[0:0]
    keys = ["replicate", "run", "seed", "layer", "split", "epoch"]
    ei = t[t["measure"] == "ei_parts"].groupby(keys, dropna=False)["value"].mean()
    s = t[t["measure"] == "sensitivity"].groupby(keys, dropna=False)["value"].mean()
    both = pd.concat([ei.rename("ei"), s.rename("s")], axis=1, join="inner").reset_index()
    both["x_prime"] = both["ei"] / math.sqrt(2)
    both["y_prime"] = (2 * both["s"] - both["ei"]) / math.sqrt(2)
    rows = both.melt(id_vars=keys, value_vars=["x_prime", "y_prime"], var_name="measure")
    return rows


def plot_causal_plane_epochs(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                             name: str = "causal_plane", title: str = ""):
    """Causal-plane trajectories over training, one line per layer, markers coloured by epoch.

    ``table`` is a long results table (one or several runs; several give mean points with
    ±1 s.d. error bars). Saves ``<name>.png`` and ``<name>.pdf`` into ``out_dir`` when given and
    returns ``(figure, paths)``. Raises ``ValueError`` when the table has no causal-plane
    measures.
    """
    from infolens.plots._common import trajectory_points

    plt = pyplot()
    rows = causal_plane_points(table)
    if rows.empty:
        raise MissingMeasures("no causal-plane measures (x_prime/y_prime or ei_parts + sensitivity) in the table")
    pts = trajectory_points(rows, ["x_prime"], ["y_prime"])
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    sc = draw_trajectories(ax, pts)
    ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title(title or "Causal plane over training" + seeds_note(rows))
    ax.legend(title="layer", fontsize=8)
    epoch_colorbar(fig, sc, ax)
    paths = save_figure(fig, out_dir, name) if out_dir is not None else []
    return fig, paths
