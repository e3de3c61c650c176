"""Trajectory planes: the information plane and the V-information plane, coloured by epoch.

Both take a long results table of one or several runs (several: mean points with ±1 s.d. error
bars), save ``<name>.png``/``<name>.pdf`` into ``out_dir`` when given, return
``(figure, paths)`` and raise ``ValueError`` when the measures are absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from infolens.plots._common import (
    MissingMeasures,
    draw_trajectories,
    epoch_colorbar,
    epoch_norm,
    pyplot,
    save_figure,
    seeds_note,
    select,
    trajectory_points,
    with_replicate,
)

IXT_NAMES = ("mi_xt", "I_XT", "ixt", "I(X;T)")
ITY_NAMES = ("mi_ty", "I_TY", "ity", "I(T;Y)")
VMIN_NAMES = ("vmin",)
VSUFF_NAMES = ("vsuff",)
_SPLIT_TITLE = {"train": "train split", "test": "test split", "": ""}


def _plane(table, x_names, y_names, *, xlabel, ylabel, title, out_dir, name, what):
    plt = pyplot()
    t = with_replicate(table)
    xs, ys = select(t, x_names), select(t, y_names)
    if xs.empty or ys.empty:
        raise MissingMeasures(f"no {what} measures ({x_names[0]}, {y_names[0]}) in the table")
    rows = pd.concat([xs, ys])
    splits = sorted(set(xs["split"]) & set(ys["split"]), key=lambda s: (s != "train", s))
    if not splits:
        raise MissingMeasures(f"{what}: {x_names[0]} and {y_names[0]} were measured on different splits")
    fig, axes = plt.subplots(1, len(splits), figsize=(5.6 * len(splits) + 1, 4.6), squeeze=False)
    norm = epoch_norm(rows["epoch"])
    sc = None
    for ax, split in zip(axes[0], splits):
        part = rows[rows["split"] == split]
        pts = trajectory_points(part, [xs["measure"].iloc[0]], [ys["measure"].iloc[0]])
        sc = draw_trajectories(ax, pts, norm=norm) or sc
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(_SPLIT_TITLE.get(split, split), fontsize=10)
        ax.legend(title="layer", fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title + seeds_note(rows))
    epoch_colorbar(fig, sc, list(axes[0]))
    return fig, (save_figure(fig, out_dir, name) if out_dir is not None else [])


def plot_information_plane(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                           name: str = "info_plane"):
    """The information plane: I(X;T) (x) against I(T;Y) (y) per layer, coloured by epoch."""
    return _plane(table, IXT_NAMES, ITY_NAMES, xlabel="I(X;T) [bits]", ylabel="I(T;Y) [bits]",
                  title="Information plane (binned)", out_dir=out_dir, name=name,
                  what="information-plane")


def plot_vinformation_plane(table: pd.DataFrame, out_dir: str | Path | None = None, *,
                            name: str = "vinfo_plane"):
    """The V-information plane: x = vmin, y = vsuff (bits), one trajectory per split point.

    Markers are coloured by epoch; lower vmin is more minimal, higher vsuff more sufficient.
    """
    return _plane(table, VMIN_NAMES, VSUFF_NAMES,
                  xlabel="vmin [bits]  (← more minimal)",
                  ylabel="vsuff [bits]  (more sufficient →)",
                  title="V-information plane", out_dir=out_dir, name=name,
                  what="V-information")
