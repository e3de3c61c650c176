"""Interventional effective information (EI) of network layers.

Under the intervention do(x ~ U[l, u]^n) (every input neuron independently uniform over
its range), with inputs and outputs binned into equal-width bins:

- ``ei`` (vector EI): ``I(bin(x); bin(y))`` of the whole binned vectors;
- ``ei_parts``: ``Σ_{A,B} I(bin(x_A); bin(y_B))``, all inputs noised together;
- ``ei_parts_matrix``: the ``n × m`` matrix of those terms;
- ``sensitivity``: ``Σ_{A,B} I(bin(x_A); bin(y_B))`` when only ``A`` is noised and every
  other input is 0; ``sensitivity_matrix``: its ``n × m`` matrix;
- ``eis_between_groups``: vector EI between sub-vectors, from one shared sample stream;
- ``vector_and_pairwise_ei``: vector EI and EI_parts from the same samples.

All values are in bits. Pairs ``(A, B)`` with no path of nonzero weights from ``A`` to
``B`` (outside a convolution's receptive field, for instance) are exactly independent:
they are not counted and contribute 0. Every result records its estimator, bins, ranges,
sample count and the shuffle null (the same estimate with outputs permuted, which is what
the estimator reports for independent variables: the bias floor).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from rich.progress import Progress

from infolens._validation import (
    InfolensError,
    check_choice,
    check_finite,
    check_positive_int,
    parse_memory,
)
from infolens.estimators.binning import (
    OUT_OF_RANGE_POLICIES,
    bin_codes_transposed,
    floor_codes,
)
from infolens.estimators.entropy import ESTIMATORS
from infolens.estimators.joint import VectorMI
from infolens.estimators.pairwise import PairwiseCounts, counts_nbytes
from infolens.measures._layer_map import (
    _AFFINE,
    LayerMap,
    activation_inverse_of,
    affine_response,
    build_layer_map,
    effective_affine,
    exact_scope,
    output_activation,
)

DEFAULT_MAX_MEMORY = 256 * 2**20
DEFAULT_MAX_SAMPLES = 2**23
EXACT_ESTIMATORS = ("exact", "auto")
AUTO_FALLBACK = "miller_madow"  # what estimator="auto" samples with outside the exact scope
ADAPTIVE_START = 10_000
EXTRAPOLATE_ROUNDS = 20
EXTRAPOLATE_INTERVAL = 100_000


@dataclass
class EIResult:
    """A value of the EI family with everything needed to interpret it.

    ``float(result)`` is the value. ``null`` is the same estimate computed with the outputs
    independently permuted (None if not requested). ``matrix`` holds per-pair values for
    the matrix functions. ``out_of_range_fraction`` is the fraction of output values that
    fell outside ``out_range``.
    """

    value: float
    measure: str
    layer: str
    in_layer: str
    estimator: str
    samples: int
    in_bins: int
    out_bins: int
    in_range: tuple[float, float]
    out_range: tuple[float, float]
    out_of_range: str
    out_of_range_fraction: float
    n_pairs: int
    units: str = "bits"
    null: float | None = None
    matrix: torch.Tensor | None = None
    null_matrix: torch.Tensor | None = None
    history: list[tuple[int, float]] = field(default_factory=list)
    seed: int | None = None
    exact: object | None = None  # ExactPairwise (in-range mass, T, Q, error bound) if exact

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict:
        """A flat dictionary (no tensors) for tables."""
        return {
            "measure": self.measure,
            "layer": self.layer,
            "in_layer": self.in_layer,
            "value": self.value,
            "null": self.null,
            "units": self.units,
            "estimator": self.estimator,
            "samples": self.samples,
            "in_bins": self.in_bins,
            "out_bins": self.out_bins,
            "in_range": self.in_range,
            "out_range": self.out_range,
            "out_of_range": self.out_of_range,
            "out_of_range_fraction": self.out_of_range_fraction,
            "n_pairs": self.n_pairs,
            "seed": self.seed,
        }


@dataclass
class _Config:
    estimator: str = "plugin"
    out_of_range: str = "drop"
    widen: float = 0.0
    null: bool = True
    max_memory: int = DEFAULT_MAX_MEMORY
    max_samples: int = DEFAULT_MAX_SAMPLES
    progress: bool = False
    backend: str = "auto"
    vector_binning: str = "equal_width"  # or "deep_ei"
    seed: int | None = None


# --------------------------------------------------------------------------- plumbing


def _make_generator(seed, generator, device: torch.device) -> torch.Generator:
    if seed is not None and generator is not None:
        raise InfolensError("pass either seed or generator, not both.")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise InfolensError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
        if generator.device.type != device.type:
            raise InfolensError(
                f"generator is on {generator.device} but the layer runs on {device}; "
                f"pass torch.Generator(device={str(device)!r})."
            )
        return generator
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InfolensError(f"seed must be an int, got {seed!r}.")
        return torch.Generator(device=device).manual_seed(seed)
    if device.type == "cpu":
        return torch.default_generator
    idx = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.default_generators[idx]


class _Noise:
    """The interventional input stream, replayable from its start."""

    def __init__(self, lmap: LayerMap, generator: torch.Generator, batch_size: int) -> None:
        self.lmap = lmap
        self.gen = generator
        self.batch_size = batch_size
        self.state0 = generator.get_state()

    def restart(self) -> None:
        self.gen.set_state(self.state0)

    def draw(self, count: int, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        lo, hi = self.lmap.in_range
        shape = self.lmap.in_shape if shape is None else shape
        u = torch.rand((count, *shape), generator=self.gen, dtype=self.lmap.dtype, device=self.lmap.device)
        if (lo, hi) == (0.0, 1.0):
            return u  # (1 - 0)·u + 0 == u exactly
        return u.mul_(hi - lo).add_(lo)  # the same two roundings as (hi - lo)·u + lo


NULL_BLOCK = 1000


def _chunk_rows(lmap: LayerMap, cfg: _Config, batch_size: int, width: int | None = None) -> int:
    """Rows per chunk: bounded by max_memory, a multiple of the batch size and, with the
    shuffle null, of NULL_BLOCK (so the null does not depend on the chunking)."""
    width = (lmap.n_in + lmap.n_out) if width is None else width
    per_row = 24 * max(width, 1)
    step = math.lcm(batch_size, NULL_BLOCK) if cfg.null else batch_size
    rows = min((cfg.max_memory // 4) // per_row, 1 << 16)
    return max(step, rows - rows % step)


def _null_generator(cfg: _Config, device: torch.device) -> torch.Generator:
    seed = 0x5EED if cfg.seed is None else cfg.seed + 0x5EED
    return torch.Generator(device=device).manual_seed(seed)


def _null_perm(count: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Permute outputs within consecutive blocks of NULL_BLOCK samples of the stream: the
    same permutation whatever the chunk size (chunks start on block boundaries)."""
    parts = [
        torch.randperm(min(NULL_BLOCK, count - i), generator=gen, device=device) + i
        for i in range(0, count, NULL_BLOCK)
    ]
    return torch.cat(parts)


