"""Trainers for infolens runs: checkpoints every epoch, resumable, reproducible.

``make_trainer(run_dir, max_epochs=..., callbacks=[...])`` returns a Lightning ``Trainer`` that

* writes ``run_dir/checkpoints/epoch=NNNN.ckpt`` after every training epoch (``NNNN`` = completed
  training epochs, the same epoch numbering as the measurement records) and
  ``run_dir/checkpoints/last.ckpt``; both are saved at the end of the training epoch, after the
  epoch's validation and after the measure callbacks, so the callback state inside a checkpoint
  already holds that epoch's measurements (Lightning runs checkpoint callbacks last);
* saves the global RNG states (torch, numpy, Python) in every checkpoint and restores them on
  resume, so a resumed run continues the same random stream (shuffling, dropout) as an
  uninterrupted one;
* shows a progress bar (rich when installed, else tqdm) and creates no logger directories.

``fit(module, train, val, run_dir=..., resume=True)`` builds such a trainer and resumes from
``run_dir/checkpoints/last.ckpt`` when asked.
"""

from __future__ import annotations

import importlib.util
import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar, TQDMProgressBar

from infolens._validation import InfolensError, check_positive_int

__all__ = [
    "CHECKPOINT_DIR",
    "EpochCheckpoint",
    "RNGStateCallback",
    "checkpoint_path",
    "fit",
    "last_checkpoint",
    "make_loader",
    "make_trainer",
]

CHECKPOINT_DIR = "checkpoints"


class EpochCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` naming files by completed epochs: ``epoch=0003.ckpt`` after 3 epochs.

    Lightning's own ``{epoch}`` is the 0-based index of the epoch being run; infolens records
    count completed training epochs (0 = initial weights), and the file names follow them.
    """

    def format_checkpoint_name(self, metrics: dict, filename: str | None = None, ver: int | None = None,
                               prefix: str | None = None) -> str:
        """File name with ``epoch`` = completed training epochs."""
        metrics = dict(metrics)
        if "epoch" in metrics:
            metrics["epoch"] = metrics["epoch"] + 1
        return super().format_checkpoint_name(metrics, filename, ver, prefix)


def checkpoint_path(run_dir: str | os.PathLike, epoch: int | str = "last") -> Path:
    """Path of the checkpoint after ``epoch`` completed training epochs (or ``"last"``)."""
    name = "last" if epoch == "last" else f"epoch={int(epoch):04d}"
    return Path(run_dir) / CHECKPOINT_DIR / f"{name}.ckpt"


def last_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """``run_dir/checkpoints/last.ckpt`` if it exists, else ``None``."""
    path = checkpoint_path(run_dir)
    return path if path.is_file() else None


class RNGStateCallback(Callback):
    """Saves the global RNG states (torch CPU and CUDA, numpy, Python) in every checkpoint.

    On resume they are restored, so the run continues the random stream of the uninterrupted
    run: the next epoch's shuffle order and dropout masks are the same. (Under DDP the
    checkpoint holds rank 0's states; dataloaders there use a ``DistributedSampler`` seeded per
    epoch and are unaffected.) It records nothing.
    """

    @property
    def state_key(self) -> str:
        """Checkpoint key of this callback."""
        return "RNGStateCallback"

    def state_dict(self) -> dict[str, Any]:
        """The current RNG states."""
        # plain tensors, ints and tuples only: Lightning loads checkpoints with weights_only=True
        kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": (str(kind), torch.from_numpy(keys.astype(np.int64)), int(pos),
                      int(has_gauss), float(cached)),
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the RNG states saved by :meth:`state_dict`."""
        torch.set_rng_state(state_dict["torch"])
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state(  # noqa: NPY002
            (kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
        )
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            cuda = state_dict["cuda"]
            if len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)


def _progress_bar() -> Callback:
    if importlib.util.find_spec("rich") is not None:
        return RichProgressBar(leave=True)
    return TQDMProgressBar()


def make_trainer(
    run_dir: str | os.PathLike,
    *,
    max_epochs: int,
    callbacks: Sequence[Callback] = (),
    devices: int | str | list[int] = 1,
    strategy: str | Any = "auto",
    accelerator: str = "cpu",
    precision: str | int = "32-true",
    progress: bool = True,
    seed: int | None = None,
    keep_checkpoints: str = "all",
    logger: Any = False,
    deterministic: bool | None = None,
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """A Lightning ``Trainer`` writing resumable checkpoints into ``run_dir/checkpoints/``.

    Checkpoints: ``epoch=NNNN.ckpt`` after every training epoch (``keep_checkpoints="all"``;
    ``"last"`` keeps only the newest) and ``last.ckpt``, both written at the end of the
    training epoch, after validation and after every other callback (so measure callbacks have
    stored that epoch's records). The global RNG states are checkpointed too
    (:class:`RNGStateCallback`). No sanity validation steps are run (validation runs once per
    epoch, before the checkpoint), the model summary is off, and ``logger=False`` by default
    (pass a Lightning logger to log elsewhere; measurements live in the callbacks' records).

    ``seed`` seeds torch, numpy and Python (``seed_everything``, which also seeds DDP samplers
    and dataloader workers). ``precision`` is any Lightning precision (``"32-true"``,
    ``"64-true"``, ``"bf16-true"``, ``"bf16-mixed"``); measure callbacks accumulate in float64
    regardless. Other keyword arguments go to ``pl.Trainer``.
    """
    max_epochs = check_positive_int("max_epochs", max_epochs, minimum=0)
    if keep_checkpoints not in ("all", "last"):
        raise InfolensError(f"keep_checkpoints must be 'all' or 'last', got {keep_checkpoints!r}.")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True, verbose=False)
    ckpt = EpochCheckpoint(
        dirpath=Path(run_dir) / CHECKPOINT_DIR,
        filename="epoch={epoch:04d}",
        auto_insert_metric_name=False,
        save_top_k=-1 if keep_checkpoints == "all" else 1,  # 1: only the newest epoch file
        save_last=True,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    extra: list[Callback] = [RNGStateCallback(), ckpt]
    if progress:
        extra.append(_progress_bar())
    return pl.Trainer(
        default_root_dir=str(run_dir),
        max_epochs=max_epochs,
        callbacks=[*callbacks, *extra],
        devices=devices,
        strategy=strategy,
        accelerator=accelerator,
        precision=precision,
        logger=logger,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=deterministic,
        **trainer_kwargs,
    )


def make_loader(
    data: Any, batch_size: int, *, shuffle: bool, world_size: int = 1
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over ``(X, y)`` tensors (or a ``Dataset``; a ``DataLoader`` is returned as is).

    ``batch_size`` is the global batch size; each of ``world_size`` processes loads
    ``batch_size // world_size`` samples per step (as the thesis's ``-b`` flag). Shuffling
    draws from torch's global RNG, which the checkpoints save and restore.
    """
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = torch.utils.data.TensorDataset(data[0], data[1])
    elif hasattr(data, "X") and hasattr(data, "y"):
        data = torch.utils.data.TensorDataset(data.X, data.y)
    if not isinstance(data, torch.utils.data.Dataset):
        raise InfolensError(
            f"training data must be (X, y) tensors, a Dataset or a DataLoader, got {type(data).__name__}."
        )
    per_device = max(1, check_positive_int("batch_size", batch_size) // max(1, int(world_size)))
    return torch.utils.data.DataLoader(data, batch_size=per_device, shuffle=shuffle)


def fit(
    module: pl.LightningModule,
    train: Any,
    val: Any = None,
    *,
    run_dir: str | os.PathLike,
    max_epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    batch_size: int = 400,
    resume: bool | str = False,
    trainer: pl.Trainer | None = None,
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """Train ``module`` with :func:`make_trainer` (or a given ``trainer``), resuming when asked.

    Without ``trainer``, ``max_epochs``, ``callbacks`` and ``trainer_kwargs`` build one with
    :func:`make_trainer`; with ``trainer`` they must be left out (the trainer has its own).

    ``train``/``val`` are ``(X, y)`` tensors, Datasets or DataLoaders (``val`` is the test split
    in infolens runs; ``None`` skips validation). ``batch_size`` is the global batch size of
    loaders built here. ``resume``: ``False`` starts fresh; ``True`` resumes from
    ``run_dir/checkpoints/last.ckpt`` and raises if it does not exist; ``"auto"`` resumes when
    it exists. Resuming restores weights, optimiser, loop counters, RNG states and every
    callback's state (measured epochs and records), so no measured epoch is lost or repeated.
    Returns the trainer (its callbacks hold the records).
    """
    if resume not in (True, False, "auto"):
        raise InfolensError(f"resume must be True, False or 'auto', got {resume!r}.")
    ckpt = last_checkpoint(run_dir)
    if resume is True and ckpt is None:
        raise InfolensError(
            f"resume=True but {checkpoint_path(run_dir)} does not exist; start a fresh run "
            "(resume=False) or pass the run directory that holds the checkpoints."
        )
    ckpt_path = str(ckpt) if resume and ckpt is not None else None
    if trainer is None:
        if max_epochs is None:
            raise InfolensError("fit() needs max_epochs (or a trainer made by make_trainer).")
        trainer = make_trainer(run_dir, max_epochs=max_epochs, callbacks=callbacks, **trainer_kwargs)
    elif max_epochs is not None or callbacks or trainer_kwargs:
        raise InfolensError(
            "fit(trainer=...) uses that trainer's epochs, callbacks and settings; pass "
            "max_epochs/callbacks/trainer options to make_trainer instead."
        )
    world = trainer.world_size
    train_loader = make_loader(train, batch_size, shuffle=True, world_size=world)
    val_loader = None if val is None else make_loader(val, batch_size, shuffle=False, world_size=world)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*is smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*but have no `val_dataloader`.*")
        if ckpt_path is not None:  # resuming writes into the run's own checkpoint directory
            warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader,
                    ckpt_path=ckpt_path)
    return trainer
