"""Representational complexity C of a layer (I^sx PID of quantized neurons about the label).

``C = (1/I) sum_{m=1..n} m * Pi_m`` (dimensionless, a degree of synergy between 1 and n when all
atoms are non-negative), where ``Pi_m`` (bits) is the sum of the I^sx PID atoms of degree of
synergy m of ``I(T : S_1..S_n)`` (bits), the sources ``S_i`` being quantized neurons (or groups of
neurons) of one layer and ``T`` the target (the label by default). Ehrlich et al., TMLR 2023;
the estimator is :func:`infolens.pid.representational_complexity`.

The measure streams: each batch's neuron level codes and target are packed into integer keys and
only the counts of distinct joint states ``(s_1..s_D, t)`` are kept
(:class:`~infolens.estimators.joint.JointCounts`), so memory grows with the number of distinct
states, never with the number of samples. The plug-in pmf ``counts / N`` is then handed to the
estimator as explicit ``weights``. The shuffle null is drawn from the same counts: a uniformly
random permutation of the labels over the N samples gives a joint table whose law depends only on
the two margins (a multivariate hypergeometric draw per target value), so no sample is stored.

The two halves are public for distributed and incremental use: :func:`count_joint_states` (or a
:class:`JointStateCounts` fed batch by batch) counts one data shard, the shards' counts merge
exactly (:meth:`JointStateCounts.merge`; :meth:`JointStateCounts.state` is plain data for
``all_gather_object``), and :func:`complexity_from_counts` runs the PID on the merged counts,
giving the same result as one process counting all the data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from infolens._validation import (
    InfolensError,
    InfolensWarning,
    check_choice,
    check_codes,
    check_positive_int,
    check_range,
)
from infolens.estimators.joint import JointCounts
from infolens.estimators.pid import ComplexityResult
from infolens.estimators.pid import representational_complexity as _pid_complexity
from infolens.estimators.pid._complexity import MAX_UNION_SOURCES, METHODS, nninfo_subsets
from infolens.estimators.pid._data import compact_codes
from infolens.nn.capture import capture
from infolens.nn.paths import module_path, resolve_module
from infolens.nn.quantization import QuantizedLayer, infer_limits, level_codes

#: Warn about plug-in bias when the possible joint states exceed this many per sample.
BIAS_STATES_PER_SAMPLE = 1.0

#: Packing radix of the joint counter: level codes and target codes below it share int64 words.
_PACK_RADIX = 1024

Target = str | Callable[[torch.Tensor, torch.Tensor | None], object]


@dataclass(frozen=True, eq=False)
class NullResult:
    """Shuffle null: the same estimate on labels permuted over the N samples (seeded).

    Attributes:
        mutual_information: I(T_perm : S) per permutation (bits); the plug-in bias level.
        complexity: C per permutation (dimensionless; noisy, since I is near 0).
        degree_atoms: Pi_m per permutation, shape ``(permutations, n)`` (bits).
        seed: the seed of the permutations.
    """

    mutual_information: np.ndarray
    complexity: np.ndarray
    degree_atoms: np.ndarray
    seed: int | None


@dataclass(frozen=True, eq=False)
class LayerComplexity:
    """Representational complexity of one layer's quantized neurons about a target.

    Attributes:
        complexity: C = (1/I) sum_m m Pi_m (NaN when I = 0); mean over subsets if subsampled.
        degree_atoms: Pi_m, m = 1..n (bits; index m - 1).
        mutual_information: I(T : S) in bits.
        n_samples: N, the number of samples counted.
        n_states: R, distinct joint realizations ``(source states, target)`` of the analysed
            sources (the largest over subsets when subsampled).
        n_layer_states: distinct joint states ``(all D neurons, target)`` that were counted.
        possible_states: L^(neurons per source) multiplied over the sources, times the number of
            target values seen (the largest over subsets); ``possible_states / n_samples`` is the
            plug-in bias risk ratio (a warning is issued above ``BIAS_STATES_PER_SAMPLE``).
        layer, levels, limits: the layer (module path) and its quantization.
        sources: the neuron indices forming each source (per subset when subsampled: the
            subsets' sources are ``estimate.subsets`` indices into these).
        method: ``"lattice"`` or ``"union"``.
        estimate: the estimator's :class:`~infolens.pid.ComplexityResult` (``U_m``, per-subset
            results, the full PID when the lattice was used).
        null: the shuffle null (:class:`NullResult`) or ``None``.
        units: ``"bits"`` for I and Pi_m (C is dimensionless).
    """

    complexity: float
    degree_atoms: np.ndarray
    mutual_information: float
    n_samples: int
    n_states: int
    n_layer_states: int
    possible_states: int
    layer: str
    levels: int
    limits: tuple[float, float]
    sources: tuple[tuple[int, ...], ...]
    method: str
    estimate: ComplexityResult
    null: NullResult | None = None
    units: str = "bits"


# --------------------------------------------------------------------------------------------
# Streaming joint counts (the accumulator's state is a sum: counts of distinct joint states)
# --------------------------------------------------------------------------------------------


def _target_codes(target: Target, x: torch.Tensor, y: object, batch: int) -> torch.Tensor:
    if target == "labels":
        if y is None:
            raise InfolensError(
                "target='labels' needs (inputs, labels) batches, but the data yields inputs only; "
                "pass target=callable(inputs, labels) returning integer codes."
            )
        value = y
    else:
        value = target(x, y)  # type: ignore[operator]
    return check_codes(value, batch, name="target")


def _split(batch: object) -> tuple[torch.Tensor, object]:
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Mapping) and "x" in batch:
        return batch["x"], batch.get("y")
    if isinstance(batch, Sequence) and not isinstance(batch, str) and len(batch) >= 1:
        return batch[0], (batch[1] if len(batch) >= 2 else None)
    raise InfolensError(
        "each batch of data must be (inputs, labels, ...), {'x': ..., 'y': ...} or an inputs "
        f"tensor, got {type(batch).__name__}."
    )


def _batches(data: object, batch_size: int) -> Iterable:
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise InfolensError(
                f"data: inputs have {x.shape[0]} samples but labels {y.shape[0]} (mismatched "
                "lengths); pass (X, y) of equal length."
            )
        return ((x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size))
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, Iterable):
        return data
    raise InfolensError(
        "data must be an (X, y) pair of tensors, a Dataset, or an iterable of (inputs, labels) "
        f"batches; got {type(data).__name__}."
    )


def layer_quantization(
    model: nn.Module, layer: str | nn.Module, levels: int | None = None, limits: object = None
) -> tuple[str, nn.Module, int, tuple[float, float]]:
    """``(path, module, levels, limits)``: how the output of ``layer`` is quantized for the PID.

    A layer quantized with :func:`infolens.nn.quantization.quantize` uses its own levels and
    limits (passing different ones is an error); any other layer needs ``levels`` and takes
    ``limits`` from its bounded activation (tanh (-1, 1), sigmoid (0, 1)) unless given.
    """
    module = resolve_module(model, layer, arg="layer")
    path = layer if isinstance(layer, str) else module_path(model, module)
    if isinstance(module, QuantizedLayer):
        if levels is not None and int(levels) != module.levels:
            raise InfolensError(
                f"layer {path!r} is quantized to {module.levels} levels, but levels={levels} was "
                "passed; drop levels= (the layer's own quantization is used)."
            )
        if limits is not None and check_range("limits", limits) != module.limits:
            raise InfolensError(
                f"layer {path!r} is quantized over {module.limits}, but limits={limits} was "
                "passed; drop limits= (the layer's own quantization is used)."
            )
        return path, module, module.levels, module.limits
    if levels is None:
        raise InfolensError(
            f"layer {path!r} is not quantized; pass levels=L (e.g. levels=8) to quantize its "
            "activations to the nearest of L levels for measurement, or quantize the model first "
            "with infolens.nn.quantization.quantize."
        )
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise InfolensError(f"levels must be an integer >= 2, got {levels!r}.")
    lims = check_range("limits", limits) if limits is not None else infer_limits(module, path)
    return path, module, int(levels), lims


class JointStateCounts:
    """Streaming, mergeable counts of the distinct joint states ``(k_1..k_D, t)`` of one layer.

    ``k_i`` is neuron i's nearest-level index ``round((a_i − lo)/step)`` (``levels`` levels over
    ``limits``), ``t`` the target's integer code(s). Only the counts of distinct states are kept
    (packed int64 keys, :class:`~infolens.estimators.joint.JointCounts`), so memory grows with
    the number of distinct states, never with the samples. Counts are sums: shards of the data
    (DDP ranks) are counted separately and combined exactly with :meth:`merge`/:meth:`merged`
    (plain-data :meth:`state` for ``all_gather_object``); the merged states come out in the same
    sorted order as one pass over all the data, so :func:`complexity_from_counts` of the merge
    equals the single-process value bit for bit.
    """

    def __init__(self, layer: str, levels: int, limits: tuple[float, float]) -> None:
        self.layer = str(layer)
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
            raise InfolensError(f"levels must be an integer >= 2, got {levels!r}.")
        self.levels = int(levels)
        self.limits = check_range("limits", limits)
        self.width: int | None = None
        self.target_width: int | None = None
        self.counter: JointCounts | None = None

    def _ensure(self, width: int, t_width: int) -> JointCounts:
        if self.counter is None:
            self.width, self.target_width = int(width), int(t_width)
            self.counter = JointCounts(self.width + self.target_width, max(self.levels, _PACK_RADIX))
        elif width != self.width or t_width != self.target_width:
            raise InfolensError(
                f"layer {self.layer!r} gave {width} neurons and target {t_width} column(s) in a "
                f"later batch, after {self.width} and {self.target_width}; every batch must have "
                "the same shapes."
            )
        return self.counter

    def update(self, activations: torch.Tensor, target_codes: torch.Tensor) -> None:
        """Count a batch: activations ``(B, D)`` (quantized here) and integer targets ``(B, k)``."""
        codes = level_codes(activations, self.levels, self.limits, name=f"layer {self.layer!r}")
        t = target_codes.reshape(codes.shape[0], -1).to(device="cpu", dtype=torch.int64)
        self._ensure(codes.shape[1], t.shape[1]).update(torch.cat([codes.cpu(), t], dim=1))

    @property
    def n_samples(self) -> int:
        """N, the samples counted."""
        return 0 if self.counter is None else int(self.counter.n_samples)

    def state(self) -> dict:
        """Plain data (numpy arrays, numbers): the distinct states, their counts, the quantization."""
        if self.counter is None:
            states, counts = np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
        else:
            st, ct = self.counter.states()
            states, counts = st.cpu().numpy(), ct.cpu().numpy()
        return {"layer": self.layer, "levels": self.levels, "limits": tuple(self.limits),
                "width": self.width, "target_width": self.target_width, "states": states,
                "counts": counts}

    @classmethod
    def from_state(cls, state: Mapping) -> JointStateCounts:
        """Rebuild the counts from :meth:`state`."""
        return cls(state["layer"], state["levels"], state["limits"]).merge(state)

    def merge(self, *others: JointStateCounts | Mapping) -> JointStateCounts:
        """Add the counts of ``others`` (counts or their :meth:`state`); returns ``self``."""
        for other in others:
            st = other.state() if isinstance(other, JointStateCounts) else other
            if (st["layer"], st["levels"], tuple(st["limits"])) != (
                self.layer, self.levels, tuple(self.limits)
            ):
                raise InfolensError(
                    f"cannot merge counts of layer {st['layer']!r} ({st['levels']} levels over "
                    f"{tuple(st['limits'])}) into layer {self.layer!r} ({self.levels} levels over "
                    f"{self.limits})."
                )
            counts = np.asarray(st["counts"], dtype=np.int64)
            if st["width"] is None or counts.size == 0:
                continue
            self._ensure(int(st["width"]), int(st["target_width"])).update(
                torch.as_tensor(np.asarray(st["states"], dtype=np.int64)),
                weights=torch.as_tensor(counts),
            )
        return self

    @classmethod
    def merged(cls, parts: Sequence[JointStateCounts | Mapping]) -> JointStateCounts:
        """New counts holding the sum of ``parts`` (e.g. the states of every DDP rank)."""
        if not parts:
            raise InfolensError("merged() needs at least one part.")
        first = parts[0].state() if isinstance(parts[0], JointStateCounts) else parts[0]
        return cls(first["layer"], first["levels"], first["limits"]).merge(*parts)


def count_joint_states(
    model: nn.Module,
    data: object,
    layer: str | nn.Module,
    *,
    levels: int | None = None,
    limits: tuple[float, float] | None = None,
    target: Target = "labels",
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> JointStateCounts:
    """One pass over ``data``: the :class:`JointStateCounts` of ``layer``'s quantized neurons.

    Arguments as in :func:`representational_complexity` (which is this followed by
    :func:`complexity_from_counts`). Runs the model in ``eval()`` mode under
    ``torch.inference_mode()`` and restores its training mode.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    _check_target(target)
    path, _, levels, limits = layer_quantization(model, layer, levels, limits)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    acc = JointStateCounts(path, levels, limits)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), capture(model, [path]) as feats:
            for batch in _batches(data, batch_size):
                x, y = _split(batch)
                feats.clear()
                model(x.to(device))
                if path not in feats:
                    raise InfolensError(
                        f"layer {path!r} did not run during the forward pass; pass a module that "
                        "the model's forward calls."
                    )
                act = feats[path]
                acc.update(act, _target_codes(target, x, y, act.shape[0]))
    finally:
        model.train(was_training)
    if acc.n_samples == 0:
        raise InfolensError("the data yielded no samples; pass a non-empty dataset.")
    return acc


