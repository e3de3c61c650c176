"""Exact loss and accuracy of a frozen snapshot, per data split."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from infolens._validation import check_positive_int
from infolens.training.callbacks._base import (
    Dist,
    MeasureCallback,
    Schedule,
    as_split_map,
    iter_batches,
    to_model_input,
)
from infolens.training.module import ClassificationLoss
from infolens.training.records import record

__all__ = ["LossAccuracyCallback"]


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class LossAccuracyCallback(MeasureCallback):
    """Records the loss and accuracy of the model on each data split at scheduled epochs.

    The model is evaluated frozen, in ``eval()`` mode under ``torch.inference_mode()``, over the
    whole split in fixed order, so the values are exact means over the split at that epoch (not
    the running means Lightning logs while the weights change). Under DDP each rank evaluates its
    shard and the sums are all-reduced, so every rank records the full-split values.

    Records per split (``split`` = the split name, ``samples`` = its size, ``layer`` = ``""``):

    * ``loss``: the mean per-sample loss; unit ``"nats"`` for CE and BCE (BCE averaged over the
      bits), ``"1"`` for MSE (averaged over the outputs);
    * ``acc``: the fraction of samples classified correctly (all bits right for binary codes),
      unit ``"1"``.

    Parameters
    ----------
    data:
        ``{"train": (X, y), "test": (X, y)}``, a dataset bundle with ``.train``/``.test``, or a
        single ``(X, y)`` (recorded as ``"train"``).
    loss:
        A :class:`~infolens.training.module.ClassificationLoss` or loss name. ``None``
        (default): the ``criterion`` of the :class:`~infolens.training.ClassifierModule` being
        trained (cross-entropy when measuring outside a trainer).
    schedule:
        When to measure (see :class:`Schedule`; default every epoch, including epoch 0).
    batch_size:
        Evaluation batch size (does not change the values beyond float rounding).
    """

    family = "loss_acc"

    def __init__(
        self,
        data: Any,
        *,
        loss: ClassificationLoss | str | None = None,
        schedule: Schedule | int | str | None = None,
        batch_size: int = 1024,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        self.splits = as_split_map(data)
        self.loss = ClassificationLoss(loss) if isinstance(loss, str) else loss
        self.batch_size = check_positive_int("batch_size", batch_size)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Adopt the trained module's loss when none was given."""
        if self.loss is None and isinstance(getattr(pl_module, "criterion", None), ClassificationLoss):
            self.loss = pl_module.criterion

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """``loss`` and ``acc`` records of every split (see the class docstring)."""
        criterion = self.loss or ClassificationLoss("ce")
        rows = []
        for split, (X, y) in self.splits.items():
            # loss sum, correct, samples; on the model's device (NCCL reduces device tensors)
            totals = torch.zeros(3, dtype=torch.float64, device=_device(model))
            with torch.inference_mode():
                for xb, yb in iter_batches(X, y, self.batch_size, dist):
                    out = model(to_model_input(model, xb))
                    yb = yb.to(out.device)
                    totals[0] += criterion.per_sample(out, yb).double().sum()
                    totals[1] += criterion.correct(out, yb).sum()
                    totals[2] += yb.shape[0]
            totals = dist.all_reduce_sum(totals.clone()).cpu()
            n = int(totals[2])
            common = {"epoch": epoch, "step": step, "split": split, "samples": n}
            rows.append(record(measure="loss", value=float(totals[0] / n), unit=criterion.unit,
                               **common))
            rows.append(record(measure="acc", value=float(totals[1] / n), unit="1", **common))
        return rows
