"""Neural collapse NC1 per measurement point and data split, tracked over training."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from infolens._validation import InfolensError, check_positive_int, parse_memory
from infolens.measures.nc1 import NC1
from infolens.nn.capture import capture
from infolens.training.callbacks._base import (
    Dist,
    MeasureCallback,
    Schedule,
    as_split_map,
    iter_batches,
    to_model_input,
)
from infolens.training.records import record

__all__ = ["NC1Callback", "resolve_layers"]


def resolve_layers(
    model: nn.Module, layers: Mapping[str, str] | Sequence[str] | str | None, who: str
) -> dict[str, str]:
    """``{record name: module path}`` of the layers to measure.

    ``layers`` may be a mapping ``{name: path}``, a list of module paths (each its own name), one
    path, or ``None``: the model's ``measurement_points`` attribute (zoo models declare it, as a
    mapping or a list).
    """
    if layers is None:
        layers = getattr(model, "measurement_points", None)
        if layers is None:
            raise InfolensError(
                f"{who}: the model ({type(model).__name__}) declares no measurement_points; pass "
                "layers=[module paths] or {name: module path}."
            )
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        out = {str(k): str(v) for k, v in layers.items()}
    else:
        out = {str(p): str(p) for p in layers}
    if not out:
        raise InfolensError(f"{who}: no layers to measure; pass at least one module path.")
    if len(set(out.values())) != len(out):
        raise InfolensError(f"{who}: layers {out} name the same module twice.")
    return out


class NC1Callback(MeasureCallback):
    """Records neural collapse NC1 of each measurement point on each data split.

    At every scheduled epoch both NC1 passes (class sums, then within-class projections) run on
    the same frozen model, in ``eval()`` mode under ``torch.inference_mode()``, over the same
    fixed, unshuffled data (geometry spec §1.3); features are accumulated in float64. Under DDP
    every rank takes its shard ``rank::world_size`` of each split and the sum states of
    :class:`~infolens.measures.nc1.NC1` are all-reduced after each pass, so every rank records
    the full-split values.

    Records per layer and split (``layer`` = the measurement-point name, ``split`` = the split
    name, ``samples`` = N, unit ``"1"``, dimensionless):

    * ``nc1`` = tr(Σ_W Σ_B⁺)/C (Papyan, Han & Donoho);
    * ``nc1_trace`` = tr(Σ_W Σ_B⁺) = C·``nc1`` (what the thesis logged).

    Parameters
    ----------
    data:
        ``{"train": (X, y), "test": (X, y)}``, a dataset bundle with ``.train``/``.test``, or
        one ``(X, y)`` (recorded as ``"train"``).
    num_classes:
        The number of label values C (classes absent from a split are dropped there).
    layers:
        ``{name: module path}``, a list of module paths, or ``None`` for the model's
        ``measurement_points``.
    rel_eig_tol:
        Relative eigenvalue cutoff of Σ_B⁺ (default 1e-5, the thesis value).
    batch_size:
        Evaluation batch size. NC1 does not depend on it, except for BatchNorm without running
        statistics (then keep it fixed).
    cache_memory:
        While this rank's pass-1 features (float64) fit in this many bytes they are kept and
        pass 2 reuses them instead of running the model again (same values); ``None``/0: always
        run the second sweep.
    """

    family = "nc1"

    def __init__(
        self,
        *,
        data: Any,
        num_classes: int,
        layers: Mapping[str, str] | Sequence[str] | str | None = None,
        schedule: Schedule | int | str | None = None,
        rel_eig_tol: float = 1e-5,
        batch_size: int = 1024,
        cache_memory: int | str | None = "1GiB",
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        self.splits = as_split_map(data)
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.layers = layers
        self.rel_eig_tol = float(rel_eig_tol)
        NC1(self.num_classes, rel_eig_tol=self.rel_eig_tol)  # validates the settings now
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.cache_bytes = 0 if not cache_memory else parse_memory(cache_memory, default=2**30)
        self._warned = False

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """``nc1`` and ``nc1_trace`` records of every layer and split (see the class docstring)."""
        layers = resolve_layers(model, self.layers, "NC1Callback")
        if not self._warned and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
            for m in model.modules()
        ):
            self._warned = True
            warnings.warn(
                "NC1Callback: the model has BatchNorm without running stats, which uses batch "
                "statistics in eval mode; NC1 then depends on batch composition (the callback "
                f"uses a fixed order and batch_size={self.batch_size}).",
                UserWarning,
                stacklevel=2,
            )
        rows = []
        for split, (X, y) in self.splits.items():
            result = self._nc1_of_split(model, layers, X, y, dist)
            for name, path in layers.items():
                res = result[path]
                common = {"epoch": epoch, "step": step, "split": split, "layer": name,
                          "samples": res["n"]}
                rows.append(record(measure="nc1", value=res["nc1"], unit="1", **common))
                rows.append(record(measure="nc1_trace", value=res["nc1_trace"], unit="1", **common))
        return rows

    def _nc1_of_split(
        self, model: nn.Module, layers: dict[str, str], X: torch.Tensor, y: torch.Tensor, dist: Dist
    ) -> dict[str, dict]:
        def reduce(t: torch.Tensor) -> None:
            t.copy_(dist.all_reduce_sum(t))

        all_reduce = reduce if dist.world_size > 1 else None
        metric = NC1(self.num_classes, rel_eig_tol=self.rel_eig_tol)
        paths = list(layers.values())
        cache: list[tuple[dict[str, torch.Tensor], torch.Tensor]] | None = [] if self.cache_bytes else None
        used = 0
        with torch.inference_mode(), capture(model, paths) as feats:

            def sweep():
                batches = list(iter_batches(X, y, self.batch_size, dist))
                if not batches:  # an empty shard still fixes D (every rank must update once)
                    batches = [(X[:0], y[:0])]
                for xb, yb in batches:
                    feats.clear()
                    model(to_model_input(model, xb))
                    missing = [p for p in paths if p not in feats]
                    if missing:
                        raise InfolensError(
                            f"NC1Callback: layer(s) {missing} did not run in the forward pass; pass "
                            "modules that the model's forward calls."
                        )
                    yield {p: feats[p].to(torch.float64) for p in paths}, yb

            for batch_feats, yb in sweep():
                metric.update(batch_feats, yb)
                if cache is not None:
                    used += sum(f.numel() * 8 for f in batch_feats.values())
                    if used <= self.cache_bytes:
                        cache.append((batch_feats, yb))
                    else:
                        cache = None  # too large: pass 2 runs the model again
            metric.finish_first_pass(all_reduce)
            for batch_feats, yb in cache if cache is not None else sweep():
                metric.update(batch_feats, yb)
        return metric.compute(all_reduce)
