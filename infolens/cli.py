"""The ``infolens`` command line: train with tracked measures, measure checkpoints, plot, sweep.

Subcommands (``infolens <command> --help`` for each)::

    infolens train   -m MLP -d SZT -w 10 7 5 4 3 -nl Tanh --epochs 200 --track ei,pid,nc1 --out runs/szt
    infolens train   --resume RUN_DIR [--epochs N]
    infolens measure RUN_OR_CHECKPOINT --measure nc1,ei
    infolens plot    RUN [RUN ...]
    infolens sweep   --seeds 0 1 2 <train flags>
    infolens demo    [--out DIR]
    infolens causal-plane                 (layer-by-layer causal plane of a fresh sigmoid MLP)

Also runs as ``python -m infolens``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from infolens._validation import InfolensError

EPILOG_TRACKS = (
    "measure families: ei (causal plane: sensitivity, EI_parts, EI, degeneracy), weight_ei "
    "(weight-graph EI), pid (representational complexity C and Pi_m), nc1 (neural collapse, "
    "train and test), vinfo (V-information sufficiency/minimality), info_plane (binned I(X;T), "
    "I(T;Y)), all. Loss and accuracy are always recorded."
)


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


# --------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def add_train_flags(p: argparse.ArgumentParser, *, defaults: dict | None = None) -> None:
    """Add the flags of ``infolens train`` (geometry spec §5 plus measures and output) to ``p``."""
    from infolens.runs.experiment import PRECISIONS, RunConfig

    d = RunConfig(model="CIFARNet", dataset="CIFAR10")
    defaults = defaults or {}

    def default(name):
        return defaults.get(name, getattr(d, name))

    g = p.add_argument_group("model and data")
    g.add_argument("-m", "--model", default=default("model"),
                   help="zoo model: MLP, NNInfoMLP, DeepEIMLP, MNISTNet, CIFARNet, ResNet, ConvNeXt "
                        "(default %(default)s)")
    g.add_argument("-d", "--dataset", default=default("dataset"),
                   help="dataset: SZT, Iris, Digits, MNIST, FashionMNIST, CIFAR10, XOR, Parity, ... "
                        "(default %(default)s)")
    g.add_argument("--data-dir", default=default("data_dir"), help="local dataset root (default %(default)s)")
    g.add_argument("--download", action="store_true", help="download missing image datasets (torchvision)")
    g.add_argument("--data-opt", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                   help="dataset option, e.g. split=nninfo for SZT (repeatable)")
    g.add_argument("-w", "--widths", type=int, nargs="+", default=default("widths"), metavar="W",
                   help="MLP hidden widths (default %(default)s)")
    g.add_argument("-nl", "--nonlinearity", default=default("nonlinearity"),
                   help="torch.nn activation class name (default %(default)s)")
    g.add_argument("--subset-idx", type=int, default=default("subset_idx"),
                   help="class-balanced training chunk of the thesis (image datasets; default: full set)")
    g.add_argument("--no-scale", dest="scale", action="store_false",
                   help="raw inputs instead of scaling to [0, 1] (reproduces the thesis)")

    g = p.add_argument_group("training")
    g.add_argument("-b", "--batch-size", type=int, default=default("batch_size"),
                   help="global batch size, also for probes (default %(default)s)")
    g.add_argument("--epochs", type=int, default=default("epochs"),
                   help="training epochs; also the sufficiency-probe epochs (default %(default)s)")
    g.add_argument("--dib-epochs", type=int, default=default("dib_epochs"),
                   help="minimality-probe epochs (default %(default)s)")
    g.add_argument("--probe-epochs", type=int, default=default("probe_epochs"),
                   help="sufficiency-probe epochs (default: --epochs, as in the thesis)")
    g.add_argument("-lr", "--lr", type=float, default=default("lr"), help="learning rate (default %(default)s)")
    g.add_argument("-opt", "--optimiser", "--optimizer", dest="optimizer", default=default("optimizer"),
                   help="AdamW, Adam or SGD (default %(default)s)")
    g.add_argument("--loss", default=default("loss"), help="CrossEntropy, MSE or BCE (default %(default)s)")
    g.add_argument("--seed", type=int, default=default("seed"), help="global seed (default %(default)s)")
    g.add_argument("--tune", action="store_true", help="LR range test; its suggestion is applied")
    g.add_argument("-p", "--precision", default=default("precision"), choices=PRECISIONS,
                   help="'auto' (default): bf16-true on CUDA, 32-true on the CPU")
    g.add_argument("-c", "--compile", dest="compile", action="store_const", const="on",
                   default=default("compile"), help="torch.compile the model (default: on CUDA only)")
    g.add_argument("--no-compile", dest="compile", action="store_const", const="off",
                   help="never compile")
    g.add_argument("--num-devices", type=int, default=default("num_devices"), help="devices (default %(default)s)")
    g.add_argument("--accelerator", default=default("accelerator"), choices=["auto", "cpu", "gpu"],
                   help="device type (default %(default)s)")
    g.add_argument("--threads", type=int, default=default("threads"),
                   help="CPU threads (default: 1 for models under 100k parameters, else torch's)")

    g = p.add_argument_group("measures", description=EPILOG_TRACKS)
    g.add_argument("--track", default=",".join(default("track")) or None,
                   help="comma-separated measure families to track, or 'all'")
    when = g.add_mutually_exclusive_group()
    when.add_argument("--every", type=int, metavar="N", help="measure every N epochs (and at epoch 0)")
    when.add_argument("--schedule", default=default("schedule"),
                      help="'every:N', 'log:C' (nninfo's C log-spaced chapters) or 'E1,E2,...' "
                           "(default: every epoch up to 30 epochs, else log:30)")
    g.add_argument("--schedule-for", action="append", type=_key_value, metavar="FAMILY=SPEC",
                   default=list(default("schedules").items()),
                   help="a schedule for one family, e.g. vinfo=log:4 for the costly probes (repeatable)")
    g.add_argument("--ei-samples", type=int, default=default("ei_samples"),
                   help="samples per sampled EI estimate (default %(default)s)")
    g.add_argument("--ei-bins", type=int, default=default("ei_bins"), help="EI bins (default %(default)s)")
    g.add_argument("--pid-levels", type=int, default=default("pid_levels"),
                   help="PID quantization levels (default %(default)s)")
    g.add_argument("--pid-max-sources", type=int, default=default("pid_max_sources"),
                   help="wider layers are measured through subsets of this many neurons (default %(default)s)")
    g.add_argument("--pid-subsets", type=int, default=default("pid_subsets"),
                   help="neuron subsets per wide layer (default %(default)s)")
    g.add_argument("--pid-limits", type=float, nargs=2, default=default("pid_limits"), metavar=("LO", "HI"),
                   help="quantization range for unbounded layers")
    g.add_argument("--info-bins", type=int, default=default("info_bins"),
                   help="information-plane bins (default %(default)s)")

    g = p.add_argument_group("output")
    g.add_argument("--out", default=default("out"),
                   help="parent folder; each run gets a fresh <UTC time>-<name> folder (default %(default)s)")
    g.add_argument("--name", default=default("name"), help="run name (default <model>-<dataset>-seed<k>)")
    g.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots at the end")
    bar = g.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="progress bars (default: when the terminal is interactive)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")


def config_from_args(args: argparse.Namespace):
    """A validated :class:`~infolens.runs.experiment.RunConfig` from parsed train flags."""
    from infolens.runs.experiment import RunConfig

    schedule = f"every:{args.every}" if getattr(args, "every", None) is not None else args.schedule
    cfg = RunConfig(
        model=args.model, dataset=args.dataset, widths=list(args.widths), nonlinearity=args.nonlinearity,
        data_dir=str(args.data_dir), download=args.download, data_options=dict(args.data_opt),
        subset_idx=args.subset_idx, scale=args.scale, batch_size=args.batch_size, epochs=args.epochs,
        lr=args.lr, optimizer=args.optimizer, loss=args.loss, seed=args.seed, tune=args.tune,
        precision=args.precision, compile=args.compile, num_devices=args.num_devices,
        accelerator=args.accelerator, threads=args.threads, track=args.track or [], schedule=schedule,
        schedules={k: str(v) for k, v in args.schedule_for},
        probe_epochs=args.probe_epochs, dib_epochs=args.dib_epochs, ei_samples=args.ei_samples,
        ei_bins=args.ei_bins, pid_levels=args.pid_levels, pid_max_sources=args.pid_max_sources,
        pid_subsets=args.pid_subsets, pid_limits=list(args.pid_limits) if args.pid_limits else None,
        info_bins=args.info_bins, out=str(args.out), name=args.name, progress=args.progress,
    )
    return cfg.validate()


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------

_SUMMARY = (  # (column title, measure, split)
    ("NC1 train", "nc1", "train"), ("NC1 test", "nc1", "test"),
    ("I(X;T)", "I_XT", "train"), ("I(T;Y)", "I_TY", "train"), ("C", "pid_C", "train"),
    ("EI_parts", "ei_parts", ""), ("degeneracy", "degeneracy", ""),
    ("vsuff", "vsuff", "train"), ("vmin", "vmin", "train"),
)


def _fmt(v: float) -> str:
    import math

    if v is None or not math.isfinite(v):
        return "nan"
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.3f}"


def summary_tables(table, title: str = ""):
    """A heading and rich tables of a run's long table: loss/accuracy and each layer's measures,
    first → last measured epoch."""
    from rich.table import Table

    from infolens.plots._common import layer_order

    t = table[table["epoch"].notna()]
    if t.empty:
        return []
    t = t.assign(epoch=t["epoch"].astype(int))
    first, last = int(t["epoch"].min()), int(t["epoch"].max())

    def pick(measure, split, layer, at):
        rows = t[(t["measure"] == measure) & (t["split"] == split) & (t["layer"] == layer)]
        if rows.empty:
            return None
        rows = rows[rows["epoch"] == (rows["epoch"].min() if at == "first" else rows["epoch"].max())]
        return float(rows["value"].mean())

    def cell(measure, split, layer):
        a, b = pick(measure, split, layer, "first"), pick(measure, split, layer, "last")
        if a is None and b is None:
            return None
        return f"{_fmt(a)}→{_fmt(b)}"

    out = [f"[bold]{title}[/]: epoch {first} → {last}" if title else f"epoch {first} → {last}"]
    top = Table()
    top.add_column("split")
    rows = []
    for split in ("train", "test"):
        vals = [cell(m, split, "") for m in ("loss", "acc")]
        if any(vals):
            rows.append((split, *[v or "" for v in vals]))
    if rows:
        top.add_column("loss", justify="right")
        top.add_column("accuracy", justify="right")
        for r in rows:
            top.add_row(*r)
        out.append(top)
    cols = [(title_, m, s) for title_, m, s in _SUMMARY
            if ((t["measure"] == m) & (t["split"] == s) & (t["layer"] != "")).any()]
    named = {m for _, m, _ in cols}
    layers = [la for la in layer_order(t.loc[t["measure"].isin(named), "layer"].astype(str)) if la]
    if layers and cols:
        per = Table(title="per layer, first→last measured epoch (bits; NC1 and C unitless; "
                          "vsuff/vmin on train)")
        per.add_column("layer")
        for title_, _, _ in cols:
            per.add_column(title_, justify="right")
        for layer in layers:
            cells = [cell(m, s, layer) or "" for _, m, s in cols]
            if any(cells):
                per.add_row(layer, *cells)
        out.append(per)
    net = cell("weight_ei", "", "")
    if net:
        extra = Table(title="whole network")
        extra.add_column("measure")
        extra.add_column("first → last", justify="right")
        extra.add_row("weight-graph EI [bits]", net)
        out.append(extra)
    return out


def _print_summary(run_dir: Path, report=None, seconds: float | None = None) -> None:
    from infolens.runs.metrics import read_metrics

    console = _console()
    table = read_metrics(run_dir)
    for t in summary_tables(table, title=run_dir.name):
        console.print(t)
    files = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    console.print(f"run folder: [bold]{run_dir}[/] ({', '.join(files)}); {len(table)} rows in metrics.parquet")
    if report is not None:
        console.print(str(report))
    if seconds is not None:
        console.print(f"done in {seconds:.0f} s")


def _plot(run_dirs, out=None):
    from infolens.plots.run import plot_run

    return plot_run(run_dirs if len(run_dirs) > 1 else run_dirs[0], out)


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    from infolens.runs.experiment import launched_rank, resume_run, train_run

    start = time.perf_counter()
    if args.resume:
        result = resume_run(args.resume, epochs=args.epochs if args.epochs_given else None,
                            progress=args.progress)
    else:
        result = train_run(args.config)
    if launched_rank() > 0:  # another device's process of a multi-device run: rank 0 reports
        return 0
    report = _plot([result.run_dir]) if args.plots else None
    _print_summary(result.run_dir, report, time.perf_counter() - start)
    return 0


def _measure(args: argparse.Namespace) -> int:
    from infolens.runs.experiment import measure_run

    overrides = {k: v for k, v in (("ei_samples", args.ei_samples), ("dib_epochs", args.dib_epochs),
                                   ("probe_epochs", args.probe_epochs)) if v is not None}
    run_dir, rows = measure_run(args.source, args.measure.split(","), progress=args.progress,
                                overrides=overrides)
    console = _console()
    epochs = sorted(int(e) for e in rows["epoch"].dropna().unique())
    console.print(f"measured {len(rows)} values ({', '.join(sorted(set(rows['measure'])))}) at epochs "
                  f"{epochs} into [bold]{run_dir}[/]/metrics.parquet")
    if args.plots:
        console.print(str(_plot([run_dir])))
    return 0


def _plot_cmd(args: argparse.Namespace) -> int:
    from infolens.runs.sweep import expand_runs

    runs = expand_runs(args.runs)
    report = _plot(runs, args.out)
    _console().print(str(report))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from infolens.runs.sweep import run_sweep

    start = time.perf_counter()
    sweep_dir, runs = run_sweep(args.config, args.seeds, backend=args.backend, jobs=args.jobs)
    console = _console()
    console.print(f"sweep [bold]{sweep_dir}[/]: {len(runs)} runs ({', '.join(r.name for r in runs)})")
    if args.plots:
        console.print(str(_plot(runs, sweep_dir / "plots")))
    console.print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


#: The demo run: the SZT task (Shwartz-Ziv & Tishby's 10-7-5-4-3 tanh MLP) with every measure
#: family, log-spaced measurements, sized to finish within a few minutes on two CPU cores.
DEMO = dict(
    model="MLP", dataset="SZT", widths=[10, 7, 5, 4, 3], nonlinearity="Tanh", epochs=60,
    batch_size=256, lr=2e-2, optimizer="Adam", track=["all"], schedule="log:8", schedules={"vinfo": "log:4"},
    probe_epochs=5, dib_epochs=5, ei_samples=5_000, ei_bins=32, pid_subsets=4, name="demo",
)


def _demo(args: argparse.Namespace) -> int:
    from infolens.runs.experiment import train_run

    console = _console()
    cfg = args.config
    console.print(
        f"[bold]infolens demo[/]: {cfg.model} {cfg.widths} {cfg.nonlinearity} on {cfg.dataset}, "
        f"{cfg.epochs} epochs, measuring {', '.join(cfg.track)} at epochs {cfg.measure_schedule().describe()}"
        + "".join(f" ({f} at {cfg.measure_schedule(f).describe()})" for f in cfg.schedules)
    )
    start = time.perf_counter()
    result = train_run(cfg)
    from infolens.runs.experiment import launched_rank

    if launched_rank() > 0:
        return 0
    report = _plot([result.run_dir])
    _print_summary(result.run_dir, report, time.perf_counter() - start)
    return 0


def _causal_plane(args: argparse.Namespace) -> int:
    import torch
    from rich.table import Table
    from torch import nn

    from infolens.measures.causal_plane import causal_plane
    from infolens.plots.causal_plane import plot_causal_plane
    from infolens.runs.rundir import new_run_dir, write_config, write_table

    console = _console()
    torch.manual_seed(args.seed)
    widths = [int(w) for w in args.widths.split(",")]
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        mods += [nn.Linear(a, b), nn.Sigmoid()]
    model = nn.Sequential(*mods).eval()
    example = torch.rand(8, widths[0])
    console.print(f"[bold]infolens causal-plane[/]: sigmoid MLP {widths}, {args.samples:,} samples per measure")
    table = causal_plane(
        model, example, samples=args.samples, in_bins=args.bins, out_bins=args.bins,
        input_range=(0.0, 1.0), vector_bins=args.vector_bins, seed=args.seed,
        estimator=args.estimator, progress=sys.stderr.isatty(),
    )
    run = new_run_dir(args.out, "causal-plane")
    write_config(run, {"job": "causal-plane", "model": f"sigmoid MLP {widths}", **{
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}})
    write_table(run, "causal_plane", table)
    plot_causal_plane(table, run / "causal_plane.png", title=f"sigmoid MLP {widths}")
    cols = ("layer", "n_in", "n_out", "sensitivity", "ei_parts", "ei_parts_null", "ei", "degeneracy",
            "x_prime", "y_prime")
    out = Table(title="Causal plane (bits)")
    for col in cols:
        out.add_column(col, justify="right")
    for _, row in table.iterrows():
        out.add_row(*[f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols])
    console.print(out)
    used = ", ".join(sorted(set(table["estimator"])))
    console.print(f"sensitivity and EI_parts estimator: {used}; vector EI sampled, null = shuffled outputs")
    console.print(f"run folder: [bold]{run}[/] (config.yaml, causal_plane.csv, causal_plane.png)")
    return 0


# --------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``infolens`` command (every subcommand has ``--help``)."""
    parser = argparse.ArgumentParser(prog="infolens", description=__doc__, formatter_class=_Formatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a model with tracked measures into a run folder",
                           description="Train a zoo model on a dataset, tracking measure families over "
                                       "training; writes config.yaml, checkpoints/, metrics.parquet, "
                                       "metrics.csv and plots/ into a fresh run folder.",
                           epilog="example: infolens train -m MLP -d SZT -w 10 7 5 4 3 -nl Tanh "
                                  "--epochs 200 --track ei,pid,nc1,info_plane --out runs/szt")
    add_train_flags(train)
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue RUN_DIR from its last checkpoint (its own settings; --epochs "
                            "extends the run)")
    train.set_defaults(func=_train)

    measure = sub.add_parser("measure", help="measure saved checkpoints after the fact",
                             description="Measure the checkpoints of a run (every saved epoch) or one "
                                         "checkpoint, and merge the values into the run's metrics "
                                         "table (re-measuring replaces, never duplicates).")
    measure.add_argument("source", metavar="RUN_OR_CHECKPOINT")
    measure.add_argument("--measure", required=True,
                         help="comma-separated: loss, ei, weight_ei, pid, nc1, vinfo, info_plane, all")
    measure.add_argument("--ei-samples", type=int, help="override the run's EI samples")
    measure.add_argument("--probe-epochs", type=int, help="override the sufficiency-probe epochs")
    measure.add_argument("--dib-epochs", type=int, help="override the minimality-probe epochs")
    measure.add_argument("--no-plots", dest="plots", action="store_false", help="do not redraw the plots")
    bar = measure.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    measure.set_defaults(func=_measure)

    plot = sub.add_parser("plot", help="plot one run, or several runs/seeds with mean ± s.d. bands",
                          description="Make every plot whose measures a run holds (PNG and PDF). "
                                      "Several runs (or a sweep folder) are drawn as mean ± 1 s.d.")
    plot.add_argument("runs", nargs="+", metavar="RUN")
    plot.add_argument("--out", type=Path, help="output folder (default: RUN/plots, or plots/ beside "
                                               "several runs)")
    plot.set_defaults(func=_plot_cmd)

    sweep = sub.add_parser("sweep", help="train the same run for several seeds (Ray when installed)",
                           description="Run `infolens train` once per seed into one sweep folder, via "
                                       "Ray when it is installed (pip install 'infolens[ray]'), else "
                                       "in this process one after another, or in parallel "
                                       "subprocesses with --backend subprocess --jobs N.")
    sweep.add_argument("--seeds", type=int, nargs="+", required=True, metavar="SEED")
    sweep.add_argument("--backend", default="auto", choices=["auto", "ray", "sequential", "subprocess"],
                       help="auto: ray if installed, else sequential (default %(default)s)")
    sweep.add_argument("--jobs", type=int, default=1, help="parallel runs (ray/subprocess; default 1)")
    add_train_flags(sweep)
    sweep.set_defaults(func=_sweep)

    demo = sub.add_parser("demo", help="train the SZT MLP with every measure family (a few minutes)",
                          description="The README's main job: trains Shwartz-Ziv & Tishby's 12-bit task "
                                      "with a 10-7-5-4-3 tanh MLP, tracking every measure family on a "
                                      "log-spaced schedule, and writes the run folder with tables and "
                                      "plots. Any train flag overrides the demo's settings.")
    add_train_flags(demo, defaults={**DEMO, "out": "runs"})
    demo.set_defaults(func=_demo)

    cp = sub.add_parser("causal-plane", help="measure a fresh sigmoid MLP layer by layer (causal plane)")
    cp.add_argument("--widths", default="25,20,10,5", help="layer widths, comma-separated")
    cp.add_argument("--samples", type=int, default=50_000)
    cp.add_argument("--bins", type=int, default=32)
    cp.add_argument("--vector-bins", type=int, default=4)
    cp.add_argument("--estimator", default="auto", choices=["auto", "exact", "plugin", "miller_madow"])
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--out", type=Path, default=Path("runs"))
    cp.set_defaults(func=_causal_plane)
    return parser