def _warn_pairs(lmap: LayerMap, in_range_counts: torch.Tensor) -> None:
    empty = int((in_range_counts == 0).sum())
    if empty:
        warnings.warn(
            f"layer {lmap.layer.path!r}: {empty} of {in_range_counts.numel()} pairs had no "
            "samples inside the ranges; their MI is defined as 0. Check in_range/out_range.",
            stacklevel=4,
        )


def _warn_out_of_range(lmap: LayerMap, frac: float) -> None:
    if frac > 0.05:
        warnings.warn(
            f"layer {lmap.layer.path!r}: {frac:.1%} of output values fell outside "
            f"out_range={lmap.out_range}; pass a wider out_range or out_of_range='clip'.",
            stacklevel=4,
        )


def _progress(cfg: _Config) -> Progress:
    return Progress(disable=not cfg.progress, transient=True)


# --------------------------------------------------------------------------- pairwise


class _PairwiseEstimator:
    """Counts for all pairs of a layer, streamed; blocked over inputs under max_memory.

    When the count tables of all pairs fit in ``max_memory``, samples are added
    incrementally. Otherwise the pairs are split into blocks of inputs and the sample stream
    is replayed once per block (it is reproducible from the generator state)."""

    def __init__(self, lmap: LayerMap, cfg: _Config, in_bins: int, out_bins: int, noise: _Noise):
        self.lmap, self.cfg, self.noise = lmap, cfg, noise
        self.in_bins, self.out_bins = in_bins, out_bins
        self.null_gen = _null_generator(cfg, lmap.device)
        self.null_state0 = self.null_gen.get_state()
        copies = 2 if cfg.null else 1
        self.chunk = _chunk_rows(lmap, cfg, noise.batch_size)
        budget = max(cfg.max_memory - self.chunk * 24 * (lmap.n_in + lmap.n_out), cfg.max_memory // 2)
        per_pair = counts_nbytes(1, in_bins, out_bins) * copies
        indptr, indices = self._support()
        if int(indptr[-1]) * per_pair > budget:
            budget //= 2  # blocked: the other half may hold the binned codes of the samples
        self.cache_budget = budget
        self.blocks: list[tuple[int, int]] = []
        a0 = 0
        while a0 < lmap.n_in:
            a1 = a0 + 1
            while a1 < lmap.n_in and int(indptr[a1 + 1] - indptr[a0]) * per_pair <= budget:
                a1 += 1
            self.blocks.append((a0, a1))
            a0 = a1
        self.indptr, self.indices = indptr, indices
        self.n = 0
        self.out_of_range = 0
        self.counters = self._new_counters(*self.blocks[0]) if len(self.blocks) == 1 else None
        self._mi = self._null = self._inrange = None
        self._cache: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
        self._cache_bytes = 0

    def _support(self):
        if self.lmap.support is not None:
            return self.lmap.support
        n_in, n_out = self.lmap.n_in, self.lmap.n_out
        indptr = torch.arange(0, (n_in + 1) * n_out, n_out, dtype=torch.int64)
        return indptr, torch.arange(n_out, dtype=torch.int64).repeat(n_in)

    def _new_counters(self, a0: int, a1: int):
        p0, p1 = int(self.indptr[a0]), int(self.indptr[a1])
        sub = (self.indptr[a0 : a1 + 1] - p0, self.indices[p0:p1])
        dense = self.lmap.support is None

        def make():
            return PairwiseCounts(
                a1 - a0, self.lmap.n_out, self.in_bins, self.out_bins,
                support=None if dense else sub, device=self.lmap.device, backend=self.cfg.backend,
            )

        return make(), (make() if self.cfg.null else None)

    def _bin(self, x, y):
        """Transposed codes (n_in, N) and (n_out, N), and the out-of-range output count."""
        cfg = self.cfg
        kw = dict(policy=cfg.out_of_range, widen=cfg.widen)
        xcT, _ = bin_codes_transposed(x, *self.lmap.in_range, self.in_bins, **kw)
        ycT, yout = bin_codes_transposed(y, *self.lmap.out_range, self.out_bins, **kw)
        return xcT, ycT, int(yout.sum())

    def _feed(self, count: int, blocks, counters_for, count_oor: bool) -> None:
        lmap = self.lmap
        remaining = count
        while remaining > 0:
            c = min(self.chunk, remaining)
            x = self.noise.draw(c)
            y = lmap.evaluate(x, self.noise.batch_size)
            xcT, ycT, oor = self._bin(x.reshape(c, -1), y)
            if count_oor:
                self.out_of_range += oor
            ycT_null = None
            if self.cfg.null:
                ycT_null = ycT[:, _null_perm(c, self.null_gen, lmap.device)]
            for (a0, a1), (cnt, null) in zip(blocks, counters_for):
                xb = xcT[a0:a1]
                cnt.update_transposed(xb, ycT)
                if null is not None:
                    null.update_transposed(xb, ycT_null)
            remaining -= c

    def advance_to(self, total: int) -> None:
        """Make the estimate reflect the first ``total`` samples of the stream."""
        if self.counters is not None:
            if total > self.n:
                self._feed(total - self.n, self.blocks, [self.counters], True)
            self.n = total
            return
        # blocked: count every block from the start of the stream, from cached codes when
        # they fit in the memory cap, else by replaying the stream once per block
        width = self.lmap.n_in + self.lmap.n_out * (2 if self.cfg.null else 1)
        itemsize = 1 if max(self.in_bins, self.out_bins) <= 127 else 2
        use_cache = total * width * itemsize <= self.cache_budget
        if use_cache:
            self._fill_cache(total)
        mis, nulls, inr = [], [], []
        if not use_cache:
            self.out_of_range = 0
        for i, block in enumerate(self.blocks):
            counters = self._new_counters(*block)
            if use_cache:
                a0, a1 = block
                cnt, null = counters
                for xcT, ycT, ycT_null in self._cache:
                    cnt.update_transposed(xcT[a0:a1], ycT)
                    if null is not None:
                        null.update_transposed(xcT[a0:a1], ycT_null)
            else:
                self.noise.restart()
                self.null_gen.set_state(self.null_state0)
                self._feed(total, [block], [counters], i == 0)
            mi, null, ir = self._compute(counters)
            mis.append(mi)
            inr.append(ir)
            if null is not None:
                nulls.append(null)
            counters = cnt = null = None  # free this block's tables before the next one
        self._mi = torch.cat(mis)
        self._null = torch.cat(nulls) if nulls else None
        self._inrange = torch.cat(inr)
        self.n = total

    def _fill_cache(self, total: int) -> None:
        """Bin and keep the codes of samples [cached, total) of the stream."""
        have = sum(c[0].shape[1] for c in self._cache)
        lmap = self.lmap
        if have == 0:
            self.noise.restart()
            self.null_gen.set_state(self.null_state0)
            self.out_of_range = 0
        remaining = total - have
        while remaining > 0:
            c = min(self.chunk, remaining)
            x = self.noise.draw(c)
            y = lmap.evaluate(x, self.noise.batch_size)
            xcT, ycT, oor = self._bin(x.reshape(c, -1), y)
            self.out_of_range += oor
            ycT_null = ycT[:, _null_perm(c, self.null_gen, lmap.device)] if self.cfg.null else None
            self._cache.append((xcT, ycT, ycT_null))
            remaining -= c

    def _compute(self, counters):
        cnt, null = counters
        mi, totals = cnt.mutual_information_and_totals(estimator=self.cfg.estimator)
        nmi = null.mutual_information(estimator=self.cfg.estimator) if null is not None else None
        return mi, nmi, totals

    def values(self):
        """(per-pair MI, per-pair null MI or None, per-pair in-range sample counts)."""
        if self.counters is not None:
            return self._compute(self.counters)
        return self._mi, self._null, self._inrange

    def oor_fraction(self) -> float:
        denom = self.n * self.lmap.n_out
        return self.out_of_range / denom if denom else 0.0

    def to_matrix(self, values: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((self.lmap.n_in, self.lmap.n_out), dtype=values.dtype, device=values.device)
        rows = torch.repeat_interleave(torch.arange(self.lmap.n_in), self.indptr.diff())
        out[rows.to(values.device), self.indices.to(values.device)] = values
        return out


# --------------------------------------------------------------------------- shared setup


_COMMON_KEYS = (
    "in_layer", "in_range", "in_bins", "out_range", "out_bins", "activation", "device",
    "estimator", "seed", "generator", "max_memory", "progress", "out_of_range", "null",
    "batch_size", "max_samples", "backend",
)


def _common(args: dict) -> dict:
    """The shared keyword arguments of a public measure, taken from its ``locals()``."""
    return {k: args[k] for k in _COMMON_KEYS if k in args}


def _setup(
    layer, topology, *, in_layer, in_range, in_bins, out_range, out_bins, activation, device,
    estimator, seed, generator, max_memory, progress, out_of_range, null, batch_size,
    max_samples=DEFAULT_MAX_SAMPLES, backend="auto", widen=0.0, vector_binning="equal_width", structural_support=True,
    range_defaults=None, float64_affine=False, exact_ok=False,
):
    if estimator in EXACT_ESTIMATORS and not exact_ok:
        raise InfolensError(
            f"estimator={estimator!r} applies to ei_parts, ei_parts_matrix, sensitivity and "
            "sensitivity_matrix only; vector EI needs a sampling estimator, e.g. "
            "estimator='miller_madow'."
        )
    in_bins = check_positive_int("in_bins", in_bins, minimum=2)
    out_bins = check_positive_int("out_bins", out_bins, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    check_choice("estimator", estimator, (*ESTIMATORS, *EXACT_ESTIMATORS) if exact_ok else ESTIMATORS)
    check_choice("out_of_range", out_of_range, OUT_OF_RANGE_POLICIES)
    cfg = _Config(
        estimator=estimator,
        out_of_range=out_of_range,
        widen=widen,
        null=bool(null),
        max_memory=parse_memory(max_memory, default=DEFAULT_MAX_MEMORY),
        max_samples=check_positive_int("max_samples", max_samples),
        progress=bool(progress),
        backend=backend,
        vector_binning=vector_binning,
        seed=seed,
    )
    pilot = torch.Generator(device=device or "cpu").manual_seed(0 if seed is None else seed)
    if range_defaults is not None:
        in_range, out_range = range_defaults(topology, layer, in_layer, in_range, out_range)
    lmap = build_layer_map(
        topology, layer, in_layer=in_layer, in_range=in_range, out_range=out_range,
        activation=activation, device=device, pilot_generator=None if device else pilot,
        structural_support=structural_support, float64_affine=float64_affine,
    )
    gen = _make_generator(seed, generator, lmap.device)
    return lmap, cfg, _Noise(lmap, gen, batch_size), in_bins, out_bins


def _result(measure, lmap, cfg, value, samples, in_bins, out_bins, oor, n_pairs, **kw) -> EIResult:
    return EIResult(
        value=float(value),
        measure=measure,
        layer=lmap.layer.path,
        in_layer=lmap.in_layer.path,
        estimator=cfg.estimator,
        samples=int(samples),
        in_bins=in_bins,
        out_bins=out_bins,
        in_range=lmap.in_range,
        out_range=lmap.out_range,
        out_of_range=cfg.out_of_range,
        out_of_range_fraction=float(oor),
        n_pairs=int(n_pairs),
        seed=cfg.seed,
        **kw,
    )


def _maybe_exact(measure: str, lmap: LayerMap, cfg: _Config, in_bins: int, out_bins: int):
    """The exact (sampling-free) result for ``estimator="exact"``/``"auto"``, or None.

    Outside the exact scope, ``"exact"`` raises an error naming the reason and ``"auto"``
    switches ``cfg`` to the sampling estimator ``AUTO_FALLBACK`` (recorded in the result)."""
    if cfg.estimator not in EXACT_ESTIMATORS:
        return None
    reason = exact_scope(lmap)
    if reason is None:
        try:
            inverse = activation_inverse_of(output_activation(lmap))
        except InfolensError as err:
            reason = str(err).split(", so ")[0]
    if reason is not None:
        if cfg.estimator == "exact":
            raise InfolensError(
                f"estimator='exact' does not apply to layer {lmap.layer.path!r}: {reason}. Use a "
                "sampling estimator, e.g. estimator='miller_madow' (or estimator='auto')."
            )
        cfg.estimator = AUTO_FALLBACK
        return None
    from infolens.estimators.exact_ei import (
        exact_ei_parts,
        exact_sensitivity,
        preactivation_edges,
    )

    W, b, _ = effective_affine(lmap)
    edges = preactivation_edges(lmap.out_range, out_bins, inverse, widen=cfg.widen)
    fn = exact_sensitivity if measure.startswith("sensitivity") else exact_ei_parts
    ex = fn(W, b, lmap.in_range, in_bins, edges, widen=cfg.widen, out_of_range=cfg.out_of_range)
    cfg.estimator = "exact"
    frac = 1.0 - float(ex.in_range_mass.mean())
    _warn_out_of_range(lmap, frac)
    matrix = ex.mi.to(lmap.device) if measure.endswith("matrix") else None
    return _result(
        measure, lmap, cfg, float(ex.mi.sum()), 0, in_bins, out_bins, frac, lmap.n_pairs,
        matrix=matrix, null=0.0 if cfg.null else None, exact=ex,
        null_matrix=torch.zeros_like(matrix) if (cfg.null and matrix is not None) else None,
    )


def _adaptive(est_value, advance, cfg: _Config, threshold: float, rule: str, label: str):
    """deep-ei's doubling rule, incremental: 10k, 20k, 40k, ... samples until converged.

    ``rule="relative"``: stop when 2·(E_{k-1} − E_k)/E_k ≤ threshold (EI_parts);
    ``rule="absolute"``: stop when |E_k − E_{k-1}| < threshold bits (vector EI)."""
    history: list[tuple[int, float]] = []
    total = ADAPTIVE_START
    with _progress(cfg) as bar:
        task = bar.add_task(f"{label}: adaptive sampling", total=None)
        while True:
            advance(total)
            value = est_value()
            history.append((total, value))
            bar.update(task, description=f"{label}: N={total:,} EI={value:.4f} bits")
            if len(history) >= 2:
                prev = history[-2][1]
                if rule == "relative":
                    done = value == 0.0 or 2.0 * (prev - value) / value <= threshold
                else:
                    done = abs(value - prev) < threshold
                if done:
                    return value, total, history
            if total * 2 > cfg.max_samples:
                warnings.warn(
                    f"{label}: adaptive sampling hit max_samples={cfg.max_samples:,} before "
                    f"converging to threshold={threshold}; returning the estimate at N={total:,}.",
                    stacklevel=4,
                )
                return value, total, history
            total *= 2


def _extrapolated(sizes: Sequence[int], values: Sequence[float]) -> float:
    """Fit E(N) = a·N^(−e) + C (a, e, C ≥ 0) to rounds 5..20 and return C (as deep-ei)."""
    import numpy as np
    from scipy.optimize import curve_fit

    n = np.asarray(sizes[4:], dtype=float)
    e_vals = np.asarray(values[4:], dtype=float)

    def curve(x, a, e, c):
        return a / (x**e) + c

    best, best_loss = None, math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a0 in (0, 10, 100, 1000, 10000, 100000, 1000000, 10000000):
            for e0 in (0, 1):
                try:
                    params, _ = curve_fit(
                        curve, n, e_vals, p0=[a0, e0, 0], bounds=([0, 0, 0], [np.inf] * 3), maxfev=10000
                    )
                except RuntimeError:
                    continue
                loss = float(np.sum((e_vals - curve(n, *params)) ** 2))
                if loss < best_loss:
                    best, best_loss = params, loss
    if best is None:
        raise InfolensError("extrapolation failed: no fit converged; use samples= instead.")
    return float(curve(1e15, *best))


# --------------------------------------------------------------------------- public API

_COMMON_DOC = """
    Parameters
    ----------
    layer : nn.Module or str
        The layer (module or dotted module path, e.g. ``"features.3"``) whose output is
        measured.
    topology : Topology
        From :func:`infolens.topology_of`.
    samples : int, optional
        Number of interventional samples. ``None`` uses the adaptive ``threshold`` rule.
    batch_size : int
        Forward-pass batch size (results do not depend on it).
    in_layer : nn.Module or str, optional
        Where the measured map starts (default: ``layer`` itself).
    in_range, out_range : (float, float), optional
        Ranges of inputs and outputs. Default: the range of the activation feeding
        ``in_layer`` / following ``layer``; for unbounded activations (ReLU, ...) it is
        inferred from observed activations with a warning.
    in_bins, out_bins : int
        Numbers of equal-width bins.
    activation : nn.Module or callable, optional
        Overrides the activation applied to ``layer``'s output.
    device : str or torch.device, optional
        Where noise is drawn and counted (default: the layer's device).
    estimator : {"plugin", "miller_madow", "exact", "auto"}
        Entropy estimator. ``"exact"`` (ei_parts, ei_parts_matrix, sensitivity and
        sensitivity_matrix of one Linear/Conv/AvgPool layer, eval BatchNorm folded, with a
        non-decreasing activation) computes every pair's joint table exactly, without
        sampling (``samples`` is ignored and recorded as 0; ``result.exact`` holds the
        in-range mass per pair, the series parameters and the error bound); outside that
        scope it raises. ``"auto"`` is exact where it applies and Miller–Madow sampling
        otherwise; ``result.estimator`` records which was used.
    seed : int, optional / generator : torch.Generator, optional
        Randomness; with neither, torch's global generator is used (as deep-ei does).
    max_memory : int or str
        Cap on working memory for counts and sample chunks, e.g. ``"256MiB"``.
    progress : bool
        Show a progress bar.
    out_of_range : {"drop", "clip"}
        What happens to values outside the ranges.
    null : bool
        Also compute the shuffle null (outputs permuted), reported as ``result.null``.
"""


def ei_parts(
    layer, topology, *, threshold: float = 0.05, samples: int | None = None,
    extrapolate: bool = False, batch_size: int = 1000, in_layer=None, in_range=None,
    in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None, device=None,
    estimator: str = "plugin", seed: int | None = None, generator: torch.Generator | None = None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
    max_samples: int = DEFAULT_MAX_SAMPLES, backend: str = "auto",
) -> EIResult:
    """EI_parts = Σ_{A ∈ inputs, B ∈ outputs} I(bin(x_A); bin(y_B)) under do(x uniform), in bits.

    Modes by precedence: ``extrapolate=True`` (20 rounds of 100,000 samples, fit
    ``a·N^-e + C``, return ``C``); else ``samples=N``; else adaptive: 10,000 samples, then
    doubling (new samples are added to the existing counts) until
    ``2·(E_{k-1} − E_k)/E_k ≤ threshold``, capped at ``max_samples`` with a warning.
    """
    lmap, cfg, noise, in_bins, out_bins = _setup(
        layer, topology, **_common(locals()), exact_ok=True
    )
    exact = _maybe_exact("ei_parts", lmap, cfg, in_bins, out_bins)
    if exact is not None:
        return exact
    return _ei_parts(lmap, cfg, noise, in_bins, out_bins, threshold, samples, extrapolate)


ei_parts.__doc__ = (ei_parts.__doc__ or "") + _COMMON_DOC


def _ei_parts(lmap, cfg, noise, in_bins, out_bins, threshold, samples, extrapolate, clamp=None):
    est = _PairwiseEstimator(lmap, cfg, in_bins, out_bins, noise)

    def value() -> float:
        mi, _, _ = est.values()
        return float(mi.sum())

    history: list[tuple[int, float]] = []
    if extrapolate:
        sizes, vals = [], []
        with _progress(cfg) as bar:
            task = bar.add_task("EI_parts: extrapolation rounds", total=EXTRAPOLATE_ROUNDS)
            for r in range(EXTRAPOLATE_ROUNDS):
                est.advance_to((r + 1) * EXTRAPOLATE_INTERVAL)
                sizes.append(est.n)
                vals.append(value())
                bar.advance(task)
        history = list(zip(sizes, vals))
        total_value, total = _extrapolated(sizes, vals), est.n
    elif samples is not None:
        total = check_positive_int("samples", samples)
        est.advance_to(total)
        total_value = value()
    else:
        if not threshold > 0:
            raise InfolensError(f"threshold must be > 0, got {threshold!r}.")
        total_value, total, history = _adaptive(value, est.advance_to, cfg, threshold, "relative", "EI_parts")
    _, null, inr = est.values()
    _warn_pairs(lmap, inr)
    _warn_out_of_range(lmap, est.oor_fraction())
    if clamp is not None and total_value < clamp:
        total_value = 0.0
    return _result(
        "ei_parts", lmap, cfg, total_value, total, in_bins, out_bins, est.oor_fraction(),
        lmap.n_pairs, null=float(null.sum()) if null is not None else None, history=history,
    )


def ei_parts_matrix(
    layer, topology, *, samples: int = 100_000, batch_size: int = 1000, in_layer=None,
    in_range=None, in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None,
    device=None, estimator: str = "plugin", seed: int | None = None, generator=None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
    backend: str = "auto",
) -> EIResult:
    """The n×m matrix of I(bin(x_A); bin(y_B)) under do(x uniform), in bits.

    ``result.matrix`` has rows = inputs, columns = outputs (0 for pairs outside the
    structural support); ``result.value`` is its sum (EI_parts).
    """
    lmap, cfg, noise, in_bins, out_bins = _setup(
        layer, topology, **_common(locals()), exact_ok=True
    )
    exact = _maybe_exact("ei_parts_matrix", lmap, cfg, in_bins, out_bins)
    if exact is not None:
        return exact
    return _ei_parts_matrix(lmap, cfg, noise, in_bins, out_bins, samples)


ei_parts_matrix.__doc__ = (ei_parts_matrix.__doc__ or "") + _COMMON_DOC


def _ei_parts_matrix(lmap, cfg, noise, in_bins, out_bins, samples):
    if samples is None:
        raise InfolensError("ei_parts_matrix needs samples=N (it has no adaptive mode).")
    total = check_positive_int("samples", samples)
    est = _PairwiseEstimator(lmap, cfg, in_bins, out_bins, noise)
    est.advance_to(total)
    mi, null, inr = est.values()
    _warn_pairs(lmap, inr)
    _warn_out_of_range(lmap, est.oor_fraction())
    matrix = est.to_matrix(mi)
    return _result(
        "ei_parts_matrix", lmap, cfg, float(mi.sum()), total, in_bins, out_bins,
        est.oor_fraction(), lmap.n_pairs, matrix=matrix,
        null=float(null.sum()) if null is not None else None,
        null_matrix=est.to_matrix(null) if null is not None else None,
    )


def _sensitivity_counts(lmap: LayerMap, cfg: _Config, noise: _Noise, in_bins, out_bins, samples):
    """Per-pair MI when only input A is noised (others 0), input by input in index order."""
    n_in, n_out = lmap.n_in, lmap.n_out
    support = lmap.support
    if support is None:
        indptr = torch.arange(0, (n_in + 1) * n_out, n_out, dtype=torch.int64)
        indices = torch.arange(n_out, dtype=torch.int64).repeat(n_in)
    else:
        indptr, indices = support
    per_pair = counts_nbytes(1, in_bins, out_bins) * (2 if cfg.null else 1)
    chunk = _chunk_rows(lmap, cfg, noise.batch_size, width=1 + n_out)
    budget = max(cfg.max_memory - chunk * 24 * (1 + n_out), cfg.max_memory // 2)
    null_gen = _null_generator(cfg, lmap.device)
    affine = lmap.single_module and isinstance(lmap.layer.module, _AFFINE)
    mis, nulls, inrs = [], [], []
    oor = 0
    lo, hi = lmap.in_range
    a0 = 0
    with _progress(cfg) as bar:
        task = bar.add_task("sensitivity: inputs", total=n_in)
        while a0 < n_in:
            a1 = a0 + 1
            while a1 < n_in and int(indptr[a1 + 1] - indptr[a0]) * per_pair <= budget:
                a1 += 1
            p0, p1 = int(indptr[a0]), int(indptr[a1])
            sub = (indptr[a0 : a1 + 1] - p0, indices[p0:p1])
            kw = dict(support=sub, device=lmap.device, backend=cfg.backend)
            cnt = PairwiseCounts(a1 - a0, n_out, in_bins, out_bins, **kw)
            ncnt = PairwiseCounts(a1 - a0, n_out, in_bins, out_bins, **kw) if cfg.null else None
            if affine:
                resp, f0 = affine_response(
                    lmap.layer.module, torch.arange(a0, a1, device=lmap.device),
                    lmap.in_shape, lmap.dtype, lmap.device,
                )
            for a in range(a0, a1):
                remaining = samples
                while remaining > 0:
                    c = min(chunk, remaining)
                    xa = noise.draw(c, shape=())
                    if affine:
                        y = lmap.apply_post(xa[:, None] * resp[a - a0][None, :] + f0[None, :])
                    else:
                        x = torch.zeros((c, n_in), dtype=lmap.dtype, device=lmap.device)
                        x[:, a] = xa
                        y = lmap.evaluate(x.reshape(c, *lmap.in_shape), noise.batch_size)
                    check_finite(f"layer {lmap.layer.path!r}", y)
                    kw = dict(policy=cfg.out_of_range, widen=cfg.widen)
                    xcT, _ = bin_codes_transposed(xa[:, None], lo, hi, in_bins, **kw)
                    ycT, yo = bin_codes_transposed(y, *lmap.out_range, out_bins, **kw)
                    oor += int(yo.sum())
                    cnt.update_input(a - a0, xcT[0], ycT)
                    if ncnt is not None:
                        ncnt.update_input(a - a0, xcT[0], ycT[:, _null_perm(c, null_gen, lmap.device)])
                    remaining -= c
                bar.advance(task)
            mi_block, totals = cnt.mutual_information_and_totals(estimator=cfg.estimator)
            mis.append(mi_block)
            inrs.append(totals)
            if ncnt is not None:
                nulls.append(ncnt.mutual_information(estimator=cfg.estimator))
            a0 = a1
    mi = torch.cat(mis)
    null = torch.cat(nulls) if nulls else None
    _warn_pairs(lmap, torch.cat(inrs))
    frac = oor / (samples * n_in * n_out)
    _warn_out_of_range(lmap, frac)

    def to_matrix(v):
        out = torch.zeros((n_in, n_out), dtype=v.dtype, device=v.device)
        rows = torch.repeat_interleave(torch.arange(n_in), indptr.diff())
        out[rows.to(v.device), indices.to(v.device)] = v
        return out

    return mi, null, frac, to_matrix


def sensitivity(
    layer, topology, *, samples: int = 100_000, batch_size: int = 1000, in_layer=None,
    in_range=None, in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None,
    device=None, estimator: str = "plugin", seed: int | None = None, generator=None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
    backend: str = "auto",
) -> EIResult:
    """Sensitivity = Σ_{A,B} I(bin(x_A); bin(y_B)) with only A noised (others 0), in bits.

    For a single affine module (Linear, Conv, AvgPool) the outputs are computed from the
    response to a unit input, ``y = act(f(0) + x_A·r_A)``, instead of a full forward pass.
    """
    lmap, cfg, noise, in_bins, out_bins = _setup(
        layer, topology, **_common(locals()), exact_ok=True
    )
    exact = _maybe_exact("sensitivity", lmap, cfg, in_bins, out_bins)
    if exact is not None:
        return exact
    total = check_positive_int("samples", samples)
    mi, null_mi, frac, _ = _sensitivity_counts(lmap, cfg, noise, in_bins, out_bins, total)
    return _result(
        "sensitivity", lmap, cfg, float(mi.sum()), total, in_bins, out_bins, frac, lmap.n_pairs,
        null=float(null_mi.sum()) if null_mi is not None else None,
    )


sensitivity.__doc__ = (sensitivity.__doc__ or "") + _COMMON_DOC


def sensitivity_matrix(
    layer, topology, *, samples: int = 100_000, batch_size: int = 1000, in_layer=None,
    in_range=None, in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None,
    device=None, estimator: str = "plugin", seed: int | None = None, generator=None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
    backend: str = "auto",
) -> EIResult:
    """The n×m matrix of I(bin(x_A); bin(y_B)) with only A noised (others 0), in bits."""
    lmap, cfg, noise, in_bins, out_bins = _setup(
        layer, topology, **_common(locals()), exact_ok=True
    )
    exact = _maybe_exact("sensitivity_matrix", lmap, cfg, in_bins, out_bins)
    if exact is not None:
        return exact
    total = check_positive_int("samples", samples)
    mi, null_mi, frac, to_matrix = _sensitivity_counts(lmap, cfg, noise, in_bins, out_bins, total)
    return _result(
        "sensitivity_matrix", lmap, cfg, float(mi.sum()), total, in_bins, out_bins, frac,
        lmap.n_pairs, matrix=to_matrix(mi),
        null=float(null_mi.sum()) if null_mi is not None else None,
        null_matrix=to_matrix(null_mi) if null_mi is not None else None,
    )


sensitivity_matrix.__doc__ = (sensitivity_matrix.__doc__ or "") + _COMMON_DOC


# --------------------------------------------------------------------------- vector EI


class _VectorEstimator:
    """Joint counts of whole binned vectors for one or more (input group, output group)."""

    def __init__(self, lmap, cfg, in_bins, out_bins, noise, groups=None):
        self.lmap, self.cfg, self.noise = lmap, cfg, noise
        self.in_bins, self.out_bins = in_bins, out_bins
        self.groups = groups or [(None, None)]
        dev = lmap.device
        self.counters = []
        for gin, gout in self.groups:
            nx = lmap.n_in if gin is None else len(gin)
            ny = lmap.n_out if gout is None else len(gout)
            vm = VectorMI(nx, ny, in_bins, out_bins, device=dev)
            nm = VectorMI(nx, ny, in_bins, out_bins, device=dev) if cfg.null else None
            self.counters.append((vm, nm))
        self.null_gen = _null_generator(cfg, dev)
        self.chunk = _chunk_rows(lmap, cfg, noise.batch_size)
        self.n = 0
        self.out_of_range = 0

    def _codes(self, x, y):
        lmap, cfg = self.lmap, self.cfg
        if cfg.vector_binning == "deep_ei":
            xc = floor_codes(x, *lmap.in_range, self.in_bins)
            yc = floor_codes(y, *lmap.out_range, self.out_bins)
            valid = (xc < self.in_bins).all(dim=1) & (yc < self.out_bins).all(dim=1)
            oor = int(((yc < 0) | (yc >= self.out_bins)).sum())
            return xc, yc, valid, oor
        kw = dict(policy=cfg.out_of_range, widen=cfg.widen)
        xcT, _ = bin_codes_transposed(x, *lmap.in_range, self.in_bins, **kw)
        ycT, yo = bin_codes_transposed(y, *lmap.out_range, self.out_bins, **kw)
        valid = (xcT >= 0).all(dim=0) & (ycT >= 0).all(dim=0)
        return xcT.T, ycT.T, valid, int(yo.sum())

    def advance_to(self, total: int) -> None:
        remaining = total - self.n
        while remaining > 0:
            c = min(self.chunk, remaining)
            x = self.noise.draw(c)
            y = self.lmap.evaluate(x, self.noise.batch_size)
            xc, yc, valid, oor = self._codes(x.reshape(c, -1), y)
            self.out_of_range += oor
            perm = _null_perm(c, self.null_gen, self.lmap.device) if self.cfg.null else None
            for (gin, gout), (vm, nm) in zip(self.groups, self.counters):
                xs = xc if gin is None else xc[:, list(gin)]
                ys = yc if gout is None else yc[:, list(gout)]
                vm.update(xs, ys, valid)
                if nm is not None:
                    nm.update(xs, ys[perm], valid[perm] & valid)
            remaining -= c
        self.n = max(self.n, total)

    def values(self) -> list[tuple[float, float | None]]:
        est = self.cfg.estimator
        return [
            (vm.mutual_information(estimator=est), nm.mutual_information(estimator=est) if nm else None)
            for vm, nm in self.counters
        ]

    def oor_fraction(self) -> float:
        denom = self.n * self.lmap.n_out
        return self.out_of_range / denom if denom else 0.0


def ei(
    layer, topology, *, threshold: float = 0.05, samples: int | None = None,
    batch_size: int = 1000, in_layer=None, in_range=None, in_bins: int = 64, out_range=None,
    out_bins: int = 64, activation=None, device=None, estimator: str = "plugin",
    seed: int | None = None, generator=None, max_memory=None, progress: bool = False,
    out_of_range: str = "drop", null: bool = True, max_samples: int = DEFAULT_MAX_SAMPLES,
) -> EIResult:
    """Vector EI = I(bin(x); bin(y)) of the whole binned vectors under do(x uniform), in bits.

    Distinct whole-vector states are counted on the device (tuples packed into integer
    keys). With ``samples=None``, adaptive: 10,000 samples, doubling until
    ``|E_k − E_{k−1}| < threshold`` bits, capped at ``max_samples``. A sample with any
    coordinate out of range is dropped (``out_of_range="drop"``) or clipped (``"clip"``).
    """
    lmap, cfg, noise, in_bins, out_bins = _setup(layer, topology, **_common(locals()))
    return _vector_ei(lmap, cfg, noise, in_bins, out_bins, threshold, samples)


ei.__doc__ = (ei.__doc__ or "") + _COMMON_DOC


def _vector_ei(lmap, cfg, noise, in_bins, out_bins, threshold, samples):
    est = _VectorEstimator(lmap, cfg, in_bins, out_bins, noise)
    history: list[tuple[int, float]] = []
    if samples is not None:
        total = check_positive_int("samples", samples)
        est.advance_to(total)
        value = est.values()[0][0]
    else:
        if not threshold > 0:
            raise InfolensError(f"threshold must be > 0, got {threshold!r}.")
        value, total, history = _adaptive(
            lambda: est.values()[0][0], est.advance_to, cfg, threshold, "absolute", "vector EI"
        )
    _warn_out_of_range(lmap, est.oor_fraction())
    return _result(
        "ei", lmap, cfg, value, total, in_bins, out_bins, est.oor_fraction(),
        lmap.n_in * lmap.n_out, null=est.values()[0][1], history=history,
    )


def _check_groups(groups, n_in: int, n_out: int):
    if not isinstance(groups, Sequence) or isinstance(groups, str) or len(groups) == 0:
        raise InfolensError(
            "groups must be a non-empty list of (input_indices, output_indices) pairs, "
            "e.g. [((0, 1), (0,))]."
        )
    out = []
    for g in groups:
        try:
            gin, gout = g
            gin, gout = tuple(int(i) for i in gin), tuple(int(j) for j in gout)
        except (TypeError, ValueError):
            raise InfolensError(
                f"group {g!r} is not an (input_indices, output_indices) pair of index tuples."
            ) from None
        if not gin or not gout:
            raise InfolensError(f"group {g!r} has an empty side; give at least one index each.")
        if any(not 0 <= i < n_in for i in gin) or any(not 0 <= j < n_out for j in gout):
            raise InfolensError(
                f"group {g!r} has indices out of range (layer has {n_in} inputs, {n_out} outputs)."
            )
        out.append((gin, gout))
    return out


def eis_between_groups(
    layer, topology, groups, *, samples: int = 100_000, batch_size: int = 1000, in_layer=None,
    in_range=None, in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None,
    device=None, estimator: str = "plugin", seed: int | None = None, generator=None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
) -> list[EIResult]:
    """Vector EI between sub-vectors, one result per ``(input_indices, output_indices)`` group.

    All groups share one interventional sample stream (inputs are flattened indices).
    Values in bits.
    """
    lmap, cfg, noise, in_bins, out_bins = _setup(layer, topology, **_common(locals()))
    return _eis_between_groups(lmap, cfg, noise, in_bins, out_bins, groups, samples)


def _eis_between_groups(lmap, cfg, noise, in_bins, out_bins, groups, samples):
    checked = _check_groups(groups, lmap.n_in, lmap.n_out)
    total = check_positive_int("samples", samples)
    est = _VectorEstimator(lmap, cfg, in_bins, out_bins, noise, groups=checked)
    est.advance_to(total)
    return [
        _result(
            "eis_between_groups", lmap, cfg, v, total, in_bins, out_bins, est.oor_fraction(),
            len(gin) * len(gout), null=nv,
        )
        for (gin, gout), (v, nv) in zip(checked, est.values())
    ]


def vector_and_pairwise_ei(
    layer, topology, *, samples: int = 100_000, batch_size: int = 1000, in_layer=None,
    in_range=None, in_bins: int = 64, out_range=None, out_bins: int = 64, activation=None,
    device=None, estimator: str = "plugin", seed: int | None = None, generator=None,
    max_memory=None, progress: bool = False, out_of_range: str = "drop", null: bool = True,
) -> tuple[EIResult, EIResult]:
    """(vector EI, EI_parts) computed from the same interventional samples, in bits."""
    lmap, cfg, noise, in_bins, out_bins = _setup(layer, topology, **_common(locals()))
    return _vector_and_pairwise(lmap, cfg, noise, in_bins, out_bins, samples)


def _vector_and_pairwise(lmap, cfg, noise, in_bins, out_bins, samples, vector_cfg=None):
    total = check_positive_int("samples", samples)
    pair = _PairwiseEstimator(lmap, cfg, in_bins, out_bins, noise)
    vec = _VectorEstimator(lmap, vector_cfg or cfg, in_bins, out_bins, noise)
    if len(pair.blocks) > 1:
        raise InfolensError(
            "the pairwise counts of this layer exceed max_memory, so both estimates cannot "
            "share one sample stream; raise max_memory or call ei and ei_parts separately."
        )
    cnt, ncnt = pair.counters
    remaining = total
    while remaining > 0:
        c = min(pair.chunk, remaining)
        x = noise.draw(c)
        y = lmap.evaluate(x, noise.batch_size)
        xf = x.reshape(c, -1)
        xcT, ycT, oor = pair._bin(xf, y)
        pair.out_of_range += oor
        vxc, vyc, valid, voor = vec._codes(xf, y)
        vec.out_of_range += voor
        cnt.update_transposed(xcT, ycT)
        vm, vnm = vec.counters[0]
        vm.update(vxc, vyc, valid)
        if cfg.null:
            perm = _null_perm(c, pair.null_gen, lmap.device)
            ncnt.update_transposed(xcT, ycT[:, perm])
            vnm.update(vxc, vyc[perm], valid[perm] & valid)
        remaining -= c
    pair.n = vec.n = total
    mi, null, inr = pair.values()
    _warn_pairs(lmap, inr)
    (v, vn), = vec.values()
    vres = _result("ei", lmap, vector_cfg or cfg, v, total, in_bins, out_bins, vec.oor_fraction(),
                   lmap.n_in * lmap.n_out, null=vn)
    pres = _result("ei_parts", lmap, cfg, float(mi.sum()), total, in_bins, out_bins,
                   pair.oor_fraction(), lmap.n_pairs,
                   null=float(null.sum()) if null is not None else None)
    return vres, pres
