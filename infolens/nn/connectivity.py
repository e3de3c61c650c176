"""Connectivity of feed-forward layers as sparse matrices (rows = source neurons).

A layer with input activations ``x`` (flattened per sample in PyTorch row-major order, e.g.
``(c, h, w)``) and output activations ``y`` has the connectivity matrix ``M`` of shape
``(n_in, n_out)``: ``M[i, j]`` is the weight with which input neuron ``i`` feeds output neuron
``j``. For a bias-free linear map ``y_flat = x_flat @ M``, so ``M`` is the layer's Jacobian. Bias is
ignored; the batch dimension is ignored.

Supported by default (dispatch by ``isinstance`` through :func:`register_connectivity`):

* ``nn.Linear`` -- ``M = weight.T``; with extra non-batch input dimensions ``(..., T, in)`` the
  block-diagonal matrix with one copy per position.
* ``nn.Conv2d`` -- stride, integer/tuple/``'valid'``/``'same'`` padding, dilation and groups
  (``padding_mode='zeros'`` only).
* ``nn.AvgPool2d`` -- padding, ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` with
  PyTorch's exact divisor rule.

Representation
--------------
Each supported module becomes a :class:`LayerGraph`: an *implicit* sparse matrix that knows its
edges by index arithmetic and never materialises a dense conv or pool matrix. It offers

* :meth:`LayerGraph.edges` -- COO triplets ``(rows, cols, values)`` streamed in chunks of at most
  ``chunk_edges`` edges (vectorised ``arange``/broadcasting, no Python loop over positions);
* :meth:`LayerGraph.to_sparse` -- the whole matrix as a coalesced ``torch.sparse_coo_tensor``
  (what :func:`connectivity` returns);
* the two reductions an aggregate over a row-normalised graph needs, ``row_sums`` (``M_f @ 1``) and
  ``rmatvec`` (``M_fᵀ @ x``) for an elementwise function ``f`` of the weights.

Why not scipy CSR or torch CSR for the aggregate: building either from COO costs a sort/scan over
all edges and a second copy of them, and the reductions then run single-threaded (scipy) or as a
generic SpMV. A conv layer's matrix is a *structured* sparse matrix: every edge value is a kernel
weight and every edge position follows from one spatial index table. :class:`ConvGraph` therefore
computes ``row_sums`` as a small dense product ``U @ mask`` (channel-summed kernel values times the
tap-coverage table) and ``rmatvec`` as im2col plus a batched BLAS matmul, both in float64, with
memory ``O(n_in + n_out + chunk)``; :class:`LinearGraph` uses dense matmuls on ``weight``. These
give the same sums as the generic COO scatter path (``LayerGraph`` default, used for pooling and
any user-registered layer), which the tests check.

Layer discovery: :func:`get_shapes` runs one forward pass with hooks and returns
:class:`LayerShape` records in execution order; :func:`skipped_modules` reports every module that
is not part of the weight graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from infolens._validation import InfolensError, check_choice, check_positive_int

__all__ = [
    "ConvGraph",
    "LayerGraph",
    "LayerShape",
    "LinearGraph",
    "PoolGraph",
    "SkippedModule",
    "SparseMatrixGraph",
    "connectivity",
    "get_shapes",
    "layer_graph",
    "register_connectivity",
    "skipped_modules",
]

Shape = tuple[int, ...]
ValueFn = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_CHUNK_EDGES = 2**24


# --------------------------------------------------------------------------------------------
# Layer graphs
# --------------------------------------------------------------------------------------------


class LayerGraph:
    """An implicit sparse connectivity matrix of shape ``(n_in, n_out)`` (rows = sources).

    Subclasses implement :meth:`edges`; the reductions below have generic COO implementations
    (scatter-add in float64) that subclasses may replace by faster structured ones.
    """

    n_in: int
    n_out: int
    n_edges: int  # stored edges (structural nonzeros, explicit zero weights included)

    def edges(
        self, chunk_edges: int = DEFAULT_CHUNK_EDGES, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield COO chunks ``(rows, cols, values)`` (int64, int64, ``dtype``) covering each edge once."""
        raise NotImplementedError

    def value_range(self) -> tuple[float, float]:
        """``(min, max)`` of the stored edge values (``(0, 0)`` for an empty graph)."""
        lo, hi = math.inf, -math.inf
        for _, _, v in self.edges():
            if v.numel():
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        return (0.0, 0.0) if lo > hi else (lo, hi)

    def row_sums(
        self, fns: Sequence[ValueFn], device: torch.device | str = "cpu",
        chunk_edges: int = DEFAULT_CHUNK_EDGES,
    ) -> torch.Tensor:
        """``out[f, i] = Σ_j fns[f](M[i, j])`` over the stored edges of row ``i`` (float64)."""
        out = torch.zeros(len(fns), self.n_in, dtype=torch.float64, device=device)
        for rows, _, w in self.edges(chunk_edges, device):
            for k, fn in enumerate(fns):
                out[k].index_add_(0, rows, fn(w))
        return out

    def row_degree(self, device: torch.device | str = "cpu",
                   chunk_edges: int = DEFAULT_CHUNK_EDGES) -> torch.Tensor:
        """Number of stored edges of each row (float64, length ``n_in``)."""
        return self.row_sums([torch.ones_like], device, chunk_edges)[0]

    def rmatvec(
        self, fn: ValueFn, x: torch.Tensor, device: torch.device | str = "cpu",
        chunk_edges: int = DEFAULT_CHUNK_EDGES,
    ) -> torch.Tensor:
        """``out[j] = Σ_i fn(M[i, j]) · x[i]`` over stored edges (float64, length ``n_out``)."""
        out = torch.zeros(self.n_out, dtype=torch.float64, device=device)
        x = x.to(device=device, dtype=torch.float64)
        for rows, cols, w in self.edges(chunk_edges, device):
            out.index_add_(0, cols, fn(w) * x[rows])
        return out

    def to_sparse(self, dtype: torch.dtype | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
        """The matrix as a coalesced ``torch.sparse_coo_tensor`` of shape ``(n_in, n_out)``."""
        dtype = dtype or self.default_dtype
        chunks = list(self.edges(max(self.n_edges, 1), device, dtype))
        if chunks:
            rows = torch.cat([c[0] for c in chunks])
            cols = torch.cat([c[1] for c in chunks])
            vals = torch.cat([c[2] for c in chunks])
        else:
            rows = cols = torch.zeros(0, dtype=torch.long, device=device)
            vals = torch.zeros(0, dtype=dtype, device=device)
        return torch.sparse_coo_tensor(
            torch.stack([rows, cols]), vals, (self.n_in, self.n_out), check_invariants=False
        ).coalesce()

    def to_dense(self, dtype: torch.dtype | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        """The matrix as a dense tensor (for tests and small layers only)."""
        return self.to_sparse(dtype, device).to_dense()

    default_dtype: torch.dtype = torch.float32


class SparseMatrixGraph(LayerGraph):
    """A :class:`LayerGraph` from an explicit (sparse or dense) ``(n_in, n_out)`` matrix.

    Useful as the return value of a function passed to :func:`register_connectivity`.
    """

    def __init__(self, matrix: torch.Tensor):
        if matrix.dim() != 2:
            raise InfolensError(f"a connectivity matrix must be 2-D, got shape {tuple(matrix.shape)}.")
        m = matrix.coalesce() if matrix.is_sparse else matrix.to_sparse().coalesce()
        self._m = m
        self.n_in, self.n_out = (int(s) for s in m.shape)
        self.n_edges = int(m._nnz())
        self.default_dtype = m.dtype

    def edges(self, chunk_edges=DEFAULT_CHUNK_EDGES, device="cpu", dtype=torch.float64):
        idx, vals = self._m.indices().to(device), self._m.values().to(device=device, dtype=dtype)
        for s in range(0, self.n_edges, chunk_edges):
            yield idx[0, s:s + chunk_edges], idx[1, s:s + chunk_edges], vals[s:s + chunk_edges]


class LinearGraph(LayerGraph):
    """Connectivity of ``nn.Linear``: ``weight.T``, block-diagonal over extra input dimensions.

    ``blocks`` copies of the ``(in, out)`` block sit on the diagonal; row ``t·in + i`` and column
    ``t·out + o`` hold ``weight[o, i]``.
    """

    def __init__(self, weight: torch.Tensor, blocks: int = 1):
        self.weight = weight.detach()
        self.d_out, self.d_in = (int(s) for s in self.weight.shape)
        self.blocks = int(blocks)
        self.n_in, self.n_out = self.blocks * self.d_in, self.blocks * self.d_out
        self.n_edges = self.blocks * self.d_in * self.d_out
        self.default_dtype = self.weight.dtype

    def value_range(self):
        if self.weight.numel() == 0:
            return (0.0, 0.0)
        return float(self.weight.min()), float(self.weight.max())

    def edges(self, chunk_edges=DEFAULT_CHUNK_EDGES, device="cpu", dtype=torch.float64):
        wt = self.weight.to(device=device, dtype=dtype).T  # (in, out)
        per_row = max(self.d_out, 1)
        step = max(1, chunk_edges // per_row)
        o = torch.arange(self.d_out, device=device)
        for r0 in range(0, self.n_in, step):
            r = torch.arange(r0, min(r0 + step, self.n_in), device=device)
            t, i = r // self.d_in, r % self.d_in
            rows = r[:, None].expand(-1, self.d_out)
            cols = (t * self.d_out)[:, None] + o[None, :]
            yield rows.reshape(-1), cols.reshape(-1), wt[i].reshape(-1)

    def _row_blocks(self, chunk_edges: int) -> Iterator[slice]:
        step = max(1, chunk_edges // max(self.d_out, 1))
        for i0 in range(0, self.d_in, step):
            yield slice(i0, min(i0 + step, self.d_in))

    def row_sums(self, fns, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        w = self.weight.to(device=device, dtype=torch.float64)
        out = torch.empty(len(fns), self.d_in, dtype=torch.float64, device=device)
        for sl in self._row_blocks(chunk_edges):
            block = w[:, sl]  # (out, in_chunk)
            for k, fn in enumerate(fns):
                out[k, sl] = fn(block).sum(0)
        return out.repeat(1, self.blocks)

    def row_degree(self, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        return torch.full((self.n_in,), float(self.d_out), dtype=torch.float64, device=device)

    def rmatvec(self, fn, x, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        w = self.weight.to(device=device, dtype=torch.float64)
        xs = x.to(device=device, dtype=torch.float64).reshape(self.blocks, self.d_in)
        out = torch.zeros(self.blocks, self.d_out, dtype=torch.float64, device=device)
        for sl in self._row_blocks(chunk_edges):
            out += xs[:, sl] @ fn(w[:, sl]).T
        return out.reshape(-1)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise InfolensError(f"expected an int or a pair, got {v!r}.")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _check_chw(in_shape: Shape, module: nn.Module, channels: int | None = None) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise InfolensError(
            f"{type(module).__name__} expects per-sample input (C, H, W), got shape {tuple(in_shape)}; "
            "pass a batched input (batch dimension first)."
        )
    c, h, w = (int(s) for s in in_shape)
    if channels is not None and c != channels:
        raise InfolensError(
            f"{type(module).__name__} has {channels} input channels but its input has {c}."
        )
    return c, h, w


class ConvGraph(LayerGraph):
    """Connectivity of ``nn.Conv2d`` (stride, padding incl. ``'same'``, dilation, groups).

    Row ``(c_in, h_i, w_i)``, column ``(c_out, h_o, w_o)`` holds ``weight[c_out, c_in − γ·c_in_g,
    a, b]`` where ``γ = c_out // c_out_g`` is the group of ``c_out``, ``c_in`` lies in group ``γ``,
    ``h_i = h_o·s_h − p_top + a·d_h`` and ``w_i = w_o·s_w − p_left + b·d_w``. Taps on padding are
    absent. Stored edges = ``C_out · c_in_g · (#valid (position, tap) pairs)``, the layer's
    multiply-accumulate count without padding taps.
    """

    def __init__(self, module: nn.Conv2d, in_shape: Shape, out_shape: Shape | None = None):
        if module.padding_mode != "zeros":
            raise NotImplementedError(
                f"Conv2d with padding_mode={module.padding_mode!r} is not supported "
                "(only 'zeros'); reflect/replicate/circular padding can link one input to one "
                "output through several taps."
            )
        self.weight = module.weight.detach()
        self.default_dtype = self.weight.dtype
        c_out, c_in_g, kh, kw = (int(s) for s in self.weight.shape)
        g = int(module.groups)
        c_in, h, w = _check_chw(in_shape, module, c_in_g * g)
        sh, sw = _pair(module.stride)
        dh, dw = _pair(module.dilation)
        if isinstance(module.padding, str):
            if module.padding == "valid":
                pt = pb = pl = pr = 0
            else:  # 'same': PyTorch puts the odd remainder at the bottom/right
                th, tw = dh * (kh - 1), dw * (kw - 1)
                pt, pl = th // 2, tw // 2
                pb, pr = th - pt, tw - pl
        else:
            ph, pw = _pair(module.padding)
            pt = pb = ph
            pl = pr = pw
        ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
        if out_shape is not None and tuple(int(s) for s in out_shape) != (c_out, ho, wo):
            raise InfolensError(
                f"Conv2d output shape {tuple(out_shape)} from the forward pass does not match the "
                f"computed {(c_out, ho, wo)}; is this a Conv2d subclass with a custom forward? "
                "Register a connectivity function for it with register_connectivity."
            )
        self.c_in, self.c_out, self.groups = c_in, c_out, g
        self.c_in_g, self.c_out_g = c_in_g, c_out // g
        self.h, self.w, self.ho, self.wo = h, w, ho, wo
        self.khw = kh * kw
        self.hw, self.p = h * w, ho * wo
        self.n_in, self.n_out = c_in * h * w, c_out * ho * wo
        # Spatial index table: for output position p and tap t, the input position (or HW = none).
        hi = torch.arange(ho)[:, None] * sh - pt + torch.arange(kh)[None, :] * dh  # (Ho, kh)
        wi = torch.arange(wo)[:, None] * sw - pl + torch.arange(kw)[None, :] * dw  # (Wo, kw)
        vh, vw = (hi >= 0) & (hi < h), (wi >= 0) & (wi < w)
        sp = hi[:, None, :, None] * w + wi[None, :, None, :]  # (Ho, Wo, kh, kw)
        valid = vh[:, None, :, None] & vw[None, :, None, :]
        self._sp_full = torch.where(valid, sp, self.hw).reshape(self.p, self.khw)
        flat = torch.nonzero(valid.reshape(-1)).squeeze(1)
        self._p_v = flat // self.khw
        self._t_v = flat % self.khw
        self._s_v = sp.reshape(-1)[flat]
        self.n_valid = int(flat.numel())
        self.n_edges = c_out * c_in_g * self.n_valid

    def value_range(self):
        return float(self.weight.min()), float(self.weight.max())

    def _w3(self, device, dtype) -> torch.Tensor:
        return self.weight.to(device=device, dtype=dtype).reshape(self.c_out, self.c_in_g, self.khw)

    def edges(self, chunk_edges=DEFAULT_CHUNK_EDGES, device="cpu", dtype=torch.float64):
        w3 = self._w3(device, dtype)
        p_v, t_v, s_v = (t.to(device) for t in (self._p_v, self._t_v, self._s_v))
        n_units = self.c_out * self.c_in_g  # (output channel, input channel of its group) pairs
        step = max(1, chunk_edges // max(self.n_valid, 1))
        for u0 in range(0, n_units if self.n_valid else 0, step):
            u = torch.arange(u0, min(u0 + step, n_units), device=device)
            co, cil = u // self.c_in_g, u % self.c_in_g
            ci = (co // self.c_out_g) * self.c_in_g + cil
            rows = (ci * self.hw)[:, None] + s_v[None, :]
            cols = (co * self.p)[:, None] + p_v[None, :]
            vals = w3[co, cil][:, t_v]
            yield rows.reshape(-1), cols.reshape(-1), vals.reshape(-1)

    def _coverage(self, device) -> torch.Tensor:
        """``mask[t, s] = 1`` when tap ``t`` of some output position reads input position ``s``."""
        mask = torch.zeros(self.khw, self.hw + 1, dtype=torch.float64, device=device)
        mask[self._t_v.to(device), self._s_v.to(device)] = 1.0
        return mask[:, : self.hw]

    def row_sums(self, fns, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        # Each tap maps output positions injectively to input positions, so the row sum of input
        # (c, s) is Σ_t U[c, t]·mask[t, s] with U the kernel values summed over the group's c_out.
        w3 = self._w3(device, torch.float64)
        mask = self._coverage(device)
        out = torch.empty(len(fns), self.c_in, self.hw, dtype=torch.float64, device=device)
        for k, fn in enumerate(fns):
            u = fn(w3).reshape(self.groups, self.c_out_g, self.c_in_g, self.khw).sum(1)
            out[k] = u.reshape(self.c_in, self.khw) @ mask
        return out.reshape(len(fns), self.n_in)

    def row_degree(self, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        cover = self._coverage(device).sum(0) * self.c_out_g  # (HW,)
        return cover.repeat(self.c_in)

    def rmatvec(self, fn, x, device="cpu", chunk_edges=DEFAULT_CHUNK_EDGES):
        # im2col of x (zero at padding) and a batched matmul per group, in column chunks.
        g, cig, cog, khw = self.groups, self.c_in_g, self.c_out_g, self.khw
        v = fn(self._w3(device, torch.float64)).reshape(g, cog, cig * khw)
        xp = torch.zeros(self.c_in, self.hw + 1, dtype=torch.float64, device=device)
        xp[:, : self.hw] = x.to(device=device, dtype=torch.float64).reshape(self.c_in, self.hw)
        sp_full = self._sp_full.to(device)
        out = torch.empty(self.c_out, self.p, dtype=torch.float64, device=device)
        step = max(1, chunk_edges // max(self.c_in * khw, 1))
        for p0 in range(0, self.p, step):
            p1 = min(p0 + step, self.p)
            cols = xp[:, sp_full[p0:p1]]  # (C_in, Pc, khw)
            cols = cols.reshape(g, cig, p1 - p0, khw).permute(0, 1, 3, 2).reshape(g, cig * khw, p1 - p0)
            out[:, p0:p1] = torch.bmm(v, cols).reshape(self.c_out, p1 - p0)
        return out.reshape(-1)


def _pool_out(length: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    out = (length + 2 * p - k + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


class PoolGraph(LayerGraph):
    """Connectivity of ``nn.AvgPool2d`` (per channel; padding, ceil_mode, divisor rules).

    Output ``(c, h_o, w_o)`` averages the real inputs of its window; each gets ``1/divisor`` with
    PyTorch's rule: ``divisor_override`` if set, else the window clipped to the padded extent
    (``count_include_pad=True``) or the number of real inputs (``count_include_pad=False``).
    """

    def __init__(self, module: nn.AvgPool2d, in_shape: Shape, out_shape: Shape | None = None):
        c, h, w = _check_chw(in_shape, module)
        kh, kw = _pair(module.kernel_size)
        sh, sw = _pair(module.stride if module.stride is not None else module.kernel_size)
        ph, pw = _pair(module.padding)
        ho = _pool_out(h, kh, sh, ph, module.ceil_mode)
        wo = _pool_out(w, kw, sw, pw, module.ceil_mode)
        if out_shape is not None and tuple(int(s) for s in out_shape) != (c, ho, wo):
            raise InfolensError(
                f"AvgPool2d output shape {tuple(out_shape)} from the forward pass does not match "
                f"the computed {(c, ho, wo)}."
            )
        self.c, self.h, self.w, self.ho, self.wo = c, h, w, ho, wo
        self.hw, self.p = h * w, ho * wo
        self.n_in, self.n_out = c * self.hw, c * self.p
        self.default_dtype = torch.get_default_dtype()

        def axis(n_out, k, s, p, length):
            start = torch.arange(n_out) * s - p
            end = torch.clamp(start + k, max=length + p)
            size = end - start  # window clipped to the padded extent
            real = torch.clamp(end, max=length) - torch.clamp(start, min=0)
            idx = start[:, None] + torch.arange(k)[None, :]
            return idx, (idx >= 0) & (idx < length), size, real

        hi, vh, size_h, real_h = axis(ho, kh, sh, ph, h)
        wi, vw, size_w, real_w = axis(wo, kw, sw, pw, w)
        if module.divisor_override:
            div = torch.full((ho, wo), float(module.divisor_override), dtype=torch.float64)
        elif module.count_include_pad:
            div = (size_h[:, None] * size_w[None, :]).double()
        else:
            div = (real_h[:, None] * real_w[None, :]).double()
        sp = hi[:, None, :, None] * w + wi[None, :, None, :]  # (Ho, Wo, kh, kw)
        valid = (vh[:, None, :, None] & vw[None, :, None, :]).reshape(-1)
        flat = torch.nonzero(valid).squeeze(1)
        khw = kh * kw
        self._p_v = flat // khw
        self._s_v = sp.reshape(-1)[flat]
        self._val_v = (1.0 / div).reshape(-1)[self._p_v]
        self.n_valid = int(flat.numel())
        self.n_edges = c * self.n_valid

    def value_range(self):
        if self.n_valid == 0:
            return (0.0, 0.0)
        return float(self._val_v.min()), float(self._val_v.max())

    def edges(self, chunk_edges=DEFAULT_CHUNK_EDGES, device="cpu", dtype=torch.float64):
        p_v, s_v = self._p_v.to(device), self._s_v.to(device)
        vals = self._val_v.to(device=device, dtype=dtype)
        step = max(1, chunk_edges // max(self.n_valid, 1))
        for c0 in range(0, self.c if self.n_valid else 0, step):
            ch = torch.arange(c0, min(c0 + step, self.c), device=device)
            rows = (ch * self.hw)[:, None] + s_v[None, :]
            cols = (ch * self.p)[:, None] + p_v[None, :]
            yield rows.reshape(-1), cols.reshape(-1), vals[None, :].expand(len(ch), -1).reshape(-1)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

ConnectivityFn = Callable[[nn.Module, Shape, "Shape | None"], LayerGraph]


def _linear_fn(module: nn.Linear, in_shape: Shape, out_shape: Shape | None = None) -> LayerGraph:
    if len(in_shape) == 0 or int(in_shape[-1]) != module.in_features:
        raise InfolensError(
            f"Linear({module.in_features}, {module.out_features}) got per-sample input shape "
            f"{tuple(in_shape)}; its last dimension must be {module.in_features}."
        )
    return LinearGraph(module.weight, math.prod(int(s) for s in in_shape[:-1]))


_DEFAULTS: dict[type, ConnectivityFn] = {
    nn.Linear: _linear_fn,
    nn.Conv2d: ConvGraph,
    nn.AvgPool2d: PoolGraph,
}
_REGISTRY: dict[type, ConnectivityFn] = dict(_DEFAULTS)


def register_connectivity(module_type: type, fn: ConnectivityFn) -> None:
    """Register ``fn(module, in_shape, out_shape) -> LayerGraph`` for ``module_type`` (and subclasses).

    ``in_shape``/``out_shape`` exclude the batch dimension. The returned graph's rows are the
    module's flattened input activations and its columns the flattened outputs; wrap an explicit
    matrix in :class:`SparseMatrixGraph`. Registering a type that is already registered replaces
    its function.
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise InfolensError(f"module_type must be an nn.Module subclass, got {module_type!r}.")
    if not callable(fn):
        raise InfolensError(f"fn must be callable (module, in_shape, out_shape) -> LayerGraph, got {fn!r}.")
    _REGISTRY[module_type] = fn


def _lookup(module: nn.Module, exact_types: bool = False) -> ConnectivityFn | None:
    if exact_types:  # foresight's rule: only the exact default types
        return _DEFAULTS.get(type(module))
    for cls in type(module).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls]
    return None


def layer_graph(
    module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int] | None = None, *,
    exact_types: bool = False, linear_blocks: bool = True,
) -> LayerGraph:
    """The :class:`LayerGraph` of a registered module for a per-sample ``in_shape`` (no batch dim).

    ``linear_blocks=False`` reproduces foresight's Linear rule (plain ``weight.T`` whatever the
    extra input dimensions).
    """
    fn = _lookup(module, exact_types)
    if fn is None:
        raise InfolensError(
            f"no connectivity is registered for {type(module).__name__}; supported: "
            f"{', '.join(sorted(t.__name__ for t in _REGISTRY))} (add more with register_connectivity)."
        )
    in_shape = tuple(int(s) for s in in_shape)
    out_shape = None if out_shape is None else tuple(int(s) for s in out_shape)
    if not linear_blocks and isinstance(module, nn.Linear) and fn is _linear_fn:
        return LinearGraph(module.weight, 1)
    graph = fn(module, in_shape, out_shape)
    if not isinstance(graph, LayerGraph):
        raise InfolensError(
            f"the connectivity function for {type(module).__name__} returned "
            f"{type(graph).__name__}, not a LayerGraph (wrap a matrix in SparseMatrixGraph)."
        )
    return graph


def connectivity(
    module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int] | None = None,
    layout: str = "sparse", *, dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Connectivity matrix ``M`` (rows = source neurons, shape ``(n_in, n_out)``) of one module.

    ``in_shape`` is the per-sample input shape (no batch dimension), e.g. ``(C, H, W)``. ``M[i, j]``
    is the weight (dimensionless; bias ignored) from flattened input ``i`` to flattened output
    ``j``, so a bias-free layer computes ``y_flat = x_flat @ M``. ``layout="sparse"`` (default)
    returns a coalesced ``torch.sparse_coo_tensor`` built by vectorised index arithmetic;
    ``layout="dense"`` densifies it (tests and small layers only).
    """
    check_choice("layout", layout, ("sparse", "dense"))
    graph = layer_graph(module, in_shape, out_shape)
    return graph.to_sparse(dtype) if layout == "sparse" else graph.to_dense(dtype)


# --------------------------------------------------------------------------------------------
# Layer discovery with hooks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerShape:
    """One call of a registered module: qualified name, module, per-sample in/out shapes."""

    name: str
    module: nn.Module
    in_shape: Shape
    out_shape: Shape


@dataclass(frozen=True)
class SkippedModule:
    """A module that is not part of the weight graph, and why."""

    name: str
    type: str
    reason: str  # "parameter-free", "elementwise normalisation" or "unsupported (has parameters)"
    has_parameters: bool
    ran: bool | None  # whether it ran in the forward pass (None when no pass was made)


_ELEMENTWISE_NORMS = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
)


def _first_tensor(args, kwargs) -> torch.Tensor | None:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a
    return None


def _run_forward(model: nn.Module, input) -> None:
    if isinstance(input, dict):
        model(**input)
    elif isinstance(input, (tuple, list)):
        model(*input)
    else:
        model(input)


def _describe(input) -> str:
    if isinstance(input, torch.Tensor):
        return f"a tensor of shape {tuple(input.shape)}"
    if isinstance(input, (tuple, list)):
        return "(" + ", ".join(_describe(x) for x in input) + ")"
    return type(input).__name__


def _trace(model: nn.Module, input=None, *, input_shape: Sequence[int] | None = None,
           exact_types: bool = False) -> tuple[list[LayerShape], set[int]]:
    """One hooked forward pass: registered-module records and the ids of every module that ran."""
    if not isinstance(model, nn.Module):
        raise InfolensError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if (input is None) == (input_shape is None):
        raise InfolensError(
            "pass exactly one of input= (a batch, batch dimension first; one example is enough) "
            "or input_shape= (per-sample shape, e.g. (3, 32, 32))."
        )
    if input is None:
        shape = tuple(check_positive_int("input_shape entries", s) for s in input_shape)
        param = next((p for p in model.parameters() if p.is_floating_point()), None)
        input = torch.zeros(
            (1, *shape),
            dtype=param.dtype if param is not None else torch.get_default_dtype(),
            device=param.device if param is not None else "cpu",
        )
    names = {id(m): n for n, m in model.named_modules()}
    records: list[LayerShape] = []
    ran: set[int] = set()

    def hook(module, args, kwargs, output):
        ran.add(id(module))
        if _lookup(module, exact_types) is None:
            return
        x = _first_tensor(args, kwargs)
        if x is None or not isinstance(output, torch.Tensor):
            raise InfolensError(
                f"module {names.get(id(module), '?')!r} ({type(module).__name__}) was not called "
                "with a tensor input and a tensor output; cannot read its shapes."
            )
        records.append(LayerShape(names.get(id(module), "?"), module,
                                  tuple(x.shape[1:]), tuple(output.shape[1:])))

    modes = {id(m): m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            try:
                _run_forward(model, input)
            except InfolensError:
                raise
            except Exception as err:
                raise InfolensError(
                    f"the model's forward pass failed on {_describe(input)}: "
                    f"{type(err).__name__}: {err}\nHint: the input must be a batch the model "
                    "accepts (batch dimension first; one example is enough), e.g. "
                    "input=torch.randn(1, 3, 32, 32), or pass the per-sample shape as "
                    "input_shape=(3, 32, 32)."
                ) from err
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = modes[id(m)]
    return records, ran


def get_shapes(model: nn.Module, input=None, *, input_shape: Sequence[int] | None = None,
               exact_types: bool = False) -> list[LayerShape]:
    """Per-sample input/output shapes of every registered module, from one forward pass.

    ``input`` is a batch (batch dimension first; one example is enough; a tuple/list is unpacked
    as positional arguments, a dict as keywords); ``input_shape`` instead builds a zeros batch of
    size 1. The pass runs under ``torch.no_grad()`` with the model temporarily in ``eval()``
    (BatchNorm statistics untouched); every module's train/eval flag is restored and all hooks
    are removed afterwards, also on error. Returns :class:`LayerShape` records in execution
    order; a module called twice gives two records. Shapes are in neurons (no units).
    """
    return _trace(model, input, input_shape=input_shape, exact_types=exact_types)[0]


def skipped_modules(model: nn.Module, ran: set[int] | None = None, *,
                    exact_types: bool = False) -> list[SkippedModule]:
    """Modules of ``model`` that are not part of the weight graph, with the reason.

    Lists every leaf module without a registered connectivity and every container that owns
    parameters directly; descendants of registered modules are not listed. ``ran`` (ids of the
    modules that ran, from a traced pass) fills :attr:`SkippedModule.ran`.
    """
    out: list[SkippedModule] = []
    inside: set[int] = set()
    for name, m in model.named_modules():
        if id(m) in inside:
            continue
        if _lookup(m, exact_types) is not None:
            inside.update(id(c) for c in m.modules())
            continue
        own = any(True for _ in m.parameters(recurse=False))
        leaf = not any(True for _ in m.children())
        if not own and not leaf:
            continue
        if not own:
            reason = "parameter-free"
        elif isinstance(m, _ELEMENTWISE_NORMS):
            reason = "elementwise normalisation"
        else:
            reason = "unsupported (has parameters)"
        out.append(SkippedModule(name, type(m).__name__, reason, own,
                                 None if ran is None else id(m) in ran))
    return out