def _check_target(target: object) -> None:
    if not (target == "labels" or callable(target)):
        raise InfolensError(
            f"target must be 'labels' or a callable f(inputs, labels) returning integer codes, "
            f"got {target!r}."
        )


# --------------------------------------------------------------------------------------------
# Sources, bias rule and null
# --------------------------------------------------------------------------------------------


def _source_spec(sources: object, width: int, n_subsets: int, subset_seed: int):
    """Returns (groups or None, subsets k or None, neuron tuples of each analysed source)."""
    if isinstance(sources, str):
        check_choice("sources", sources, ("neurons",))
        if width > MAX_UNION_SOURCES:
            raise InfolensError(
                f"the layer has {width} neurons, too many for an exact I^sx complexity with one "
                f"source per neuron (at most {MAX_UNION_SOURCES}). Subsample fixed random neuron "
                "subsets with sources=k (e.g. sources=5: nninfo's 26 seeded 5-subsets), or "
                "coarse-grain neurons into at most 6 sources with sources=[[0, 1], [2, 3], ...]."
            )
        return None, None, tuple((i,) for i in range(width))
    if isinstance(sources, (int, np.integer)) and not isinstance(sources, bool):
        k = check_positive_int("sources", int(sources))
        if k > width:
            raise InfolensError(
                f"sources={k} asks for subsets of {k} neurons, but the layer has {width}; pass "
                f"sources <= {width}."
            )
        if k > MAX_UNION_SOURCES:
            raise InfolensError(
                f"sources={k}: subsets above {MAX_UNION_SOURCES} neurons have no exact C; pass "
                "sources <= 6 (nninfo uses 5), or group neurons with sources=[[0, 1], ...]."
            )
        subsets = nninfo_subsets(width, k, n_subsets, subset_seed)
        neurons = tuple(sorted({i for s in subsets for i in s}))
        return None, k, tuple((i,) for i in neurons)
    try:
        groups = [[int(i) for i in g] for g in sources]  # type: ignore[union-attr]
    except TypeError:
        raise InfolensError(
            f"sources must be 'neurons', an int k (k-of-n subsets) or a list of neuron groups "
            f"such as [[0, 1], [2, 3]], got {sources!r}."
        ) from None
    flat = [i for g in groups for i in g]
    if not groups or any(not g for g in groups):
        raise InfolensError("sources groups must be nonempty lists of neuron indices.")
    if any(i < 0 or i >= width for i in flat):
        raise InfolensError(
            f"sources groups must index neurons 0..{width - 1} of the layer, got {sources!r}."
        )
    if len(set(flat)) != len(flat):
        raise InfolensError(f"sources groups must be disjoint, got {sources!r}.")
    if len(groups) > MAX_UNION_SOURCES:
        raise InfolensError(
            f"{len(groups)} groups is too many sources for an exact complexity (at most "
            f"{MAX_UNION_SOURCES}); merge neurons into fewer groups or subsample with sources=k."
        )
    return groups, None, tuple(tuple(g) for g in groups)


