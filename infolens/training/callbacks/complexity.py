"""Representational complexity over training: I, C, Π_m, N and R per layer and split.

See :func:`infolens.measures.complexity.representational_complexity`: the neurons of a layer are
quantized to ``levels`` levels over its limits, the sources are neurons (or neuron groups, or
subsampled neuron subsets), the target is the label, and the I^sx PID of ``I(T : S_1..S_n)``
gives the degree-of-synergy atoms ``Π_m`` (bits) and ``C = (1/I) Σ_m m·Π_m`` (dimensionless);
Ehrlich et al., TMLR 2023.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from infolens._validation import InfolensError, check_positive_int
from infolens.measures.complexity import (
    JointStateCounts,
    complexity_from_counts,
    layer_quantization,
)
from infolens.measures.info_plane import output_module, resolve_layers
from infolens.nn.capture import capture
from infolens.nn.quantization import QuantizedLayer, infer_limits
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
    model_device_dtype,
    on_rank0,
)
from infolens.training.records import record


class ComplexityCallback(MeasureCallback):
    """Records the I^sx representational complexity of layers over training.

    Per layer and split: ``pid_I`` = I(T : S) (bits), ``pid_C`` = C (unit ``"1"``),
    ``pid_Pi_m`` = Π_m for m = 1..n (bits), ``pid_N`` = N samples and ``pid_R`` = R distinct
    joint realizations (unit ``"1"``); with subsampled sources also ``pid_C_std`` (spread of C
    over the subsets); with ``null`` also ``pid_I_null`` and ``pid_C_null`` (means over the
    label permutations: the plug-in bias level). Every record carries ``estimator="plugin"``
    (the plug-in pmf of the counted states), ``samples`` = N and ``bins`` as text
    ``"8 levels on [-1, 1]"``.

    Args:
        layers: module paths (default: ``model.measurement_points``; otherwise pass them). A
            quantized layer (:class:`~infolens.nn.quantization.QuantizedLayer`, e.g. the blocks
            of nninfo's MLP) uses its own levels and limits.
        data: ``(X, y)``, a split with ``.X``/``.y``, ``{split: (X, y)}`` or a bundle with
            ``.train``/``.test``; labels are integer codes (integral float targets are read as
            codes; a ``(N, k)`` label, e.g. a binary code, is one joint target).
        levels: quantization levels L of unquantized layers (nninfo: 8).
        limits: ``(lo, hi)`` or ``{path: (lo, hi)}``; default: the layer's bounded activation
            (tanh (-1, 1), sigmoid (0, 1), a zoo block's last activation). Unbounded layers need
            it.
        sources: ``"neurons"``, an int k (``n_subsets`` seeded k-subsets, nninfo's recipe) or
            neuron groups ``[[0, 1], [2, 3], ...]``, as in ``representational_complexity``.
        n_subsets, subset_seed: the subsampling (nninfo: 26 subsets, seed 1234).
        null: ``False``, ``True`` or a number of label permutations (seeded with ``seed``).
        method: ``"auto"``, ``"lattice"`` or ``"union"``.
        batch_size: forward-pass batch size.
        schedule: when to measure.

    Under DDP each rank counts the distinct joint states of its shard, the counts are
    all-gathered and merged exactly, and rank 0 runs the PID on the merged counts and shares the
    records, so they equal the single-process values on every rank.
    """

    family = "complexity"

    def __init__(
        self,
        layers: Sequence[str] | None = None,
        data: Any = None,
        *,
        levels: int = 8,
        limits: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
        sources: str | int | Sequence[Sequence[int]] = "neurons",
        n_subsets: int = 26,
        subset_seed: int = 1234,
        null: bool | int = False,
        seed: int = 0,
        method: str = "auto",
        batch_size: int = 1024,
        chunk_size: int | None = None,
        schedule: Schedule | int | str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        if data is None:
            raise TypeError("ComplexityCallback needs data=(X, y) (or a split map) to measure on")
        self.layers = None if layers is None else list(layers)
        self.splits = as_split_map(data)
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
            raise InfolensError(f"levels must be an integer >= 2, got {levels!r}.")
        self.levels = int(levels)
        self.limits = check_limits_arg(limits)
        self.sources = sources
        self.n_subsets = check_positive_int("n_subsets", n_subsets)
        self.subset_seed = int(subset_seed)
        if not isinstance(null, (bool, int, np.integer)) or null < 0:
            raise InfolensError(
                f"null must be False, True or a number of permutations, got {null!r}."
            )
        self.null = int(null)
        self.seed = int(seed)
        self.method = method
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.chunk_size = chunk_size

    def _quantization(self, model: nn.Module, path: str) -> tuple[str, int, tuple[float, float]]:
        """``(path, levels, limits)``; a quantized layer keeps its own levels and limits."""
        if isinstance(model.get_submodule(path), QuantizedLayer):
            explicit = self.limits.get(path) if isinstance(self.limits, Mapping) else self.limits
            path, _, levels, limits = layer_quantization(model, path, None, explicit)
        else:
            limits = limits_for(model, path, self.limits)
            if limits is None:  # raises, naming the block's unbounded activation
                infer_limits(output_module(model.get_submodule(path)), path)
            path, _, levels, limits = layer_quantization(model, path, self.levels, limits)
        return path, levels, limits

    def _count(self, model: nn.Module, quant: dict, X, y, dist: Dist) -> dict:
        """This rank's :class:`JointStateCounts` of every layer (one forward pass)."""
        device, dtype = model_device_dtype(model)
        accs = {p: JointStateCounts(p, lv, lim) for p, (lv, lim) in quant.items()}
        with torch.inference_mode(), capture(model, list(quant)) as feats:
            for xb, yb in iter_batches(X, y, self.batch_size, dist):
                feats.clear()
                xb = xb.to(device=device, dtype=dtype) if xb.is_floating_point() else xb.to(device)
                model(xb)
                t = label_transform(yb)
                for path in quant:
                    if path not in feats:
                        raise InfolensError(
                            f"layer {path!r} did not run during the forward pass; pass a module "
                            "that the model's forward calls."
                        )
                    accs[path].update(feats[path], t)
        return accs

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """Count on this rank's shard, merge the counts over ranks, PID on rank 0, share."""
        paths = resolve_layers(model, self.layers)
        quant = {}
        for p in paths:
            path, levels, limits = self._quantization(model, p)
            quant[path] = (levels, limits)
        rows: list[dict] = []
        for split, (X, y) in self.splits.items():
            accs = self._count(model, quant, X, y, dist)
            parts = gather_states(dist, {p: accs[p].state() for p in quant})

            def compute(parts=parts, split=split) -> list[dict]:
                out = []
                for path, (levels, limits) in quant.items():
                    merged = JointStateCounts.merged([part[path] for part in parts])
                    if merged.n_samples == 0:
                        raise InfolensError(
                            f"ComplexityCallback: split {split!r} has no samples; pass non-empty data."
                        )
                    res = complexity_from_counts(
                        merged, sources=self.sources, method=self.method, null=self.null,
                        seed=self.seed, n_subsets=self.n_subsets, subset_seed=self.subset_seed,
                        chunk_size=self.chunk_size,
                    )
                    out.extend(self._records(res, epoch, step, split, path, levels, limits))
                return out

            rows.extend(on_rank0(dist, compute))
        return rows

    def _records(self, res, epoch, step, split, path, levels, limits) -> list[dict]:
        common = dict(
            epoch=epoch, step=step, split=split, layer=path, estimator="plugin",
            samples=res.n_samples, bins=f"{levels} levels on {fmt_limits(limits)}",
        )
        rows = [
            record(measure="pid_I", value=res.mutual_information, unit="bits", **common),
            record(measure="pid_C", value=res.complexity, unit="1", **common),
        ]
        for m, atom in enumerate(np.asarray(res.degree_atoms), start=1):
            rows.append(record(measure=f"pid_Pi_{m}", value=float(atom), unit="bits", **common))
        rows.append(record(measure="pid_N", value=res.n_samples, unit="1", **common))
        rows.append(record(measure="pid_R", value=res.n_states, unit="1", **common))
        std = res.estimate.complexity_std
        if std is not None:
            rows.append(record(measure="pid_C_std", value=std, unit="1", **common))
        if res.null is not None:
            cs = np.asarray(res.null.complexity, dtype=np.float64)
            c_null = float(np.nanmean(cs)) if np.isfinite(cs).any() else math.nan
            rows.append(record(measure="pid_I_null",
                               value=float(np.mean(res.null.mutual_information)), unit="bits",
                               **common))
            rows.append(record(measure="pid_C_null", value=c_null, unit="1", **common))
        return rows


__all__ = ["ComplexityCallback"]
