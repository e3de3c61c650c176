"""Experiments: train a zoo model on a dataset with tracked measures, into a run directory.

:class:`RunConfig` holds every setting of a run (the thesis's CLI flags, geometry spec §5, plus
the measure families to track); :func:`train_run` trains it and writes the run directory
(``config.yaml``, ``checkpoints/``, ``metrics.parquet``/``metrics.csv``); :func:`resume_run`
continues a run from its last checkpoint in its own directory; :func:`measure_run` measures
saved checkpoints after the fact and merges the rows into the run's table.

This module imports the data, models and training layers; it never imports plots or the CLI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infolens._validation import InfolensError

#: Measure families that ``--track`` accepts (``all`` = every one of them).
TRACKS: tuple[str, ...] = ("ei", "weight_ei", "pid", "nc1", "vinfo", "info_plane")
#: Measures ``measure_run`` accepts: the tracks plus loss/accuracy.
MEASURES: tuple[str, ...] = ("loss", *TRACKS)
LOSSES = {"crossentropy": "ce", "ce": "ce", "mse": "mse", "bce": "bce"}
OPTIMIZERS = {"adamw": "adamw", "adam": "adam", "sgd": "sgd"}
PRECISIONS = ("auto", "32-true", "64-true", "bf16-true", "bf16-mixed", "16-mixed")
COMPILE = ("auto", "on", "off")
#: Thesis departures (geometry spec §5), recorded in every run's config with their switch.
DEPARTURES = {
    "input_scaling": "inputs scaled as the dataset defines (images to [0, 1]); --no-scale gives raw values",
    "nc1_eval_mode": "both NC1 passes on the frozen end-of-epoch model in eval mode (thesis: pass 1 during training)",
    "vinfo_entropy": "probe information uses the empirical label/digit entropy, not log2(C)",
    "vinfo_fit_split": "probes are fitted on the train split and evaluated on train and test",
    "lr_applied": "--tune applies the LR range test's suggestion to the optimiser (the thesis did not)",
    "precision_compile_auto": "precision/compile 'auto': bf16-true and torch.compile on CUDA, 32-true and eager on CPU",
}


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def _parse_tracks(track: str | Sequence[str] | None, valid: Sequence[str] = TRACKS) -> list[str]:
    if track is None:
        return []
    items = track.split(",") if isinstance(track, str) else [t for part in track for t in str(part).split(",")]
    items = [t.strip().lower().replace("-", "_") for t in items if t.strip()]
    out: list[str] = []
    for t in items:
        if t == "all":
            out.extend(x for x in valid if x != "loss")
            continue
        if t == "weightei":
            t = "weight_ei"
        if t in ("infoplane", "info"):
            t = "info_plane"
        if t not in valid:
            raise InfolensError(
                f"unknown measure {t!r}; choose from {', '.join(valid)} or 'all' (comma-separated)."
            )
        out.append(t)
    return list(dict.fromkeys(out))


@dataclass
class RunConfig:
    """Every setting of a training run; the CLI flags of ``infolens train`` map one to one.

    Model and data: ``model`` (a zoo name), ``dataset`` (an :func:`infolens.data.load` name),
    ``widths`` and ``nonlinearity`` (MLP-type models), ``data_dir``, ``download``,
    ``data_options`` (dataset options such as ``{"split": "nninfo"}`` for SZT), ``subset_idx``
    (the thesis's class-balanced training chunk; ``None`` = the full training set), ``scale``.

    Training (thesis defaults): ``batch_size`` 400, ``epochs`` 20, ``lr`` 2e-3, ``optimizer``
    AdamW, ``loss`` CrossEntropy, ``seed`` 0, ``tune`` (LR range test, suggestion applied),
    ``precision`` and ``compile`` (``"auto"``: bf16-true and compiled on CUDA, 32-true and
    eager on the CPU), ``num_devices``, ``accelerator``, ``threads`` (CPU threads of torch and
    of the numba kernels;
    ``None``: one thread for models under 100k parameters on the CPU, whose tiny kernels only
    lose from thread synchronisation, else torch's default).

    Measures: ``track`` (families of :data:`TRACKS`), ``schedule`` (``"every:N"``,
    ``"log:C"``, a list; ``None``: every epoch up to 30 epochs, else ``log:30``) and
    ``schedules`` (per-family overrides, e.g. ``{"vinfo": "log:4"}`` for the costly probes);
    loss and accuracy are recorded every epoch regardless. Per-family settings: ``probe_epochs``
    (sufficiency probes; ``None`` = ``epochs`` as in the thesis), ``dib_epochs``,
    ``ei_samples``, ``ei_bins``, ``pid_levels``, ``pid_max_sources`` (wider layers use
    ``pid_subsets`` random subsets of that many neurons), ``pid_limits``, ``info_bins``.

    Output: ``out`` (parent folder; each run gets a fresh ``<UTC stamp>-<name>`` folder in
    it) and ``name`` (default ``<model>-<dataset>-seed<k>``).
    """

    model: str = "MLP"
    dataset: str = "SZT"
    widths: list[int] = field(default_factory=lambda: [10, 7, 5, 4, 3])
    nonlinearity: str = "ReLU"
    data_dir: str = "data"
    download: bool = False
    data_options: dict[str, Any] = field(default_factory=dict)
    subset_idx: int | None = None
    scale: bool = True
    batch_size: int = 400
    epochs: int = 20
    lr: float = 2e-3
    optimizer: str = "AdamW"
    loss: str = "CrossEntropy"
    seed: int = 0
    tune: bool = False
    precision: str = "auto"
    compile: str = "auto"
    num_devices: int = 1
    accelerator: str = "auto"
    threads: int | None = None
    track: list[str] = field(default_factory=list)
    schedule: str | None = None
    schedules: dict[str, str] = field(default_factory=dict)
    probe_epochs: int | None = None
    dib_epochs: int = 50
    ei_samples: int = 20_000
    ei_bins: int = 64
    pid_levels: int = 8
    pid_max_sources: int = 5
    pid_subsets: int = 26
    pid_limits: list[float] | None = None
    info_bins: int = 30
    out: str = "runs"
    name: str | None = None
    progress: bool | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """A config from a dict (e.g. ``config.yaml``'s ``args``); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InfolensError(f"unknown run setting(s) {unknown}; valid: {sorted(names)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (YAML-safe)."""
        return dataclasses.asdict(self)

    def validate(self) -> RunConfig:
        """Check every setting early, with errors that list the valid choices; returns ``self``.

        Normalises names (model, dataset, loss, optimiser, nonlinearity, tracks) in place.
        """
        from infolens.data import DATASET_NAMES
        from infolens.models import activation_names, available_models

        models = {m.lower(): m for m in available_models()}
        if str(self.model).lower() not in models:
            raise InfolensError(f"unknown model {self.model!r}; choose one of {', '.join(available_models())}.")
        self.model = models[str(self.model).lower()]
        key = re.sub(r"[-_ ]", "", str(self.dataset).lower())
        datasets = {re.sub(r"[-_ ]", "", d.lower()): d for d in DATASET_NAMES}
        if key not in datasets:
            raise InfolensError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASET_NAMES)}.")
        self.dataset = datasets[key]
        acts = {a.lower(): a for a in activation_names()}
        if str(self.nonlinearity).lower() not in acts:
            raise InfolensError(
                f"unknown nonlinearity {self.nonlinearity!r}; use a torch.nn activation class name: "
                f"{', '.join(activation_names())}."
            )
        self.nonlinearity = acts[str(self.nonlinearity).lower()]
        if str(self.loss).lower() not in LOSSES:
            raise InfolensError(f"unknown loss {self.loss!r}; choose CrossEntropy, MSE or BCE.")
        if str(self.optimizer).lower() not in OPTIMIZERS:
            raise InfolensError(f"unknown optimiser {self.optimizer!r}; choose AdamW, Adam or SGD.")
        if self.precision not in PRECISIONS:
            raise InfolensError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if self.compile not in COMPILE:
            raise InfolensError(f"compile must be one of {COMPILE}, got {self.compile!r}.")
        self.track = _parse_tracks(self.track)
        for name in ("batch_size", "epochs", "dib_epochs", "ei_samples", "ei_bins", "pid_levels",
                     "pid_max_sources", "pid_subsets", "info_bins", "num_devices"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InfolensError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}.")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise InfolensError(f"threads must be a positive integer, got {self.threads!r}.")
        if self.probe_epochs is not None and (not isinstance(self.probe_epochs, int) or self.probe_epochs < 1):
            raise InfolensError(f"probe-epochs must be a positive integer, got {self.probe_epochs!r}.")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise InfolensError(f"lr must be a positive number, got {self.lr!r}.")
        if self.widths is not None and (not self.widths or any(int(w) < 1 for w in self.widths)):
            raise InfolensError(f"widths must be positive integers, got {self.widths!r}.")
        if self.pid_limits is not None and (len(self.pid_limits) != 2 or not self.pid_limits[0] < self.pid_limits[1]):
            raise InfolensError(f"pid-limits must be two numbers LO < HI, got {self.pid_limits!r}.")
        self.measure_schedule()  # parses the schedule (clear error if malformed)
        self.schedules = {str(k).lower().replace("-", "_"): str(v) for k, v in dict(self.schedules).items()}
        for family in self.schedules:
            if family not in TRACKS:
                raise InfolensError(
                    f"unknown measure {family!r} in a per-measure schedule; choose from {', '.join(TRACKS)}."
                )
            self.measure_schedule(family)
        if self.subset_idx is not None and (isinstance(self.subset_idx, bool) or int(self.subset_idx) < 0):
            raise InfolensError(f"subset-idx must be >= 0, got {self.subset_idx!r}.")
        return self

    def measure_schedule(self, family: str | None = None):
        """The :class:`~infolens.training.callbacks._base.Schedule` of the tracked measures.

        ``family`` gives that family's schedule (its override in ``schedules``, if any).
        """
        from infolens.training.callbacks._base import Schedule

        spec = self.schedules.get(family, self.schedule) if family else self.schedule
        if spec is None:
            spec = "every:1" if self.epochs <= 30 else "log:30"
        return Schedule.parse(spec, max_epochs=self.epochs)

    @property
    def run_name(self) -> str:
        """The run folder's name part: ``name`` or ``<model>-<dataset>-seed<k>``."""
        return self.name or f"{self.model}-{self.dataset}-seed{self.seed}"


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


def load_data(cfg: RunConfig):
    """The :class:`~infolens.data.DatasetBundle` of ``cfg`` (dataset options, scaling, subset)."""
    from infolens.data import load

    options = dict(cfg.data_options)
    if cfg.subset_idx is not None:
        options.setdefault("train_subset", "thesis")
        options["subset_idx"] = int(cfg.subset_idx)
    if not cfg.scale:
        options["scale"] = False
    return load(cfg.dataset, root=cfg.data_dir, download=cfg.download, seed=cfg.seed, **options)


def build_run_model(cfg: RunConfig, bundle):
    """The zoo model of ``cfg`` for ``bundle``'s input shape and classes (global RNG init)."""
    from infolens.models import build_model, model_options

    valid = model_options(cfg.model)
    kwargs: dict[str, Any] = {}
    if "widths" in valid and cfg.widths is not None:
        kwargs["widths"] = tuple(int(w) for w in cfg.widths)
    for key in ("nonlinearity", "activation"):
        if key in valid:
            kwargs[key] = cfg.nonlinearity
    return build_model(cfg.model, input_shape=tuple(bundle.input_shape), num_classes=bundle.num_classes,
                       **kwargs)


def input_range(bundle) -> tuple[float, float]:
    """The EI input range from a bundle's ``x_limits`` (``"binary"`` → (0, 1))."""
    lim = bundle.x_limits
    if isinstance(lim, str):
        return (0.0, 1.0)
    return (float(lim[0]), float(lim[1]))


def _layer_width(shapes: dict, point: str) -> int:
    return int(math.prod(shapes[point]))


def _bounded(model, point: str) -> bool:
    from infolens.measures.info_plane import activation_limits

    return activation_limits(model.get_submodule(point)) is not None


def build_callbacks(cfg: RunConfig, model, bundle, measures: Sequence[str], schedule=None,
                    lr: float | None = None) -> list:
    """The measure callbacks of ``measures`` (families of :data:`MEASURES`) with per-model defaults.

    * ``loss``: loss and accuracy on train and test (every epoch during training);
    * ``ei``: the causal plane of every measurement point, input range from the dataset's
      ``x_limits``, ``ei_samples`` samples, ``ei_bins`` bins, exact where the layer allows it;
    * ``weight_ei``: the weight graph's EI (whole network and per layer);
    * ``pid``: representational complexity on the train split, ``pid_levels`` levels, on
      layers with a bounded activation (or ``pid_limits``): layers of at most
      ``pid_max_sources`` neurons with every neuron a source, wider layers through
      ``pid_subsets`` seeded subsets of ``pid_max_sources`` neurons (nninfo's recipe);
    * ``nc1``: NC1 of every measurement point on train and test;
    * ``vinfo``: decodable information of every split point, probes fitted on train
      (``probe_epochs``/``dib_epochs``, the run's batch size and learning rate);
    * ``info_plane``: binned I(X;T), I(T;Y) of every measurement point, ``info_bins`` bins.
    """
    from infolens.training import callbacks as cbs

    points = list(model.measurement_points)
    out: list = []
    fixed = schedule
    for family in measures:
        schedule = fixed if fixed is not None else cfg.measure_schedule(family if family != "loss" else None)
        if family == "loss":
            # the run's loss (not the trained module's): the same after the fact, from checkpoints
            out.append(cbs.LossAccuracyCallback(bundle, loss=LOSSES[cfg.loss.lower()], schedule=1,
                                                name="loss"))
        elif family == "ei":
            out.append(cbs.EICallback(points, input_range=input_range(bundle),
                                      input_shape=tuple(bundle.input_shape), samples=cfg.ei_samples,
                                      in_bins=cfg.ei_bins, out_bins=cfg.ei_bins, seed=cfg.seed,
                                      schedule=schedule))
        elif family == "weight_ei":
            out.append(cbs.WeightEICallback(tuple(bundle.input_shape), schedule=schedule))
        elif family == "pid":
            limits = tuple(cfg.pid_limits) if cfg.pid_limits is not None else None
            usable = [p for p in points if limits is not None or _bounded(model, p)]
            if not usable:
                raise InfolensError(
                    f"--track pid quantizes layers over a bounded range, but no measurement point of "
                    f"{cfg.model} with -nl {cfg.nonlinearity} is bounded; use a bounded nonlinearity "
                    "(-nl Tanh, Sigmoid, Hardtanh) or give --pid-limits LO HI."
                )
            shapes = model.feature_shapes()
            narrow = [p for p in usable if _layer_width(shapes, p) <= cfg.pid_max_sources]
            wide = [p for p in usable if _layer_width(shapes, p) > cfg.pid_max_sources]
            common = dict(data={"train": bundle.train}, levels=cfg.pid_levels, limits=limits,
                          seed=cfg.seed, schedule=schedule)
            if narrow:
                out.append(cbs.ComplexityCallback(narrow, sources="neurons", name="pid", **common))
            if wide:
                out.append(cbs.ComplexityCallback(wide, sources=cfg.pid_max_sources,
                                                  n_subsets=cfg.pid_subsets, name="pid_subsets",
                                                  **common))
        elif family == "nc1":
            out.append(cbs.NC1Callback(data=bundle, num_classes=bundle.num_classes, schedule=schedule))
        elif family == "vinfo":
            out.append(cbs.VInformationCallback(
                data=bundle, num_classes=bundle.num_classes,
                epochs=cfg.probe_epochs or cfg.epochs, dib_epochs=cfg.dib_epochs, lr=lr,
                batch_size=cfg.batch_size, seed=cfg.seed, head_factory=model.head_factory,
                schedule=schedule))
        elif family == "info_plane":
            out.append(cbs.InfoPlaneCallback(points, bundle, bins=cfg.info_bins, schedule=schedule))
        else:
            raise InfolensError(f"unknown measure {family!r}; choose from {', '.join(MEASURES)}.")
    return out


def _resolved_precision(cfg: RunConfig, accelerator: str) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    import torch

    if accelerator in ("gpu", "cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-true"
    return "32-true"


def _resolved_accelerator(cfg: RunConfig) -> str:
    if cfg.accelerator != "auto":
        return cfg.accelerator
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def _resolved_threads(cfg: RunConfig, accelerator: str, model) -> int:
    import torch

    if cfg.threads is not None:
        return cfg.threads
    if accelerator == "cpu" and sum(p.numel() for p in model.parameters()) < 100_000:
        return 1
    return torch.get_num_threads()


@contextlib.contextmanager
def _threads(threads: int):
    """Use ``threads`` CPU threads in torch and in the estimators' numba kernels, then restore."""
    import numba
    import torch

    before = (torch.get_num_threads(), numba.get_num_threads())
    torch.set_num_threads(threads)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield threads
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


def _resolved_compile(cfg: RunConfig, accelerator: str) -> bool:
    if cfg.compile == "auto":
        return accelerator == "gpu"
    return cfg.compile == "on"


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


def _run_checkpoint_class():
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Checkpoint

    from infolens.training.trainer import checkpoint_path

    class RunCheckpoint(Checkpoint):
        """``last.ckpt`` after every epoch; ``epoch=NNNN.ckpt`` at the measured epochs and the end.

        Epoch 0 (the initial weights) is saved at fit start of a fresh run, so ``infolens
        measure`` can measure every epoch the schedule names. Files are written to a
        temporary name and renamed (no half-written checkpoint). Each checkpoint records
        ``infolens_epoch``, its number of completed training epochs. Lightning runs checkpoint
        callbacks last, so a checkpoint holds the epoch's measurements.
        """

        def __init__(self, run_dir: Path, keep: Callable[[int], bool]):
            super().__init__()
            self.run_dir = Path(run_dir)
            self.keep = keep
            self._epoch: int | None = None

        @property
        def state_key(self) -> str:
            return "RunCheckpoint"

        def _save(self, trainer: pl.Trainer, epoch: int, path: Path) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            self._epoch = epoch
            try:
                trainer.save_checkpoint(tmp, weights_only=False)
            finally:
                self._epoch = None
            if trainer.is_global_zero:
                os.replace(tmp, path)
            trainer.strategy.barrier("infolens-checkpoint")

        def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
            if self._epoch is not None:
                checkpoint["infolens_epoch"] = self._epoch

        def on_fit_start(self, trainer, pl_module) -> None:
            if trainer.current_epoch == 0 and trainer.global_step == 0 and self.keep(0):
                self._save(trainer, 0, checkpoint_path(self.run_dir, 0))

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            epoch = trainer.current_epoch + 1
            if self.keep(epoch) or epoch == trainer.max_epochs:
                self._save(trainer, epoch, checkpoint_path(self.run_dir, epoch))
            self._save(trainer, epoch, checkpoint_path(self.run_dir, "last"))

    return RunCheckpoint


def _progress_bar(progress: bool):
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar

    if not progress:
        return []
    try:
        return [RichProgressBar(leave=True)]
    except (ImportError, ModuleNotFoundError):  # pragma: no cover - rich is a dependency
        return [TQDMProgressBar()]


def _measure_log_class():
    import time

    import lightning.pytorch as pl

    from infolens.training.callbacks._base import MeasureCallback

    class MeasureLog(pl.Callback):
        """Announces each measured epoch (which families) and, once done, how long it took.

        One instance goes before the measure callbacks (``role="start"``), one after them
        (``role="end"``); lines go through ``pl_module.print``, i.e. above the progress bar.
        """

        def __init__(self, role: str, shared: dict):
            self.role, self.shared = role, shared

        @property
        def state_key(self) -> str:
            return f"MeasureLog[{self.role}]"

        def _due(self, trainer, epoch: int) -> list[str]:
            return [cb.name for cb in trainer.callbacks if isinstance(cb, MeasureCallback)
                    and cb.name != "loss" and epoch in cb.schedule and epoch not in cb.measured_epochs]

        def _hook(self, trainer, pl_module, epoch: int) -> None:
            if self.role == "start":
                due = self._due(trainer, epoch)
                self.shared["due"] = due
                self.shared["t0"] = time.perf_counter()
                if due:
                    pl_module.print(f"epoch {epoch}: measuring {', '.join(due)} ...")
            elif self.shared.get("due"):
                pl_module.print(f"epoch {epoch}: measured in {time.perf_counter() - self.shared['t0']:.1f} s")
                self.shared["due"] = []

        def on_fit_start(self, trainer, pl_module) -> None:
            if trainer.current_epoch == 0 and trainer.global_step == 0:
                self._hook(trainer, pl_module, 0)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if not trainer.sanity_checking:
                self._hook(trainer, pl_module, trainer.current_epoch + 1)

    return MeasureLog


def make_run_trainer(run_dir: Path, cfg: RunConfig, callbacks: list, *, accelerator: str,
                     precision: str, progress: bool):
    """The Lightning trainer of a run: measure callbacks, the run writer, RNG state, checkpoints."""
    import lightning.pytorch as pl

    from infolens.runs.writer import RunWriter
    from infolens.training.trainer import RNGStateCallback

    schedules = [cfg.measure_schedule(f) for f in (None, *cfg.track)]
    checkpoint = _run_checkpoint_class()(run_dir, lambda e: any(e in s for s in schedules))
    writer = RunWriter(run_dir, seed=cfg.seed)
    strategy = "ddp" if cfg.num_devices > 1 else "auto"
    log_cls, shared = _measure_log_class(), {}
    return pl.Trainer(
        default_root_dir=str(run_dir), max_epochs=cfg.epochs,
        callbacks=[log_cls("start", shared), *callbacks, log_cls("end", shared), writer,
                   RNGStateCallback(), checkpoint, *_progress_bar(progress)],
        devices=cfg.num_devices, accelerator=accelerator, precision=precision, strategy=strategy,
        logger=False, enable_progress_bar=progress, enable_model_summary=False,
        num_sanity_val_steps=0,
    )


# --------------------------------------------------------------------------------------
# Train, resume, measure
# --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What :func:`train_run` produced: the run directory, its trainer and its config."""

    run_dir: Path
    config: RunConfig
    trainer: Any = None
    lr: float | None = None


def _config_document(cfg: RunConfig, run_dir: Path, bundle, model, *, accelerator, precision,
                     compiled, lr, schedule, threads) -> dict:
    import infolens

    return {
        "infolens": infolens.__version__,
        "job": "train",
        "run": run_dir.name,
        "args": cfg.to_dict(),
        "resolved": {
            "accelerator": accelerator, "precision": precision, "compile": compiled, "threads": threads,
            "lr": lr, "schedule": schedule.describe(), "tracked": list(cfg.track),
            "schedules": {f: cfg.measure_schedule(f).describe() for f in cfg.track},
            "model": model.config,
            "measurement_points": list(model.measurement_points),
            "dataset": {
                "name": bundle.name, "num_classes": bundle.num_classes,
                "input_shape": list(bundle.input_shape),
                "x_limits": bundle.x_limits if isinstance(bundle.x_limits, str) else list(bundle.x_limits),
                "train": len(bundle.train), "test": len(bundle.test), "scaling": bundle.scaling,
                "source": bundle.source, "split_rule": bundle.split_rule,
            },
            "validation": "the test split, every epoch (no model selection, no augmentation)",
        },
        "departures": DEPARTURES,
    }


def _run(cfg: RunConfig, run_dir: Path, *, resume: bool) -> RunResult:
    """Seed, build data and model, then train under the run's thread count."""
    import lightning.pytorch as pl

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    bundle = load_data(cfg)
    model = build_run_model(cfg, bundle)
    accelerator = _resolved_accelerator(cfg)
    precision = _resolved_precision(cfg, accelerator)
    compiled = _resolved_compile(cfg, accelerator)
    threads = _resolved_threads(cfg, accelerator, model)
    with _threads(threads):
        return _train(cfg, run_dir, resume, bundle, model, accelerator, precision, compiled, threads)


def _train(cfg, run_dir, resume, bundle, model, accelerator, precision, compiled, threads) -> RunResult:
    """The module, callbacks, config file and Lightning fit of :func:`_run`."""
    from infolens.runs.rundir import write_config
    from infolens.training import ClassifierModule, lr_find
    from infolens.training.trainer import fit

    module = ClassifierModule(model, loss=LOSSES[cfg.loss.lower()], optimizer=OPTIMIZERS[cfg.optimizer.lower()],
                              lr=cfg.lr)
    lr = cfg.lr
    if cfg.tune and not resume:
        found = lr_find(module, bundle.train.tensors(), batch_size=cfg.batch_size,
                        accelerator=accelerator, precision=precision)
        lr = float(found.applied)
    elif cfg.tune and resume:
        from infolens.runs.rundir import read_config

        lr = float(read_config(run_dir).get("resolved", {}).get("lr") or cfg.lr)
        module.lr = lr
    if compiled:
        model.compile(mode="max-autotune")
    schedule = cfg.measure_schedule()
    callbacks = build_callbacks(cfg, model, bundle, ["loss", *cfg.track], lr=lr)
    if not resume and launched_rank() == 0:
        write_config(run_dir, _config_document(cfg, run_dir, bundle, model, accelerator=accelerator,
                                               precision=precision, compiled=compiled, lr=lr,
                                               schedule=schedule, threads=threads))
    progress = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    trainer = make_run_trainer(run_dir, cfg, callbacks, accelerator=accelerator, precision=precision,
                               progress=progress)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*is smaller than the logging interval.*")
        fit(module, bundle.train.tensors(), bundle.test.tensors(), run_dir=run_dir,
            batch_size=cfg.batch_size, resume=resume, trainer=trainer)
    return RunResult(run_dir=run_dir, config=cfg, trainer=trainer, lr=lr)


#: Environment variable naming the run folder to the other ranks of a multi-device run.
RUN_DIR_ENV = "INFOLENS_RUN_DIR"


def launched_rank() -> int:
    """This process's rank when Lightning's DDP launcher started it (0 for the launching one).

    Lightning re-runs the command for ranks 1..N-1 with ``LOCAL_RANK``/``NODE_RANK`` set; those
    processes join the run folder of rank 0 instead of creating or locking one.
    """
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    node = int(os.environ.get("NODE_RANK", "0") or 0)
    return local + node


@contextlib.contextmanager
def _shared_run_dir(run_dir: Path):
    """Name ``run_dir`` to the processes Lightning launches for the other devices."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


def train_run(cfg: RunConfig) -> RunResult:
    """Train ``cfg`` into a fresh run directory under ``cfg.out`` and return it.

    Writes ``config.yaml`` (settings, resolved choices, dataset provenance, departures from
    the thesis), checkpoints (``last.ckpt``, ``epoch=NNNN.ckpt`` at measured epochs),
    ``metrics.parquet``/``metrics.csv`` after every epoch. The folder is locked while training.
    With several devices the other ranks (launched by Lightning) join the same folder.
    """
    from infolens.runs.rundir import new_run_dir, run_lock

    cfg.validate()
    if launched_rank() > 0 and os.environ.get(RUN_DIR_ENV):
        return _run(cfg, Path(os.environ[RUN_DIR_ENV]), resume=False)
    run_dir = new_run_dir(cfg.out, cfg.run_name)
    with run_lock(run_dir), _shared_run_dir(run_dir):
        return _run(cfg, run_dir, resume=False)


def resume_run(run_dir: str | Path, *, epochs: int | None = None, progress: bool | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its ``last.ckpt``, in the same directory.

    Settings come from the run's ``config.yaml``; ``epochs`` extends (or sets) the total number
    of training epochs, and is written back to the config with a ``resumed`` entry. Measured
    epochs and records are restored from the checkpoint, so the table gets no duplicate rows.
    (A log-spaced schedule is recomputed over the new total; epochs it adds before the resume
    point are not measured.) Refused while another process holds the run.
    """
    import datetime as _dt

    from infolens.runs.rundir import read_config, run_lock, write_config
    from infolens.training.trainer import last_checkpoint

    run_dir = Path(run_dir)
    doc = read_config(run_dir)
    if doc.get("job") != "train" or "args" not in doc:
        raise InfolensError(f"{run_dir} was not made by `infolens train`; only training runs resume.")
    if last_checkpoint(run_dir) is None:
        raise InfolensError(f"{run_dir} has no checkpoints/last.ckpt to resume from.")
    cfg = RunConfig.from_dict(doc["args"])
    if epochs is not None:
        cfg.epochs = int(epochs)
    if progress is not None:
        cfg.progress = progress
    cfg.validate()
    if launched_rank() > 0:
        return _run(cfg, run_dir, resume=True)
    with run_lock(run_dir):
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc.setdefault("resumed", []).append({"at": stamp, "from_epochs": doc["args"]["epochs"],
                                              "epochs": cfg.epochs})
        doc["args"]["epochs"] = cfg.epochs
        write_config(run_dir, doc)
        return _run(cfg, run_dir, resume=True)


def run_checkpoints(source: str | Path) -> tuple[Path, list[Path]]:
    """``(run directory, checkpoints to measure)`` of a run directory or one checkpoint file.

    A run directory gives every ``epoch=NNNN.ckpt`` (or ``last.ckpt`` if there are none); a
    checkpoint inside a run's ``checkpoints/`` folder gives just that one.
    """
    from infolens.runs.rundir import is_run_dir

    source = Path(source)
    if source.is_file():
        run_dir = source.parent.parent
        if not is_run_dir(run_dir):
            raise InfolensError(
                f"{source} is not inside a run directory (<run>/checkpoints/{source.name} with "
                "<run>/config.yaml); measuring needs the run's config to rebuild model and data."
            )
        return run_dir, [source]
    if not is_run_dir(source):
        raise InfolensError(f"{source} is neither a run directory nor a checkpoint file.")
    folder = source / "checkpoints"
    ckpts = sorted(folder.glob("epoch=*.ckpt"))
    if not ckpts and (folder / "last.ckpt").is_file():
        ckpts = [folder / "last.ckpt"]
    if not ckpts:
        raise InfolensError(f"{source} has no checkpoints in {folder}.")
    return source, ckpts


def _checkpoint_epoch(path: Path, ckpt: dict) -> int:
    if "infolens_epoch" in ckpt:
        return int(ckpt["infolens_epoch"])
    m = re.fullmatch(r"epoch=(\d+)\.ckpt", path.name)
    if m:
        return int(m.group(1))
    return int(ckpt.get("epoch", 0)) + 1  # saved at the end of Lightning's 0-based epoch


def measure_run(source: str | Path, measures: Sequence[str], *, progress: bool | None = None,
                overrides: dict[str, Any] | None = None) -> tuple[Path, Any]:
    """Measure saved checkpoints after the fact and merge the rows into the run's table.

    ``source`` is a run directory (every saved epoch) or one checkpoint in it; ``measures``
    are families of :data:`MEASURES`. The model and data are rebuilt from the run's
    ``config.yaml`` (``overrides`` change measure settings such as ``ei_samples``). Rows for
    a key that is already in the table replace it, so measuring twice adds nothing. Returns
    ``(run directory, the rows measured)``.
    """
    import torch

    from infolens.runs.metrics import merge_tables, read_metrics, records_to_table, write_metrics
    from infolens.runs.rundir import read_config, run_lock

    measures = _parse_tracks(list(measures), MEASURES)
    if not measures:
        raise InfolensError(f"no measures given; choose from {', '.join(MEASURES)} or 'all'.")
    run_dir, ckpts = run_checkpoints(source)
    doc = read_config(run_dir)
    if "args" not in doc:
        raise InfolensError(f"{run_dir} has no training settings in config.yaml; cannot rebuild its model.")
    cfg = RunConfig.from_dict(doc["args"])
    for key, value in (overrides or {}).items():
        setattr(cfg, key, value)
    cfg.validate()
    lr = (doc.get("resolved") or {}).get("lr") or cfg.lr
    show = progress if progress is not None else sys.stderr.isatty()
    with run_lock(run_dir):
        torch.manual_seed(cfg.seed)
        bundle = load_data(cfg)
        model = build_run_model(cfg, bundle)
        callbacks = build_callbacks(cfg, model, bundle, measures, lr=lr)
        records: list[dict] = []
        with _threads(_resolved_threads(cfg, "cpu", model)):
            for _, epoch, step, state in _iter_checkpoints(ckpts, show):
                model.load_state_dict(state)
                for cb in callbacks:
                    records.extend(cb.measure_now(model, epoch=epoch, step=step))
        rows = records_to_table(records, run=run_dir.name, seed=cfg.seed)
        write_metrics(run_dir, merge_tables(read_metrics(run_dir), rows))
    return run_dir, rows


def _iter_checkpoints(ckpts: Sequence[Path], show: bool):
    import torch
    from rich.progress import Progress

    with Progress(disable=not show, transient=True) as bar:
        task = bar.add_task("measuring checkpoints", total=len(ckpts))
        for path in ckpts:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
            state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
            yield path, _checkpoint_epoch(path, ckpt), int(ckpt.get("global_step", 0)), state
            bar.advance(task)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m infolens.runs.experiment CONFIG.yaml``: train the run a YAML file describes.

    Used by sweeps to run each seed in its own process; prints the run directory.
    """
    import yaml

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m infolens.runs.experiment CONFIG.yaml", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as fh:
        cfg = RunConfig.from_dict(yaml.safe_load(fh))
    result = train_run(cfg)
    print(result.run_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
