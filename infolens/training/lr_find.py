"""Learning-rate range test (Smith), with the suggestion actually applied (geometry spec §3).

The thesis ran Lightning's range test but wrote the suggestion to ``hparams.learning_rate``
while its optimiser read ``hparams_initial``, so the suggestion was never used. Here the test
runs on a separate single-device trainer, the module's weights are restored afterwards, and the
suggestion is written to the live attribute ``module.lr`` that
:meth:`~infolens.training.ClassifierModule.configure_optimizers` reads.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.tuner import Tuner

from infolens._validation import InfolensError, check_positive_int
from infolens.training.trainer import make_loader

__all__ = ["LRFindResult", "lr_find"]

log = logging.getLogger(__name__)


@dataclass
class LRFindResult:
    """Outcome of :func:`lr_find`.

    ``suggestion``: the learning rate at the steepest descent of the loss curve (``None`` if the
    curve was too short); ``applied``: the learning rate now in ``module.lr``; ``previous``: the
    learning rate before the test; ``lrs``/``losses``: the tested learning rates and the smoothed
    training losses (the module's loss unit, e.g. nats for CE).
    """

    suggestion: float | None
    applied: float
    previous: float
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def lr_find(
    module: pl.LightningModule,
    train: Any,
    *,
    batch_size: int = 400,
    min_lr: float = 1e-8,
    max_lr: float = 1.0,
    num_training: int = 100,
    mode: str = "exponential",
    early_stop_threshold: float | None = 4.0,
    accelerator: str = "cpu",
    precision: str | int = "32-true",
    attr_name: str = "lr",
) -> LRFindResult:
    """Run the LR range test on ``module`` and set ``module.<attr_name>`` to its suggestion.

    Lightning's ``Tuner.lr_find`` (defaults as Lightning's and the spec's: ``min_lr`` 1e-8,
    ``max_lr`` 1, 100 exponentially spaced steps, stop when the loss exceeds 4× the best; the
    suggestion is the point of steepest descent) runs on a separate single-device trainer with
    no logger, checkpoints or callbacks, on ``train`` (``(X, y)`` tensors, a Dataset or a
    DataLoader; ``batch_size`` for tensors). The module's weights are restored afterwards and
    the global RNG state is left as it was, so the subsequent run differs from an untuned one
    only in its learning rate. The suggestion is applied to ``module.<attr_name>`` (the live
    attribute the optimiser reads) and to ``module.hparams``, and logged (``logging``, logger
    ``infolens.training.lr_find``). If no suggestion can be made the learning rate is kept, with
    a warning.
    """
    if not hasattr(module, attr_name):
        raise InfolensError(
            f"the module has no attribute {attr_name!r} to receive the learning rate; pass "
            "attr_name= the attribute configure_optimizers reads (ClassifierModule: 'lr')."
        )
    num_training = check_positive_int("num_training", num_training, minimum=2)
    if not (0 < min_lr < max_lr):
        raise InfolensError(f"need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}.")
    previous = float(getattr(module, attr_name))
    loader = make_loader(train, batch_size, shuffle=True)
    with tempfile.TemporaryDirectory(prefix="infolens-lr-find-") as tmp:
        trainer = pl.Trainer(
            default_root_dir=tmp, accelerator=accelerator, devices=1, precision=precision,
            max_epochs=-1,  # the test stops after num_training steps
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        )
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*but have no `val_dataloader`.*")
            finder = Tuner(trainer).lr_find(
                module, train_dataloaders=loader, min_lr=min_lr, max_lr=max_lr,
                num_training=num_training, mode=mode, early_stop_threshold=early_stop_threshold,
                update_attr=False, attr_name=attr_name,
            )
    suggestion = None if finder is None else finder.suggestion()
    if suggestion is not None and not (math.isfinite(suggestion) and suggestion > 0):
        suggestion = None
    if suggestion is None:
        warnings.warn(
            f"the LR range test gave no suggestion; keeping {attr_name}={previous}.",
            UserWarning,
            stacklevel=2,
        )
        applied = previous
    else:
        applied = float(suggestion)
        setattr(module, attr_name, applied)
        if hasattr(module, "hparams"):
            module.hparams[attr_name] = applied
            module.hparams[f"{attr_name}_tuned"] = True
        log.info("LR range test: %s = %.6g (was %.6g)", attr_name, applied, previous)
    results = finder.results if finder is not None else {"lr": [], "loss": []}
    return LRFindResult(
        suggestion=None if suggestion is None else float(suggestion),
        applied=applied,
        previous=previous,
        lrs=[float(v) for v in results.get("lr", [])],
        losses=[float(v) for v in results.get("loss", [])],
    )
