"""Quantizing a layer's activations to L equidistant levels (nninfo's quantized neurons).

Definitions (spec pid §7). For limits ``(lo, hi)`` and ``L >= 2`` levels the grid is

    q_k = lo + k * step,   step = (hi - lo) / (L - 1),   k = 0..L-1   (endpoints included),

e.g. tanh with 8 levels: -1, -5/7, -3/7, -1/7, 1/7, 3/7, 5/7, 1. With ``u = (a - lo) / step``:

* **nearest** (measurement): ``k = round(u)`` (ties to even, as ``torch.round``); the two outer
  bins are half as wide as the inner ones.
* **stochastic** (training): ``k = floor(u) + [xi < frac(u)]`` with ``xi ~ U[0, 1)`` from a seeded
  ``torch.Generator``, so ``E[q(a)] = a`` (unbiased rounding).

Values are first clamped to ``[lo, hi]``. The gradient is straight-through: ``dq/da = 1`` for
``lo <= a <= hi`` and 0 outside (the gradient of the clamp); the activation's own derivative is
taken at its unquantized value. The PID symbol of a neuron is its level index k
(:func:`level_codes`).

``quantize(model, {"2": QuantSpec(levels=8)})`` replaces the module at path ``"2"`` by a
:class:`QuantizedLayer` that runs the original module and then a :class:`Quantizer`, so the layer
keeps its path, hooks on it see the quantized output, and downstream layers get quantized inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from infolens._validation import InfolensError, check_choice, check_range

#: Limits of the bounded activations whose range is known (used when ``limits`` is omitted).
KNOWN_LIMITS: dict[type, tuple[float, float]] = {
    nn.Tanh: (-1.0, 1.0),
    nn.Sigmoid: (0.0, 1.0),
    nn.Softmax: (0.0, 1.0),
}

#: Unbounded activations: equidistant levels over fixed limits do not apply.
UNBOUNDED = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.PReLU, nn.Identity)

MODES = ("auto", "nearest", "stochastic")

#: Values may exceed the limits by this fraction of a step (float rounding) before it is an error.
LIMIT_SLACK = 1e-4


def _check_levels(levels: object) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise InfolensError(
            f"levels must be an integer >= 2 (the number of quantization levels L), got "
            f"{levels!r}; nninfo uses levels=8 (or 4)."
        )
    return int(levels)


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize one layer: ``levels`` equidistant values over ``limits``.

    Attributes:
        levels: L >= 2, the number of levels (endpoints included).
        limits: ``(lo, hi)`` with ``lo < hi``; ``None`` infers them from the layer when it is a
            bounded activation (tanh, hardtanh: (-1, 1) or its min/max; sigmoid, softmax: (0, 1)).
    """

    levels: int = 8
    limits: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", _check_levels(self.levels))
        if self.limits is not None:
            object.__setattr__(self, "limits", check_range("limits", self.limits))


def infer_limits(module: nn.Module, path: str = "layer") -> tuple[float, float]:
    """The output range ``(lo, hi)`` of a bounded activation module.

    Raises ``InfolensError`` for unbounded activations (ReLU, ...) and for other modules, asking
    for explicit ``limits``.
    """
    if isinstance(module, nn.Hardtanh):  # also ReLU6 (0, 6)
        return float(module.min_val), float(module.max_val)
    for kind, limits in KNOWN_LIMITS.items():
        if isinstance(module, kind):
            return limits
    if isinstance(module, UNBOUNDED):
        raise InfolensError(
            f"layer {path!r} is {type(module).__name__}, whose output is unbounded: it cannot be "
            "quantized to equidistant levels over fixed limits. Quantize a bounded activation "
            "(tanh, sigmoid, hardtanh) or pass explicit limits=(lo, hi) if you know the range."
        )
    raise InfolensError(
        f"cannot infer the activation limits of layer {path!r} ({type(module).__name__}); pass "
        "limits=(lo, hi), e.g. (-1, 1) for tanh or (0, 1) for sigmoid."
    )


def _check_inside(x: torch.Tensor, lo: float, hi: float, step: float, name: str) -> None:
    slack = LIMIT_SLACK * step
    if x.numel() and bool(((x < lo - slack) | (x > hi + slack) | torch.isnan(x)).any()):
        finite = x[torch.isfinite(x)]
        span = (
            f"[{float(finite.min()):.4g}, {float(finite.max()):.4g}]" if finite.numel() else "NaN/inf"
        )
        raise InfolensError(
            f"{name}: activations span {span}, outside the quantization limits ({lo}, {hi}). "
            "Quantize a bounded activation whose range matches the limits (tanh: (-1, 1), "
            "sigmoid: (0, 1)); unbounded activations such as ReLU cannot be quantized this way."
        )


