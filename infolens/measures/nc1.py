r"""Neural collapse NC1: within-class variability relative to between-class separation.

For one layer with flattened features :math:`h_i \in \mathbb{R}^D`, labels :math:`y_i` and
the :math:`C` classes that have samples (:math:`N` samples in all):

* class means :math:`\mu_c`, and the sample-weighted global mean :math:`\mu_G = \frac1N\sum_i h_i`;
* :math:`\Sigma_W = \frac1N \sum_i (h_i-\mu_{y_i})(h_i-\mu_{y_i})^\top`;
* :math:`\Sigma_B = \frac1C \sum_c (\mu_c-\mu_G)(\mu_c-\mu_G)^\top = \frac1C M M^\top`;
* ``nc1`` :math:`= \operatorname{tr}(\Sigma_W \Sigma_B^+)/C` (Papyan, Han & Donoho 2020; the default),
  ``nc1_trace`` :math:`= \operatorname{tr}(\Sigma_W \Sigma_B^+) = C\cdot` ``nc1`` (the thesis's value).

Both are dimensionless ratios (squared feature units cancel), ``>= 0``; lower means more
collapsed. :math:`\Sigma_B^+` is the Moore–Penrose pseudoinverse in which eigenvalues
``<= rel_eig_tol * max eigenvalue`` count as zero.

The computation is the exact two-pass algorithm of the geometry spec (§1.2), in O(C·D) memory:
pass 1 sums features per class; between passes the C×C Gram matrix :math:`G = M^\top M` is
eigendecomposed in float64 (one batched ``eigh`` for all layers) and the projector
:math:`P = M V_r \Lambda_r^{-1}` (D×r) is formed; pass 2 accumulates
:math:`Q = \sum_i \lVert (h_i-\mu_{y_i})^\top P\rVert^2`, and ``nc1 = Q/N``. No D×D matrix is formed.

The math lives in private ``_update_first``/``_projection``/``_update_second``/``_compute``
functions used both by the :class:`NC1` accumulator and by the functional :func:`nc1`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from infolens._validation import (
    InfolensError,
    check_choice,
    check_positive_int,
    parse_memory,
)
from infolens.nn.capture import capture
from infolens.nn.paths import module_path

__all__ = ["NC1", "measure_nc1", "nc1"]

_SCALES = ("papyan", "trace")
_SINGLE = "features"  # the layer name used when features are passed as one tensor

AllReduce = Callable[[torch.Tensor], Any]


# --------------------------------------------------------------------------------------
# Private math, shared by the accumulator and the functional form
# --------------------------------------------------------------------------------------


def _raise_non_finite(layer: str) -> None:
    raise InfolensError(
        f"layer {layer!r} produced non-finite features (NaN or inf); check the weights and inputs "
        "of this layer (e.g. exploding activations or a division by zero)."
    )


def _update_first(
    class_sums: dict[str, torch.Tensor],
    class_counts: torch.Tensor,
    features: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
) -> None:
    """Pass 1, in place: ``class_sums[layer][c] += Σ_{y_i=c} h_i`` and ``class_counts[c] += n_c``.

    Finiteness is checked on each batch's class sums (C×D, cheaper than the B×D features): a NaN
    or inf feature always makes its class sum non-finite. On error no state is changed.
    """
    batches = {
        name: torch.zeros_like(class_sums[name]).index_add_(0, labels, f.to(class_sums[name].dtype))
        for name, f in features.items()
    }
    _check_finite_batch(batches)
    for name, batch in batches.items():
        class_sums[name] += batch
    _update_counts(class_counts, labels)


def _check_finite_batch(values: Mapping[str, torch.Tensor]) -> None:
    """Raise, naming the first offending layer, if any of ``values`` is non-finite.

    One host sync for all layers: the total of all entries is finite whenever every entry is
    (barring overflow of the total, which falls through to the per-layer check).
    """
    totals = [v.sum() for v in values.values()]
    total = totals[0] if len(totals) == 1 else torch.stack(totals).sum()
    if bool(torch.isfinite(total)):
        return
    for name, value in values.items():
        if not bool(torch.isfinite(value).all()):
            _raise_non_finite(name)


def _update_counts(class_counts: torch.Tensor, labels: torch.Tensor) -> None:
    """Add the per-class sample counts of one batch, in place."""
    class_counts += torch.bincount(labels, minlength=class_counts.numel()).to(class_counts)


@dataclass
class _Projection:
    """Between-pass quantities of one layer: projector ``P`` (D×r) and ``μ_c P`` (C_total×r)."""

    proj: torch.Tensor
    mean_proj: torch.Tensor
    rank: int
    lam_max: float


def _projection(
    class_sums: Mapping[str, torch.Tensor],
    class_counts: torch.Tensor,
    rel_eig_tol: float,
) -> dict[str, _Projection]:
    """Form ``M``, eigendecompose ``G = MᵀM`` for all layers in one batched call, build ``P``.

    Only classes with a positive count enter ``M``. Computation is in float64.
    """
    present = class_counts > 0
    counts = class_counts[present].to(torch.float64)
    n = counts.sum()
    mts: dict[str, torch.Tensor] = {}
    means_full: dict[str, torch.Tensor] = {}
    grams = []
    for name, sums in class_sums.items():
        sums64 = sums.to(torch.float64)
        means = sums64[present] / counts[:, None]  # (C', D)
        mu_g = sums64[present].sum(0) / n
        mt = means - mu_g  # rows μ_c − μ_G: this is Mᵀ, (C', D)
        mts[name] = mt
        full = torch.zeros_like(sums64)
        full[present] = means
        means_full[name] = full
        grams.append(mt @ mt.T)
    lam, vecs = torch.linalg.eigh(torch.stack(grams))  # ascending eigenvalues, (L, C')
    out: dict[str, _Projection] = {}
    for k, name in enumerate(class_sums):
        lam_k, v_k = lam[k], vecs[k]
        lam_max = float(lam_k[-1])
        keep = lam_k > rel_eig_tol * lam_max if lam_max > 0 else torch.zeros_like(lam_k, dtype=torch.bool)
        proj = mts[name].T @ (v_k[:, keep] / lam_k[keep])  # P = M V_r Λ_r⁻¹, (D, r)
        out[name] = _Projection(
            proj=proj,
            mean_proj=means_full[name] @ proj,
            rank=int(keep.sum()),
            lam_max=lam_max,
        )
    return out


def _update_second(
    q: dict[str, torch.Tensor],
    class_counts_pass2: torch.Tensor,
    projections: Mapping[str, _Projection],
    features: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
) -> None:
    """Pass 2, in place: ``q[layer] += Σ_i ‖(h_i − μ_{y_i})ᵀ P‖²`` and the pass-2 class counts.

    Non-finite features raise (they make the batch's contribution non-finite); on error no state
    is changed.
    """
    contributions = {}
    for name, f in features.items():
        proj = projections[name]
        # z = h P − μ_y P in one GEMM (beta = −1 folds in the class-mean term)
        z = torch.addmm(proj.mean_proj[labels], f.to(proj.proj.dtype), proj.proj, beta=-1)
        z = z.reshape(-1)
        contributions[name] = torch.dot(z, z)
    _check_finite_batch(contributions)
    for name, value in contributions.items():
        q[name] += value.to(q[name].dtype)
    _update_counts(class_counts_pass2, labels)


def _compute(q: torch.Tensor, n: int, num_present: int, projection: _Projection, layer: str) -> dict:
    """Result record of one layer: ``nc1 = Q/N``, ``nc1_trace = C·Q/N``."""
    if projection.lam_max <= 0:
        warnings.warn(
            f"layer {layer!r}: all class means coincide (Σ_B = 0), so NC1 is undefined; "
            "returning NaN.",
            RuntimeWarning,
            stacklevel=3,
        )
        value = math.nan
    else:
        value = float(q) / n
    return {
        "nc1": value,
        "nc1_trace": num_present * value,
        "rank": projection.rank,
        "n": n,
        "num_classes": num_present,
    }


# --------------------------------------------------------------------------------------
# Validation at the boundary
# --------------------------------------------------------------------------------------


def _check_labels(labels: object, batch: int | None, num_classes: int | None) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise InfolensError(f"labels must be a 1-D integer tensor, got {type(labels).__name__}.")
    if labels.dim() != 1 or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InfolensError(
            f"labels must be a 1-D integer tensor of class indices, got dtype {labels.dtype} and "
            f"shape {tuple(labels.shape)}; pass e.g. labels.long()."
        )
    if batch is not None and labels.numel() != batch:
        raise InfolensError(
            f"labels has {labels.numel()} entries but the features have {batch} samples; "
            "pass one label per sample."
        )
    if labels.numel() and num_classes is not None:
        lo, hi = (int(v) for v in torch.aminmax(labels))
        if lo < 0 or hi >= num_classes:
            raise InfolensError(
                f"labels must lie in [0, num_classes={num_classes}), got values in [{lo}, {hi}]; "
                "pass the right num_classes."
            )
    return labels.long()


def _flatten_features(name: str, features: object) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise InfolensError(
            f"features of layer {name!r} must be a floating-point tensor of shape (batch, ...), "
            f"got {type(features).__name__}"
            + (f" of dtype {features.dtype}" if isinstance(features, torch.Tensor) else "")
            + "."
        )
    if features.dim() == 0:
        raise InfolensError(f"features of layer {name!r} must have a batch dimension, got a scalar.")
    return features.detach().reshape(features.shape[0], math.prod(features.shape[1:]))


def _as_layer_dict(features: torch.Tensor | Mapping[str, torch.Tensor]) -> tuple[dict, bool]:
    if isinstance(features, Mapping):
        if not features:
            raise InfolensError("features is an empty dict; pass {layer_name: tensor, ...}.")
        return dict(features), False
    return {_SINGLE: features}, True


def _check_tol(rel_eig_tol: float) -> float:
    tol = float(rel_eig_tol)
    if not (math.isfinite(tol) and 0 <= tol < 1):
        raise InfolensError(f"rel_eig_tol must be a number in [0, 1), got {rel_eig_tol!r}; the default is 1e-5.")
    return tol


def _present_classes(class_counts: torch.Tensor, *, warn_absent: bool) -> int:
    present = class_counts > 0
    num_present = int(present.sum())
    if num_present < 2:
        raise InfolensError(
            f"NC1 needs samples from at least 2 classes, got {num_present} class(es) with samples "
            "(between-class covariance is undefined); pass data covering several classes."
        )
    absent = (~present).nonzero().flatten().tolist()
    if absent and warn_absent:
        warnings.warn(
            f"class(es) {absent} have no samples and are dropped; NC1 uses the {num_present} "
            "classes present.",
            UserWarning,
            stacklevel=3,
        )
    return num_present


# --------------------------------------------------------------------------------------
# Streaming accumulator
# --------------------------------------------------------------------------------------


class NC1:
    r"""Streaming, sum-reducible NC1 accumulator for one or several layers (two passes).

    ``nc1 = tr(Σ_W Σ_B⁺)/C`` (Papyan) and ``nc1_trace = tr(Σ_W Σ_B⁺)`` over the classes present;
    dimensionless, lower = more collapsed. See the module docstring for the definitions.

    Protocol (pass 1, switch, pass 2, result)::

        metric = NC1(num_classes=10)
        for x, y in loader:                       # pass 1: class sums and counts
            metric.update({"fc1": f1(x), "fc2": f2(x)}, y)
        metric.finish_first_pass()                # eigenproblem, projectors
        for x, y in loader:                       # pass 2: the SAME data
            metric.update({"fc1": f1(x), "fc2": f2(x)}, y)
        metric.compute()   # {"fc1": {"nc1":…, "nc1_trace":…, "rank":…, "n":…, "num_classes":…}, …}

    Passing a bare tensor instead of a dict gives a single record from :meth:`compute`.

    States (all fixed-size once ``D`` is known at the first update, all reduced by **sum**):

    * pass 1: ``class_counts`` (C, int64) and per layer ``class_sums`` (C×D, ``dtype``);
    * pass 2: ``class_counts_pass2`` (C, int64) and per layer ``q`` (scalar, ``dtype``).

    Because every state is a sum, batches, workers and DDP ranks combine exactly by adding
    states: :meth:`merge` adds another accumulator's states, and under DDP pass
    ``all_reduce=torch.distributed.all_reduce`` to :meth:`finish_first_pass` (reduces the
    pass-1 states in place, so every rank builds the same projector) and to :meth:`compute`
    (reduces copies of the pass-2 states, so ``compute`` can be called repeatedly). Every
    rank must have called :meth:`update` at least once (``D`` is inferred then; an empty
    ``(0, D)`` batch is a valid update), and a distributed sampler must not pad shards with
    repeated samples. :meth:`state_dict` /
    :meth:`load_state_dict` save and restore the states and the phase.

    Parameters
    ----------
    num_classes:
        Number of label values ``C``; labels must lie in ``[0, C)``. Classes with no
        samples are dropped with a warning.
    rel_eig_tol:
        Relative eigenvalue cutoff of the pseudoinverse (default ``1e-5``).
    dtype:
        Accumulation dtype (default float64; features are cast before accumulation).

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> h, y = torch.randn(60, 5, generator=g), torch.arange(60) % 3
    >>> m = NC1(num_classes=3)
    >>> m.update(h, y); m.finish_first_pass(); m.update(h, y)
    >>> abs(m.compute()["nc1"] - nc1(h, y)) < 1e-12
    True
    """

    higher_is_better = False
    full_state_update = False

    def __init__(
        self,
        num_classes: int,
        *,
        rel_eig_tol: float = 1e-5,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.rel_eig_tol = _check_tol(rel_eig_tol)
        if not dtype.is_floating_point:
            raise InfolensError(f"dtype must be a floating-point dtype, got {dtype}.")
        self.dtype = dtype
        self.reset()

    # -- state management ------------------------------------------------------------

    def reset(self) -> None:
        """Clear all states and return to pass 1."""
        self.phase = "first"
        self._single: bool | None = None
        self.class_counts: torch.Tensor | None = None
        self.class_sums: dict[str, torch.Tensor] = {}
        self.class_counts_pass2: torch.Tensor | None = None
        self.q: dict[str, torch.Tensor] = {}
        self._projections: dict[str, _Projection] = {}

    @property
    def layers(self) -> list[str]:
        """The layer names seen so far (fixed by the first update)."""
        return list(self.class_sums)

    def sum_states(self) -> dict[str, torch.Tensor]:
        """The tensors of the current phase; each is reduced across ranks by summation."""
        if self.phase == "first":
            states = {f"class_sums/{k}": v for k, v in self.class_sums.items()}
            if self.class_counts is not None:
                states["class_counts"] = self.class_counts
        else:
            states = {f"q/{k}": v for k, v in self.q.items()}
            states["class_counts_pass2"] = self.class_counts_pass2
        return states

    def _init_states(self, feats: dict[str, torch.Tensor], single: bool) -> None:
        self._single = single
        device = next(iter(feats.values())).device
        # normal (non-inference) tensors, so states made under inference_mode stay updatable
        with torch.inference_mode(False):
            self.class_counts = torch.zeros(self.num_classes, dtype=torch.int64, device=device)
            self.class_sums = {
                name: torch.zeros(self.num_classes, f.shape[1], dtype=self.dtype, device=device)
                for name, f in feats.items()
            }

    # -- protocol ------------------------------------------------------------------------

    def update(self, features: torch.Tensor | Mapping[str, torch.Tensor], labels: torch.Tensor) -> None:
        """Accumulate one batch: ``features`` is ``(B, ...)`` or ``{layer: (B, ...)}``, ``labels`` ``(B,)``.

        Routes to pass 1 or pass 2 according to :attr:`phase`.
        """
        raw, single = _as_layer_dict(features)
        feats = {name: _flatten_features(name, f) for name, f in raw.items()}
        batch = {f.shape[0] for f in feats.values()}
        if len(batch) != 1:
            raise InfolensError(
                f"all layers must have the same batch size, got {sorted(batch)}; pass the "
                "features of one batch."
            )
        labels = _check_labels(labels, batch.pop(), self.num_classes)
        if self._single is None:
            self._init_states(feats, single)
        self._check_layers(feats, single)
        labels = labels.to(self.class_counts.device)
        feats = {name: f.to(self.class_counts.device) for name, f in feats.items()}
        if self.phase == "first":
            _update_first(self.class_sums, self.class_counts, feats, labels)
        else:
            _update_second(self.q, self.class_counts_pass2, self._projections, feats, labels)

    def _check_layers(self, feats: dict[str, torch.Tensor], single: bool) -> None:
        if single != self._single or set(feats) != set(self.class_sums):
            raise InfolensError(
                f"this NC1 accumulates layers {self.layers}, got features for {sorted(feats)}; "
                "pass the same layers (a dict, or a single tensor) at every update."
            )
        for name, f in feats.items():
            expected = self.class_sums[name].shape[1]
            if f.shape[1] != expected:
                raise InfolensError(
                    f"layer {name!r} has {f.shape[1]} features per sample, but earlier batches "
                    f"had {expected}; pass the same layer at every update."
                )

    def finish_first_pass(self, all_reduce: AllReduce | None = None, *, _warn: bool = True) -> None:
        """End pass 1: (optionally) all-reduce the pass-1 states, solve the eigenproblem, start pass 2.

        ``all_reduce`` is an in-place sum reduction such as ``torch.distributed.all_reduce``.
        Raises if fewer than 2 classes have samples; warns about classes without samples.
        """
        if self.phase != "first":
            raise InfolensError("finish_first_pass() was already called; call reset() to start over.")
        if self._single is None:
            raise InfolensError("NC1 saw no data in pass 1; call update(features, labels) first.")
        if all_reduce is not None:
            for tensor in self.sum_states().values():
                all_reduce(tensor)
        _present_classes(self.class_counts, warn_absent=_warn)
        self._start_second_pass()

    def _start_second_pass(self) -> None:
        self._projections = _projection(self.class_sums, self.class_counts, self.rel_eig_tol)
        device = self.class_counts.device
        with torch.inference_mode(False):
            self.class_counts_pass2 = torch.zeros_like(self.class_counts)
            self.q = {
                name: torch.zeros((), dtype=self.dtype, device=device) for name in self.class_sums
            }
        self.phase = "second"

    def compute(self, all_reduce: AllReduce | None = None) -> dict:
        """Return ``{nc1, nc1_trace, rank, n, num_classes}`` (per layer for dict features).

        ``nc1`` = tr(Σ_W Σ_B⁺)/C and ``nc1_trace`` = tr(Σ_W Σ_B⁺), dimensionless; ``rank`` = r,
        ``n`` = N and ``num_classes`` = the number C of classes present. Raises if pass 2 did
        not see exactly the pass-1 samples (per-class counts differ).
        """
        if self.phase != "second":
            raise InfolensError(
                "compute() needs both passes: call finish_first_pass() after pass 1, then "
                "update() over the same data again."
            )
        q = {name: t.clone() for name, t in self.q.items()}
        counts2 = self.class_counts_pass2.clone()
        if all_reduce is not None:
            for t in [*q.values(), counts2]:
                all_reduce(t)
        if not torch.equal(counts2, self.class_counts):
            raise InfolensError(
                f"pass 2 saw {int(counts2.sum())} samples (per class {counts2.tolist()}) but pass 1 "
                f"saw {int(self.class_counts.sum())} (per class {self.class_counts.tolist()}); both "
                "passes must run over identical data (no shuffling-with-replacement, no dropped "
                "or padded batches)."
            )
        n = int(self.class_counts.sum())
        num_present = int((self.class_counts > 0).sum())
        out = {
            name: _compute(q[name], n, num_present, self._projections[name], name) for name in q
        }
        return out[_SINGLE] if self._single else out

    def merge(self, other: NC1) -> NC1:
        """Add ``other``'s states into this accumulator (in place) and return ``self``.

        Both must be in the same phase with the same layers. In pass 2 they must share identical
        (already reduced) pass-1 states, because the projector depends on them.
        """
        if not isinstance(other, NC1):
            raise InfolensError(f"merge() takes another NC1, got {type(other).__name__}.")
        if (other.num_classes, other.rel_eig_tol) != (self.num_classes, self.rel_eig_tol):
            raise InfolensError("merge() needs accumulators with the same num_classes and rel_eig_tol.")
        if other._single is None:
            return self
        if self._single is None:
            if other.phase == "second":
                raise InfolensError("cannot merge a pass-2 accumulator into an empty one.")
            self._init_states(
                {k: v.new_empty(0, v.shape[1]) for k, v in other.class_sums.items()}, other._single
            )
        if other.phase != self.phase:
            raise InfolensError(
                f"cannot merge an accumulator in pass {other.phase!r} into one in pass "
                f"{self.phase!r}; merge at the same point of the protocol."
            )
        if other._single != self._single or set(other.class_sums) != set(self.class_sums):
            raise InfolensError(
                f"cannot merge accumulators of layers {other.layers} into {self.layers}."
            )
        for name, s in other.class_sums.items():
            if s.shape != self.class_sums[name].shape:
                raise InfolensError(f"layer {name!r} has different feature sizes in the two accumulators.")
        if self.phase == "first":
            self.class_counts += other.class_counts.to(self.class_counts.device)
            for name, s in other.class_sums.items():
                self.class_sums[name] += s.to(self.class_sums[name])
        else:
            same = torch.equal(self.class_counts, other.class_counts.to(self.class_counts.device)) and all(
                torch.equal(self.class_sums[k], v.to(self.class_sums[k].device))
                for k, v in other.class_sums.items()
            )
            if not same:
                raise InfolensError(
                    "pass-2 accumulators can only be merged when they share the same reduced "
                    "pass-1 states; merge (or all-reduce) before finish_first_pass()."
                )
            self.class_counts_pass2 += other.class_counts_pass2.to(self.class_counts_pass2.device)
            for name, t in other.q.items():
                self.q[name] += t.to(self.q[name])
        return self

    def state_dict(self) -> dict[str, Any]:
        """All states (tensors, cloned) plus the phase and settings; see :meth:`load_state_dict`."""
        clone = lambda t: None if t is None else t.detach().clone()  # noqa: E731
        return {
            "num_classes": self.num_classes,
            "rel_eig_tol": self.rel_eig_tol,
            "phase": self.phase,
            "single": self._single,
            "class_counts": clone(self.class_counts),
            "class_sums": {k: clone(v) for k, v in self.class_sums.items()},
            "class_counts_pass2": clone(self.class_counts_pass2),
            "q": {k: clone(v) for k, v in self.q.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore states saved by :meth:`state_dict` (the projector is recomputed in pass 2)."""
        if (state["num_classes"], state["rel_eig_tol"]) != (self.num_classes, self.rel_eig_tol):
            raise InfolensError(
                f"state was saved with num_classes={state['num_classes']}, rel_eig_tol="
                f"{state['rel_eig_tol']}; this NC1 has {self.num_classes}, {self.rel_eig_tol}."
            )
        self.reset()
        if state["single"] is None:
            return
        self._single = bool(state["single"])
        self.class_counts = state["class_counts"].clone()
        self.class_sums = {k: v.clone().to(self.dtype) for k, v in state["class_sums"].items()}
        if state["phase"] == "second":
            self._start_second_pass()
            self.class_counts_pass2 = state["class_counts_pass2"].clone()
            self.q = {k: v.clone().to(self.dtype) for k, v in state["q"].items()}


# --------------------------------------------------------------------------------------
# Functional form
# --------------------------------------------------------------------------------------


def nc1(
    features: torch.Tensor | Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    num_classes: int | None = None,
    *,
    scale: str = "papyan",
    rel_eig_tol: float = 1e-5,
) -> float | dict[str, float]:
    r"""NC1 of in-memory features: ``tr(Σ_W Σ_B⁺)/C`` (``scale="papyan"``) or ``tr(Σ_W Σ_B⁺)`` (``"trace"``).

    Σ_W is the within-class covariance (1/N normalisation), Σ_B the between-class covariance of
    the class means around the sample-weighted global mean (1/C normalisation), ⁺ the
    pseudoinverse with eigenvalues ``<= rel_eig_tol·λ_max`` treated as zero, and C the number of
    classes with samples. The value is dimensionless (``>= 0``; lower = more collapsed). Same
    two-pass algorithm as :class:`NC1`, in float64.

    Parameters
    ----------
    features:
        ``(N, ...)`` floating tensor (flattened to ``(N, D)``), or ``{layer: tensor}``.
    labels:
        ``(N,)`` integer class labels.
    num_classes:
        ``None``: the classes present. An int: labels must lie in ``[0, num_classes)`` and
        classes without samples are dropped with a warning.
    scale:
        ``"papyan"`` (default) or ``"trace"`` (= C × papyan, what the thesis logged).
    rel_eig_tol:
        Relative eigenvalue cutoff of the pseudoinverse (default ``1e-5``).

    Returns
    -------
    float, or ``{layer: float}`` for dict features. NaN (with a warning) if all class means coincide.

    Example
    -------
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> h = torch.tensor([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]])
    >>> nc1(h, y)   # Σ_W = diag(0, 1) is orthogonal to Σ_B's range (the x axis)
    0.0
    """
    scale = check_choice("scale", scale, _SCALES)
    tol = _check_tol(rel_eig_tol)
    raw, single = _as_layer_dict(features)
    feats = {name: _flatten_features(name, f) for name, f in raw.items()}
    sizes = {f.shape[0] for f in feats.values()}
    if len(sizes) != 1:
        raise InfolensError(f"all layers must have the same number of samples, got {sorted(sizes)}.")
    n = sizes.pop()
    warn_absent = num_classes is not None
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    labels = _check_labels(labels, n, num_classes)
    if n == 0:
        raise InfolensError("features are empty; NC1 needs samples from at least 2 classes.")
    if num_classes is None:
        if int(labels.min()) < 0:
            raise InfolensError(f"labels must be >= 0, got {int(labels.min())}.")
        num_classes = int(labels.max()) + 1
    labels = labels.to(next(iter(feats.values())).device)
    counts = torch.zeros(num_classes, dtype=torch.int64, device=labels.device)
    sums = {
        name: torch.zeros(num_classes, f.shape[1], dtype=torch.float64, device=f.device)
        for name, f in feats.items()
    }
    _update_first(sums, counts, feats, labels)
    num_present = _present_classes(counts, warn_absent=warn_absent)
    projections = _projection(sums, counts, tol)
    q = {name: torch.zeros((), dtype=torch.float64, device=f.device) for name, f in feats.items()}
    _update_second(q, torch.zeros_like(counts), projections, feats, labels)
    out: dict[str, float] = {}
    for name in feats:
        rec = _compute(q[name], n, num_present, projections[name], name)
        out[name] = rec["nc1"] if scale == "papyan" else rec["nc1_trace"]
    return out[_SINGLE] if single else out


# --------------------------------------------------------------------------------------
# Measuring a model
# --------------------------------------------------------------------------------------


def _split_batch(batch: object) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, Mapping) and {"x", "y"} <= set(batch):
        return batch["x"], batch["y"]
    if isinstance(batch, Sequence) and len(batch) >= 2:
        return batch[0], batch[1]
    raise InfolensError(
        "each batch of the dataloader must be (inputs, labels, ...) or {'x': ..., 'y': ...}, got "
        f"{type(batch).__name__}."
    )


