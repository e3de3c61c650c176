r"""The binned information plane of Shwartz-Ziv & Tishby (2017): I(X;T) and I(T;Y) per layer.

For a layer T (a module path), every unit's activation is binned into ``bins`` equal-width bins
over the activation's limits ``[lo, hi]`` (tanh (-1, 1), sigmoid (0, 1), ...; the upper edge
``hi`` belongs to the last bin), and the tuple of the D unit bins is treated as **one** discrete
variable T̃ (the binned layer vector). Over a dataset of N samples (x, y), with plug-in
probabilities from the counts of distinct states:

    I(T;Y) = H(T̃) + H(Y) − H(T̃, Y)                                        [bits]
    I(X;T) = H(T̃) − H(T̃ | X) = H(T̃)                                      [bits]

T is a deterministic function of the input X (the exact input pattern, not a binned input), so
H(T̃ | X) = 0 and I(X;T) is the entropy of the binned layer. This stays true with duplicate
inputs: two copies of the same x give the same T̃, so H(T̃ | X) is still 0 and I(X;T) = H(T̃).
Consequently ``I(X;T) <= log2 N`` (at most N distinct states) and ``I(T;Y) <= min(H(T̃), H(Y))``.
Y is the label: non-negative integer codes, ``(N,)`` or ``(N, k)`` (a ``k``-column label, e.g.
a binary code or one-hot, is one joint variable).

Estimators: ``"plugin"`` (maximum likelihood, the paper's) or ``"miller_madow"``, which adds
``(K − 1)/(2N)`` nats to each entropy (K occupied cells); then ``I(X;T) = H_MM(T̃)`` and
``I(T;Y) = H_MM(T̃) + H_MM(Y) − H_MM(T̃, Y)`` (not clipped, may be slightly negative).

Streaming and exact merging: :class:`InfoPlaneCounts` keeps only the counts of distinct joint
states ``(T̃, Y)`` (bin codes packed into int64 keys, :class:`~infolens.estimators.joint.
JointCounts`); both marginals are read off the distinct joint states. Counts are sums, so
shards of the data (DDP ranks) are counted separately and merged exactly
(:meth:`InfoPlaneCounts.merge`, :meth:`InfoPlaneCounts.state` for ``all_gather_object``): the
merged states are re-uniqued into the same sorted order as a single pass over all data, so the
merged estimate equals the single-process one bit for bit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from infolens._validation import (
    InfolensError,
    InfolensWarning,
    check_choice,
    check_codes,
    check_finite,
    check_positive_int,
    check_range,
)
from infolens.estimators.binning import bin_codes
from infolens.estimators.entropy import ESTIMATORS, entropy_from_counts
from infolens.estimators.joint import JointCounts
from infolens.measures.complexity import _batches, _split
from infolens.nn.capture import capture
from infolens.nn.paths import module_path, resolve_module
from infolens.nn.quantization import QuantizedLayer
from infolens.nn.topology import activation_from

if TYPE_CHECKING:
    import pandas as pd

#: Default number of equal-width bins per unit (Shwartz-Ziv & Tishby use 30).
DEFAULT_BINS = 30

#: Packing radix of the joint counter: bin codes and label codes below it share int64 words
#: (larger label codes are still counted exactly, one word per variable).
_PACK_RADIX = 1024

#: Modules that pass their input through unchanged (skipped when looking for a block's limits).
_PASS_THROUGH = (nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd)

COLUMNS = [
    "layer", "I_XT", "I_TY", "H_T", "H_Y", "H_TY", "units", "estimator", "bins", "limits",
    "samples", "n_states", "n_joint_states", "n_units", "clipped",
]


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def output_module(module: nn.Module) -> nn.Module:
    """The module whose output a block returns: the last child of a container (recursively),
    skipping pass-through modules (Identity, Flatten, Dropout); the module itself otherwise."""
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        for child in reversed(list(module.children())):
            if not isinstance(child, _PASS_THROUGH):
                return output_module(child)
    return module


def activation_limits(module: nn.Module) -> tuple[float, float] | None:
    """The output range ``(lo, hi)`` of ``module`` when it is known from its type, else ``None``.

    Bounded activations give their range (tanh, softsign, hardtanh (-1, 1) or their own bounds;
    sigmoid, hardsigmoid, softmax (0, 1); ReLU6 (0, 6)); a quantized layer gives its quantization
    limits; a container (``nn.Sequential``, ``nn.ModuleList``, a zoo block) gives the range of
    its :func:`output_module`. Unbounded activations (ReLU, GELU, ...) and other modules give
    ``None``.
    """
    module = output_module(module)
    if isinstance(module, QuantizedLayer):
        return module.limits
    if isinstance(module, nn.Softmax):
        return (0.0, 1.0)
    act = activation_from(module, source="module")
    return act.range if act is not None else None


def _resolve_limits(limits: Any, path: str) -> tuple[float, float] | None:
    if limits is None:
        return None
    if isinstance(limits, Mapping):
        if path not in limits:
            return None
        return check_range(f"limits[{path!r}]", limits[path])
    return check_range("limits", limits)


def resolve_layers(model: nn.Module, layers: Any) -> list[str]:
    """Module paths of ``layers`` (paths or submodules; default ``model.measurement_points``).

    Raises an error listing the valid module paths for an unknown path, and an error asking for
    ``layers=`` when it is ``None`` and the model declares no ``measurement_points``.
    """
    if layers is None:
        points = getattr(model, "measurement_points", None)
        if not points:
            raise InfolensError(
                f"{type(model).__name__} declares no measurement_points; pass layers= with the "
                "module paths to measure (e.g. layers=['1', '3'])."
            )
        layers = list(points)
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    paths: list[str] = []
    for layer in layers:
        module = resolve_module(model, layer, arg="layers")
        path = layer if isinstance(layer, str) else module_path(model, module)
        if path in paths:
            raise InfolensError(f"layers lists {path!r} twice; pass each module path once.")
        paths.append(path)
    if not paths:
        raise InfolensError("layers is empty; pass at least one module path.")
    return paths


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------


def label_codes(y: object, batch: int, *, allow_float: bool = False) -> torch.Tensor:
    """Labels as ``(batch, k)`` int64 codes (k = 1 for class labels), validated.

    Accepts integer or boolean tensors of shape ``(batch,)`` or ``(batch, k)``; with
    ``allow_float=True`` also float tensors whose values are all integers (BCE/MSE targets such as
    0./1. or one-hot rows). Raises on negative codes, non-integer values and a length mismatch.
    """
    if y is None:
        raise InfolensError(
            "the information plane needs (inputs, labels) batches, but the data yields inputs "
            "only; pass (X, y) or a DataLoader of (inputs, labels)."
        )
    return check_codes(y, batch, name="labels", allow_float=allow_float)


# --------------------------------------------------------------------------------------------
# The streaming accumulator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfoPlanePoint:
    """One layer's point in the information plane (bits).

    Attributes:
        layer: module path.
        I_XT: I(X;T) = H(T̃) (the binned layer's entropy; T is a deterministic function of X).
        I_TY: I(T;Y) = H(T̃) + H(Y) − H(T̃, Y).
        H_T, H_Y, H_TY: the three entropies.
        estimator: ``"plugin"`` or ``"miller_madow"``.
        bins, limits: the binning of every unit.
        samples: N, the samples counted.
        n_states: distinct binned layer states; n_joint_states: distinct (T̃, Y) states.
        n_units: D, the units of the layer.
        clipped: values outside ``limits`` that were counted in the edge bins.
        units: ``"bits"``.
    """

    layer: str
    I_XT: float
    I_TY: float
    H_T: float
    H_Y: float
    H_TY: float
    estimator: str
    bins: int
    limits: tuple[float, float]
    samples: int
    n_states: int
    n_joint_states: int
    n_units: int
    clipped: int
    units: str = "bits"


class InfoPlaneCounts:
    """Streaming, mergeable counts of the distinct joint states ``(T̃, Y)`` of one layer.

    ``update(activations, labels)`` bins a batch of activations ``(B, D)`` into ``bins``
    equal-width bins per unit over ``limits`` (values outside are clipped into the edge bins and
    counted in ``clipped``) and counts the joint states with the labels ``(B,)``/``(B, k)``.
    :meth:`merge` adds the counts of other accumulators (other data shards) exactly;
    :meth:`state`/:meth:`from_state` turn it into plain picklable data (for
    ``all_gather_object`` and checkpoints). :meth:`result` gives the :class:`InfoPlanePoint`.
    """

    def __init__(self, layer: str, bins: int, limits: tuple[float, float]) -> None:
        self.layer = str(layer)
        self.bins = check_positive_int("bins", bins, minimum=2)
        if self.bins > 32767:
            raise InfolensError(f"bins={self.bins} is too large; use at most 32767 bins.")
        self.limits = check_range("limits", limits)
        self.n_units: int | None = None
        self.label_width: int | None = None
        self.clipped = 0
        self._counter: JointCounts | None = None

    # -- counting ---------------------------------------------------------------------------

    def _ensure(self, n_units: int, label_width: int) -> JointCounts:
        if self._counter is None:
            self.n_units, self.label_width = int(n_units), int(label_width)
            self._counter = JointCounts(self.n_units + self.label_width, max(self.bins, _PACK_RADIX))
        elif (n_units, label_width) != (self.n_units, self.label_width):
            raise InfolensError(
                f"layer {self.layer!r} gave {n_units} units and {label_width} label column(s), "
                f"after {self.n_units} and {self.label_width}; every batch (and every merged "
                "shard) must have the same shapes."
            )
        return self._counter

    def update(self, activations: torch.Tensor, labels: torch.Tensor) -> None:
        """Count one batch: ``activations`` (B, D) floats, ``labels`` (B,) or (B, k) codes."""
        if activations.dim() != 2:
            activations = activations.reshape(activations.shape[0], -1)
        check_finite(f"layer {self.layer!r}", activations)
        y = label_codes(labels, activations.shape[0])
        codes, outside = bin_codes(activations, *self.limits, self.bins, policy="clip")
        self.clipped += int(outside.sum())
        counter = self._ensure(activations.shape[1], y.shape[1])
        counter.update(torch.cat([codes.to(torch.int64).cpu(), y], dim=1))

    # -- merging and state ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Plain data (numpy arrays and numbers): distinct states, their counts and the binning."""
        if self._counter is None:
            states = np.zeros((0, 0), dtype=np.int64)
            counts = np.zeros(0, dtype=np.int64)
        else:
            s, c = self._counter.states()
            states, counts = s.cpu().numpy(), c.cpu().numpy()
        return {
            "layer": self.layer, "bins": self.bins, "limits": tuple(self.limits),
            "n_units": self.n_units, "label_width": self.label_width, "clipped": self.clipped,
            "states": states, "counts": counts,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InfoPlaneCounts:
        """Rebuild an accumulator from :meth:`state`."""
        acc = cls(state["layer"], state["bins"], state["limits"])
        acc._add_state(state)
        return acc

    def _add_state(self, state: Mapping[str, Any]) -> None:
        if (state["bins"], tuple(state["limits"])) != (self.bins, tuple(self.limits)):
            raise InfolensError(
                f"cannot merge counts of layer {self.layer!r} binned into {state['bins']} bins "
                f"over {tuple(state['limits'])} with {self.bins} bins over {self.limits}."
            )
        self.clipped += int(state["clipped"])
        counts = np.asarray(state["counts"], dtype=np.int64)
        if state["n_units"] is None or counts.size == 0:
            return
        counter = self._ensure(int(state["n_units"]), int(state["label_width"]))
        counter.update(torch.as_tensor(np.asarray(state["states"], dtype=np.int64)),
                       weights=torch.as_tensor(counts))

    def merge(self, *others: InfoPlaneCounts | Mapping[str, Any]) -> InfoPlaneCounts:
        """Add the counts of ``others`` (accumulators or their :meth:`state`) to this one.

        Exact: the result counts every joint state as one pass over all the data would, in
        the same (sorted) order. Returns ``self``.
        """
        for other in others:
            st = other.state() if isinstance(other, InfoPlaneCounts) else other
            if st["layer"] != self.layer:
                raise InfolensError(
                    f"cannot merge counts of layer {st['layer']!r} into layer {self.layer!r}."
                )
            self._add_state(st)
        return self

    @classmethod
    def merged(cls, parts: Sequence[InfoPlaneCounts | Mapping[str, Any]]) -> InfoPlaneCounts:
        """A new accumulator holding the sum of ``parts`` (e.g. the states of every DDP rank)."""
        if not parts:
            raise InfolensError("merged() needs at least one part.")
        first = parts[0].state() if isinstance(parts[0], InfoPlaneCounts) else parts[0]
        acc = cls(first["layer"], first["bins"], first["limits"])
        return acc.merge(*parts)

    @property
    def n_samples(self) -> int:
        """Samples counted so far."""
        return 0 if self._counter is None else int(self._counter.n_samples)

    # -- the estimate -----------------------------------------------------------------------

    def result(self, estimator: str = "plugin") -> InfoPlanePoint:
        """I(X;T) = H(T̃) and I(T;Y) = H(T̃) + H(Y) − H(T̃, Y) of the counted samples (bits)."""
        check_choice("estimator", estimator, ESTIMATORS)
        if self._counter is None or self._counter.n_samples == 0:
            raise InfolensError(
                f"layer {self.layer!r}: no samples were counted; pass a non-empty dataset."
            )
        states, counts = self._counter.states()
        d = int(self.n_units)

        def marginal(cols: torch.Tensor) -> torch.Tensor:
            _, inv = torch.unique(cols, dim=0, return_inverse=True)
            out = torch.zeros(int(inv.max()) + 1, dtype=torch.int64)
            return out.scatter_add_(0, inv, counts)

        t_counts, y_counts = marginal(states[:, :d]), marginal(states[:, d:])
        h_t = float(entropy_from_counts(t_counts, estimator=estimator))
        h_y = float(entropy_from_counts(y_counts, estimator=estimator))
        h_ty = float(entropy_from_counts(counts, estimator=estimator))
        i_ty = h_t + h_y - h_ty
        if estimator == "plugin":
            i_ty = max(i_ty, 0.0)
        return InfoPlanePoint(
            layer=self.layer, I_XT=h_t, I_TY=i_ty, H_T=h_t, H_Y=h_y, H_TY=h_ty,
            estimator=estimator, bins=self.bins, limits=tuple(self.limits),
            samples=int(self._counter.n_samples), n_states=int(t_counts.numel()),
            n_joint_states=int(counts.numel()), n_units=d, clipped=int(self.clipped),
        )


# --------------------------------------------------------------------------------------------
# Passes over the data
# --------------------------------------------------------------------------------------------


def activation_extremes(
    model: nn.Module, batches: Iterable, layers: Sequence[str], *, device=None
) -> dict[str, tuple[float, float]]:
    """``{path: (min, max)}`` of every layer's activations over ``batches`` (one forward pass).

    ``(inf, -inf)`` for a layer that saw no sample (an empty data shard), so extremes of
    several shards combine with ``min``/``max``. Raises on non-finite activations.
    """
    lo = dict.fromkeys(layers, math.inf)
    hi = dict.fromkeys(layers, -math.inf)
    for feats in _layer_outputs(model, batches, layers, device):
        for path in layers:
            act = feats[path][0]
            if act.numel():
                lo[path] = min(lo[path], float(act.min()))
                hi[path] = max(hi[path], float(act.max()))
    return {path: (lo[path], hi[path]) for path in layers}


def limits_from_extremes(extremes: tuple[float, float]) -> tuple[float, float]:
    """Binning limits from observed ``(min, max)``: a constant layer gets ``(v − ½, v + ½)``."""
    a, b = float(extremes[0]), float(extremes[1])
    if not math.isfinite(a) or not math.isfinite(b):
        raise InfolensError("the data yielded no samples; pass a non-empty dataset.")
    return (a, b) if a < b else (a - 0.5, b + 0.5)


def observed_limits(
    model: nn.Module, batches: Iterable, layers: Sequence[str], *, device=None
) -> dict[str, tuple[float, float]]:
    """``{path: (min, max)}`` of every layer's activations over ``batches``, as binning limits.

    Raises on non-finite activations (naming the layer) and on empty data. A constant layer
    gets ``(v − ½, v + ½)`` so that its range is not empty.
    """
    seen = activation_extremes(model, batches, layers, device=device)
    return {path: limits_from_extremes(seen[path]) for path in layers}


def _layer_outputs(model: nn.Module, batches: Iterable, layers: Sequence[str], device):
    """Yield ``{path: (activations (B, D), labels)}`` per batch, activations checked finite."""
    param = next(model.parameters(), None)
    if device is None:
        device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else None
    with torch.inference_mode(), capture(model, list(layers)) as feats:
        for batch in batches:
            x, y = _split(batch)
            feats.clear()
            if dtype is not None and x.is_floating_point():
                x = x.to(device=device, dtype=dtype)  # e.g. a float64 model on float32 data
            model(x.to(device))
            out = {}
            for path in layers:
                if path not in feats:
                    raise InfolensError(
                        f"layer {path!r} did not run during the forward pass; pass a module that "
                        "the model's forward calls."
                    )
                act = feats[path]
                check_finite(f"layer {path!r}", act)
                out[path] = (act, y)
            yield out


def count_info_plane(
    model: nn.Module,
    batches: Iterable,
    limits: Mapping[str, tuple[float, float]],
    *,
    bins: int = DEFAULT_BINS,
    device=None,
    label_transform=None,
) -> dict[str, InfoPlaneCounts]:
    """One forward pass over ``batches``: an :class:`InfoPlaneCounts` per layer of ``limits``.

    ``limits`` maps each layer path to its binning range. ``label_transform`` (optional) maps a
    batch's labels to integer codes before counting. The model should be in ``eval()`` mode.
    """
    layers = list(limits)
    accs = {p: InfoPlaneCounts(p, bins, limits[p]) for p in layers}
    for feats in _layer_outputs(model, batches, layers, device):
        for path, (act, y) in feats.items():
            if y is None:
                label_codes(None, act.shape[0])
            accs[path].update(act, label_transform(y) if label_transform is not None else y)
    return accs


def warn_inferred_limits(path: str, lims: tuple[float, float]) -> None:
    """Warn that a layer's binning limits were inferred from the observed activations."""
    warnings.warn(
        f"layer {path!r} has no bounded activation: its binning limits were inferred from the "
        f"observed activations as ({lims[0]:.4g}, {lims[1]:.4g}); pass limits= to make the bins "
        "comparable across epochs and runs.",
        InfolensWarning,
        stacklevel=3,
    )


def information_plane(
    model: nn.Module,
    data: object,
    layers: Sequence[str | nn.Module] | str | nn.Module | None = None,
    *,
    bins: int = DEFAULT_BINS,
    limits: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    estimator: str = "plugin",
    batch_size: int = 1024,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    r"""The binned information plane (Shwartz-Ziv & Tishby): I(X;T) and I(T;Y) per layer, bits.

    Each unit of layer T is binned into ``bins`` equal-width bins over ``[lo, hi]``; the tuple of
    bins is one discrete variable T̃. With plug-in probabilities over the N samples of ``data``:
    ``I(T;Y) = H(T̃) + H(Y) − H(T̃, Y)`` and ``I(X;T) = H(T̃) − H(T̃|X) = H(T̃)``, because T is a
    deterministic function of the exact input pattern X (so H(T̃|X) = 0, also when the data hold
    duplicate inputs). Hence ``I(X;T) <= log2 N`` and ``I(T;Y) <= H(Y)``.

    Args:
        model: the network; run in ``eval()`` mode under ``torch.inference_mode()`` (its training
            mode is restored afterwards).
        data: ``(X, y)`` tensors (split into ``batch_size`` batches), a Dataset, or an iterable of
            ``(inputs, labels, ...)`` batches. Labels are non-negative integer codes, ``(N,)`` or
            ``(N, k)`` (k columns form one joint label).
        layers: module paths or submodules (default: ``model.measurement_points``).
        bins: equal-width bins per unit (default 30, as in the paper).
        limits: the binning range: ``(lo, hi)`` for every layer, or ``{path: (lo, hi)}``. Where
            not given, a bounded output activation supplies it (tanh (-1, 1), sigmoid (0, 1); a
            block's last activation; a quantized layer's limits); otherwise it is the observed
            ``(min, max)`` over ``data`` (an extra pass), with a warning. Values outside explicit
            limits are counted in the edge bins (``clipped`` column).
        estimator: ``"plugin"`` (default) or ``"miller_madow"``.
        batch_size: batch size when ``data`` is a tensor pair or a Dataset.
        device: where the model runs (default: its parameters' device).

    Returns:
        A tidy ``pandas.DataFrame`` with one row per layer and columns :data:`COLUMNS`:
        ``I_XT``, ``I_TY``, ``H_T``, ``H_Y``, ``H_TY`` (bits), ``estimator``, ``bins``,
        ``limits``, ``samples`` (N), ``n_states`` (distinct T̃), ``n_joint_states`` (distinct
        (T̃, Y)), ``n_units`` (D) and ``clipped``.

    Raises:
        InfolensError: unknown layer path (lists the valid ones), no layers and no
            ``measurement_points``, non-finite activations (naming the layer), bad labels
            (negative, non-integer, mismatched lengths), ``bins < 2``, empty data.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <...>
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> x = torch.randn(200, 3); y = (x[:, 0] > 0).long()
        >>> df = information_plane(net, (x, y), ["1"], bins=30)
        >>> bool(df.I_XT[0] <= math.log2(200)), bool(df.I_TY[0] <= 1.0)
        (True, True)
    """
    check_choice("estimator", estimator, ESTIMATORS)
    bins = check_positive_int("bins", bins, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    paths = resolve_layers(model, layers)
    was_training = model.training
    model.eval()
    try:
        lims: dict[str, tuple[float, float] | None] = {}
        for path in paths:
            given = _resolve_limits(limits, path)
            lims[path] = given if given is not None else activation_limits(model.get_submodule(path))
        missing = [p for p in paths if lims[p] is None]
        if missing:
            seen = observed_limits(model, _batches(data, batch_size), missing, device=device)
            for path in missing:
                warn_inferred_limits(path, seen[path])
                lims[path] = seen[path]
        accs = count_info_plane(model, _batches(data, batch_size), lims, bins=bins, device=device)
    finally:
        model.train(was_training)
    rows = []
    for path in paths:
        if accs[path].n_samples == 0:
            raise InfolensError("the data yielded no samples; pass a non-empty dataset.")
        r = accs[path].result(estimator)
        rows.append({c: getattr(r, c) for c in COLUMNS})
    import pandas as pd

    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = [
    "COLUMNS",
    "DEFAULT_BINS",
    "InfoPlaneCounts",
    "InfoPlanePoint",
    "activation_extremes",
    "activation_limits",
    "count_info_plane",
    "information_plane",
    "label_codes",
    "limits_from_extremes",
    "observed_limits",
    "output_module",
    "resolve_layers",
]
