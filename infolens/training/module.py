"""The classification LightningModule: one loss/optimiser setup for every experiment.

:class:`ClassifierModule` trains any ``nn.Module`` (kept as ``self.model``, where the measure
callbacks find it) on integer class labels with one of three losses:

* ``"ce"``: cross-entropy on logits (nats per sample);
* ``"mse"``: squared error of the outputs against one-hot targets (``encoding="one_hot"``, deep-ei)
  or against the LSB-first binary code (``encoding="binary"``, nninfo's "MNIST binary"); the
  outputs are used as they are (a network with a sigmoid output layer keeps it), or through a
  sigmoid with ``sigmoid=True`` (bit logits such as ``NNInfoMLP(output="binary_code")``);
* ``"bce"``: binary cross-entropy against the LSB-first binary code ``bit_i = (y >> i) & 1``, one
  output per bit (for 2 classes a single logit); the outputs are logits and the sigmoid is
  applied inside the loss (``sigmoid=True``, the default), or they are already probabilities
  (``sigmoid=False``, for networks whose last layer is a sigmoid).

Accuracy is argmax agreement for one-hot encodings and, for binary codes, the fraction of samples
whose bits are *all* correct after thresholding at 1/2.

The seed papers' setups: deep-ei's Iris net (sigmoid outputs) is ``loss="mse",
reduction="sum", optimizer="sgd"``; nninfo's "MNIST binary" (``NNInfoMLP(output="binary_code")``,
bit logits) is ``loss="mse", encoding="binary", sigmoid=True``; nninfo's Tishby demo
(``NNInfoMLP(output="sigmoid")``, whose ``BinaryLogits`` head turns the one sigmoid logit into two
class logits) is ``loss="ce"``, which equals BCE on the logit exactly; a plain network with one
output logit for two classes is ``loss="bce"``.

:class:`ClassificationLoss` holds the loss on its own, so the loss/accuracy callback evaluates
exactly what the module optimises.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from infolens._validation import InfolensError, check_choice

__all__ = ["ClassificationLoss", "ClassifierModule", "bits_for"]

LOSSES = ("ce", "mse", "bce")
OPTIMIZERS = ("adam", "adamw", "sgd")
REDUCTIONS = ("mean", "sum")
ENCODINGS = ("one_hot", "binary")


# --------------------------------------------------------------------------------------
# Target encodings
# --------------------------------------------------------------------------------------


# Same encodings as infolens.data.one_hot / binary_code (the tests check it), without their
# per-call validation and on the labels' device, for use inside the training step.


def _one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float one-hot rows ``(N, num_classes)`` of integer labels ``y``."""
    return F.one_hot(y.long(), num_classes).float()


def _binary_code(y: torch.Tensor, n_bits: int) -> torch.Tensor:
    """Float bits ``(N, n_bits)``, least significant bit first: ``bit_i = (y >> i) & 1``."""
    shifts = torch.arange(n_bits, device=y.device)
    return ((y.long()[:, None] >> shifts) & 1).float()


def bits_for(num_classes: int) -> int:
    """The number of bits of the binary code of ``num_classes`` classes (1 for 2 classes)."""
    return max(1, (int(num_classes) - 1).bit_length())


# --------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------


