r"""Effective information of the weight graph (Hoel-style EI of a network's connectivity).

The weights of a feed-forward network define a layered directed graph (see
:mod:`infolens.nn.connectivity`). Row-normalising each layer's connectivity matrix ``W``
(``n_in × n_out``, rows = source neurons) gives one out-distribution ``P_i`` per source neuron;
the effective information of the graph is

    EI = H(⟨P⟩) − ⟨H(P_i)⟩ = (1/N_out) Σ_i D_KL(P_i ‖ ⟨P⟩)        [bits]

(effect entropy minus noise entropy). The computation is exact, data-free and streaming: no dense
conv or pool matrix is ever built (closed forms below), so it scales to real CNNs. This is the
graph EI of torch-foresight 0.1.2 (``foresight.ei``) and of Klein & Hoel (2020, einet), not the
perturbational EI of deep-ei.

Normalisers (per row ``i`` of ``W``):

* ``lin`` (default): ``P_ij = max(W_ij, 0) / Σ_k max(W_ik, 0)``; a row without positive weight
  stays all zero -- a *dead row* (node without out-edges). Negative (inhibitory) weights are
  dropped. The only normaliser that preserves the graph's sparsity.
* ``soft``: softmax of the row, ``exp(W_ij) / Σ_k exp(W_ik)``.
* ``sig``: ``σ(W_ij) / Σ_k σ(W_ik)``.

Caveat for ``soft``/``sig``: a structural zero (a non-edge, e.g. outside a conv window) gets
weight ``e⁰ = 1`` or ``σ(0) = ½``, so every source becomes connected to every target of the next
layer and the conv graph's sparsity is lost. They are computed exactly (foresight's values)
without densifying, via closed forms over the stored edges; ``weight_ei`` warns when they are
applied to sparse layers. Explicitly stored zeros and structural zeros are treated alike.

Closed forms. With per-edge values ``a(w)`` and an implicit-zero value ``a₀`` (lin: ``a = w⁺``,
``a₀ = 0``; sig: ``a = σ(w)``, ``a₀ = ½``; soft: ``a = e^{w−ν}``, ``a₀ = e^{−ν}`` with a per-layer
shift ``ν``), ``k_i`` stored edges in row ``i`` and ``m = n_out``::

    S_i = Σ_stored a + (m − k_i) a₀          (row normaliser)
    B_i = Σ_stored a log₂a + (m − k_i) a₀ log₂a₀
    H(P_i) = log₂ S_i − B_i / S_i            (0 for a dead row, S_i = 0)
    c_j = Σ_{stored i→j} (a_ij − a₀)/S_i + a₀ Σ_i 1/S_i      (column sums of P)

Each is one pass of row sums and one transposed mat-vec over the layer graph, accumulated in
float64.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from infolens._validation import InfolensError, InfolensWarning, check_choice, check_positive_int
from infolens.nn.connectivity import (
    DEFAULT_CHUNK_EDGES,
    LayerGraph,
    LayerShape,
    SkippedModule,
    _trace,
    layer_graph,
    skipped_modules,
)

__all__ = [
    "LayerEI",
    "WeightEIResult",
    "entropy",
    "lin_norm",
    "sig_norm",
    "soft_norm",
    "weight_ei",
]

_LN2 = math.log(2.0)
_SOFT_MAX_SPREAD = 600.0  # exp(-600) is still a normal float64
_DENSE_LIMIT = 2**26  # entries; callable normalisers need the dense matrix


# --------------------------------------------------------------------------------------------
# Dense entropy and normalisers (foresight semantics)
# --------------------------------------------------------------------------------------------


def entropy(p: torch.Tensor, dim: int = -1, base: float = 2) -> torch.Tensor:
    """Shannon entropy ``H(p) = −Σ_j p_j log p_j`` along ``dim`` (bits for ``base=2``).

    Uses ``0·log 0 = 0`` (``torch.special.xlogy``); ``p`` is not checked to sum to 1 and an
    all-zero vector has entropy 0. NaN inputs propagate. Sparse COO input is densified.
    """
    if not isinstance(p, torch.Tensor):
        p = torch.as_tensor(p)
    if p.is_sparse:
        p = p.to_dense()
    if not p.is_floating_point():
        p = p.to(torch.get_default_dtype())
    return -torch.special.xlogy(p, p).sum(dim=dim) / math.log(base)


def _row_sum(w: torch.Tensor) -> torch.Tensor:
    return w.sum(dim=1, keepdim=True)


def lin_norm(W: torch.Tensor) -> torch.Tensor:
    """Linear row normaliser: ``P_ij = max(W_ij, 0) / Σ_k max(W_ik, 0)`` (dimensionless).

    Negative weights are dropped; a row without positive entry stays all zero (a dead row, no
    NaN). The only normaliser that keeps structural zeros zero. Sparse COO input gives a sparse
    COO result.
    """
    if W.is_sparse:
        W = W.coalesce()
        (rows, _), v = W.indices(), W.values().clamp_min(0)
        s = torch.zeros(W.shape[0], dtype=v.dtype, device=v.device).index_add_(0, rows, v)
        s = s[rows]
        vals = torch.where(s > 0, v / torch.where(s > 0, s, 1), 0)
        return torch.sparse_coo_tensor(W.indices(), vals, W.shape, check_invariants=False).coalesce()
    wp = W.clamp_min(0)
    s = _row_sum(wp)
    return torch.where(s > 0, wp / torch.where(s > 0, s, 1), torch.zeros_like(wp))


def _warn_densify(name: str) -> None:
    warnings.warn(
        f"{name} of a sparse matrix gives every structural zero (non-edge) a nonzero weight, so "
        "the result is dense and the graph's sparsity is lost; use lin_norm to keep it.",
        InfolensWarning, stacklevel=3,
    )


def soft_norm(W: torch.Tensor) -> torch.Tensor:
    """Softmax row normaliser: ``P_ij = exp(W_ij) / Σ_k exp(W_ik)`` (dimensionless).

    Never zero: structural zeros (non-edges) get weight ``e⁰ = 1`` before normalising, so a sparse
    graph becomes fully connected. Sparse input is densified with a warning.
    """
    if W.is_sparse:
        _warn_densify("soft_norm")
        W = W.to_dense()
    return torch.softmax(W, dim=1)


def sig_norm(W: torch.Tensor) -> torch.Tensor:
    """Sigmoid row normaliser: ``P_ij = σ(W_ij) / Σ_k σ(W_ik)`` (dimensionless).

    Never zero: structural zeros (non-edges) get weight ``σ(0) = ½`` before normalising, so a
    sparse graph becomes fully connected. Sparse input is densified with a warning.
    """
    if W.is_sparse:
        _warn_densify("sig_norm")
        W = W.to_dense()
    s = torch.sigmoid(W)
    return s / _row_sum(s)


# --------------------------------------------------------------------------------------------
# Per-layer engine
# --------------------------------------------------------------------------------------------


@dataclass
class _EdgeNorm:
    """Per-edge values of a closed-form normaliser (see the module docstring)."""

    a: Callable[[torch.Tensor], torch.Tensor]
    alog: Callable[[torch.Tensor], torch.Tensor]  # a·log2(a)
    a0: float
    a0log: float


def _edge_norm(name: str, graph: LayerGraph, label: str) -> _EdgeNorm:
    if name == "lin":
        def a(w):
            return w.clamp_min(0)

        def alog(w):
            wp = w.clamp_min(0)
            return torch.special.xlogy(wp, wp) / _LN2

        return _EdgeNorm(a, alog, 0.0, 0.0)
    if name == "sig":
        def alog_sig(w):
            return torch.sigmoid(w) * torch.nn.functional.logsigmoid(w) / _LN2

        return _EdgeNorm(torch.sigmoid, alog_sig, 0.5, -0.5)
    # soft: shift by ν = max(0, max w) so that exp never overflows.
    lo, hi = graph.value_range()
    nu = max(hi, 0.0)
    if nu - min(lo, 0.0) > _SOFT_MAX_SPREAD:
        raise InfolensError(
            f"layer {label!r}: norm='soft' needs weights spanning at most {_SOFT_MAX_SPREAD:g} "
            f"(got [{lo:.4g}, {hi:.4g}]); exp of the spread underflows in float64. Rescale the "
            "weights or use norm='lin'."
        )

    def a_soft(w):
        return torch.exp(w - nu)

    def alog_soft(w):
        return torch.exp(w - nu) * (w - nu) / _LN2

    a0 = math.exp(-nu)
    return _EdgeNorm(a_soft, alog_soft, a0, a0 * (-nu) / _LN2)


@dataclass
class _LayerStats:
    n_in: int
    n_out: int
    n_edges: int
    n_live: int
    h_sum: float  # Σ_i H(P_i) over all rows (dead rows have H = 0)
    col_sum: float  # Σ_j c_j (= n_live for a proper normaliser)
    col_xlogx: float  # Σ_j c_j log2 c_j


def _finish(h: torch.Tensor, live: torch.Tensor, c: torch.Tensor, graph: LayerGraph) -> _LayerStats:
    return _LayerStats(
        n_in=graph.n_in, n_out=graph.n_out, n_edges=graph.n_edges,
        n_live=int(live.sum()), h_sum=float(h.sum()), col_sum=float(c.sum()),
        col_xlogx=float((torch.special.xlogy(c, c) / _LN2).sum()),
    )


def _layer_stats_closed(graph: LayerGraph, norm: _EdgeNorm, device, chunk_edges: int,
                        method: str) -> _LayerStats:
    g = graph if method == "auto" else _GenericView(graph)
    m = graph.n_out
    sums = g.row_sums([norm.a, norm.alog], device, chunk_edges)
    s, b = sums[0], sums[1]
    if norm.a0 != 0.0:
        implicit = m - g.row_degree(device, chunk_edges)
        s = s + norm.a0 * implicit
        b = b + norm.a0log * implicit
    live = s > 0
    safe = torch.where(live, s, 1.0)
    h = torch.where(live, torch.log2(safe) - b / safe, 0.0)
    r = torch.where(live, 1.0 / safe, 0.0)
    a0 = norm.a0
    c = g.rmatvec((lambda w: norm.a(w) - a0) if a0 else norm.a, r, device, chunk_edges)
    if a0:
        c = c + a0 * r.sum()
    return _finish(h, live, c, graph)


def _layer_stats_dense(graph: LayerGraph, fn: Callable | None, device, label: str) -> _LayerStats:
    if graph.n_in * graph.n_out > _DENSE_LIMIT:
        raise InfolensError(
            f"layer {label!r}: a custom or unnormalised norm needs the dense {graph.n_in}×"
            f"{graph.n_out} matrix, above the limit of {_DENSE_LIMIT} entries; use norm='lin', "
            "'soft' or 'sig', which run on the sparse graph."
        )
    w = graph.to_dense(torch.float64, device)
    p = w if fn is None else fn(w)
    if not isinstance(p, torch.Tensor) or p.shape != w.shape:
        raise InfolensError(
            f"norm callable must return a tensor of the matrix's shape {tuple(w.shape)} "
            f"(layer {label!r})."
        )
    p = p.to(torch.float64)
    return _finish(entropy(p, dim=1), (p != 0).any(dim=1), p.sum(0), graph)


class _GenericView:
    """Forces the generic COO scatter implementations of a graph (reference path)."""

    def __init__(self, graph: LayerGraph):
        self.g = graph

    def row_sums(self, fns, device, chunk_edges):
        return LayerGraph.row_sums(self.g, fns, device, chunk_edges)

    def row_degree(self, device, chunk_edges):
        return LayerGraph.row_degree(self.g, device, chunk_edges)

    def rmatvec(self, fn, x, device, chunk_edges):
        return LayerGraph.rmatvec(self.g, fn, x, device, chunk_edges)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerEI:
    """Per-layer breakdown (entropies in bits).

    ``noise_all``: mean row entropy over all ``n_in`` rows; ``noise_live``: over live rows;
    ``effect``: ``H(c/Σc)`` of the layer's column sums; ``ei = effect − noise_live``; ``mass``:
    live rows of the layer / live rows of the network (``π_l``).
    """

    name: str
    type: str
    n_in: int
    n_out: int
    n_edges: int
    dead_rows: int
    noise_all: float
    noise_live: float
    effect: float
    ei: float
    mass: float


@dataclass(frozen=True)
class WeightEIResult:
    """Weight-graph EI of a network. All entropies in bits.

    The headline fields follow ``convention``: ``noise`` (noise entropy ⟨H(W_out)⟩), ``effect``
    (effect entropy H(⟨W_out⟩)), ``ei = effect − noise``, ``determinism = log₂N − noise``,
    ``degeneracy = log₂N − effect`` (so ``ei = determinism − degeneracy``), ``effectiveness =
    ei / log₂N`` and the coefficients ``determinism/log₂N``, ``degeneracy/log₂N``. Both
    conventions' noise and EI are always present: ``noise_all_rows``/``ei_all_rows`` (foresight,
    mean over all rows) and ``noise_live_rows``/``ei_live_rows`` (Hoel/einet, mean over the
    ``n_live_rows`` nodes with out-edges). ``layers`` is the per-layer breakdown
    (:meth:`table` gives it as a pandas DataFrame); ``skipped`` lists the modules that are not
    part of the graph; ``chain_breaks`` names the layers whose inputs are not the previous
    layer's outputs.
    """

    convention: str
    norm: str
    noise: float
    effect: float
    ei: float
    determinism: float
    degeneracy: float
    effectiveness: float
    determinism_coef: float
    degeneracy_coef: float
    N: int
    n_rows: int
    n_live_rows: int
    n_dead_rows: int
    noise_all_rows: float
    ei_all_rows: float
    noise_live_rows: float
    ei_live_rows: float
    layers: tuple[LayerEI, ...]
    skipped: tuple[SkippedModule, ...] = ()
    chain_breaks: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def table(self):
        """The per-layer breakdown as a tidy pandas DataFrame (one row per layer call)."""
        import pandas as pd

        cols = [f.name for f in LayerEI.__dataclass_fields__.values()]
        return pd.DataFrame([[getattr(r, c) for c in cols] for r in self.layers], columns=cols)

    def __str__(self) -> str:
        return (
            f"WeightEIResult({self.convention}, norm={self.norm}): EI={self.ei:.6g} bits "
            f"(effect {self.effect:.6g} − noise {self.noise:.6g}), N={self.N}, "
            f"{len(self.layers)} layers, {self.n_dead_rows}/{self.n_rows} dead rows, "
            f"{len(self.skipped)} skipped modules"
        )


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

_NORMS = ("lin", "soft", "sig")


def _xlog2x_sum_entropy(total: float, xlogx: float) -> float:
    """H(v / Σv) from Σv and Σ v log2 v; 0 when Σv = 0 (foresight's NaN rule)."""
    if total == 0:
        return 0.0
    if not total > 0:  # NaN, or a negative sum from an unnormalised matrix
        return float("nan")
    return math.log2(total) - xlogx / total


def _as_records(model: nn.Module | None, shapes) -> list[LayerShape]:
    out = []
    for rec in shapes:
        if not isinstance(rec, LayerShape):
            raise InfolensError(
                "shapes must be a list of LayerShape records from infolens.nn.connectivity."
                f"get_shapes, got an element of type {type(rec).__name__}."
            )
        out.append(rec)
    return out


def _compute(
    records: Sequence[LayerShape], norm, *, convention: str, N: int | None, device,
    chunk_edges: int, method: str, exact_types: bool, linear_blocks: bool,
    skipped: Sequence[SkippedModule] = (), warn_sparse: bool = True,
) -> WeightEIResult:
    if not records:
        raise InfolensError(
            "the model has no supported layers in its forward pass (Linear, Conv2d, AvgPool2d "
            "or a type added with infolens.nn.connectivity.register_connectivity); skipped "
            f"modules: {', '.join(f'{s.name} ({s.type})' for s in skipped) or 'none'}."
        )
    norm_name = norm if isinstance(norm, str) else ("none" if norm is None else
                                                    getattr(norm, "__name__", "callable"))
    stats: list[_LayerStats] = []
    graphs: list[LayerGraph] = []
    densified: list[str] = []
    for rec in records:
        graph = layer_graph(rec.module, rec.in_shape, rec.out_shape,
                            exact_types=exact_types, linear_blocks=linear_blocks)
        graphs.append(graph)
        if isinstance(norm, str):
            if norm != "lin" and graph.n_edges < graph.n_in * graph.n_out:
                densified.append(rec.name)
            st = _layer_stats_closed(graph, _edge_norm(norm, graph, rec.name), device,
                                     chunk_edges, method)
        else:
            st = _layer_stats_dense(graph, norm, device, rec.name)
        stats.append(st)
    if densified and warn_sparse:
        warnings.warn(
            f"norm={norm_name!r} gives the structural zeros (non-edges) of sparse layers "
            f"{', '.join(densified[:5])}{' ...' if len(densified) > 5 else ''} the weight "
            f"{'e⁰ = 1' if norm == 'soft' else 'σ(0) = ½'}, so every source connects to every "
            "target and the conv graph's sparsity is lost; norm='lin' keeps it.",
            InfolensWarning, stacklevel=3,
        )
    breaks = [records[k].name for k in range(1, len(records))
              if graphs[k].n_in != graphs[k - 1].n_out]
    if breaks:
        warnings.warn(
            f"the layer chain is broken before {len(breaks)} layer(s) ({', '.join(breaks[:5])}"
            f"{' ...' if len(breaks) > 5 else ''}): their inputs are not the previous layer's "
            "outputs (a skipped module such as MaxPool, or a skip connection, sits between). "
            "Rows and columns are pooled separately, so the values are still foresight's; the "
            "broken inputs count as extra nodes in N.",
            InfolensWarning, stacklevel=3,
        )
    n_rows = sum(s.n_in for s in stats)
    n_live = sum(s.n_live for s in stats)
    h_sum = sum(s.h_sum for s in stats)
    effect = _xlog2x_sum_entropy(sum(s.col_sum for s in stats), sum(s.col_xlogx for s in stats))
    noise_fs = h_sum / n_rows if n_rows else 0.0
    if n_live:
        noise_h, effect_h = h_sum / n_live, effect
    else:
        noise_h = effect_h = float("nan")
        warnings.warn("no row has an out-edge (all rows are dead), so the Hoel-convention values "
                      "are NaN.", InfolensWarning, stacklevel=3)
    if N is None:
        N = graphs[0].n_in + sum(g.n_out for g in graphs)
        N += sum(graphs[k].n_in for k in range(1, len(graphs)) if graphs[k].n_in != graphs[k - 1].n_out)
    else:
        N = check_positive_int("N", N)
    logn = math.log2(N)
    noise, eff = (noise_fs, effect) if convention == "foresight" else (noise_h, effect_h)
    ei = eff - noise

    def ratio(x):
        return x / logn if logn > 0 else float("nan")

    layers = []
    for rec, st in zip(records, stats):
        e_l = _xlog2x_sum_entropy(st.col_sum, st.col_xlogx)
        noise_live = st.h_sum / st.n_live if st.n_live else float("nan")
        layers.append(LayerEI(
            name=rec.name, type=type(rec.module).__name__, n_in=st.n_in, n_out=st.n_out,
            n_edges=st.n_edges, dead_rows=st.n_in - st.n_live,
            noise_all=st.h_sum / st.n_in if st.n_in else 0.0, noise_live=noise_live,
            effect=e_l, ei=e_l - noise_live,
            mass=st.n_live / n_live if n_live else float("nan"),
        ))
    return WeightEIResult(
        convention=convention, norm=norm_name, noise=noise, effect=eff, ei=ei,
        determinism=logn - noise, degeneracy=logn - eff, effectiveness=ratio(ei),
        determinism_coef=ratio(logn - noise), degeneracy_coef=ratio(logn - eff), N=N,
        n_rows=n_rows, n_live_rows=n_live, n_dead_rows=n_rows - n_live,
        noise_all_rows=noise_fs, ei_all_rows=effect - noise_fs,
        noise_live_rows=noise_h, ei_live_rows=effect_h - noise_h,
        layers=tuple(layers), skipped=tuple(skipped), chain_breaks=tuple(breaks),
    )


def _warn_skipped(skipped: Sequence[SkippedModule], strict: bool) -> None:
    bad = [s for s in skipped if s.reason.startswith("unsupported") and s.ran is not False]
    if not bad:
        return
    names = ", ".join(f"{s.name} ({s.type})" for s in bad[:8]) + (" ..." if len(bad) > 8 else "")
    msg = (f"{len(bad)} module(s) with parameters have no registered connectivity and are "
           f"skipped, so the weight graph ignores them: {names}. Register them with "
           "infolens.nn.connectivity.register_connectivity (strict=True raises instead).")
    if strict:
        raise InfolensError(msg)
    warnings.warn(msg, InfolensWarning, stacklevel=3)


def weight_ei(
    model: nn.Module,
    input=None,
    norm: str | Callable[[torch.Tensor], torch.Tensor] = "lin",
    convention: str = "foresight",
    *,
    input_shape: Sequence[int] | None = None,
    shapes: Sequence[LayerShape] | None = None,
    N: int | None = None,
    device: torch.device | str = "cpu",
    chunk_edges: int = DEFAULT_CHUNK_EDGES,
    strict: bool = False,
    method: str = "auto",
) -> WeightEIResult:
    r"""Effective information of the weight graph of ``model`` (bits).

    The network is read as a chain of its registered layers (Linear, Conv2d, AvgPool2d; see
    :func:`infolens.nn.connectivity.register_connectivity`), found by one hooked forward pass on
    ``input`` (a batch; one example is enough) or on zeros of ``input_shape``; or pass
    ``shapes`` from :func:`infolens.nn.connectivity.get_shapes`. Each layer's connectivity
    ``W`` (rows = source neurons) is row-normalised by ``norm`` into out-distributions ``P_i``.
    Over all rows ℛ of all layers, live rows ℛ⁺ (rows with out-edges, ``N_out = |ℛ⁺|``) and the
    concatenated column sums ``v``:

    * effect entropy ``H(⟨W_out⟩) = H(v / Σv)`` -- the same in both conventions;
    * ``convention="foresight"`` (default): noise ``⟨H(W_out)⟩ = Σ_{i∈ℛ} H(P_i) / |ℛ|``, the mean
      over *all* rows, dead rows counting 0; ``ei = effect − noise``. Reproduces
      ``foresight.ei`` exactly (foresight's ``determinism()``/``degeneracy()`` return this noise
      and effect entropy under those confusing names; see :mod:`infolens.compat.foresight`).
    * ``convention="hoel"``: Klein & Hoel (2020) / einet, averages over the nodes with out-edges:
      noise ``= Σ_{i∈ℛ⁺} H(P_i) / N_out``, ``ei = (1/N_out) Σ_{i∈ℛ⁺} D_KL(P_i ‖ ⟨P⟩)``.

    Both report ``determinism = log₂N − noise``, ``degeneracy = log₂N − effect``
    (``ei = determinism − degeneracy``) and ``effectiveness = ei / log₂N``, where ``N`` is the
    number of nodes: the first layer's inputs plus every layer's outputs plus the inputs of
    layers where the chain is broken (or ``N=`` given).

    When they differ: only when dead rows exist, which happens only with ``norm="lin"`` -- a
    source neuron whose outgoing weights are all ≤ 0 or that reaches no output (pruned units,
    inputs skipped by a strided 1×1 conv). Then ``noise_foresight = noise_hoel · N_out/|ℛ|`` and
    ``ei_foresight − ei_hoel = noise_hoel · (1 − N_out/|ℛ|) ≥ 0``. Both are in the result
    (``ei_all_rows``, ``ei_live_rows``) with the dead-row count ``n_dead_rows``.

    Parameters
    ----------
    norm : ``"lin"`` (default), ``"soft"``, ``"sig"`` or a callable mapping a dense float64
        ``(n_in, n_out)`` matrix to its row-normalised version (small layers only). soft/sig give
        non-edges nonzero weight (warned for sparse layers).
    N : node count for log₂N (default described above).
    device : where the float64 accumulation runs.
    chunk_edges : edge budget per streamed chunk (memory ``O(n_in + n_out + chunk)``).
    strict : raise instead of warning when a module with parameters is skipped.
    method : ``"auto"`` (structured conv/linear kernels) or ``"edges"`` (generic COO scatter for
        every layer; a reference path with identical sums up to rounding).

    Returns
    -------
    WeightEIResult
        Totals as Python floats (bits), both conventions, per-layer table (``.table()``),
        skipped modules and chain breaks.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(4, 4, bias=False)
    >>> _ = nn.init.ones_(lin.weight)
    >>> weight_ei(lin, torch.randn(1, 4)).ei
    0.0
    """
    check_choice("convention", convention, ("foresight", "hoel"))
    check_choice("method", method, ("auto", "edges"))
    if isinstance(norm, str) or not callable(norm):
        check_choice("norm", norm, _NORMS)
    chunk_edges = check_positive_int("chunk_edges", chunk_edges)
    if shapes is not None:
        if input is not None or input_shape is not None:
            raise InfolensError("pass either shapes= or input/input_shape=, not both.")
        records, ran = _as_records(model, shapes), None
    else:
        records, ran = _trace(model, input, input_shape=input_shape)
    skipped = skipped_modules(model, ran)
    _warn_skipped(skipped, strict)
    return _compute(records, norm, convention=convention, N=N, device=device,
                    chunk_edges=chunk_edges, method=method, exact_types=False,
                    linear_blocks=True, skipped=skipped)
