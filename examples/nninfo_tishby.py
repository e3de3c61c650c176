"""nninfo's Tishby demo: representational complexity C falls over training and with depth.

Ehrlich et al. (TMLR 2023) decompose what a layer's quantized neurons carry about the label
with the I^sx partial information decomposition and summarise the degree of synergy as the
representational complexity C = (1/I) Σ_m m·Π_m (C = 1: every neuron alone suffices; C = n: only
all n neurons jointly). Their finding: **C decreases over training, and C is lower in deeper
layers.** This example reproduces it on their Tishby demo (spec pid §8):

* data: Shwartz-Ziv & Tishby's 12-bit task, a seeded 2796/1300 split (nninfo's sizes, seed 42);
* network: 12-12-4-4-4 tanh, each hidden layer quantized to 8 levels on [-1, 1] (stochastic
  rounding in training, nearest level when measured), one sigmoid output trained by BCE
  (``NNInfoMLP(output="sigmoid")``: cross-entropy on the logits [0, z] equals BCE on z);
  Xavier-uniform weights (gain 5/3);
* training: SGD lr 0.01, batch 64, checkpoints at nninfo's log-spaced "chapters" (epoch 0 and
  unique(round(logspace(0, log10 E, 31))));
* measure: I(Y; T) and C of each 4-unit layer (4 sources = its 4 neurons, target = the label),
  on the training set, at every checkpoint, for several seeds.

nninfo ran 1000 epochs and 10 seeds; the default here is 3 seeds x 100 epochs, to fit in a few
minutes on a 2-core CPU (the reference table's epoch-100 row already shows the trend).
``--null K`` adds the shuffle null (the same PID on K label permutations): with 8^4 joint states
of a 4-unit layer against 2796 patterns the plug-in PID is biased, and the null shows by how much.

    python examples/nninfo_tishby.py                          # 3 seeds x 100 epochs
    python examples/nninfo_tishby.py --null 3                 # with the shuffle null
    python examples/nninfo_tishby.py --epochs 1000 --seeds 0 1 2 3 4
    python examples/nninfo_tishby.py --quick                  # a smoke test (seconds)

Writes ``<out>/<stamp>-nninfo_tishby/``: one run directory per seed (``seed<k>/``), the merged
long table (``metrics.parquet``/``.csv``), ``summary.csv`` (I and C per layer at the first and
last epoch, mean and s.d. over seeds) and ``plots/``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from lightning.pytorch import seed_everything

import infolens.data
from infolens._validation import InfolensWarning
from infolens.models import build_model
from infolens.plots.curves import plot_complexity, plot_loss_accuracy
from infolens.runs.metrics import read_metrics, write_metrics
from infolens.runs.rundir import new_run_dir, write_config, write_table
from infolens.runs.writer import RunWriter
from infolens.training import ClassifierModule, LossAccuracyCallback, Schedule, fit
from infolens.training.callbacks import ComplexityCallback

LAYERS = ["layer_2", "layer_3", "layer_4"]  # the three 4-unit layers (layer_1 has 12 units)
NAME = "nninfo_tishby"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/examples", help="parent folder of the run (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 100; nninfo: 1000)")
    p.add_argument("--chapters", type=int, default=None,
                   help="log-spaced measurement chapters (default and nninfo: 30)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="initialisation/shuffling/rounding seeds, one run each (default: 0 1 2)")
    p.add_argument("--data-seed", type=int, default=42, help="seed of the 2796/1300 split (nninfo: 42)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: seed 0, 3 epochs (unless --epochs/--seeds/--chapters are given)")
    p.add_argument("--null", type=int, default=0,
                   help="label permutations for the shuffle null of I and C (plug-in bias level; default 0: off)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when the finding does not show")
    p.add_argument("--figure", default=None,
                   help="also copy the C-and-I PNG here (e.g. docs/examples/nninfo_tishby.png)")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.quick else 100
    if args.chapters is None:
        args.chapters = 3 if args.quick else 30
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.chapters < 1:
        p.error("--chapters must be at least 1")
    return args


def train_seed(args, root: Path, seed: int, bundle) -> Path:
    """Train one network and record I and C of its 4-unit layers; returns its run directory."""
    run_dir = root / f"seed{seed}"
    run_dir.mkdir()
    seed_everything(seed, verbose=False)  # python, numpy and torch, as Lightning does
    model = build_model("NNInfoMLP", input_shape=(12,), num_classes=2, widths=(12, 4, 4, 4),
                        output="sigmoid", levels=8, rounding_seed=seed)
    module = ClassifierModule(model, loss="ce", optimizer="sgd", lr=0.01, log_metrics=False)  # CE on [0, z] == BCE on z
    schedule = Schedule.log_spaced(args.epochs, args.chapters)
    callbacks = [
        # quantized layers are measured on their own 8 levels; sources = the 4 neurons
        ComplexityCallback(LAYERS, data={"train": (bundle.train.X, bundle.train.y)}, null=args.null,
                           seed=seed, schedule=schedule),
        LossAccuracyCallback(bundle, schedule=schedule),
        RunWriter(run_dir, run=root.name, seed=seed),  # after the measure callbacks
    ]
    write_config(run_dir, {
        "example": NAME, "seed": seed,
        "data": {"name": "SZT", "split": "nninfo", "seed": args.data_seed, "rule": bundle.split_rule},
        "model": model.config, "loss": "BCE (cross-entropy on two-class logits [0, z])",
        "optimizer": "SGD", "lr": 0.01, "batch_size": 64, "epochs": args.epochs,
        "schedule": schedule.describe(),
        "complexity": {"layers": LAYERS, "levels": 8, "sources": "neurons", "target": "label",
                       "split": "train"},
    })
    fit(module, (bundle.train.X, bundle.train.y), None, run_dir=run_dir, max_epochs=args.epochs,
        batch_size=64, callbacks=callbacks, seed=seed, progress=False, keep_checkpoints="last")
    return run_dir


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """I and C per layer at the first and the last measured epoch: mean and s.d. over seeds."""
    names = {"pid_I": "I", "pid_C": "C", "pid_R": "R", "pid_I_null": "I_null", "pid_C_null": "C_null"}
    t = table[table["measure"].isin(list(names)) & table["layer"].isin(LAYERS)
              & (table["split"] == "train")]
    first, last = int(t["epoch"].min()), int(t["epoch"].max())
    rows = []
    for layer in LAYERS:
        for epoch in (first, last):
            r = {"layer": layer, "epoch": epoch}
            for m, short in names.items():
                v = t[(t["layer"] == layer) & (t["epoch"] == epoch) & (t["measure"] == m)]["value"]
                if len(v) == 0:
                    continue
                r[f"{short}_mean"], r[f"{short}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
                if m == "pid_C":
                    r["seeds"] = len(v)
            rows.append(r)
    return pd.DataFrame(rows)


def plot_c_and_i(table: pd.DataFrame, out_dir: Path, name: str = "complexity_and_I") -> Path:
    """C and I(Y;T) of each 4-unit layer against log epoch, mean ± s.d. bands over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9), sharex=True)
    n_seeds = table["seed"].nunique()
    nulls = table[table["measure"].isin(["pid_C_null", "pid_I_null"]) & (table["split"] == "train")]
    for ax, (m, label) in zip(axes, (("pid_C", "representational complexity C"),
                                     ("pid_I", "I(Y; T) [bits]"))):
        rows = table[(table["measure"] == m) & table["layer"].isin(LAYERS) & (table["split"] == "train")]
        stats = rows.groupby(["layer", "epoch"])["value"].agg(["mean", "std"]).reset_index()
        for k, layer in enumerate(LAYERS, start=1):
            s = stats[stats["layer"] == layer].sort_values("epoch")
            sd = s["std"].fillna(0.0)
            (line,) = ax.plot(s["epoch"], s["mean"], "o-", ms=3, lw=1.4,
                              label=f"{layer} ({['1st', '2nd', '3rd'][k - 1]} 4-unit layer)")
            ax.fill_between(s["epoch"], s["mean"] - sd, s["mean"] + sd, color=line.get_color(),
                            alpha=0.2, lw=0)
            if not nulls.empty:  # the shuffle null: the same PID on permuted labels (bias level)
                n = nulls[(nulls["layer"] == layer) & (nulls["measure"] == f"{m}_null")]
                n = n.groupby("epoch")["value"].mean()
                if len(n):
                    ax.plot(n.index, n.to_numpy(), ":", lw=1.2, color=line.get_color())
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.4)
        ax.set_xlim(left=-0.1)
        ax.set_xlabel("epoch (log scale; 0 = initial weights)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    if not nulls.empty:  # one neutral legend entry for the dotted null curves
        axes[0].plot([], [], ":", color="0.3", lw=1.2, label="shuffle null (permuted labels)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"nninfo Tishby demo, 12-12-4-4-4 tanh, 8 levels, training set "
                 f"(mean ± s.d. over {n_seeds} seed{'s' if n_seeds > 1 else ''})", fontsize=11)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)  # tiny model: threads only contend
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    # 8^4 x 2 possible joint states against 2796 samples: the plug-in PID is biased upward and
    # the library warns at every measurement; the bias is discussed in examples/README.md
    warnings.filterwarnings("ignore", ".*possible joint states.*", category=InfolensWarning)
    start, cpu_start = time.perf_counter(), time.process_time()

    bundle = infolens.data.load("SZT", split="nninfo", seed=args.data_seed)
    root = new_run_dir(args.out, NAME)
    schedule = Schedule.log_spaced(args.epochs, args.chapters)
    print(f"nninfo Tishby demo: {len(args.seeds)} seed(s) x {args.epochs} epochs, "
          f"{len(schedule.epochs)} log-spaced checkpoints; run folder {root}")
    run_dirs = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        run_dirs.append(train_seed(args, root, seed, bundle))
        print(f"  seed {seed}: trained and measured in {time.perf_counter() - t0:.1f} s")

    table = read_metrics(run_dirs)
    write_config(root, {"example": NAME, "seeds": args.seeds, "epochs": args.epochs,
                        "schedule": schedule.describe(), "runs": [d.name for d in run_dirs]})
    write_metrics(root, table)
    summary = summarise(table)
    write_table(root, "summary", summary)

    plots = root / "plots"
    c_png = plot_c_and_i(table, plots)
    plot_complexity(table, plots)  # the library's C and Π_m panels
    plot_loss_accuracy(table, plots, log_epochs=True)

    acc = table[table["measure"] == "acc"].groupby(["split", "epoch"])["value"].mean()
    first, last = int(summary["epoch"].min()), int(summary["epoch"].max())
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    print(f"\nI(Y;T) [bits] and C per 4-unit layer, training set, mean ± s.d. over {len(args.seeds)} seed(s):")
    null = "C_null_mean" in summary.columns
    print(f"{'layer':10s} {'epoch':>5s} {'I':>14s} {'C':>14s} {'states R':>9s}"
          + (f" {'I null':>7s} {'C null':>7s}" if null else ""))
    for _, r in summary.iterrows():
        print(f"{r['layer']:10s} {int(r['epoch']):5d} {r['I_mean']:7.3f} ± {r['I_sd']:.3f} "
              f"{r['C_mean']:7.3f} ± {r['C_sd']:.3f} {r['R_mean']:9.0f}"
              + (f" {r['I_null_mean']:7.3f} {r['C_null_mean']:7.3f}" if null else ""))
    print(f"(R: distinct (layer state, label) pairs among {len(bundle.train.y)} training patterns, "
          f"out of 8^4 x 2 = 8192 possible)")
    print(f"accuracy train {acc['train'].loc[first]:.3f} -> {acc['train'].loc[last]:.3f}, "
          f"test {acc['test'].loc[first]:.3f} -> {acc['test'].loc[last]:.3f}")

    # The finding, read off the measured table.
    c = summary.set_index(["layer", "epoch"])["C_mean"]
    over_training = {layer: c[(layer, last)] < c[(layer, first)] for layer in LAYERS}
    with_depth = {e: all(c[(a, e)] > c[(b, e)] for a, b in itertools.pairwise(LAYERS)) for e in (first, last)}
    print(f"\nC falls over training (epoch {first} -> {last}):")
    for layer in LAYERS:
        print(f"  {layer}: {c[(layer, first)]:.3f} -> {c[(layer, last)]:.3f}  "
              f"{'yes' if over_training[layer] else 'NO'}")
    for e in (first, last):
        chain = " > ".join(f"{c[(layer, e)]:.3f}" for layer in LAYERS)
        print(f"C falls with depth at epoch {e}: {chain}  {'yes' if with_depth[e] else 'NO'}")
    holds = all(over_training.values()) and with_depth[last]
    if "C_null_mean" in summary.columns:
        cn = summary.set_index(["layer", "epoch"])
        print("Against the shuffle null (the plug-in bias level):")
        for e in (first, last):
            parts = [f"{layer} C {cn.loc[(layer, e), 'C_mean']:.2f} vs null "
                     f"{cn.loc[(layer, e), 'C_null_mean']:.2f}, I {cn.loc[(layer, e), 'I_mean']:.3f} vs "
                     f"{cn.loc[(layer, e), 'I_null_mean']:.3f}" for layer in LAYERS]
            print(f"  epoch {e}: " + "; ".join(parts))
    print(f"\nFinding (C decreases over training and is lower in deeper layers): "
          f"{'HOLDS' if holds else 'DOES NOT HOLD'}")

    if args.figure:
        fig_path = Path(args.figure)
        fig_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(c_png, fig_path)
        print(f"figure copied to {fig_path}")
    print(f"\nrun folder: {root}\ntotal time: {elapsed:.1f} s wall, {cpu:.1f} s CPU (after imports)")
    return 1 if args.strict and not holds else 0


if __name__ == "__main__":
    sys.exit(main())
