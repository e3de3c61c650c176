"""Drop-in replacement for deep-ei 0.7.0 (``import infolens.compat.deep_ei as deep_ei``).

Same function names, signatures, defaults and semantics as deep-ei 0.7.0, as a
configuration of infolens's engine rather than a second implementation:

- plug-in estimator, no shuffle null, all (input, output) pairs counted;
- pairwise bins over ``[l − 1e-6, u + 1e-6)`` with values outside dropped per pair;
- ``ei_parts`` returns 0.0 below 0.01 bits (in every mode);
- vector EI uses deep-ei's own edges ``⌊(v − l)/(u − l + 1e-4)·bins⌋``: a sample is
  dropped if any index is ``≥ bins``; indices below 0 are kept as extra bins;
- default ranges from the activations: Sigmoid (0, 1), Tanh (−1, 1), ReLU (0, 10),
  anything else (−10, 10);
- noise from torch's global generator, batch by batch, so with ``torch.manual_seed`` the
  numbers equal deep-ei's on the CPU;
- a lone Linear/Conv layer is evaluated in float64 and rounded once to float32, so the
  outputs are the correctly rounded values whatever the BLAS's float32 summation order
  (deep-ei's own numbers move by one sample on a bin edge between BLAS code paths; the
  reference values were recorded on a path that rounds correctly).

``exact=True`` (on ``ei_parts``, ``ei_parts_matrix``, ``sensitivity``, ``sensitivity_matrix``)
returns the value the sampled numbers estimate, computed without sampling from the exact joint
tables with the same bins, δ = 1e-6 and drop semantics (one Linear/Conv/AvgPool layer with a
monotone activation; anything else raises). ``ei_parts`` still returns 0.0 below 0.01 bits.

Differences, all fixes of deep-ei defects: it installs and runs; pairs whose samples are
all out of range give 0 with a warning instead of crashing; forward errors are raised,
not hidden; the adaptive modes stop at ``max_samples``; Conv2d works on its own and
``in_layer=conv, layer=pool`` measures the true receptive fields instead of deep-ei's
one-pixel-too-large patch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from infolens.estimators.binning import bin_codes
from infolens.estimators.entropy import mutual_information_from_joint
from infolens.measures import ei as _ei
from infolens.nn.topology import Topology
from infolens.nn.topology import topology_of as _topology_of

VALID_ACTIVATIONS = {nn.Sigmoid: (0, 1), nn.Tanh: (-1, 1), nn.ReLU: (0, 10), type(None): (-10, 10)}
_DELTA = 1e-6
_CLAMP = 0.01

__all__ = [
    "MI",
    "ei",
    "ei_parts",
    "ei_parts_matrix",
    "eis_between_groups",
    "nats_to_bits",
    "sensitivity",
    "sensitivity_matrix",
    "topology_of",
    "vector_and_pairwise_ei",
]


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits."""
    return nats / math.log(2)


def topology_of(model: nn.Module, input: torch.Tensor) -> Topology:
    """Topology of ``model`` (see :func:`infolens.topology_of`); ``top.nodes`` is deep-ei's view."""
    return _topology_of(model, input)


def MI(x: torch.Tensor, y: torch.Tensor, bins=32, range=((0, 1), (0, 1))) -> float:
    """Plug-in mutual information (bits) of two 1-D series, binned as deep-ei does."""
    if len(x) != len(y):
        raise ValueError("time series are of unequal length")
    bx, by = (bins, bins) if isinstance(bins, int) else bins
    (xl, xu), (yl, yu) = range
    xc, _ = bin_codes(x.reshape(-1), xl, xu, bx, widen=_DELTA)
    yc, _ = bin_codes(y.reshape(-1), yl, yu, by, widen=_DELTA)
    ok = (xc >= 0) & (yc >= 0)
    joint = torch.bincount(xc[ok].long() * by + yc[ok].long(), minlength=bx * by).reshape(bx, by)
    return float(mutual_information_from_joint(joint))


def _act_range(act) -> tuple[float, float]:
    fn = act.fn if act is not None else None
    for cls, rng in VALID_ACTIVATIONS.items():
        if cls is not type(None) and isinstance(fn, cls):
            return rng
    if act is not None and act.source == "function":
        return {"sigmoid": (0, 1), "tanh": (-1, 1), "relu": (0, 10)}.get(act.name, (-10, 10))
    return (-10, 10)


def _defaults(topology, layer, in_layer, in_range, out_range):
    info = topology[layer]
    in_info = topology[in_layer] if in_layer is not None else info
    if in_range is None:
        in_range = _act_range(in_info.in_activation)
    if out_range is None:
        out_range = _act_range(info.out_activation)
    return in_range, out_range


