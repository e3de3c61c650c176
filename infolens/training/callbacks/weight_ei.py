"""Effective information of the weight graph over training (foresight / Hoel), bits.

See :func:`infolens.measures.weight_ei.weight_ei`: each layer's connectivity matrix (rows = source
neurons) is row-normalised into out-distributions ``P_i``; ``EI = H(⟨P⟩) − ⟨H(P_i)⟩`` (effect
entropy minus noise entropy), ``determinism = log2 N − noise``, ``degeneracy = log2 N − effect``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from infolens._validation import check_choice, check_positive_int
from infolens.measures.weight_ei import WeightEIResult, weight_ei
from infolens.nn.connectivity import DEFAULT_CHUNK_EDGES
from infolens.training.callbacks._base import Dist, MeasureCallback, Schedule
from infolens.training.callbacks._shared import model_device_dtype, on_rank0
from infolens.training.callbacks.ei import model_input_shape
from infolens.training.records import record


def layer_values(res: WeightEIResult) -> list[dict]:
    """Per-layer EI, determinism and degeneracy (bits): each layer's bipartite graph measured as
    a network of its own, in the result's convention.

    For layer l with ``n_in`` sources, ``n_out`` targets, effect entropy ``e_l = H(c/Σc)`` and
    noise entropy ``η_l`` (mean row entropy over all rows under ``"foresight"``, over live rows
    under ``"hoel"``): ``ei = e_l − η_l``, ``determinism = log2(n_in + n_out) − η_l`` and
    ``degeneracy = log2(n_in + n_out) − e_l``. These equal :func:`weight_ei` applied to that layer
    alone. A module called several times gets ``name#2``, ``name#3``, ... for its later calls.
    """
    out, seen = [], {}
    for layer in res.layers:
        seen[layer.name] = seen.get(layer.name, 0) + 1
        name = layer.name if seen[layer.name] == 1 else f"{layer.name}#{seen[layer.name]}"
        noise = layer.noise_all if res.convention == "foresight" else layer.noise_live
        log_n = math.log2(layer.n_in + layer.n_out)
        out.append({
            "layer": name, "ei": layer.effect - noise, "determinism": log_n - noise,
            "degeneracy": log_n - layer.effect,
        })
    return out


class WeightEICallback(MeasureCallback):
    """Records the weight-graph EI of the network and of each layer, data-free.

    Records (``split=""``), bits: ``weight_ei``, ``weight_determinism``, ``weight_degeneracy``
    for the whole network (``layer=""``) and for every layer of the graph (Linear, Conv2d,
    AvgPool2d; named by module path, per :func:`layer_values`), and ``weight_effectiveness``
    = EI / log2 N (unit ``"1"``) for the network. ``estimator`` holds the convention and the
    normaliser (``"foresight, norm=lin"``); the values are exact (no samples, no bins).

    Args:
        input_shape: one sample's input shape, for the pass that finds the layers' shapes
            (default: the model's ``input_shape`` attribute, or a leading Linear's inputs).
        norm: ``"lin"`` (default), ``"soft"``, ``"sig"`` or a callable row normaliser.
        convention: ``"foresight"`` (default; noise over all rows, foresight's values) or
            ``"hoel"`` (noise over the rows with out-edges, Klein & Hoel / einet).
        N: node count for log2 N of the network (default: every neuron of the chain).
        chunk_edges, strict: as in :func:`~infolens.measures.weight_ei.weight_ei`.
        schedule: when to measure.

    Under DDP rank 0 computes (the weights are the same on every rank) and shares the records.
    """

    family = "weight_ei"

    def __init__(
        self,
        input_shape: Sequence[int] | None = None,
        *,
        norm: str | Callable[[torch.Tensor], torch.Tensor] = "lin",
        convention: str = "foresight",
        N: int | None = None,
        chunk_edges: int = DEFAULT_CHUNK_EDGES,
        strict: bool = False,
        schedule: Schedule | int | str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(schedule=schedule, name=name)
        self.input_shape = None if input_shape is None else tuple(int(v) for v in input_shape)
        if isinstance(norm, str) or not callable(norm):
            check_choice("norm", norm, ("lin", "soft", "sig"))
        self.norm = norm
        self.convention = check_choice("convention", convention, ("foresight", "hoel"))
        self.N = None if N is None else check_positive_int("N", N)
        self.chunk_edges = check_positive_int("chunk_edges", chunk_edges)
        self.strict = bool(strict)

    def result(self, model: nn.Module) -> WeightEIResult:
        """The :func:`~infolens.measures.weight_ei.weight_ei` result of ``model`` now."""
        device, dtype = model_device_dtype(model)
        shape = model_input_shape(model, self.input_shape)
        example = torch.zeros((1, *shape), dtype=dtype, device=device)
        return weight_ei(
            model, example, norm=self.norm, convention=self.convention, N=self.N,
            device=device, chunk_edges=self.chunk_edges, strict=self.strict,
        )

    def _records(self, model: nn.Module, epoch: int, step: int) -> list[dict]:
        res = self.result(model)
        common = dict(epoch=epoch, step=step, unit="bits",
                      estimator=f"{res.convention}, norm={res.norm}")
        rows = [
            record(measure="weight_ei", value=res.ei, **common),
            record(measure="weight_determinism", value=res.determinism, **common),
            record(measure="weight_degeneracy", value=res.degeneracy, **common),
            record(measure="weight_effectiveness", value=res.effectiveness,
                   **dict(common, unit="1")),
        ]
        for lv in layer_values(res):
            for m in ("ei", "determinism", "degeneracy"):
                rows.append(record(measure=f"weight_{m}", value=lv[m], layer=lv["layer"], **common))
        return rows

    def measure(self, model: nn.Module, *, epoch: int, step: int, dist: Dist) -> list[dict]:
        """Weight-graph EI on rank 0, records shared with every rank."""
        return on_rank0(dist, lambda: self._records(model, epoch, step))


__all__ = ["WeightEICallback", "layer_values"]