def _possible_states(levels: int, groups, subsets, width: int, n_targets: int) -> int:
    """L^(neurons per source), multiplied over the analysed sources, times the target values."""
    if groups is not None:
        per_source = [len(g) for g in groups]
    elif subsets is not None:
        per_source = [1] * subsets
    else:
        per_source = [1] * width
    return int(levels ** sum(per_source)) * n_targets


def _shuffle_tables(
    state_of: np.ndarray, target_of: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint counts after a uniformly random permutation of the targets over the N samples.

    Given the margins ``n(s)`` and ``n(t)``, the permuted table is drawn exactly: target value
    j's ``n(t_j)`` samples fall on the source states by a multivariate hypergeometric draw from
    the samples not yet assigned. Returns (state index, target index, count) of nonzero cells.
    """
    n_s = np.bincount(state_of, weights=counts).astype(np.int64)
    n_t = np.bincount(target_of, weights=counts).astype(np.int64)
    remaining = n_s.copy()
    s_idx, t_idx, cnt = [], [], []
    for j, size in enumerate(n_t):
        if j == len(n_t) - 1:
            row = remaining.copy()
        else:
            row = rng.multivariate_hypergeometric(remaining, int(size), method="marginals")
        remaining -= row
        nz = np.flatnonzero(row)
        s_idx.append(nz)
        t_idx.append(np.full(len(nz), j))
        cnt.append(row[nz])
    return np.concatenate(s_idx), np.concatenate(t_idx), np.concatenate(cnt)


# --------------------------------------------------------------------------------------------
# Functional form
# --------------------------------------------------------------------------------------------


def _estimate(neuron_codes, target_codes, counts, n_samples, groups, subsets, kw) -> ComplexityResult:
    weights = counts / n_samples
    return _pid_complexity(
        neuron_codes, target_codes, kw["method"], weights=weights, groups=groups,
        subsets=subsets, n_subsets=kw["n_subsets"], seed=kw["subset_seed"],
        chunk_size=kw["chunk_size"],
    )


def representational_complexity(
    model: nn.Module,
    data: object,
    layer: str | nn.Module,
    *,
    target: Target = "labels",
    levels: int | None = None,
    limits: tuple[float, float] | None = None,
    sources: str | int | Sequence[Sequence[int]] = "neurons",
    method: str = "auto",
    null: bool | int = False,
    seed: int | None = None,
    n_subsets: int = 26,
    subset_seed: int = 1234,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
) -> LayerComplexity:
    """Representational complexity C of a layer's quantized neurons about a target.

    ``C = (1/I) sum_{m=1..n} m Pi_m``, where ``Pi_m`` (bits) sums the I^sx PID atoms of degree of
    synergy m (the fewest sources needed jointly) of ``I = I(T : S_1..S_n)`` (bits, plug-in over
    the dataset). C = 1 when all information is redundant or unique, n when it is all synergistic;
    it can leave [1, n] (I^sx atoms can be negative) and is NaN with a warning when I = 0.

    Runs ``model`` in ``eval()`` mode under ``torch.inference_mode()`` over ``data`` (training mode
    restored afterwards), captures the output of ``layer`` (flattened to D neurons), maps it to
    nearest-level indices ``k = round((a - lo) / step)`` and streams counts of distinct joint
    states; nothing per sample is kept.

    Args:
        model: the network.
        data: an iterable of ``(inputs, labels, ...)`` batches (e.g. a DataLoader), a Dataset, or
            an ``(X, y)`` pair of tensors (split into ``batch_size`` batches).
        layer: module path (``"2"``, ``"encoder.fc3"``) or submodule. A layer quantized with
            :func:`infolens.nn.quantization.quantize` uses its own levels and limits.
        target: ``"labels"`` (the batches' labels) or a callable ``f(inputs, labels)`` returning
            non-negative integer codes ``(B,)`` or ``(B, k)``; a ``(B, k)`` target is one joint
            variable (e.g. all bits of a binary code).
        levels, limits: quantization of an unquantized layer: L levels over ``(lo, hi)``;
            ``limits`` defaults to the activation's range (tanh (-1, 1), sigmoid (0, 1)).
        sources: ``"neurons"`` (one source per neuron, D <= 6), a list of disjoint neuron groups
            (coarse-graining: each group is one source, e.g. ``[[0, 1], [2, 3], ...]``), or an
            int k (subsampling: ``n_subsets`` fixed random k-of-D neuron subsets drawn with
            ``subset_seed``, nninfo's recipe; C is their mean, the spread is in ``estimate``).
        method: ``"auto"``, ``"lattice"`` (n <= 5) or ``"union"`` (n <= 6), as in
            :func:`infolens.pid.representational_complexity`.
        null: ``False``, ``True`` (one permutation) or a number of label permutations for a
            shuffle null (same estimate with the target permuted over the samples).
        seed: seed of the null's permutations (``None``: fresh entropy).
        n_subsets, subset_seed: subsampling (see ``sources``).
        batch_size: batch size when ``data`` is a tensor pair or a Dataset.
        device: where the model runs (default: the device of its first parameter).
        chunk_size: rows per block in the estimator (bounds its peak memory).

    Returns:
        :class:`LayerComplexity` with C, Pi_m, I, N, R (distinct states), the possible joint
        states and, when asked for, the shuffle null.

    Warns:
        InfolensWarning: plug-in bias risk when the possible joint states (L^neurons per source,
            multiplied over the sources, times the number of target values) exceed
            ``BIAS_STATES_PER_SAMPLE`` (= 1) per sample: the plug-in I and the atoms are then
            biased upward; compare with the shuffle null (``null=True``), use fewer levels,
            fewer or coarser sources, or more samples.
        InfolensWarning: I = 0 (C is NaN).

    Raises:
        InfolensError: more than 6 sources without subsampling or grouping (suggests both),
            unknown layer path, unbounded layers without limits, activations outside the
            limits, non-integer or negative targets, mismatched lengths, empty data.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <...>
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> x = torch.randn(400, 2); y = (x[:, 0] > 0).long()
        >>> res = representational_complexity(net, (x, y), "1", levels=4)
        >>> res.n_samples, len(res.degree_atoms)
        (400, 3)
    """
    method = check_choice("method", method, METHODS)
    batch_size = check_positive_int("batch_size", batch_size)
    n_subsets = check_positive_int("n_subsets", n_subsets)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    _check_target(target)
    _null_count(null)
    counts = count_joint_states(
        model, data, layer, levels=levels, limits=limits, target=target, batch_size=batch_size,
        device=device,
    )
    return _complexity(
        counts, sources=sources, method=method, null=null, seed=seed, n_subsets=n_subsets,
        subset_seed=subset_seed, chunk_size=chunk_size, stacklevel=3,
    )


def _null_count(null: object) -> int:
    n_null = int(null) if isinstance(null, (bool, int, np.integer)) else -1
    if n_null < 0:
        raise InfolensError(f"null must be False, True or a number of permutations, got {null!r}.")
    return n_null


def complexity_from_counts(
    counts: JointStateCounts | Mapping | Sequence[JointStateCounts | Mapping],
    *,
    sources: str | int | Sequence[Sequence[int]] = "neurons",
    method: str = "auto",
    null: bool | int = False,
    seed: int | None = None,
    n_subsets: int = 26,
    subset_seed: int = 1234,
    chunk_size: int | None = None,
) -> LayerComplexity:
    """Representational complexity C (and Pi_m, I, N, R) from counted joint states.

    ``counts`` is a :class:`JointStateCounts`, its :meth:`~JointStateCounts.state`, or a list
    of them (the shards of a distributed pass, merged exactly first). The definitions, the
    arguments and the result are those of :func:`representational_complexity`, which is
    :func:`count_joint_states` followed by this function: ``C = (1/I) sum_m m Pi_m``
    (dimensionless), ``Pi_m`` and ``I = I(T : S)`` in bits, plug-in pmf ``counts / N``.
    """
    method = check_choice("method", method, METHODS)
    n_subsets = check_positive_int("n_subsets", n_subsets)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    _null_count(null)
    if isinstance(counts, (list, tuple)):
        counts = JointStateCounts.merged(counts)
    elif isinstance(counts, Mapping):
        counts = JointStateCounts.from_state(counts)
    if not isinstance(counts, JointStateCounts):
        raise InfolensError(
            "counts must be JointStateCounts (from count_joint_states), its state() or a list "
            f"of them, got {type(counts).__name__}."
        )
    if counts.n_samples == 0:
        raise InfolensError("the data yielded no samples; pass a non-empty dataset.")
    return _complexity(
        counts, sources=sources, method=method, null=null, seed=seed, n_subsets=n_subsets,
        subset_seed=subset_seed, chunk_size=chunk_size, stacklevel=3,
    )


def _complexity(
    acc: JointStateCounts, *, sources, method, null, seed, n_subsets, subset_seed, chunk_size,
    stacklevel: int,
) -> LayerComplexity:
    n_null = _null_count(null)
    path, levels, limits, width = acc.layer, acc.levels, acc.limits, int(acc.width)
    states, counts_t = acc.counter.states()
    states_np = states.cpu().numpy()
    counts = counts_t.cpu().numpy().astype(np.float64)
    n_samples = acc.n_samples
    neuron_codes, target_cols = states_np[:, :width], states_np[:, width:]
    target_of, n_targets = compact_codes(target_cols)
    groups, subsets, analysed = _source_spec(sources, width, n_subsets, subset_seed)
    kw = {"method": method, "n_subsets": n_subsets, "subset_seed": subset_seed,
          "chunk_size": chunk_size}

    estimate = _estimate(neuron_codes, target_of, counts, n_samples, groups, subsets, kw)
    possible = _possible_states(levels, groups, subsets, width, n_targets)
    if possible > BIAS_STATES_PER_SAMPLE * n_samples:
        warnings.warn(
            f"layer {path!r}: {possible:,} possible joint states (levels^neurons x {n_targets} "
            f"target values) against {n_samples:,} samples ({estimate.n_realizations:,} seen): "
            "the plug-in I and PID atoms are biased upward. Compare with the shuffle null "
            "(null=True), or use fewer levels, fewer/coarser sources or more samples.",
            InfolensWarning,
            stacklevel=stacklevel,
        )

    null_result = None
    if n_null:
        rng = np.random.default_rng(seed)
        state_of, _ = compact_codes(neuron_codes)
        uniq_first = np.full(state_of.max() + 1, -1, dtype=np.int64)
        uniq_first[state_of[::-1]] = np.arange(len(state_of))[::-1]
        state_codes = neuron_codes[uniq_first]
        infos, cs, atoms = [], [], []
        for _ in range(n_null):
            s_idx, t_idx, cnt = _shuffle_tables(state_of, target_of, counts, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InfolensWarning)  # C of a null is often undefined
                res = _estimate(
                    state_codes[s_idx], t_idx, cnt.astype(np.float64), n_samples, groups,
                    subsets, kw,
                )
            infos.append(res.mutual_information)
            cs.append(res.complexity)
            atoms.append(res.degree_atoms)
        null_result = NullResult(
            mutual_information=np.array(infos),
            complexity=np.array(cs),
            degree_atoms=np.array(atoms),
            seed=seed,
        )

    return LayerComplexity(
        complexity=estimate.complexity,
        degree_atoms=estimate.degree_atoms,
        mutual_information=estimate.mutual_information,
        n_samples=n_samples,
        n_states=estimate.n_realizations,
        n_layer_states=len(counts),
        possible_states=possible,
        layer=path,
        levels=levels,
        limits=limits,
        sources=analysed,
        method=estimate.method,
        estimate=estimate,
        null=null_result,
    )


__all__ = [
    "JointStateCounts",
    "LayerComplexity",
    "NullResult",
    "complexity_from_counts",
    "count_joint_states",
    "layer_quantization",
    "representational_complexity",
]