def _warn_batch_stat_norms(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not module.track_running_stats:
            warnings.warn(
                f"module {name!r} is a BatchNorm without running stats: in eval mode it still uses "
                "batch statistics, so features (and NC1) depend on batch composition; use a fixed "
                "batch size and an unshuffled loader.",
                UserWarning,
                stacklevel=3,
            )
            return


_CHUNK_BYTES = 16 * 2**20  # feature bytes (all layers) per cache buffer


class _FeatureCache:
    """Pass-1 features of a model sweep, cast to float64 inside the hooks into large buffers.

    The cast that accumulation needs anyway is the copy that protects the values from later
    in-place operations, so every feature is copied once; pass 1 and pass 2 then run over
    whole chunks of rows (a few operations per chunk instead of per batch) and the model runs
    once. ``budget`` caps the bytes kept (float64); a batch that does not fit deactivates the
    cache (the caller then streams and runs a second sweep).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.active = True
        self.entries: list[tuple[dict[str, torch.Tensor], torch.Tensor, int]] = []  # (feats, labels, rows)
        self.row_bytes = 0  # float64 bytes of one sample over all layers; 0 before the first batch
        self.chunk_rows = 0
        self.buffers: dict[str, torch.Tensor] = {}  # the open chunk, per layer
        self.labels: torch.Tensor | None = None
        self.capacity = self.fill = 0
        self.start: int | None = None  # row of the current batch in the open chunk
        self.rows = 0
        self.stored: set[str] = set()

    def begin(self, labels: object) -> None:
        """Prepare the slots of the next batch (``labels`` gives its number of rows)."""
        self.start, self.stored = None, set()
        if not (self.active and isinstance(labels, torch.Tensor) and labels.dim() == 1):
            return
        rows = labels.shape[0]
        if self.row_bytes and self.fill + rows > self.capacity:  # open a new chunk
            self._close_chunk()
            room = (self.budget - self.used) // self.row_bytes
            if room < rows:
                return
            self.capacity = min(max(rows, self.chunk_rows), room)
        self.start, self.rows = self.fill, rows

    def store(self, path: str, out: torch.Tensor) -> torch.Tensor | None:
        """Hook callback: a float64 copy of ``out`` in its slot (``None``: let capture clone it)."""
        if self.start is None or out.shape[0] != self.rows or not out.is_floating_point():
            return None
        if not self.row_bytes:  # first batch: standalone copies (the chunk shape is not known yet)
            self.stored.add(path)
            return out.to(torch.float64, copy=True)
        buf = self.buffers.get(path)
        if buf is None:
            buf = self.buffers[path] = torch.empty(
                self.capacity, out.shape[1], dtype=torch.float64, device=out.device
            )
        elif buf.shape[1] != out.shape[1] or buf.device != out.device:
            return None
        slot = buf[self.start : self.start + self.rows]
        slot.copy_(out)
        self.stored.add(path)
        return slot

    def commit(self, feats: Mapping[str, torch.Tensor], labels: object) -> bool:
        """Keep the batch just captured; ``False`` if it is not (entirely) in the cache."""
        if not self.active or self.start is None or self.stored != set(feats):
            return False
        labels = _check_labels(labels, self.rows, None)
        nbytes = sum(f.numel() * f.element_size() for f in feats.values())
        if self.used + nbytes > self.budget:
            return False
        self.used += nbytes
        if not self.row_bytes:  # first batch: kept as its own entry; fixes the chunk shape
            device = next(iter(feats.values())).device
            self.entries.append((dict(feats), labels.to(device), self.rows))
            self.row_bytes = max(1, sum(f.shape[1] * 8 for f in feats.values()))
            self.chunk_rows = max(1, _CHUNK_BYTES // self.row_bytes)
            return True
        if self.labels is None:
            device = next(iter(self.buffers.values())).device
            self.labels = torch.empty(self.capacity, dtype=torch.int64, device=device)
        self.labels[self.start : self.start + self.rows].copy_(labels)
        self.fill += self.rows
        return True

    def _close_chunk(self) -> None:
        if self.fill:
            self.entries.append((self.buffers, self.labels, self.fill))
        self.buffers, self.labels, self.capacity, self.fill = {}, None, 0, 0

    def _chunks(self, num_classes: int):
        """``(float64 features, checked labels)`` of every cached chunk, in sweep order."""
        self._close_chunk()
        for feats, labels, rows in self.entries:
            yield {name: f[:rows] for name, f in feats.items()}, _check_labels(labels[:rows], rows, num_classes)

    def first_pass(self, metric: NC1) -> None:
        """Pass-1 updates of ``metric`` from every cached chunk."""
        for feats, labels in self._chunks(metric.num_classes):
            if metric._single is None:
                metric._init_states(feats, single=False)
            _update_first(metric.class_sums, metric.class_counts, feats, labels)

    def second_pass(self, metric: NC1) -> None:
        """Pass-2 updates of ``metric`` from every cached chunk (after ``finish_first_pass``)."""
        for feats, labels in self._chunks(metric.num_classes):
            _update_second(metric.q, metric.class_counts_pass2, metric._projections, feats, labels)

    def release(self, metric: NC1) -> None:
        """Deactivate: run pass 1 on what is cached so far and drop the cache."""
        self.first_pass(metric)
        self.active, self.start, self.entries, self.buffers = False, None, [], {}


def measure_nc1(
    model: nn.Module,
    dataloader: Iterable,
    layers: Sequence[str | nn.Module] | str,
    num_classes: int,
    *,
    rel_eig_tol: float = 1e-5,
    device: torch.device | str | None = None,
    cache_memory: int | str | None = "1GiB",
) -> dict[str, dict]:
    """NC1 of a model's layers over a dataloader, both passes on the same frozen model.

    Runs the model in ``eval()`` mode under ``torch.inference_mode()`` over ``dataloader``
    (pass 1: class sums; pass 2: within-class projections), hooking the modules at ``layers``
    (dotted module paths; outputs flattened to ``(batch, D)``). The training mode of the model is
    restored afterwards. The dataloader must yield the same samples in both passes and no
    random augmentation. Returns ``{layer: {"nc1", "nc1_trace", "rank", "n", "num_classes"}}``
    with ``nc1 = tr(Σ_W Σ_B⁺)/C`` and ``nc1_trace = tr(Σ_W Σ_B⁺)`` (dimensionless).

    ``cache_memory``: while the hooked features of pass 1 fit in this many bytes (e.g.
    ``"1GiB"``, counted as the float64 copies that accumulation makes anyway, kept on the
    model's device), they are cast into a few large buffers during the sweep and both passes
    run over those buffers instead of running the model a second time; the result is
    identical because the model is frozen.
    ``None`` or ``0`` always runs the second forward sweep.
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    paths = [
        layer if isinstance(layer, str) else module_path(model, layer) for layer in layers
    ]
    metric = NC1(num_classes, rel_eig_tol=rel_eig_tol)
    budget = 0 if not cache_memory else parse_memory(cache_memory, default=2**30)
    cache = _FeatureCache(budget) if budget else None
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    _warn_batch_stat_norms(model)
    was_training = model.training
    model.eval()
    try:
        store = cache.store if cache is not None else None
        with torch.inference_mode(), capture(model, layers, store=store) as feats:

            def forward_passes():
                seen = False
                for batch in dataloader:
                    x, y = _split_batch(batch)
                    feats.clear()
                    if cache is not None:
                        cache.begin(y)
                    model(x.to(device))
                    missing = [str(p) for p in paths if p not in feats]
                    if missing:
                        raise InfolensError(
                            f"layer(s) {missing} did not run during the forward pass; pass "
                            "modules that the model's forward calls."
                        )
                    seen = True
                    yield dict(feats), y
                if not seen:
                    raise InfolensError("the dataloader yielded no batches; pass a non-empty dataloader.")

            for batch_feats, y in forward_passes():
                if cache is not None and cache.active:
                    if cache.commit(batch_feats, y):
                        continue  # pass 1 runs over the cached chunks after the sweep
                    cache.release(metric)  # does not fit: stream, and sweep again in pass 2
                metric.update(batch_feats, y)
            cached = cache is not None and cache.active
            if cached:
                cache.first_pass(metric)
            metric.finish_first_pass()
            if cached:
                cache.second_pass(metric)
            else:
                for batch_feats, y in forward_passes():
                    metric.update(batch_feats, y)
    finally:
        model.train(was_training)
    return metric.compute()
