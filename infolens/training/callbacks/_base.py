"""The shared machinery of the measure callbacks: schedule, DDP helpers, checkpointed state.

A measure callback measures a frozen snapshot of the model at scheduled epochs:

* **epoch 0** is the initial network (measured at ``on_fit_start``), epoch ``e >= 1`` is the
  network after ``e`` completed training epochs (measured at ``on_train_epoch_end``, which Lightning
  calls after the epoch's validation loop);
* the measured epochs and every record made so far are the callback's state, saved into each
  checkpoint (``state_dict``/``load_state_dict``), so a run killed mid-way and resumed from its
  last checkpoint neither repeats nor loses a measured epoch;
* measuring never touches the training RNG streams (it runs under ``torch.random.fork_rng``), so
  a run measures the same network whether or not a measurement was scheduled;
* under DDP every rank measures its own shard of the data and the sum-reducible states are
  all-reduced (:class:`Dist`), so every rank ends with the same records.

The same :meth:`MeasureCallback.measure_now` measures a model outside a trainer (``infolens
measure`` on saved checkpoints).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

from infolens._validation import InfolensError

# --------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------


def log_spaced_epochs(max_epochs: int, chapters: int) -> list[int]:
    """nninfo's checkpoint "chapters": ``{0} ∪ unique(round(logspace(0, log10 E, c + 1)))``."""
    if max_epochs < 1 or chapters < 1:
        raise InfolensError(
            f"log-spaced schedule needs max_epochs >= 1 and chapters >= 1, got "
            f"max_epochs={max_epochs}, chapters={chapters}"
        )
    points = np.round(np.logspace(0, math.log10(max_epochs), chapters + 1)).astype(int)
    return sorted({0, *(int(p) for p in points)})


@dataclass(frozen=True)
class Schedule:
    """The epochs at which a callback measures.

    ``every_n_epochs=n``: epochs 0, n, 2n, ... (and ``at_start=False`` drops epoch 0);
    ``epochs=[...]``: exactly those epochs. Build the log-spaced nninfo schedule with
    :meth:`log_spaced`, or parse a CLI string with :meth:`parse` (``"5"``, ``"every:5"``,
    ``"log:30"``, ``"0,1,2,5,10"``).
    """

    every_n_epochs: int | None = 1
    epochs: tuple[int, ...] | None = None
    at_start: bool = True

    def __post_init__(self) -> None:
        if self.epochs is None:
            n = self.every_n_epochs
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise InfolensError(
                    f"every_n_epochs must be a positive integer, got {n!r}; pass e.g. "
                    "every_n_epochs=5 or epochs=[0, 1, 10]."
                )
        else:
            epochs = tuple(sorted({int(e) for e in self.epochs}))
            if any(e < 0 for e in epochs):
                raise InfolensError(f"schedule epochs must be >= 0, got {list(self.epochs)}")
            object.__setattr__(self, "epochs", epochs)
            object.__setattr__(self, "every_n_epochs", None)

    @classmethod
    def log_spaced(cls, max_epochs: int, chapters: int) -> Schedule:
        """nninfo's log-spaced schedule over ``max_epochs`` with ``chapters`` chapters."""
        return cls(epochs=tuple(log_spaced_epochs(max_epochs, chapters)))

    @classmethod
    def parse(cls, spec: str | int | Schedule | None, max_epochs: int | None = None) -> Schedule:
        """``None`` → every epoch; ``n``/``"every:n"``; ``"log:c"`` (needs ``max_epochs``); a list."""
        if spec is None:
            return cls()
        if isinstance(spec, Schedule):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls(every_n_epochs=spec)
        text = str(spec).strip().lower()
        if text.startswith("log:") and max_epochs is None:
            raise InfolensError(
                f"schedule {spec!r} is log-spaced over the run and needs max_epochs (the run's "
                "number of training epochs)"
            )
        try:
            if text.startswith("every:"):
                return cls(every_n_epochs=int(text[6:]))
            if text.startswith("log:"):
                return cls.log_spaced(max_epochs, int(text[4:]))
            if "," in text:
                return cls(epochs=tuple(int(t) for t in text.split(",") if t.strip()))
            return cls(every_n_epochs=int(text))
        except ValueError:
            raise InfolensError(
                f"cannot parse schedule {spec!r}; use 'N' or 'every:N' (every N epochs), "
                "'log:C' (nninfo's C log-spaced chapters) or a comma-separated epoch list"
            ) from None

    def __contains__(self, epoch: int) -> bool:
        if epoch == 0 and not self.at_start:
            return False
        if self.epochs is not None:
            return epoch in self.epochs
        return epoch % self.every_n_epochs == 0

    def describe(self) -> str:
        """A short text form, as accepted by :meth:`parse`."""
        if self.epochs is not None:
            return ",".join(str(e) for e in self.epochs)
        return f"every:{self.every_n_epochs}" + ("" if self.at_start else " (no epoch 0)")


# --------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly) distributed run, with the two collectives we need.

    Outside ``torch.distributed`` (or with one process) it is the identity.
    """

    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> Dist:
        """The running process group (``torch.distributed``), or a single process."""
        if torch_dist.is_available() and torch_dist.is_initialized():
            return cls(torch_dist.get_rank(), torch_dist.get_world_size())
        return cls()

    def shard(self, n: int) -> slice:
        """This rank's samples ``rank::world_size`` of ``n``; no padding, so nothing is counted twice."""
        return slice(self.rank, n, self.world_size)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (a new tensor; the input is left as is)."""
        if self.world_size == 1:
            return tensor.clone()
        out = tensor.detach().clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
        return out

    def all_gather_object(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` (picklable objects of any size)."""
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(out, obj)
        return out


