"""The binned information plane over training: I(X;T) and I(T;Y) per layer and split (bits).

See :func:`infolens.measures.info_plane.information_plane` for the definitions: each unit of a
measurement point T is binned into ``bins`` equal-width bins over its limits, the binned layer
vector T̃ is one discrete variable, ``I(X;T) = H(T̃)`` (T is a deterministic function of the input
pattern X) and ``I(T;Y) = H(T̃) + H(Y) − H(T̃, Y)``, plug-in (Shwartz-Ziv & Tishby, 2017).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from infolens._validation import InfolensWarning, check_choice, check_positive_int
from infolens.estimators.entropy import ESTIMATORS
from infolens.measures.info_plane import (
    DEFAULT_BINS,
    InfoPlaneCounts,
    activation_extremes,
    count_info_plane,
    limits_from_extremes,
    resolve_layers,
)
from infolens.training.callbacks._base import (
    Dist,
    MeasureCallback,
    Schedule,
    as_split_map,
    iter_batches,
)
from infolens.training.callbacks._shared import (
    check_limits_arg,
    fmt_limits,
    gather_states,
    label_transform,
    limits_for,
)
from infolens.training.records import record


class InfoPlaneCallback(MeasureCallback):
    """Records ``I_XT`` and ``I_TY`` (bits) per measurement point and data split.

    Args:
        layers: module paths of the layers T (default: ``model.measurement_points``; a model
            without them needs ``layers=``).
        data: ``(X, y)``, a split with ``.X``/``.y``, ``{split: (X, y)}`` or a bundle with
            ``.train``/``.test``; labels are integer codes (integral float targets, such as BCE's
            0./1. or one-hot rows, are read as integer codes; a ``(N, k)`` label is one joint Y).
        bins: equal-width bins per unit (default 30).
        limits: ``(lo, hi)`` for every layer or ``{path: (lo, hi)}``; default: each layer's
            bounded activation (tanh (-1, 1), sigmoid (0, 1), a zoo block's last activation).
            Layers without one are binned over the observed ``(min, max)`` of that split at that
            epoch (gathered over all ranks), with a warning (once per layer).
        estimator: ``"plugin"`` (default, the paper's) or ``"miller_madow"``.
        batch_size: forward-pass batch size.
        schedule: when to measure (:class:`~infolens.training.callbacks._base.Schedule`).

    Each record carries ``unit="bits"``, the ``estimator``, ``samples`` = N (the whole split, all
    ranks together) and ``bins`` as text ``"30 on [-1, 1]"`` (bins and limits). Under DDP every
    rank counts the distinct (T̃, Y) states of its shard, the counts are all-gathered and merged
    exactly, so every rank records the single-process values.
    """

    family = "info_plane"

    def __init__(
        self,
        layers: Sequence[str] | None = None,
        data: Any = None,
        *,
        bins: int = DEFAULT_BINS,
        limits: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
        estimator: str = "plugin",
        batch_size: int = 1024,
        schedule: Schedule | int | str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        if data is None:
            raise TypeError("InfoPlaneCallback needs data=(X, y) (or a split map) to measure on")
        self.layers = None if layers is None else list(layers)
        self.splits = as_split_map(data)
        self.bins = check_positive_int("bins", bins, minimum=2)
        self.limits = check_limits_arg(limits)
        self.estimator = check_choice("estimator", estimator, ESTIMATORS)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self._warned: set[str] = set()

    def _limits(self, model: nn.Module, paths: list[str], X, y, dist: Dist) -> dict:
        lims = {p: limits_for(model, p, self.limits) for p in paths}
        missing = [p for p in paths if lims[p] is None]
        if missing:
            local = activation_extremes(
                model, iter_batches(X, y, self.batch_size, dist), missing
            )
            parts = gather_states(dist, local)
            for p in missing:
                lims[p] = limits_from_extremes(
                    (min(part[p][0] for part in parts), max(part[p][1] for part in parts))
                )
                if p not in self._warned:
                    self._warned.add(p)
                    warnings.warn(
                        f"InfoPlaneCallback: layer {p!r} has no bounded activation, so it is "
                        f"binned over the observed range of each split at each epoch (first: "
                        f"{fmt_limits(lims[p])}); pass limits= for fixed bins.",
                        InfolensWarning,
                        stacklevel=2,
                    )
        return lims

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """Count (T̃, Y) states on this rank's shard of every split, merge over ranks, record."""
        paths = resolve_layers(model, self.layers)
        rows: list[dict] = []
        for split, (X, y) in self.splits.items():
            lims = self._limits(model, paths, X, y, dist)
            accs = count_info_plane(
                model, iter_batches(X, y, self.batch_size, dist), lims, bins=self.bins,
                label_transform=label_transform,
            )
            parts = gather_states(dist, {p: accs[p].state() for p in paths})
            for path in paths:
                point = InfoPlaneCounts.merged([part[path] for part in parts]).result(self.estimator)
                common = dict(
                    epoch=epoch, step=step, split=split, layer=path, unit="bits",
                    estimator=point.estimator, samples=point.samples,
                    bins=f"{point.bins} on {fmt_limits(point.limits)}",
                )
                rows.append(record(measure="I_XT", value=point.I_XT, **common))
                rows.append(record(measure="I_TY", value=point.I_TY, **common))
        return rows


__all__ = ["InfoPlaneCallback"]
