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
from contextlib import nullcontext
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
from infolens.nn.capture import capture, record
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

    Only classes with a positive count enter ``M``. Computation is in float64. ``eigh`` returns
    ascending eigenvalues, so the kept ones (``λ > rel_eig_tol·λ_max``) are the last ``r``.
    """
    present = class_counts > 0
    all_present = bool(present.all())
    counts = (class_counts if all_present else class_counts[present]).to(torch.float64)
    n = counts.sum()
    mts: dict[str, torch.Tensor] = {}
    means_full: dict[str, torch.Tensor] = {}
    grams = []
    for name, sums in class_sums.items():
        sums64 = sums.to(torch.float64)
        if not all_present:
            sums64 = sums64[present]
        means = sums64 / counts[:, None]  # (C', D)
        mt = means - sums64.sum(0) / n  # rows μ_c − μ_G: this is Mᵀ, (C', D)
        mts[name] = mt
        if all_present:
            means_full[name] = means
        else:
            full = means.new_zeros(class_counts.shape[0], means.shape[1])
            full[present] = means
            means_full[name] = full
        grams.append(mt @ mt.T)
    lam, vecs = torch.linalg.eigh(torch.stack(grams))  # ascending eigenvalues, (L, C')
    lam_max = lam[:, -1]
    keep = (lam > rel_eig_tol * lam_max[:, None]) & (lam_max[:, None] > 0)
    ranks = keep.sum(1).tolist()
    out: dict[str, _Projection] = {}
    for k, (name, top) in enumerate(zip(class_sums, lam_max.tolist())):
        r = ranks[k]
        lo = lam.shape[1] - r  # the kept eigenpairs: columns lo.. of the ascending order
        proj = mts[name].T @ (vecs[k, :, lo:] / lam[k, lo:])  # P = M V_r Λ_r⁻¹, (D, r)
        out[name] = _Projection(proj=proj, mean_proj=means_full[name] @ proj, rank=r, lam_max=top)
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
    contributions = {
        name: _projected_square(f.to(projections[name].proj.dtype), projections[name], labels)
        for name, f in features.items()
    }
    _check_finite_batch(contributions)
    for name, value in contributions.items():
        q[name] += value.to(q[name].dtype)
    _update_counts(class_counts_pass2, labels)


def _projected_square(
    f: torch.Tensor, projection: _Projection, labels: torch.Tensor
) -> torch.Tensor:
    """``Σ_i ‖h_i P − μ_{y_i} P‖²`` of the rows ``h_i`` of ``f`` (a 0-d tensor).

    ``mm`` then an in-place subtraction of the gathered ``μ_y P``: faster on CPU than one
    ``addmm`` with ``beta=-1``, the same values up to rounding.
    """
    z = torch.mm(f, projection.proj)
    z.sub_(projection.mean_proj.index_select(0, labels))
    z = z.view(-1)
    return torch.dot(z, z)


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
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:  # the common case, without ABC checks
        return batch[0], batch[1]
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


_CHUNK_BYTES = 16 * 2**20  # cached feature bytes (all layers) per chunk
_BLOCK_BYTES = 2**20  # float64 bytes of one layer's rows that the passes cast and process at a time
_ONEHOT_SIZE = 4096  # pass 1: a one-hot GEMM if C·D is at most this, else index_add_
_SMALL_BYTES = 4 * 2**20  # the first chunk holds float64 if it can take a batch in this many bytes
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class _FeatureCache:
    """Pass-1 features of a model sweep, copied inside the hooks into large buffers.

    Every feature is copied once, right when its module returns (so later in-place operations
    cannot alter it), into its rows of a per-layer chunk buffer (contiguous copies). The first
    chunk holds float64 when it takes at least one batch within ``_SMALL_BYTES`` (small data
    sets then need no cast and no scratch memory in the passes); later chunks keep each
    feature's own floating dtype (half the memory traffic of float64 for float32 models), and
    the passes cast them, exactly, block by block of about ``_BLOCK_BYTES`` into a reused
    float64 scratch buffer. Pass 1 is one GEMM ``onehot(y)ᵀ h`` (or one ``index_add_``) per
    block and layer, pass 2 a few operations per block and layer, instead of per batch; a
    layer that fits in one block is not cast twice. The model runs once. ``budget`` caps the
    bytes kept; a batch that does not fit deactivates the cache (the caller then streams and
    runs a second sweep).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.active = True
        self.entries: list[tuple[dict[str, torch.Tensor], torch.Tensor]] = []  # (features, labels)
        self.widths: dict[str, int] = {}  # layer -> D; fixed by the first batch
        self.dtypes: dict[str, torch.dtype] = {}  # layer -> dtype of its buffers
        self.accepts: dict[str, set[torch.dtype]] = {}  # layer -> feature dtypes stored exactly
        self.chunk_accepts: dict[str, set[torch.dtype]] = {}  # the same, for the open chunk
        self.chunk_row_bytes = 0  # bytes of one row of the open chunk (all layers)
        self.row_bytes = 0
        self.device: torch.device | None = None
        self.chunk_rows = 0
        self.buffers: dict[str, torch.Tensor] = {}  # the open chunk, per layer (capacity, D)
        self.labels: torch.Tensor | None = None
        self.capacity = self.fill = 0
        self.start: int | None = None  # rows start:stop of the open chunk hold the current batch
        self.stop = self.rows = 0
        self.stored: set[str] = set()
        self.kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # float64 rows, pass 1 -> 2

    def begin(self, labels: object) -> None:
        """Prepare the slots of the next batch (``labels`` gives its number of rows)."""
        self.start, self.stored = None, set()
        if not (self.active and isinstance(labels, torch.Tensor) and labels.dim() == 1):
            return
        rows = labels.shape[0]
        if self.widths and self.fill + rows > self.capacity:  # open a new chunk
            self._close_chunk()
            room = (self.budget - self.used) // self.row_bytes
            if room < rows:
                return
            self._open_chunk(min(max(rows, self.chunk_rows), room))
        self.start, self.stop, self.rows = self.fill, self.fill + rows, rows

    def _open_chunk(self, capacity: int, float64: bool = False) -> None:
        """New buffers for ``capacity`` rows: in the layers' dtypes, or all in float64."""
        self.capacity = capacity
        dtypes = dict.fromkeys(self.widths, torch.float64) if float64 else self.dtypes
        self.buffers = {
            name: torch.empty(capacity, width, dtype=dtypes[name], device=self.device)
            for name, width in self.widths.items()
        }
        self.labels = torch.empty(capacity, dtype=torch.int64, device=self.device)
        self.chunk_accepts = {n: set(_FLOATS) for n in self.widths} if float64 else self.accepts
        self.chunk_row_bytes = 8 * sum(self.widths.values()) if float64 else self.row_bytes

    def store(self, path: str, out: torch.Tensor) -> torch.Tensor | None:
        """Hook callback: a copy of ``out`` in its slot (``None``: let capture clone it)."""
        if self.start is not None and out.dim() == 2 and out.shape[0] == self.rows:
            if self.widths:
                buf = self.buffers.get(path)
                if (
                    buf is not None
                    and buf.shape[1] == out.shape[1]
                    and out.dtype in self.chunk_accepts[path]
                    and out.device == self.device
                ):
                    slot = buf[self.start : self.stop]
                    slot.copy_(out)
                    self.stored.add(path)
                    return slot
            elif out.is_floating_point():  # first batch: standalone copies (no layout yet)
                self.stored.add(path)
                return out.clone()
        self.stored.discard(path)  # (a module that ran twice: its last output is not cached)
        return None

    def commit(self, feats: Mapping[str, torch.Tensor], labels: object) -> bool:
        """Keep the batch just captured; ``False`` if it is not (entirely) in the cache."""
        if not self.active or self.start is None or len(self.stored) != len(feats):
            return False  # (stored ⊆ feats: store() is only called for recorded layers)
        labels = _check_labels(labels, self.rows, None)
        if not self.widths and not self._layout(feats):
            return False
        self.labels[self.start : self.stop].copy_(labels)
        self.used += self.rows * self.chunk_row_bytes  # begin() (or _layout) made room for it
        self.fill = self.stop
        return True

    def _layout(self, feats: Mapping[str, torch.Tensor]) -> bool:
        """Fix the layout from the first batch and move that batch into the first chunk.

        The first chunk holds float64 (the passes then cast nothing and allocate no scratch
        memory) when it can take at least this batch within ``_SMALL_BYTES``; small data sets
        fit in it entirely.
        """
        devices = {f.device for f in feats.values()}
        row_bytes = max(1, sum(f.shape[1] * f.element_size() for f in feats.values()))
        room = (self.budget - self.used) // row_bytes
        exotic = any(f.dtype not in _FLOATS for f in feats.values())
        if len(devices) != 1 or room < self.rows or exotic:
            return False
        self.device, self.row_bytes = devices.pop(), row_bytes
        for name, f in feats.items():
            self.widths[name], self.dtypes[name] = f.shape[1], f.dtype
            self.accepts[name] = {d for d in _FLOATS if torch.promote_types(d, f.dtype) == f.dtype}
        self.chunk_rows = max(1, _CHUNK_BYTES // row_bytes)
        row64 = max(1, 8 * sum(self.widths.values()))
        small = min(_SMALL_BYTES, self.budget - self.used) // row64
        if small >= self.rows:
            self._open_chunk(small, float64=True)
        else:
            self._open_chunk(min(max(self.rows, self.chunk_rows), room))
        for name, f in feats.items():
            self.buffers[name][: self.rows].copy_(f)
        return True

    def _close_chunk(self) -> None:
        if self.fill:
            feats = {name: buf[: self.fill] for name, buf in self.buffers.items()}
            self.entries.append((feats, self.labels[: self.fill]))
        self.buffers, self.labels, self.capacity, self.fill = {}, None, 0, 0

    def _layer_blocks(self, name: str, num_classes: int):
        """``(key, float64 rows, labels)`` of one layer's cached rows, block by block.

        A block holds at most ``_BLOCK_BYTES`` of float64 rows (and of one-hot rows, see
        :meth:`first_pass`), at least one row; ``key`` = ``(entry, start, stop)`` identifies its
        rows. Non-float64 layers are cast into a reused scratch buffer (overwritten by the next
        block); float64 layers are viewed in place.
        """
        width = self.widths[name]
        if num_classes * width <= _ONEHOT_SIZE:
            width = max(width, num_classes)  # the one-hot rows of a block
        rows = max(1, _BLOCK_BYTES // (8 * width))
        scratch = None
        for i, (feats, y) in enumerate(self.entries):
            f = feats[name]
            for start in range(0, y.shape[0], rows):
                part = f[start : start + rows]
                if part.dtype != torch.float64:
                    if scratch is None:
                        size = min(rows, max(e[1].shape[0] for e in self.entries))
                        scratch = f.new_empty(size, f.shape[1], dtype=torch.float64)
                    part = scratch[: part.shape[0]].copy_(part)
                yield (i, start, start + part.shape[0]), part, y[start : start + part.shape[0]]

    def first_pass(self, metric: NC1) -> None:
        """Pass-1 updates of ``metric`` from every cached chunk (labels checked here, once).

        For small ``C·D``, ``class_sums += onehot(y)ᵀ h`` is one GEMM per block (faster than
        ``index_add_`` on CPU there; the one-hot matrix is reused by the next layer when its
        blocks are the same rows), else ``index_add_``. A layer that fits in one block keeps its
        float64 copy for pass 2.
        """
        self._close_chunk()
        if not self.entries:
            if self.widths and metric._single is None:  # only empty batches: no classes seen
                empty = {n: torch.empty(0, w, device=self.device) for n, w in self.widths.items()}
                metric._init_states(empty, single=False)
            return
        if metric._single is None:
            metric._init_states(self.entries[0][0], single=False)
        num_classes = metric.num_classes
        self.entries = [(f, _check_labels(y, y.shape[0], num_classes)) for f, y in self.entries]
        sums = {n: s.new_zeros(s.shape, dtype=torch.float64) for n, s in metric.class_sums.items()}
        onehot_key, onehot = None, None
        self.kept = {}
        for name, total in sums.items():
            blocks = []
            for key, f, y in self._layer_blocks(name, num_classes):
                if num_classes * f.shape[1] > _ONEHOT_SIZE:
                    total.index_add_(0, y, f)
                else:
                    if key != onehot_key:
                        onehot = f.new_zeros(y.shape[0], num_classes)
                        onehot = onehot.scatter_(1, y[:, None], 1.0).t_()
                        onehot_key = key
                    total.addmm_(onehot, f)  # (C, D) += (C, rows) @ (rows, D)
                blocks.append((f, y))
            if len(blocks) == 1:  # still intact (the scratch buffer was not reused)
                self.kept[name] = blocks[0]
        _check_finite_batch(sums)
        for name, total in sums.items():
            metric.class_sums[name] += total.to(metric.class_sums[name].dtype)
        for _, y in self.entries:
            _update_counts(metric.class_counts, y)

    def second_pass(self, metric: NC1) -> None:
        """Pass-2 updates of ``metric`` from every cached chunk (after ``finish_first_pass``)."""
        totals: dict[str, torch.Tensor] = {}
        for name in self.widths:
            projection = metric._projections[name]
            if name in self.kept:
                blocks = [self.kept[name]]
            else:
                blocks = ((f, y) for _, f, y in self._layer_blocks(name, metric.num_classes))
            for f, y in blocks:
                value = _projected_square(f, projection, y)
                totals[name] = totals[name] + value if name in totals else value
        if totals:
            _check_finite_batch(totals)
        for name, value in totals.items():
            metric.q[name] += value.to(metric.q[name].dtype)
        for _, y in self.entries:
            _update_counts(metric.class_counts_pass2, y)

    def release(self, metric: NC1) -> None:
        """Deactivate: run pass 1 on what is cached so far and drop the cache."""
        self.first_pass(metric)
        self.active, self.start, self.entries, self.buffers, self.kept = False, None, [], {}, {}


def _hook_free(model: nn.Module) -> bool:
    """Whether calling ``model`` runs no hooks of its own (module or global) around its forward."""
    module_hooks = (
        model._forward_hooks, model._forward_pre_hooks,
        model._backward_hooks, model._backward_pre_hooks,
    )  # fmt: skip
    names = (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks",
    )  # fmt: skip
    global_hooks = [getattr(nn.modules.module, name, None) for name in names]
    return not any(module_hooks) and all(h is not None and not h for h in global_hooks)


def _sequential_steps(
    model: nn.Module, paths: Sequence[str]
) -> list[tuple[nn.Module, str | None]] | None:
    """The children of a plain ``nn.Sequential`` to run for ``paths``, or ``None`` to use hooks.

    When ``model`` is an ``nn.Sequential`` with the stock ``forward`` and no hooks of its own, and
    every path is a top-level child that occurs once in the module tree (so its hook would fire
    exactly once per forward pass, on the output of that step), running the children in order
    and reading the outputs of the requested ones gives exactly the tensors the hooks would see.
    The children after the last requested one (e.g. the head) are skipped: NC1 needs only the
    features. Returns ``[(child, path or None), ...]`` up to the last requested child.
    """
    if (
        not isinstance(model, nn.Sequential)
        or type(model).forward is not nn.Sequential.forward
        or type(model).__iter__ is not nn.Sequential.__iter__
        or "forward" in vars(model)
        or not _hook_free(model)
        or not paths
        or len(set(paths)) != len(paths)
    ):
        return None
    children = list(model._modules.items())
    names = [name for name, _ in children]
    if any(module is None for _, module in children) or not set(paths) <= set(names):
        return None
    wanted = {id(model._modules[path]) for path in paths}
    occurrences = [id(m) for _, m in model.named_modules(remove_duplicate=False) if id(m) in wanted]
    if len(occurrences) != len(wanted):
        return None  # a requested module also runs elsewhere (shared, or nested in another child)
    last = max(names.index(path) for path in paths)
    requested = set(paths)
    return [(module, name if name in requested else None) for name, module in children[: last + 1]]


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

    When ``model`` is a plain ``nn.Sequential`` (e.g. a zoo model) without hooks of its own and
    every layer is one of its top-level children, the children are run one by one and the
    requested outputs read directly instead of through hooks, stopping after the last requested
    child (the head is not needed for NC1); the recorded features are the same.

    ``cache_memory``: while the hooked features of pass 1 fit in this many bytes (e.g.
    ``"1GiB"``, counted as the bytes kept: float64 for a small first chunk, then the features'
    own dtype; kept on the model's device), they are
    copied into a few large buffers during the sweep and both passes run over those buffers
    (cast to float64 block by block) instead of running the model a second time; the result
    is identical because the model is frozen.
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
    steps = _sequential_steps(model, paths)
    was_training = model.training
    switch = any(m.training for m in model.modules())  # eval() and train() recurse: skip if no-ops
    if switch:
        model.eval()
    try:
        store = cache.store if cache is not None else None
        recorder = capture(model, layers, store=store) if steps is None else nullcontext({})
        with torch.inference_mode(), recorder as feats:

            def run(x: torch.Tensor) -> None:
                if steps is None:
                    model(x)
                    return
                for module, path in steps:
                    x = module(x)
                    if path is None:
                        continue
                    # recorded right away, so a later in-place op cannot alter it; a flat output
                    # that needs no detaching is what record() would store, minus two no-op views
                    if isinstance(x, torch.Tensor) and x.dim() == 2 and not x.requires_grad:
                        kept = store(path, x) if store is not None else None
                        feats[path] = x.clone() if kept is None else kept
                    else:
                        feats[path] = record(x, path, store=store)

            def forward_passes():
                seen = False
                for batch in dataloader:
                    x, y = _split_batch(batch)
                    feats.clear()
                    if cache is not None:
                        cache.begin(y)
                    run(x.to(device))
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
        if switch:
            model.train(was_training)
    return metric.compute()
