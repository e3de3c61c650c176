"""The ``infolens`` command line."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table
    from torch import nn

    from infolens.measures.causal_plane import causal_plane
    from infolens.plots.causal_plane import plot_causal_plane
    from infolens.runs.rundir import new_run_dir, write_config, write_table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    torch.manual_seed(args.seed)
    widths = [int(w) for w in args.widths.split(",")]
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        mods += [nn.Linear(a, b), nn.Sigmoid()]
    model = nn.Sequential(*mods).eval()
    example = torch.rand(8, widths[0])
    console.print(f"[bold]infolens demo[/]: sigmoid MLP {widths}, {args.samples:,} samples per measure")
    table = causal_plane(
        model, example, samples=args.samples, in_bins=args.bins, out_bins=args.bins,
        input_range=(0.0, 1.0), vector_bins=args.vector_bins, seed=args.seed,
        estimator=args.estimator, progress=sys.stderr.isatty(),
    )
    run = new_run_dir(args.out, "demo")
    write_config(run, {"job": "demo", "model": f"sigmoid MLP {widths}", **{
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}})
    write_table(run, "causal_plane", table)
    plot_causal_plane(table, run / "causal_plane.png", title=f"sigmoid MLP {widths}")
    out = Table(title="Causal plane (bits)")
    for col in ("layer", "n_in", "n_out", "sensitivity", "ei_parts", "ei_parts_null", "ei",
                "degeneracy", "x_prime", "y_prime"):
        out.add_column(col, justify="right")
    for _, row in table.iterrows():
        out.add_row(*[
            f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c])
            for c in ("layer", "n_in", "n_out", "sensitivity", "ei_parts", "ei_parts_null",
                      "ei", "degeneracy", "x_prime", "y_prime")
        ])
    console.print(out)
    used = ", ".join(sorted(set(table["estimator"])))
    console.print(f"sensitivity and EI_parts estimator: {used}; vector EI sampled, null = shuffled outputs")
    console.print(f"run folder: [bold]{run}[/] (config.yaml, causal_plane.csv, causal_plane.png)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``infolens`` command."""
    parser = argparse.ArgumentParser(prog="infolens", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="measure a small sigmoid MLP layer by layer")
    demo.add_argument("--widths", default="25,20,10,5", help="layer widths, comma-separated")
    demo.add_argument("--samples", type=int, default=50_000)
    demo.add_argument("--bins", type=int, default=32)
    demo.add_argument("--vector-bins", type=int, default=4)
    demo.add_argument("--estimator", default="auto",
                      choices=["auto", "exact", "plugin", "miller_madow"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", type=Path, default=Path("runs"))
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``infolens`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
