"""Model topology: which modules run, their shapes, and the activations around them.

:func:`topology_of` runs one forward pass with hooks on every module and a
``TorchFunctionMode`` that sees functional calls, so it works for any ``nn.Module``:

- modules are matched with ``isinstance`` (subclasses count);
- activations are found whether they are modules (``nn.Sigmoid()``) or functional calls
  (``torch.sigmoid(x)``, ``F.relu(x)``), or declared by the user;
- Flatten, Unflatten, Identity, Dropout (any), eval-mode BatchNorm and functional
  reshapes (``view``, ``reshape``, ``flatten``) are transparent: the activation is found
  through them;
- any module whose input and output are single tensors is a measurable layer, so blocks
  of residual networks can be measured as a whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from infolens._validation import InfolensError
from infolens.nn.paths import module_path, resolve_module

Range = tuple[float, float]

# Bounded activations and their output ranges; unbounded ones map to None (the range must
# then be given or is inferred from observed values, with a warning).
_MODULE_ACTIVATIONS: tuple[tuple[type[nn.Module], Callable[[nn.Module], Range | None]], ...] = (
    (nn.Sigmoid, lambda m: (0.0, 1.0)),
    (nn.Tanh, lambda m: (-1.0, 1.0)),
    (nn.Hardtanh, lambda m: (float(m.min_val), float(m.max_val))),  # includes ReLU6
    (nn.Softsign, lambda m: (-1.0, 1.0)),
    (nn.Hardsigmoid, lambda m: (0.0, 1.0)),
    (nn.ReLU, lambda m: None),
    (nn.LeakyReLU, lambda m: None),
    (nn.ELU, lambda m: None),
    (nn.GELU, lambda m: None),
    (nn.SiLU, lambda m: None),
    (nn.Softplus, lambda m: None),
    (nn.Mish, lambda m: None),
    (nn.PReLU, lambda m: None),
)


def _hardtanh_range(args: tuple, kwargs: dict) -> Range:
    lo = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
    hi = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
    return float(lo), float(hi)


_FUNCTION_ACTIVATIONS: dict[Callable, tuple[str, Callable[[tuple, dict], Range | None]]] = {
    torch.sigmoid: ("sigmoid", lambda a, k: (0.0, 1.0)),
    torch.Tensor.sigmoid: ("sigmoid", lambda a, k: (0.0, 1.0)),
    F.sigmoid: ("sigmoid", lambda a, k: (0.0, 1.0)),
    torch.tanh: ("tanh", lambda a, k: (-1.0, 1.0)),
    torch.Tensor.tanh: ("tanh", lambda a, k: (-1.0, 1.0)),
    F.tanh: ("tanh", lambda a, k: (-1.0, 1.0)),
    F.hardtanh: ("hardtanh", _hardtanh_range),
    F.relu6: ("relu6", lambda a, k: (0.0, 6.0)),
    F.softsign: ("softsign", lambda a, k: (-1.0, 1.0)),
    F.hardsigmoid: ("hardsigmoid", lambda a, k: (0.0, 1.0)),
    torch.relu: ("relu", lambda a, k: None),
    torch.Tensor.relu: ("relu", lambda a, k: None),
    F.relu: ("relu", lambda a, k: None),
    F.leaky_relu: ("leaky_relu", lambda a, k: None),
    F.elu: ("elu", lambda a, k: None),
    F.gelu: ("gelu", lambda a, k: None),
    F.silu: ("silu", lambda a, k: None),
    F.softplus: ("softplus", lambda a, k: None),
}

_TRANSPARENT_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.modules.dropout._DropoutNd)
_TRANSPARENT_FUNCTIONS = {
    torch.flatten, torch.Tensor.flatten, torch.Tensor.view, torch.Tensor.reshape,
    torch.reshape, torch.Tensor.contiguous, F.dropout,
}


@dataclass
class Activation:
    """An element-wise activation: its name, how to apply it, and its output range.

    ``range`` is None for unbounded activations (ReLU, GELU, ...).
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    range: Range | None
    source: str  # "module", "function" or "declared"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def activation_from(obj: nn.Module | Callable | None, *, source: str = "declared") -> Activation | None:
    """Wrap a module or callable as an :class:`Activation` (None stays None)."""
    if obj is None or isinstance(obj, Activation):
        return obj
    if isinstance(obj, nn.Module):
        for cls, rng in _MODULE_ACTIVATIONS:
            if isinstance(obj, cls):
                return Activation(type(obj).__name__, obj, rng(obj), source)
        return Activation(type(obj).__name__, obj, None, source)
    if obj in _FUNCTION_ACTIVATIONS:
        name, rng = _FUNCTION_ACTIVATIONS[obj]
        return Activation(name, obj, rng((), {}), source)
    if callable(obj):
        return Activation(getattr(obj, "__name__", "callable"), obj, None, source)
    raise InfolensError(f"activation must be an nn.Module or a callable, got {type(obj).__name__}.")


