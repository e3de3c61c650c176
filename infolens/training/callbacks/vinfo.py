"""Decodable (𝒱-)information per split point, tracked over training (DIB sufficiency/minimality)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
from torch import nn

from infolens._validation import InfolensError, check_choice, check_positive_int
from infolens.measures.vinfo import INPUT, decodable_information
from infolens.measures.vinfo import split_points as sequential_split_points
from infolens.training.callbacks._base import Dist, MeasureCallback, Schedule, as_split_map
from infolens.training.records import record

__all__ = ["VInformationCallback"]

_KINDS = {"sufficiency": "vsuff", "minimality": "vmin"}


class VInformationCallback(MeasureCallback):
    """Records decodable information (sufficiency and minimality) of each split point, in bits.

    At every scheduled epoch, for every split point ``l`` the frozen encoder ``f^{l:1}`` (the model
    up to child ``l``, in ``eval()`` mode) encodes the data once; fresh, re-initialised copies of
    the rest of the network are trained as probes on the ``fit_split`` and evaluated with their
    final weights, in eval mode, on every split of ``data``
    (:func:`infolens.measures.vinfo.decodable_information`; geometry spec §2.3–2.5):

    * ``vsuff`` = I_𝒱(Z_l → Y) = H_emp(Y) − CE/ln 2, one head on the labels trained ``epochs``;
    * ``vmin`` = Σ_d I_𝒱(Z_l → Ñ_d) (``digit_reduction="sum"``, Dubois) or the mean over the
      digits (``"mean"``, the thesis), one head per base-C digit of the within-class index,
      trained ``dib_epochs``; lower = more minimal.

    Records: ``measure`` ``vsuff``/``vmin``, unit ``"bits"`` (unclamped, may be negative),
    ``layer`` = the split point (``"input"`` or the child name), ``split`` = the evaluation split,
    ``samples`` = its size, ``estimator`` = the probe settings (``"dib fit=train sum perm=0"``:
    fit split, digit reduction, permutations).

    Split point ``"input"`` (the raw input) does not change during training: it is computed at
    the first measurement, kept in the callback state (and checkpoints), and its values are
    recorded again at every later measured epoch.

    Under DDP the probes train on rank 0 only; the records are shared with
    ``all_gather_object``, so every rank holds identical records.

    Parameters
    ----------
    data:
        ``{"train": (X, y), "test": (X, y)}``, a dataset bundle, or one ``(X, y)`` (``"train"``).
        Every split is an evaluation split; ``fit_split`` must be one of them.
    num_classes:
        C, the number of label values.
    split_points:
        Child names of the ``nn.Sequential`` model (and/or ``"input"``); ``None``: every split
        point (:func:`infolens.measures.vinfo.split_points`).
    epochs, dib_epochs:
        Probe epochs of the sufficiency head (default 20) and the minimality heads (default 50).
    lr:
        Probe learning rate (AdamW); ``None``: the trained module's live ``lr`` (2e-3 outside a
        trainer), as the thesis used the main run's.
    batch_size:
        Probe batch size (the main run's in the thesis: 400).
    head_factory:
        ``head_factory(split_at, seed)`` builds a freshly initialised decoder; ``None``: the
        model's own ``head_factory`` (zoo models: the tail of a newly constructed model, spec
        §2.3), else re-initialised copies of the trained tail (``reset_parameters``).
    digit_reduction, permutations, weight_decay, seed:
        As in :func:`~infolens.measures.vinfo.decodable_information`.
    """

    family = "vinfo"

    def __init__(
        self,
        *,
        data: Any,
        num_classes: int,
        split_points: Sequence[str] | None = None,
        epochs: int = 20,
        dib_epochs: int = 50,
        schedule: Schedule | int | str | None = None,
        fit_split: str = "train",
        lr: float | None = None,
        batch_size: int = 400,
        weight_decay: float = 1e-2,
        digit_reduction: str = "sum",
        permutations: int = 0,
        seed: int = 0,
        head_factory: Callable[[str, int], nn.Module] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        self.splits = as_split_map(data)
        if fit_split not in self.splits:
            raise InfolensError(
                f"fit_split={fit_split!r} is not among the data splits {list(self.splits)}."
            )
        self.fit_split = fit_split
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.split_points = None if split_points is None else [str(p) for p in split_points]
        self.epochs = check_positive_int("epochs", epochs)
        self.dib_epochs = check_positive_int("dib_epochs", dib_epochs)
        self.lr = lr
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.weight_decay = float(weight_decay)
        self.digit_reduction = check_choice("digit_reduction", digit_reduction, ("sum", "mean"))
        self.permutations = check_positive_int("permutations", permutations, minimum=0)
        self.seed = int(seed)
        self.head_factory = head_factory
        self._module_lr: float | None = None
        #: results of split point "input", computed once: [(kind, eval split, value, n)]
        self.input_results: list[tuple[str, str, float, int]] | None = None

    @property
    def estimator(self) -> str:
        """The probe settings written into each record's ``estimator`` column."""
        return f"dib fit={self.fit_split} {self.digit_reduction} perm={self.permutations}"

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Remember the trained module's live learning rate (the probes' default)."""
        lr = getattr(pl_module, "lr", None)
        if isinstance(lr, (int, float)):
            self._module_lr = float(lr)

    def _run(self, model: nn.Module, points: list[str]) -> list[tuple[str, str, str, float, int]]:
        """``(split point, kind, eval split, value in bits, eval samples)`` of ``points``."""
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else None
        splits = {
            name: (X.to(dtype) if dtype is not None and X.is_floating_point() else X, y)
            for name, (X, y) in self.splits.items()
        }
        lr = self.lr if self.lr is not None else (self._module_lr or 2e-3)
        head_factory = self.head_factory
        if head_factory is None and callable(getattr(model, "head_factory", None)):
            head_factory = model.head_factory
        df = decodable_information(
            model, points, splits[self.fit_split], eval_data=splits, fit_split=self.fit_split,
            num_classes=self.num_classes, epochs=self.epochs,
            minimality_epochs=self.dib_epochs, digit_reduction=self.digit_reduction,
            permutations=self.permutations, batch_size=self.batch_size, lr=lr,
            weight_decay=self.weight_decay, seed=self.seed, head_factory=head_factory,
        )
        sizes = {name: int(y.shape[0]) for name, (_, y) in splits.items()}
        return [
            (str(r.split_at), str(r.kind), str(r.eval_split), float(r.value), sizes[r.eval_split])
            for r in df.itertuples()
            if r.kind in _KINDS
        ]

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """``vsuff`` and ``vmin`` records of every split point and evaluation split."""
        if dist.world_size == 1:
            return self._measure_rank0(model, epoch, step)
        payload: tuple[str, Any] | None = None
        if dist.rank == 0:
            try:
                payload = ("ok", (self._measure_rank0(model, epoch, step), self.input_results))
            except Exception as err:  # re-raised on every rank, so no rank waits forever
                payload = ("error", f"{type(err).__name__}: {err}")
        status, value = dist.all_gather_object(payload)[0]
        if status == "error":
            raise InfolensError(f"VInformationCallback failed on rank 0: {value}")
        rows, self.input_results = value
        return rows

    def _measure_rank0(self, model: nn.Module, epoch: int, step: int) -> list[dict]:
        points = self.split_points or sequential_split_points(model)
        results = []
        if INPUT in points:
            if self.input_results is None:  # the raw input never changes: computed once
                self.input_results = [r[1:] for r in self._run(model, [INPUT])]
            results += [(INPUT, *r) for r in self.input_results]
        others = [p for p in points if p != INPUT]
        if others:
            results += self._run(model, others)
        order = {p: i for i, p in enumerate(points)}
        results.sort(key=lambda r: order[r[0]])  # model order, "input" first
        return [
            record(epoch=epoch, step=step, measure=_KINDS[kind], value=value, unit="bits",
                   split=split, layer=point, estimator=self.estimator, samples=n)
            for point, kind, split, value, n in results
        ]

    def state_dict(self) -> dict[str, Any]:
        """Measured epochs, records, and the cached results of split point ``"input"``."""
        state = super().state_dict()
        state["input_results"] = None if self.input_results is None else [
            list(r) for r in self.input_results
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore measured epochs, records and the cached ``"input"`` results."""
        super().load_state_dict(state_dict)
        cached = state_dict.get("input_results")
        self.input_results = None if cached is None else [tuple(r) for r in cached]
