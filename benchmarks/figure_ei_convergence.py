"""README figure: sampled EI_parts (plug-in, Miller–Madow) against samples, and the exact value.

784→100 sigmoid layer (``nn.Linear(bias=False)`` after ``torch.manual_seed(0)``), inputs
uniform on (0, 1), 64 bins. Writes ``docs/ei_convergence.png`` and prints the numbers.

    .venv/bin/python benchmarks/figure_ei_convergence.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import infolens

SAMPLES = (10_000, 30_000, 100_000, 300_000)


def main() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(784, 100, bias=False)
    top = infolens.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 784))
    kw = dict(in_range=(0, 1), in_bins=64, out_bins=64)
    exact = infolens.ei_parts("0", top, estimator="exact", **kw).value
    print(f"exact EI_parts: {exact:.4f} bits")
    rows = {"plugin": [], "miller_madow": []}
    for n in SAMPLES:
        for est, vals in rows.items():
            r = infolens.ei_parts("0", top, samples=n, seed=0, estimator=est, null=False, **kw)
            vals.append(r.value)
            print(f"N={n:>7,}  {est:<12} {r.value:9.3f} bits  ({r.value / exact - 1:+.1%})")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(SAMPLES, rows["plugin"], "o-", label="sampled, plug-in (deep-ei's estimator)")
    ax.plot(SAMPLES, rows["miller_madow"], "s-", label="sampled, Miller–Madow")
    ax.axhline(exact, color="k", lw=1.2, label=f"exact (estimator='exact'): {exact:.2f} bits")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("interventional samples N")
    ax.set_ylabel("EI_parts [bits]")
    ax.set_title("784→100 sigmoid layer, 64 bins")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "docs" / "ei_convergence.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
