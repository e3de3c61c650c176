"""The thesis's neural-collapse measurement: NC1 of an MLP's layers falls over training.

NC1 = tr(Σ_W Σ_B⁺)/C (Papyan, Han & Donoho 2020) measures how far each layer's features are from
collapsing onto their class means: the within-class covariance Σ_W against the between-class
covariance Σ_B. The thesis tracked it per layer, on the training and the test split, during
training; the finding reproduced here is that **NC1 falls over training in every layer**, on both
splits. The script also reports, from the same table, whether it falls more on the training split
than on the test split, and more in deeper layers.

Setup: the scikit-learn 8×8 digits (1797 images, ÷16 into [0, 1], a seeded stratified 75/25
split: 1348 train / 449 test), the zoo MLP 64→64→64→32→10 with ReLU (``build_model("MLP",
widths=(64, 64, 32))``), AdamW lr 2e-3 (the thesis's optimiser and rate), cross-entropy. The
thesis's batch of 400 would give only 3-4 steps per epoch on 1348 samples; the default here is 64
(21 steps per epoch). NC1 is measured on both splits, in eval mode on the frozen end-of-epoch
network, at log-spaced epochs (0 = the initial network).

    python examples/thesis_digits_nc1.py                     # 3 seeds x 100 epochs
    python examples/thesis_digits_nc1.py --seeds 0           # one seed
    python examples/thesis_digits_nc1.py --batch-size 400    # the thesis's batch size
    python examples/thesis_digits_nc1.py --quick             # a smoke test (seconds)

Writes ``<out>/<stamp>-thesis_digits_nc1/``: one run directory per seed (``seed<k>/``), the
merged long table (``metrics.parquet``/``.csv``), ``summary.csv`` (NC1 per layer and split at
the first and last epoch) and ``plots/``.
"""

from __future__ import annotations

import argparse
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
from infolens.models import build_model
from infolens.plots.curves import plot_loss_accuracy, plot_nc1
from infolens.runs.metrics import read_metrics, write_metrics
from infolens.runs.rundir import new_run_dir, write_config, write_table
from infolens.runs.writer import RunWriter
from infolens.training import ClassifierModule, LossAccuracyCallback, NC1Callback, Schedule, fit

NAME = "thesis_digits_nc1"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/examples", help="parent folder of the run (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: 100)")
    p.add_argument("--chapters", type=int, default=None, help="log-spaced measurement chapters (default: 20)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds, one run each (default: 0 1 2; --quick: 0)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (thesis: 400; default: %(default)s)")
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (thesis: 2e-3)")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 64, 32], help="hidden widths")
    p.add_argument("--nonlinearity", default="ReLU", help="activation of the hidden layers")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the stratified split")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 3 epochs (unless --epochs/--chapters are given)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when the finding does not show")
    p.add_argument("--figure", default=None,
                   help="also copy the NC1 PNG here (e.g. docs/examples/thesis_digits_nc1.png)")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.quick else 100
    if args.chapters is None:
        args.chapters = 3 if args.quick else 20
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.chapters < 1:
        p.error("--chapters must be at least 1")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    return args