def _module_activation(module: nn.Module) -> Activation | None:
    for cls, rng in _MODULE_ACTIVATIONS:
        if isinstance(module, cls):
            return Activation(type(module).__name__, module, rng(module), "module")
    return None


def _is_transparent_module(module: nn.Module) -> bool:
    if isinstance(module, _TRANSPARENT_MODULES):
        return True
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and not module.training


@dataclass
class _Event:
    kind: str  # "module" or "function"
    obj: object
    inputs: tuple
    output: object
    leaf: bool
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class LayerInfo:
    """What the forward pass showed about one module.

    Shapes exclude the batch dimension. ``in_activation`` is the activation whose output
    feeds this module (looking through transparent modules); ``post`` are the element-wise
    operations applied to its output up to and including its ``out_activation`` (eval-mode
    BatchNorm, then the activation). ``observed_in_range`` is the min/max of the input seen
    in the topology pass.
    """

    path: str
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    order: int
    in_activation: Activation | None = None
    out_activation: Activation | None = None
    post: list[Callable] = field(default_factory=list)
    in_through_batchnorm: bool = False
    observed_in_range: Range | None = None

    @property
    def kind(self) -> str:
        """The module's class name."""
        return type(self.module).__name__

    @property
    def n_in(self) -> int:
        """Number of input neurons."""
        return _numel(self.in_shape)

    @property
    def n_out(self) -> int:
        """Number of output neurons."""
        return _numel(self.out_shape)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


class _Recorder(TorchFunctionMode):
    def __init__(self, events: list[_Event], blocked: list[int]) -> None:
        super().__init__()
        self.events = events
        self.blocked = blocked

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.blocked[0] and (func in _FUNCTION_ACTIVATIONS or func in _TRANSPARENT_FUNCTIONS):
            if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                self.events.append(_Event("function", func, (args[0],), out, True, args, kwargs))
        return out


class Topology:
    """The measurable layers of a model, in forward order, with shapes and activations.

    Index it with a module or a module path: ``top["features.3"]`` returns a
    :class:`LayerInfo`. ``top.nodes`` gives deep-ei's dictionary view.
    """

    def __init__(self, model: nn.Module, layers: dict[str, LayerInfo], input_shape, input_dtype):
        self.model = model
        self.layers = layers
        self.input_shape = tuple(input_shape)
        self.input_dtype = input_dtype

    def __getitem__(self, layer: nn.Module | str) -> LayerInfo:
        module = resolve_module(self.model, layer)
        path = module_path(self.model, module)
        if path not in self.layers:
            raise InfolensError(
                f"layer {path!r} ({type(module).__name__}) did not run as a single-tensor module "
                "in the topology pass; measurable layers: "
                + ", ".join(repr(p) for p in self.layers)
            )
        return self.layers[path]

    def __contains__(self, layer: object) -> bool:
        try:
            self[layer]  # type: ignore[index]
        except InfolensError:
            return False
        return True

    def __iter__(self):
        return iter(self.layers.values())

    def measurable(self, kinds: tuple[type[nn.Module], ...] | None = None) -> list[LayerInfo]:
        """Layers in forward order, optionally only those that are instances of ``kinds``."""
        infos = sorted(self.layers.values(), key=lambda i: i.order)
        if kinds is not None:
            infos = [i for i in infos if isinstance(i.module, kinds)]
        return infos

    @property
    def nodes(self) -> dict[nn.Module, dict]:
        """deep-ei's node view: ``{module: {"input": {...}, "output": {...}}}``."""
        out = {}
        for info in self.measurable():
            out[info.module] = {
                "input": {
                    "activation": info.in_activation.fn if info.in_activation else None,
                    "shape": (1, *info.in_shape),
                },
                "output": {
                    "activation": info.out_activation.fn if info.out_activation else None,
                    "shape": (1, *info.out_shape),
                },
            }
        return out


