"""Training with tracked measures: the classifier module, the LR range test, trainers, callbacks.

* :class:`ClassifierModule` trains any ``nn.Module`` (CE, MSE or BCE; Adam, AdamW or SGD);
* :func:`lr_find` runs the LR range test and applies its suggestion to ``module.lr``;
* :func:`make_trainer` / :func:`fit` train with a checkpoint every epoch and resume from
  ``run_dir/checkpoints/last.ckpt``;
* the measure callbacks (:mod:`infolens.training.callbacks`) record measures over training as rows
  of the long results table (:func:`record`).

Names load on first use (Lightning is imported only when needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ClassifierModule": "infolens.training.module",
    "ClassificationLoss": "infolens.training.module",
    "lr_find": "infolens.training.lr_find",
    "LRFindResult": "infolens.training.lr_find",
    "make_trainer": "infolens.training.trainer",
    "make_loader": "infolens.training.trainer",
    "fit": "infolens.training.trainer",
    "last_checkpoint": "infolens.training.trainer",
    "checkpoint_path": "infolens.training.trainer",
    "RNGStateCallback": "infolens.training.trainer",
    "EpochCheckpoint": "infolens.training.trainer",
    "COLUMNS": "infolens.training.records",
    "record": "infolens.training.records",
    "Schedule": "infolens.training.callbacks._base",
    "MeasureCallback": "infolens.training.callbacks._base",
    "LossAccuracyCallback": "infolens.training.callbacks.loss_accuracy",
    "NC1Callback": "infolens.training.callbacks.nc1",
    "VInformationCallback": "infolens.training.callbacks.vinfo",
}
_MODULES = {"callbacks": "infolens.training.callbacks"}

__all__ = [
    "COLUMNS",
    "ClassificationLoss",
    "ClassifierModule",
    "EpochCheckpoint",
    "LRFindResult",
    "LossAccuracyCallback",
    "MeasureCallback",
    "NC1Callback",
    "RNGStateCallback",
    "Schedule",
    "VInformationCallback",
    "callbacks",
    "checkpoint_path",
    "fit",
    "last_checkpoint",
    "lr_find",
    "make_loader",
    "make_trainer",
    "record",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from infolens.training import callbacks
    from infolens.training.callbacks._base import MeasureCallback, Schedule
    from infolens.training.callbacks.loss_accuracy import LossAccuracyCallback
    from infolens.training.callbacks.nc1 import NC1Callback
    from infolens.training.callbacks.vinfo import VInformationCallback
    from infolens.training.lr_find import LRFindResult, lr_find
    from infolens.training.module import ClassificationLoss, ClassifierModule
    from infolens.training.records import COLUMNS, record
    from infolens.training.trainer import (
        EpochCheckpoint,
        RNGStateCallback,
        checkpoint_path,
        fit,
        last_checkpoint,
        make_loader,
        make_trainer,
    )