class ClassificationLoss:
    """A classification loss on integer labels: the training objective, per-sample loss, accuracy.

    Parameters
    ----------
    kind:
        ``"ce"`` (cross-entropy on logits, nats), ``"mse"`` (mean squared error of the outputs
        against the encoded targets, dimensionless) or ``"bce"`` (binary cross-entropy per bit of
        the LSB-first binary code, nats).
    reduction:
        How :meth:`objective` reduces a batch: ``"mean"`` (torch's default: the mean over samples
        for CE, over all output elements for MSE/BCE) or ``"sum"`` (the sum over everything, as
        deep-ei trained its MSE nets). Reported losses are always per-sample means
        (:meth:`per_sample`), whatever the reduction.
    encoding:
        Targets of ``"mse"``: ``"one_hot"`` (default) or ``"binary"``. ``"bce"`` always uses the
        binary code; ``"ce"`` uses the labels.
    sigmoid:
        Whether the model outputs pass through a sigmoid inside the loss. ``"bce"``: ``True``
        (default, numerically stable BCE-with-logits) or ``False`` (outputs are probabilities
        already). ``"mse"``: ``False`` (default, outputs used as they are) or ``True`` (bit
        logits). Not used by ``"ce"``.

    The number of classes / bits is the model's output width: ``C`` outputs for one-hot targets,
    ``n_bits`` outputs for the binary code (labels must be ``< 2**n_bits``).
    """

    def __init__(
        self,
        kind: str = "ce",
        *,
        reduction: str = "mean",
        encoding: str | None = None,
        sigmoid: bool | None = None,
    ) -> None:
        self.kind = check_choice("loss", kind, LOSSES)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        if encoding is None:
            encoding = "binary" if self.kind == "bce" else "one_hot"
        self.encoding = check_choice("encoding", encoding, ENCODINGS)
        if self.kind == "bce" and self.encoding != "binary":
            raise InfolensError("loss='bce' trains on the binary code; pass encoding='binary' or None.")
        if sigmoid is not None and not isinstance(sigmoid, bool):
            raise InfolensError(f"sigmoid must be True, False or None, got {sigmoid!r}.")
        if self.kind == "ce" and sigmoid:
            raise InfolensError("loss='ce' works on logits; sigmoid=True applies to 'mse' and 'bce'.")
        self.sigmoid = (self.kind == "bce") if sigmoid is None else sigmoid

    @property
    def unit(self) -> str:
        """Unit of the loss values: ``"nats"`` for CE and BCE, ``"1"`` for MSE."""
        return "1" if self.kind == "mse" else "nats"

    def _targets(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if out.dim() != 2:
            raise InfolensError(
                f"loss={self.kind!r} needs model outputs of shape (batch, outputs), got "
                f"{tuple(out.shape)}."
            )
        width = out.shape[1]
        if self.encoding == "one_hot":
            if y.numel() and int(y.max()) >= width:
                raise InfolensError(
                    f"labels reach {int(y.max())} but the model has {width} outputs; one-hot "
                    "targets need one output per class."
                )
            return _one_hot(y, width).to(out.dtype)
        if y.numel() and int(y.max()) >= 2**width:
            raise InfolensError(
                f"labels reach {int(y.max())} but the model's {width} output(s) code at most "
                f"{2**width} classes in binary; use {bits_for(int(y.max()) + 1)} outputs."
            )
        return _binary_code(y, width).to(out.dtype)

    def _elementwise(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unreduced loss: (B,) for CE, (B, outputs) for MSE/BCE."""
        if self.kind == "ce":
            return F.cross_entropy(out, y.long(), reduction="none")
        target = self._targets(out, y)
        if self.kind == "mse":
            return ((torch.sigmoid(out) if self.sigmoid else out) - target).square()
        if self.sigmoid:
            return F.binary_cross_entropy_with_logits(out, target, reduction="none")
        return F.binary_cross_entropy(out, target, reduction="none")

    def objective(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch, reduced by ``reduction`` (computed in float32 or wider)."""
        out = out if out.dtype in (torch.float32, torch.float64) else out.float()
        loss = self._elementwise(out, y)
        return loss.sum() if self.reduction == "sum" else loss.mean()

    def per_sample(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of each sample ``(B,)``: CE in nats; MSE/BCE as the mean over output units."""
        out = out if out.dtype in (torch.float32, torch.float64) else out.float()
        loss = self._elementwise(out, y)
        return loss if loss.dim() == 1 else loss.mean(1)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B,)``: argmax equals the label (one-hot/CE), or every bit right (binary)."""
        if self.kind == "ce" or self.encoding == "one_hot":
            return out.argmax(1) == y
        threshold = 0.0 if self.sigmoid else 0.5  # sigmoid(z) > 1/2  <=>  z > 0
        bits = (out > threshold).to(torch.int64)
        return (bits == self._targets(out, y).to(torch.int64)).all(1)

    def describe(self) -> dict[str, Any]:
        """The settings as plain data (for hparams)."""
        return {"loss": self.kind, "reduction": self.reduction, "encoding": self.encoding,
                "sigmoid": self.sigmoid}


# --------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------


def _make_optimizer(
    name: str, params: list[torch.Tensor], lr: float, weight_decay: float | None, momentum: float
) -> torch.optim.Optimizer:
    """Adam/AdamW/SGD with torch's default betas (and weight decay unless given), fused if possible."""
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    kwargs: dict[str, Any] = {"lr": lr}
    if weight_decay is not None:
        kwargs["weight_decay"] = weight_decay
    if name == "sgd":
        kwargs["momentum"] = momentum
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):  # device/dtype without a fused kernel
        return cls(params, foreach=True, **kwargs)


class ClassifierModule(pl.LightningModule):
    """Trains ``model`` as a classifier and logs loss and accuracy per epoch.

    Logged every epoch (means over the epoch's batches, synchronised across DDP ranks):
    ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (validation is whatever loader
    ``fit`` gets as validation data; in infolens runs that is the test split), and ``lr``, the
    learning rate the optimiser actually uses. Losses are per-sample means (CE and BCE in nats,
    MSE dimensionless); accuracies are fractions in [0, 1]. The logged training values are
    running means while the weights change; the :class:`~infolens.training.callbacks.
    LossAccuracyCallback` records exact values on a frozen snapshot.

    Parameters
    ----------
    model:
        The network (kept as ``self.model``; measure callbacks read this attribute).
    loss:
        ``"ce"``, ``"mse"`` or ``"bce"``, or a :class:`ClassificationLoss`.
    optimizer:
        ``"adamw"`` (default, the thesis's), ``"adam"`` or ``"sgd"``; fused kernels where the
        device supports them; torch's default betas and weight decay unless ``weight_decay`` is
        given; ``momentum`` applies to SGD only (default 0). No scheduler.
    lr:
        Learning rate, stored as the live attribute :attr:`lr` that
        :meth:`configure_optimizers` reads (so the LR range test can set it).
    reduction, encoding, sigmoid:
        Passed to :class:`ClassificationLoss` when ``loss`` is a string.
    log_metrics:
        Log the running ``train_*``/``val_*`` means and ``lr`` (default). ``False`` skips
        Lightning's per-step logging, which costs about half of every step on networks of a few
        hundred parameters; record exact values with the loss/accuracy callback instead. The
        objective, optimiser and updates are the same either way.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        loss: str | ClassificationLoss = "ce",
        optimizer: str = "adamw",
        lr: float = 2e-3,
        weight_decay: float | None = None,
        momentum: float = 0.0,
        reduction: str = "mean",
        encoding: str | None = None,
        sigmoid: bool | None = None,
        log_metrics: bool = True,
    ) -> None:
        super().__init__()
        self.log_metrics = bool(log_metrics)
        if not isinstance(model, nn.Module):
            raise InfolensError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        self.model = model
        self.criterion = (
            loss if isinstance(loss, ClassificationLoss)
            else ClassificationLoss(loss, reduction=reduction, encoding=encoding, sigmoid=sigmoid)
        )
        self.optimizer_name = check_choice("optimizer", str(optimizer).lower(), OPTIMIZERS)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise InfolensError(f"lr must be a positive number, got {lr!r}.")
        self.lr = float(lr)
        self.weight_decay = weight_decay
        self.momentum = float(momentum)
        self.save_hyperparameters(
            {
                **self.criterion.describe(), "optimizer": self.optimizer_name, "lr": self.lr,
                "weight_decay": weight_decay, "momentum": self.momentum,
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped model's output."""
        return self.model(x)

    def _step(self, batch: Any, prefix: str) -> torch.Tensor:
        x, y = batch[0], batch[1]
        out = self.model(x)
        loss = self.criterion.objective(out, y)
        if not self.log_metrics:
            return loss
        with torch.no_grad():
            n = y.shape[0]
            mean_loss = self.criterion.per_sample(out.detach(), y).mean()
            acc = self.criterion.correct(out.detach(), y).float().mean()
        self.log(f"{prefix}_loss", mean_loss, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=n, prog_bar=True)
        self.log(f"{prefix}_acc", acc, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=n, prog_bar=prefix == "val")
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """One optimisation step on the objective; logs ``train_loss``/``train_acc``."""
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Logs ``val_loss``/``val_acc`` (per-sample means over the validation loader)."""
        self._step(batch, "val")

    def on_train_epoch_start(self) -> None:
        """Logs ``lr``, the learning rate the optimiser uses this epoch."""
        optimizer = self.trainer.optimizers[0] if self.trainer.optimizers else None
        if optimizer is not None and self.log_metrics:
            self.log("lr", float(optimizer.param_groups[0]["lr"]), on_step=False, on_epoch=True,
                     sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """The optimiser over ``self.model``'s parameters, at the live learning rate ``self.lr``."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        return _make_optimizer(self.optimizer_name, params, self.lr, self.weight_decay, self.momentum)