# --------------------------------------------------------------------------------------
# The base callback
# --------------------------------------------------------------------------------------


def unwrap_model(pl_module: nn.Module) -> nn.Module:
    """The network a LightningModule trains (its ``model`` attribute), else the module itself."""
    inner = getattr(pl_module, "model", None)
    return inner if isinstance(inner, nn.Module) else pl_module


class MeasureCallback(pl.Callback):
    """Base class of the measure callbacks: schedule, checkpointed records, DDP-aware measuring.

    Subclasses set ``family`` and implement :meth:`measure`, which returns a list of
    :func:`infolens.training.records.record` dicts for one snapshot of the network.
    """

    #: Short name of the measure family (``"nc1"``, ``"ei"``, ...), used in the state key.
    family: str = "measure"

    def __init__(self, *, schedule: Schedule | int | str | None = None, name: str | None = None):
        super().__init__()
        self.schedule = schedule if isinstance(schedule, Schedule) else Schedule.parse(schedule)
        self.name = name or self.family
        self.measured_epochs: list[int] = []
        self.records: list[dict[str, Any]] = []

    # -- the one method subclasses implement ------------------------------------------------

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """Measure ``model`` (in ``eval()`` mode, weights frozen) and return its records."""
        raise NotImplementedError(f"{type(self).__name__} must implement measure()")

    # -- measuring ---------------------------------------------------------------------------

    def measure_now(
        self, model: nn.Module, *, epoch: int, step: int = 0, dist: Dist | None = None
    ) -> list[dict]:
        """Measure ``model`` now as epoch ``epoch``, keep the records and return them.

        The model is put in ``eval()`` mode for the measurement and its training mode restored
        afterwards; the global RNG state is forked so training randomness is untouched.
        """
        dist = dist or Dist.current()
        was_training = model.training
        cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        try:
            model.eval()
            with torch.random.fork_rng(devices=cuda):
                rows = self.measure(model, epoch=epoch, step=step, dist=dist)
        finally:
            model.train(was_training)
        self.records.extend(rows)
        if epoch not in self.measured_epochs:
            self.measured_epochs.append(epoch)
        return rows

    def _maybe_measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int) -> None:
        if epoch in self.schedule and epoch not in self.measured_epochs:
            self.measure_now(unwrap_model(pl_module), epoch=epoch, step=trainer.global_step)

    # -- Lightning hooks ---------------------------------------------------------------------

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Measure the initial network (epoch 0) unless a restored state already has it."""
        if trainer.current_epoch == 0 and trainer.global_step == 0:
            self._maybe_measure(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Measure after training epoch ``trainer.current_epoch + 1`` when it is scheduled."""
        if trainer.sanity_checking:
            return
        self._maybe_measure(trainer, pl_module, trainer.current_epoch + 1)

    # -- checkpointed state ------------------------------------------------------------------

    @property
    def state_key(self) -> str:
        """Unique key of this callback's state in a checkpoint (class and name)."""
        return f"{type(self).__name__}[{self.name}]"

    def state_dict(self) -> dict[str, Any]:
        """Measured epochs and records, saved into every checkpoint."""
        return {
            "measured_epochs": list(self.measured_epochs),
            "records": [dict(r) for r in self.records],
            "schedule": self.schedule.describe(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore measured epochs and records from a checkpoint."""
        self.measured_epochs = [int(e) for e in state_dict.get("measured_epochs", [])]
        self.records = [dict(r) for r in state_dict.get("records", [])]


def iter_batches(
    X: torch.Tensor, y: torch.Tensor, batch_size: int, dist: Dist | None = None
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed-order ``(x, y)`` batches of this rank's shard of ``(X, y)`` (no shuffling, no padding)."""
    if dist is not None and dist.world_size > 1:
        part = dist.shard(len(X))
        X, y = X[part], y[part]
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]


def to_model_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` on the model's device, and in its floating dtype when ``x`` is floating.

    Trainers with ``precision="64-true"`` or ``"bf16-true"`` convert the weights; callbacks that
    feed stored float32 data to the model convert the inputs the same way.
    """
    param = next(model.parameters(), None)
    if param is None:
        return x
    if x.is_floating_point() and param.is_floating_point():
        return x.to(device=param.device, dtype=param.dtype)
    return x.to(param.device)


def as_split_map(data: Any, default: str = "train") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Normalise callback data to ``{split name: (X, y)}``.

    Accepts ``(X, y)``, an object with ``.X``/``.y`` (an :mod:`infolens.data` split), a dict of
    those, or an object with ``.train``/``.test`` splits (a dataset bundle).
    """
    def pair(obj: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(obj, "X") and hasattr(obj, "y"):
            return obj.X, obj.y
        if isinstance(obj, (tuple, list)) and len(obj) == 2:
            return obj[0], obj[1]
        raise InfolensError(
            f"data for split {name!r} must be an (X, y) pair of tensors or a split with .X/.y, "
            f"got {type(obj).__name__}"
        )

    if hasattr(data, "train") and hasattr(data, "test"):
        return {"train": pair(data.train, "train"), "test": pair(data.test, "test")}
    if isinstance(data, dict):
        return {str(k): pair(v, str(k)) for k, v in data.items()}
    return {default: pair(data, default)}


__all__: Sequence[str] = (
    "Dist", "MeasureCallback", "Schedule", "as_split_map", "iter_batches", "log_spaced_epochs",
    "to_model_input", "unwrap_model",
)