def level_codes(
    x: torch.Tensor, levels: int, limits: tuple[float, float], *, name: str = "activations"
) -> torch.Tensor:
    """Nearest-level index ``k = round((a - lo) / step)`` in ``0..L-1`` of every value (int64).

    ``step = (hi - lo) / (L - 1)``; ties go to the even index (``torch.round``). For values that
    are already quantized this recovers their level index exactly. Values outside ``limits`` (by
    more than ``LIMIT_SLACK`` of a step) and NaN raise ``InfolensError`` naming ``name``.
    """
    levels = _check_levels(levels)
    lo, hi = check_range("limits", limits)
    step = (hi - lo) / (levels - 1)
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.double()
    _check_inside(x, lo, hi, step, name)
    u = (x.to(torch.float64) - lo) / step
    return torch.round(u).clamp_(0, levels - 1).to(torch.int64)


class _StochasticRound(torch.autograd.Function):
    """Round ``u`` up with probability ``frac(u)``; straight-through gradient."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        low = torch.floor(u)
        return low + (noise < (u - low)).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


class _NearestRound(torch.autograd.Function):
    """``torch.round`` (ties to even) with a straight-through gradient."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.round(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad


class Quantizer(nn.Module):
    """Quantize values to ``levels`` equidistant levels over ``limits`` (see the module docs).

    ``q = lo + step * k`` with ``step = (hi - lo) / (L - 1)`` and ``k`` the nearest level index
    (measurement) or a stochastic rounding of ``u = (clamp(a) - lo) / step`` (training;
    ``E[q] = clamp(a)``). Gradient: straight-through, ``dq/da = 1`` inside ``[lo, hi]``, 0
    outside.

    Args:
        levels: L >= 2.
        limits: ``(lo, hi)``, ``lo < hi``.
        mode: ``"auto"`` (stochastic in ``train()`` mode, nearest in ``eval()`` mode),
            ``"nearest"`` or ``"stochastic"`` (always).
        seed: seed of the ``torch.Generator`` used for stochastic rounding (one generator per
            device, created on first use); ``None`` draws from torch's global generator.
        check_limits: raise when inputs leave the limits (by more than ``LIMIT_SLACK`` of a
            step); ``False`` clamps silently.

    Example:
        >>> q = Quantizer(levels=8, limits=(-1, 1)).eval()
        >>> q(torch.tensor([-1.0, 0.1, 0.2, 1.0]))
        tensor([-1.0000,  0.1429,  0.1429,  1.0000])
    """

    def __init__(
        self,
        levels: int = 8,
        limits: tuple[float, float] = (-1.0, 1.0),
        *,
        mode: str = "auto",
        seed: int | None = None,
        check_limits: bool = True,
    ) -> None:
        super().__init__()
        self.levels = _check_levels(levels)
        self.limits = check_range("limits", limits)
        self.mode = check_choice("mode", mode, MODES)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise InfolensError(f"seed must be an integer or None, got {seed!r}.")
        self.seed = None if seed is None else int(seed)
        self.check_limits = bool(check_limits)
        self._generators: dict[str, torch.Generator] = {}

    @property
    def step(self) -> float:
        """Distance between adjacent levels, ``(hi - lo) / (L - 1)``."""
        lo, hi = self.limits
        return (hi - lo) / (self.levels - 1)

    @property
    def grid(self) -> torch.Tensor:
        """The L levels ``q_k = lo + k * step`` (float64)."""
        lo, _ = self.limits
        return lo + self.step * torch.arange(self.levels, dtype=torch.float64)

    @property
    def stochastic(self) -> bool:
        """Whether the next forward pass rounds stochastically."""
        return self.mode == "stochastic" or (self.mode == "auto" and self.training)

    def reset_generator(self) -> None:
        """Restart the stochastic rounding stream from ``seed``."""
        self._generators.clear()

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        if self.seed is None:
            return torch.rand(like.shape, dtype=like.dtype, device=like.device)
        key = str(like.device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=like.device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return torch.rand(like.shape, dtype=like.dtype, device=like.device, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantized values (same shape and dtype as ``x``)."""
        lo, hi = self.limits
        step = self.step
        if self.check_limits:
            _check_inside(x.detach(), lo, hi, step, "Quantizer input")
        u = (x.clamp(lo, hi) - lo) / step  # clamp: gradient 1 inside the limits, 0 outside
        if self.stochastic:
            k = _StochasticRound.apply(u, self._noise(u.detach()))
        else:
            k = _NearestRound.apply(u)
        return lo + step * k.clamp(0, self.levels - 1)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest level indices ``0..L-1`` of ``x`` (int64); see :func:`level_codes`."""
        return level_codes(x, self.levels, self.limits, name="Quantizer input")

    def extra_repr(self) -> str:
        return f"levels={self.levels}, limits={self.limits}, mode={self.mode!r}, seed={self.seed}"


class QuantizedLayer(nn.Module):
    """``quantizer(module(x))``: a layer whose output is quantized, under the layer's own path.

    ``module`` is the original layer (e.g. ``nn.Tanh()``), ``quantizer`` a :class:`Quantizer`.
    """

    def __init__(self, module: nn.Module, quantizer: Quantizer) -> None:
        super().__init__()
        self.module = module
        self.quantizer = quantizer

    def forward(self, *args, **kwargs):
        """The wrapped module's output, quantized."""
        return self.quantizer(self.module(*args, **kwargs))

    @property
    def levels(self) -> int:
        """Number of levels L."""
        return self.quantizer.levels

    @property
    def limits(self) -> tuple[float, float]:
        """Quantization limits ``(lo, hi)``."""
        return self.quantizer.limits


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, module)


def _layer_seeds(seed: int | None, count: int) -> list[int | None]:
    if seed is None:
        return [None] * count
    states = np.random.SeedSequence(int(seed)).spawn(count)
    return [int(s.generate_state(1, dtype=np.uint64)[0] % 2**63) for s in states]


def quantize(
    model: nn.Module,
    layers: Mapping[str, QuantSpec | int] | Mapping[str, QuantSpec],
    *,
    mode: str = "auto",
    seed: int | None = None,
    inplace: bool = True,
    check_limits: bool = True,
) -> nn.Module:
    """Quantize the outputs of chosen layers of ``model``, addressed by module path.

    Each ``layers`` entry maps a dotted module path (``"2"``, ``"features.3"``) to a
    :class:`QuantSpec` (or just an int L, with limits inferred from the layer). The module at
    that path is replaced by a :class:`QuantizedLayer` (``quantizer(module(x))``), so it keeps its
    path and downstream layers see quantized values, in training (stochastic rounding,
    straight-through gradient) and in measurement (``eval()``: nearest level).

    Args:
        model: the network.
        layers: ``{path: QuantSpec(levels, limits) | levels}``.
        mode: rounding mode of every quantizer (see :class:`Quantizer`).
        seed: seeds the layers' stochastic rounding (independent streams per layer, derived
            with ``numpy.random.SeedSequence``); ``None``: torch's global generator.
        inplace: modify ``model`` (default) or a deep copy of it.
        check_limits: see :class:`Quantizer`.

    Returns:
        The model with the chosen layers quantized (``model`` itself when ``inplace``).

    Raises:
        InfolensError: unknown path (the message lists the valid ones), a path that is already
            quantized, levels < 2, bad or uninferable limits (e.g. a ReLU layer).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> net = quantize(net, {"1": QuantSpec(levels=8, limits=(-1, 1))}, seed=0)
        >>> type(net[1]).__name__
        'QuantizedLayer'
    """
    if not isinstance(layers, Mapping) or not layers:
        raise InfolensError(
            "layers must be a nonempty mapping {module path: QuantSpec}, e.g. "
            "{'2': QuantSpec(levels=8, limits=(-1, 1))}."
        )
    mode = check_choice("mode", mode, MODES)
    if not inplace:
        model = copy.deepcopy(model)
    modules = dict(model.named_modules())
    valid = [name for name in modules if name]
    plans = []
    for path, spec in layers.items():
        if not isinstance(path, str) or path not in modules or path == "":
            shown = ", ".join(repr(v) for v in valid[:30]) + (" ..." if len(valid) > 30 else "")
            raise InfolensError(
                f"layers: {path!r} is not a module path of the model; valid paths: {shown}."
            )
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            spec = QuantSpec(levels=int(spec))
        if not isinstance(spec, QuantSpec):
            raise InfolensError(
                f"layers[{path!r}] must be a QuantSpec(levels, limits) or an int number of "
                f"levels, got {type(spec).__name__}."
            )
        module = modules[path]
        if isinstance(module, QuantizedLayer):
            raise InfolensError(f"layer {path!r} is already quantized; quantize each layer once.")
        limits = spec.limits if spec.limits is not None else infer_limits(module, path)
        plans.append((path, module, spec.levels, limits))
    for (path, module, levels, limits), layer_seed in zip(plans, _layer_seeds(seed, len(plans))):
        quantizer = Quantizer(
            levels, limits, mode=mode, seed=layer_seed, check_limits=check_limits
        )
        _set_submodule(model, path, QuantizedLayer(module, quantizer))
    return model


def quantized_layers(model: nn.Module) -> dict[str, QuantizedLayer]:
    """``{path: QuantizedLayer}`` for every quantized layer of ``model``."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QuantizedLayer)}


__all__ = [
    "QuantSpec",
    "QuantizedLayer",
    "Quantizer",
    "infer_limits",
    "level_codes",
    "quantize",
    "quantized_layers",
]
