"""Plot layers in the causal plane (x' = EI/√2 against y' = (S + D)/√2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_causal_plane(table: pd.DataFrame, path: str | Path | None = None, *, title: str = ""):
    """Scatter each layer at (x', y'); with an ``epoch`` column, draw each layer's trajectory.

    ``table`` is the output of :func:`infolens.causal_plane` (possibly concatenated over
    epochs). Writes a PNG when ``path`` is given (atomically: a partial file is never left
    behind) and returns the matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    missing = {"layer", "x_prime", "y_prime"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}; pass infolens.causal_plane(...)'s output.")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for layer, rows in table.groupby("layer", sort=False):
        if "epoch" in rows.columns:
            rows = rows.sort_values("epoch")
            ax.plot(rows["x_prime"], rows["y_prime"], "-o", ms=3, label=str(layer))
        else:
            ax.scatter(rows["x_prime"], rows["y_prime"], label=str(layer))
    ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("x' = EI/√2  (← degenerate · sensitive →)  [bits]")
    ax.set_ylabel("y' = (S + D)/√2  [bits]")
    ax.set_title(title or "Causal plane")
    ax.legend(title="layer", fontsize=8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fig.savefig(tmp, format="png", dpi=120)
        tmp.replace(path)
    return fig