def train_seed(args, root: Path, seed: int, bundle) -> Path:
    """Train one MLP and record NC1 of every layer on both splits; returns its run directory."""
    run_dir = root / f"seed{seed}"
    run_dir.mkdir()
    seed_everything(seed, verbose=False)  # python, numpy and torch, as Lightning does
    model = build_model("MLP", input_shape=bundle.input_shape, num_classes=bundle.num_classes,
                        widths=tuple(args.widths), nonlinearity=args.nonlinearity)
    module = ClassifierModule(model, loss="ce", optimizer="adamw", lr=args.lr, log_metrics=False)
    schedule = Schedule.log_spaced(args.epochs, args.chapters)
    callbacks = [
        # every block's output (model.measurement_points), on the train and the test split
        NC1Callback(data=bundle, num_classes=bundle.num_classes, schedule=schedule),
        LossAccuracyCallback(bundle, schedule=schedule),
        RunWriter(run_dir, run=root.name, seed=seed),  # after the measure callbacks
    ]
    write_config(run_dir, {
        "example": NAME, "seed": seed,
        "data": {"name": "Digits", "seed": args.data_seed, "scaling": bundle.scaling,
                 "split": bundle.split_rule},
        "model": model.config, "loss": "cross-entropy", "optimizer": "AdamW", "lr": args.lr,
        "batch_size": args.batch_size, "epochs": args.epochs, "schedule": schedule.describe(),
        "nc1": {"layers": model.measurement_points, "splits": ["train", "test"]},
    })
    fit(module, (bundle.train.X, bundle.train.y), None, run_dir=run_dir, max_epochs=args.epochs,
        batch_size=args.batch_size, callbacks=callbacks, seed=seed, progress=False,
        keep_checkpoints="last")
    return run_dir


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """NC1 per layer and split at the first and last epoch (mean and s.d. over seeds)."""
    t = table[table["measure"] == "nc1"]
    first, last = int(t["epoch"].min()), int(t["epoch"].max())
    stats = t.groupby(["layer", "split", "epoch"])["value"].agg(["mean", "std"]).reset_index()
    rows = []
    for (layer, split), g in stats.groupby(["layer", "split"], sort=False):
        g = g.set_index("epoch")
        rows.append({"layer": layer, "split": split, "first_epoch": first, "last_epoch": last,
                     "nc1_first": float(g.loc[first, "mean"]), "nc1_last": float(g.loc[last, "mean"]),
                     "nc1_last_sd": float(g.loc[last, "std"]) if pd.notna(g.loc[last, "std"]) else 0.0,
                     "ratio": float(g.loc[last, "mean"] / g.loc[first, "mean"])})
    order = {name: k for k, name in enumerate(sorted(set(t["layer"])))}
    out = pd.DataFrame(rows)
    out["_o"] = out["layer"].map(order) * 2 + (out["split"] != "train")
    return out.sort_values("_o").drop(columns="_o").reset_index(drop=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)  # small model: threads only contend on a shared CPU
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    start, cpu_start = time.perf_counter(), time.process_time()

    bundle = infolens.data.load("Digits", seed=args.data_seed)
    root = new_run_dir(args.out, NAME)
    print(f"thesis digits NC1: MLP widths {args.widths} {args.nonlinearity}, {len(args.seeds)} seed(s) x "
          f"{args.epochs} epochs, batch {args.batch_size}, {len(bundle.train.y)} train / "
          f"{len(bundle.test.y)} test samples; run folder {root}")
    run_dirs = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        run_dirs.append(train_seed(args, root, seed, bundle))
        print(f"  seed {seed}: trained and measured in {time.perf_counter() - t0:.1f} s")

    table = read_metrics(run_dirs)
    write_config(root, {"example": NAME, "seeds": args.seeds, "epochs": args.epochs,
                        "batch_size": args.batch_size, "runs": [d.name for d in run_dirs]})
    write_metrics(root, table)
    summary = summarise(table)
    write_table(root, "summary", summary)

    plots = root / "plots"
    _, paths = plot_nc1(table, plots)
    plot_loss_accuracy(table, plots)

    acc = table[table["measure"] == "acc"].groupby(["split", "epoch"])["value"].mean()
    first, last = int(summary["first_epoch"].iloc[0]), int(summary["last_epoch"].iloc[0])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    print(f"\nNC1 per layer and split (mean over {len(args.seeds)} seed(s)):")
    print(f"{'layer':8s} {'split':5s} {'epoch ' + str(first):>12s} {'epoch ' + str(last):>12s} {'last/first':>11s}")
    for _, r in summary.iterrows():
        print(f"{r['layer']:8s} {r['split']:5s} {r['nc1_first']:12.4g} {r['nc1_last']:12.4g} {r['ratio']:11.3g}")
    print(f"accuracy train {acc['train'].loc[first]:.3f} -> {acc['train'].loc[last]:.3f}, "
          f"test {acc['test'].loc[first]:.3f} -> {acc['test'].loc[last]:.3f}")

    falls = summary["nc1_last"] < summary["nc1_first"]
    print("\nNC1 falls over training:")
    for (_, r), ok in zip(summary.iterrows(), falls):
        print(f"  {r['layer']} ({r['split']}): x{r['ratio']:.3g}  {'yes' if ok else 'NO'}")
    holds = bool(falls.all())
    tr = summary[summary["split"] == "train"].set_index("layer")["ratio"]
    te = summary[summary["split"] == "test"].set_index("layer")["ratio"]
    more_on_train = bool((tr < te.reindex(tr.index)).all())
    deeper_more = bool((tr.diff().dropna() < 0).all())
    print(f"NC1 falls more on train than on test in every layer: {more_on_train}; "
          f"more in deeper layers (train ratios {', '.join(f'{v:.3g}' for v in tr)}): {deeper_more}")
    print(f"\nFinding (NC1 falls over training in every layer, train and test): "
          f"{'HOLDS' if holds else 'DOES NOT HOLD'}")

    if args.figure:
        fig_path = Path(args.figure)
        fig_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(next(p for p in paths if p.suffix == ".png"), fig_path)
        print(f"figure copied to {fig_path}")
    print(f"\nrun folder: {root}\ntotal time: {elapsed:.1f} s wall, {cpu:.1f} s CPU (after imports)")
    return 1 if args.strict and not holds else 0


if __name__ == "__main__":
    sys.exit(main())