def _quiet(lightning: bool) -> None:
    """Less noise on the terminal: no Lightning banners, and each warning shown once.

    Lightning's "GPU available"/tips go to its loggers at INFO; warnings whose text differs
    only in counts (the plug-in bias warning at every measured epoch) are shown once per kind
    and place.
    """
    import logging
    import warnings

    if lightning:  # Lightning sets its loggers to INFO when imported, so import it first
        import lightning.pytorch

        for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
    seen: set[tuple] = set()
    show = warnings.showwarning

    def once(message, category, filename, lineno, file=None, line=None):
        key = (category, filename, lineno, str(message).split(":")[0][:60])
        if key not in seen:
            seen.add(key)
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = once


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``infolens`` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    sub = _subparser(parser, args.command)
    _quiet(lightning=args.command in ("train", "sweep", "demo", "measure"))
    if args.command in ("train", "sweep", "demo"):
        args.epochs_given = any(a == "--epochs" or a.startswith("--epochs=") for a in argv)
        if getattr(args, "resume", None):
            allowed = {"--resume", "--epochs", "--progress", "--no-progress", "--no-plots"}
            extra = sorted({a.split("=")[0] for a in argv[1:] if a.startswith("-")} - allowed)
            if extra:
                sub.error(f"--resume continues a run with its own settings; only --epochs, "
                          f"--no-plots and --progress/--no-progress apply (got {', '.join(extra)})")
        else:
            try:
                args.config = config_from_args(args)
            except InfolensError as err:
                sub.error(str(err))
    try:
        return int(args.func(args))
    except InfolensError as err:
        print(f"infolens {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
