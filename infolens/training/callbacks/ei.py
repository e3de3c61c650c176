"""Interventional EI and the causal plane over training (deep-ei's measures), per layer, bits.

For every measured layer, under the intervention do(x ~ U[l, u]^n) on the layer's input (no data
involved): sensitivity S, EI_parts, vector EI, degeneracy ``D = S − EI_parts`` and the rotated
causal-plane coordinates ``x' = (S − D)/√2 = EI_parts/√2`` and ``y' = (S + D)/√2``; see
:func:`infolens.measures.causal_plane.causal_plane` and :func:`infolens.ei_parts`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from infolens._validation import (
    InfolensError,
    check_choice,
    check_positive_int,
    check_range,
)
from infolens.estimators.entropy import ESTIMATORS
from infolens.measures.causal_plane import DEFAULT_KINDS, causal_plane
from infolens.measures.ei import AUTO_FALLBACK, EXACT_ESTIMATORS
from infolens.measures.info_plane import resolve_layers
from infolens.nn.topology import topology_of
from infolens.training.callbacks._base import Dist, MeasureCallback, Schedule
from infolens.training.callbacks._shared import model_device_dtype, on_rank0
from infolens.training.records import record

#: Measures recorded from the pairwise (EI_parts / sensitivity) estimates.
PAIRWISE_MEASURES = ("sensitivity", "ei_parts", "degeneracy", "x_prime", "y_prime")


def model_input_shape(model: nn.Module, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """One sample's input shape: ``input_shape``, else ``model.input_shape`` (zoo models), else
    ``(in_features,)`` of a model whose first parametrised module is an ``nn.Linear``."""
    if input_shape is not None:
        shape = tuple(int(v) for v in input_shape)
    elif getattr(model, "input_shape", None) is not None:
        shape = tuple(int(v) for v in model.input_shape)
    else:
        first = next((m for m in model.modules() if next(m.parameters(recurse=False), None) is not None),
                     None)
        if not isinstance(first, nn.Linear):
            raise InfolensError(
                f"cannot tell the input shape of {type(model).__name__}; pass input_shape= (one "
                "sample's shape, e.g. input_shape=(1, 28, 28))."
            )
        shape = (int(first.in_features),)
    if not shape or any(v < 1 for v in shape):
        raise InfolensError(f"input_shape must hold positive sizes, got {shape}.")
    return shape


def ei_layer_paths(model: nn.Module, topology, layers: Sequence[str]) -> list[tuple[str, str]]:
    """``[(measurement point, module path measured)]`` for the EI family.

    A point that is itself a Linear/Conv/pooling layer is measured as is. A block (e.g. a zoo
    model's ``layer_k = Sequential(Linear, Tanh)``) is measured through the **last** Linear/Conv/
    pooling layer inside it, whose output activation (the block's nonlinearity) the topology
    finds, so the map measured is the block's last affine map and its activation and the exact
    estimator applies. A point with no such layer inside is measured as a whole module.
    """
    measurable = [info.path for info in topology.measurable(DEFAULT_KINDS)]
    out = []
    for point in layers:
        module = model.get_submodule(point)
        if isinstance(module, DEFAULT_KINDS):
            out.append((point, point))
            continue
        inside = [p for p in measurable if p.startswith(point + ".")]
        out.append((point, inside[-1] if inside else point))
    return out


class EICallback(MeasureCallback):
    """Records the causal plane of each layer: sensitivity, EI_parts, EI, degeneracy, x', y'.

    Interventional: no data is used; each layer's inputs are set to independent uniform noise
    over their range. Per layer (``split=""``), bits: ``sensitivity``, ``ei_parts``,
    ``degeneracy`` (S − EI_parts), ``x_prime`` (EI_parts/√2), ``y_prime`` ((S + D)/√2), ``ei``
    (vector EI, when ``vector``) and, when ``null``, the shuffle nulls ``sensitivity_null``,
    ``ei_parts_null``, ``ei_null`` (the estimator's bias floor). Each record carries the
    estimator actually used (``"exact"`` where the layer allows it under ``"auto"``, else the
    sampler; vector EI is always sampled with Miller–Madow under ``"auto"``/``"exact"``),
    ``samples`` (``None`` for exact values) and ``bins`` (``"64x64"``: input x output bins).

    Args:
        layers: measurement points or module paths (default: ``model.measurement_points``).
            A block is measured through its last Linear/Conv/pooling layer
            (:func:`ei_layer_paths`); records are named by the point.
        input_range: ``(low, high)`` of the model's input (e.g. ``(0, 1)`` for pixels or binary
            patterns), used by layers that no bounded activation feeds.
        input_shape: one sample's input shape, for the topology pass (default: the model's
            ``input_shape`` attribute, or a leading Linear's ``in_features``).
        samples: interventional samples of each sampled estimate (default 20 000).
        in_bins, out_bins: bins of the pairwise measures (default 64, deep-ei's).
        vector_bins: bins of vector EI (default ``in_bins``).
        out_range: output range for layers without a bounded activation (else inferred, warned).
        estimator: ``"auto"`` (default: exact where possible, Miller–Madow sampling elsewhere),
            ``"exact"``, ``"plugin"`` or ``"miller_madow"``.
        seed: seed of the interventional noise. The same seed is used at every epoch (common
            random numbers), so a trajectory's changes come from the weights, not from fresh
            noise, and re-measuring an epoch (or a resumed run) gives the same values.
        vector: also record vector EI (sampled; saturates at log2(samples) for wide layers).
        null: also record the shuffle nulls.
        schedule: when to measure.

    Under DDP rank 0 computes and the records are shared with ``all_gather_object``, so every
    rank holds identical records.
    """

    family = "ei"

    def __init__(
        self,
        layers: Sequence[str] | None = None,
        *,
        input_range: tuple[float, float],
        input_shape: Sequence[int] | None = None,
        samples: int = 20_000,
        in_bins: int = 64,
        out_bins: int = 64,
        vector_bins: int | None = None,
        out_range: tuple[float, float] | None = None,
        estimator: str = "auto",
        seed: int = 0,
        vector: bool = True,
        null: bool = True,
        batch_size: int = 1000,
        max_memory: Any = None,
        schedule: Schedule | int | str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        self.layers = None if layers is None else list(layers)
        self.input_range = check_range("input_range", input_range)
        self.input_shape = None if input_shape is None else tuple(int(v) for v in input_shape)
        self.samples = check_positive_int("samples", samples)
        self.in_bins = check_positive_int("in_bins", in_bins)
        self.out_bins = check_positive_int("out_bins", out_bins)
        self.vector_bins = None if vector_bins is None else check_positive_int("vector_bins", vector_bins)
        self.out_range = None if out_range is None else check_range("out_range", out_range)
        self.estimator = check_choice("estimator", estimator, (*ESTIMATORS, *EXACT_ESTIMATORS))
        self.seed = int(seed)
        self.vector = bool(vector)
        self.null = bool(null)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.max_memory = max_memory

    def example_input(self, model: nn.Module) -> torch.Tensor:
        """Two seeded samples inside ``input_range`` (only for the topology pass)."""
        device, dtype = model_device_dtype(model)
        shape = model_input_shape(model, self.input_shape)
        lo, hi = self.input_range
        gen = torch.Generator().manual_seed(self.seed)
        x = torch.rand((2, *shape), generator=gen, dtype=torch.float64) * (hi - lo) + lo
        return x.to(device=device, dtype=dtype)

    def table(self, model: nn.Module):
        """The :func:`~infolens.measures.causal_plane.causal_plane` table of the measured layers
        (``layer`` holds the module path measured), and the ``(point, path)`` pairs."""
        points = resolve_layers(model, self.layers)
        example = self.example_input(model)
        pairs = ei_layer_paths(model, topology_of(model, example), points)
        df = causal_plane(
            model, example, layers=[path for _, path in pairs], samples=self.samples,
            in_bins=self.in_bins, out_bins=self.out_bins, input_range=self.input_range,
            out_range=self.out_range, estimator=self.estimator, seed=self.seed,
            vector=self.vector, vector_bins=self.vector_bins, batch_size=self.batch_size,
            max_memory=self.max_memory, null=self.null,
        )
        return df, pairs

    def _records(self, model: nn.Module, epoch: int, step: int) -> list[dict]:
        df, pairs = self.table(model)
        vb = self.vector_bins or self.in_bins
        vec_est = AUTO_FALLBACK if self.estimator in EXACT_ESTIMATORS else self.estimator
        rows = []
        for (point, _), (_, r) in zip(pairs, df.iterrows()):
            est = str(r["estimator"])
            pair_kw = dict(
                epoch=epoch, step=step, layer=point, unit="bits", estimator=est,
                samples=None if est == "exact" else self.samples,
                bins=f"{self.in_bins}x{self.out_bins}",
            )
            vec_kw = dict(pair_kw, estimator=vec_est, samples=self.samples, bins=f"{vb}x{vb}")
            for m in PAIRWISE_MEASURES:
                rows.append(record(measure=m, value=r[m], **pair_kw))
            if self.vector:
                rows.append(record(measure="ei", value=r["ei"], **vec_kw))
            if self.null:
                for m, kw in (("sensitivity", pair_kw), ("ei_parts", pair_kw), ("ei", vec_kw)):
                    val = r[f"{m}_null"]
                    if m == "ei" and not self.vector:
                        continue
                    rows.append(record(measure=f"{m}_null",
                                       value=math.nan if val is None else val, **kw))
        return rows

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """Causal plane of every layer on rank 0, records shared with every rank."""
        return on_rank0(dist, lambda: self._records(model, epoch, step))


__all__ = ["EICallback", "ei_layer_paths", "model_input_shape"]