def topology_of(
    model: nn.Module,
    input: torch.Tensor,
    *,
    activations: Mapping[str, nn.Module | Callable] | None = None,
) -> Topology:
    """Run ``model(input)`` once with hooks and return its :class:`Topology`.

    ``activations`` declares output activations by module path (e.g. for activations hidden
    in custom code): ``{"fc1": nn.ReLU()}``. Measurable layers are all modules whose
    forward takes one tensor and returns one tensor, except activations and transparent
    modules themselves. The model keeps its train/eval mode; use ``model.eval()`` first so
    that BatchNorm is transparent and Dropout inert.
    """
    if not isinstance(model, nn.Module):
        raise InfolensError(f"model must be an nn.Module, got {type(model).__name__}.")
    if not isinstance(input, torch.Tensor):
        raise InfolensError("input must be a tensor with a batch dimension, e.g. torch.zeros(1, 784).")
    events: list[_Event] = []
    blocked = [0]
    starts: dict[int, int] = {}
    counter = [0]
    handles = []
    names = {id(m): n for n, m in model.named_modules()}

    def pre_hook(module, args):
        starts.setdefault(id(module), counter[0])
        counter[0] += 1
        if _module_activation(module) is not None or _is_transparent_module(module):
            blocked[0] += 1

    def post_hook(module, args, output):
        if _module_activation(module) is not None or _is_transparent_module(module):
            blocked[0] -= 1
        leaf = len(list(module.children())) == 0
        events.append(_Event("module", module, tuple(args), output, leaf))

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    try:
        with torch.no_grad(), _Recorder(events, blocked):
            model(input)
    except Exception as exc:
        raise InfolensError(
            f"the model failed on the example input of shape {tuple(input.shape)}: {exc}. "
            "Pass an input the model accepts, with a batch dimension."
        ) from exc
    finally:
        for h in handles:
            h.remove()

    declared = {k: activation_from(v) for k, v in (activations or {}).items()}
    layers: dict[str, LayerInfo] = {}
    for idx, ev in enumerate(events):
        if ev.kind != "module":
            continue
        module = ev.obj
        path = names.get(id(module))
        if path is None or path in layers:
            continue  # not ours, or a second call of a shared module: keep the first
        if _module_activation(module) is not None or _is_transparent_module(module):
            continue
        if len(ev.inputs) != 1 or not isinstance(ev.inputs[0], torch.Tensor):
            continue
        if not isinstance(ev.output, torch.Tensor):
            continue
        x_in, y_out = ev.inputs[0], ev.output
        info = LayerInfo(
            path=path,
            module=module,
            in_shape=tuple(x_in.shape[1:]),
            out_shape=tuple(y_out.shape[1:]),
            order=starts.get(id(module), idx),
        )
        if x_in.is_floating_point() and x_in.numel():
            info.observed_in_range = (float(x_in.min()), float(x_in.max()))
        info.in_activation, info.in_through_batchnorm = _activation_before(events, idx, x_in)
        info.out_activation, info.post = _activation_after(events, idx, y_out)
        if path in declared:
            info.out_activation = declared[path]
            info.post = [declared[path]]
        layers[path] = info
    for path in declared:
        if path not in layers:
            raise InfolensError(
                f"activations declares {path!r}, which is not a measurable layer; choose from "
                + ", ".join(repr(p) for p in layers)
            )
    return Topology(model, layers, input.shape, input.dtype)


def _activation_of_event(ev: _Event) -> Activation | None:
    if ev.kind == "module":
        return _module_activation(ev.obj)
    if ev.obj in _FUNCTION_ACTIVATIONS:
        name, rng = _FUNCTION_ACTIVATIONS[ev.obj]
        func, extra, kwargs = ev.obj, ev.args[1:], dict(ev.kwargs)
        kwargs.pop("inplace", None)
        return Activation(name, lambda x: func(x, *extra, **kwargs), rng(ev.args, ev.kwargs), "function")
    return None


def _is_transparent_event(ev: _Event) -> bool:
    if ev.kind == "module":
        return _is_transparent_module(ev.obj)
    return ev.obj in _TRANSPARENT_FUNCTIONS


def _activation_before(events: list[_Event], idx: int, tensor) -> tuple[Activation | None, bool]:
    through_bn = False
    j = idx - 1
    while j >= 0:
        ev = events[j]
        if ev.leaf and ev.output is tensor:
            act = _activation_of_event(ev)
            if act is not None:
                return act, through_bn
            if not _is_transparent_event(ev) or not ev.inputs:
                return None, through_bn
            if ev.kind == "module" and isinstance(ev.obj, nn.modules.batchnorm._BatchNorm):
                through_bn = True
            tensor = ev.inputs[0]
        j -= 1
    return None, through_bn


def _activation_after(events: list[_Event], idx: int, tensor) -> tuple[Activation | None, list]:
    post: list[Callable] = []
    j = idx + 1
    while j < len(events):
        ev = events[j]
        if ev.leaf and any(t is tensor for t in ev.inputs):
            act = _activation_of_event(ev)
            if act is not None:
                post.append(act)
                return act, post
            if not _is_transparent_event(ev):
                return None, post
            if ev.kind == "module" and isinstance(ev.obj, nn.modules.batchnorm._BatchNorm):
                post.append(ev.obj)
            tensor = ev.output
        j += 1
    return None, post


def warn_inferred_range(what: str, rng: Range) -> None:
    """Warn that a range was inferred from observed activations rather than given."""
    warnings.warn(
        f"{what} was inferred from observed activations as ({rng[0]:.4g}, {rng[1]:.4g}); "
        "pass it explicitly to make results comparable across runs.",
        stacklevel=3,
    )