def _exact(measure, lmap, cfg, ib, ob):
    cfg.estimator = "exact"
    return _ei._maybe_exact(measure, lmap, cfg, ib, ob)


def _setup(layer, topology, **kw):
    kw.setdefault("in_layer", None)
    return _ei._setup(
        layer, topology,
        estimator="plugin", seed=None, generator=None, max_memory=kw.pop("max_memory", None),
        progress=False, out_of_range="drop", null=False,
        max_samples=kw.pop("max_samples", _ei.DEFAULT_MAX_SAMPLES),
        widen=_DELTA, vector_binning="deep_ei", structural_support=False,
        range_defaults=_defaults, float64_affine=True, **kw,
    )


def ei_parts(layer, topology, threshold=0.05, samples=None, extrapolate=False, batch_size=20,
             in_layer=None, in_range=None, in_bins=64, out_range=None, out_bins=64,
             activation=None, device="cpu", *, max_memory=None, exact=False) -> float:
    """deep-ei's ``ei_parts``: Σ_{A,B} I(bin(x_A); bin(y_B)) in bits (0.0 below 0.01).

    ``exact=True``: the sampling-free value (see the module docstring)."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size, max_memory=max_memory,
    )
    if exact:
        value = _exact("ei_parts", lmap, cfg, ib, ob).value
        return 0.0 if value < _CLAMP else value
    res = _ei._ei_parts(lmap, cfg, noise, ib, ob, threshold, samples, extrapolate, clamp=_CLAMP)
    return res.value


def ei_parts_matrix(layer, topology, samples=None, batch_size=20, in_layer=None, in_range=None,
                    in_bins=64, out_range=None, out_bins=64, activation=None, device="cpu",
                    *, max_memory=None, exact=False) -> torch.Tensor:
    """deep-ei's ``ei_parts_matrix``: the n×m matrix of pairwise MI in bits (no clamp).

    ``exact=True``: the sampling-free matrix (see the module docstring)."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size, max_memory=max_memory,
    )
    if exact:
        return _exact("ei_parts_matrix", lmap, cfg, ib, ob).matrix
    return _ei._ei_parts_matrix(lmap, cfg, noise, ib, ob, samples).matrix


def sensitivity(layer, topology, samples=500, batch_size=20, in_layer=None, in_range=None,
                in_bins=64, out_range=None, out_bins=64, activation=None, device="cpu", *,
                exact=False) -> float:
    """deep-ei's ``sensitivity``: Σ_{A,B} I(bin(x_A); bin(y_B)), only A noised, in bits.

    ``exact=True``: the sampling-free value (see the module docstring)."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size,
    )
    if exact:
        return _exact("sensitivity", lmap, cfg, ib, ob).value
    mi, _, _, _ = _ei._sensitivity_counts(lmap, cfg, noise, ib, ob, samples)
    return float(mi.sum())


def sensitivity_matrix(layer, topology, samples=500, batch_size=20, in_layer=None,
                       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                       device="cpu", *, exact=False) -> torch.Tensor:
    """deep-ei's ``sensitivity_matrix``: the n×m matrix of sensitivity terms in bits.

    ``exact=True``: the sampling-free matrix (see the module docstring)."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size,
    )
    if exact:
        return _exact("sensitivity_matrix", lmap, cfg, ib, ob).matrix
    mi, _, _, to_matrix = _ei._sensitivity_counts(lmap, cfg, noise, ib, ob, samples)
    return to_matrix(mi)


def ei(layer, topology, threshold=0.05, samples=None, batch_size=20, in_layer=None,
       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None, device="cpu") -> float:
    """deep-ei's vector ``ei``: I(bin(x); bin(y)) of whole vectors, in bits."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size,
    )
    return _ei._vector_ei(lmap, cfg, noise, ib, ob, threshold, samples).value


def eis_between_groups(layer, topology, groups, samples=None, batch_size=20, in_layer=None,
                       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                       device="cpu") -> list[float]:
    """deep-ei's ``eis_between_groups``: vector EI per (inputs, outputs) group, in bits."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size,
    )
    return [r.value for r in _ei._eis_between_groups(lmap, cfg, noise, ib, ob, groups, samples)]


def vector_and_pairwise_ei(layer, topology, samples=None, batch_size=20, in_layer=None,
                           in_range=None, in_bins=64, out_range=None, out_bins=64,
                           activation=None, device="cpu") -> tuple[float, float]:
    """deep-ei's ``vector_and_pairwise_ei``: (vector EI, EI_parts) from the same samples."""
    lmap, cfg, noise, ib, ob = _setup(
        layer, topology, in_layer=in_layer, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, activation=activation, device=device,
        batch_size=batch_size,
    )
    v, p = _ei._vector_and_pairwise(lmap, cfg, noise, ib, ob, samples)
    return v.value, p.value
