"""The function measured by the EI family: from ``in_layer``'s input to ``layer``'s output.

Shared by the EI measures; resolves layers, ranges, activations and the structural
dependence support, and draws the interventional noise reproducibly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from infolens._validation import InfolensError, check_finite, check_range
from infolens.estimators.pairwise import support_from_mask
from infolens.nn.topology import (
    Activation,
    LayerInfo,
    Topology,
    activation_from,
    warn_inferred_range,
)

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_STRUCTURED = (*_AFFINE, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


class _Stop(Exception):
    pass


@dataclass
class LayerMap:
    """A measurable map ``x -> y`` with its shapes, ranges, dtype, device and support."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    layer: LayerInfo
    in_layer: LayerInfo
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_range: tuple[float, float]
    out_range: tuple[float, float]
    post: list[Callable]
    dtype: torch.dtype
    device: torch.device
    support: tuple[torch.Tensor, torch.Tensor] | None

    @property
    def n_in(self) -> int:
        return self.in_layer.n_in

    @property
    def n_out(self) -> int:
        return self.layer.n_out

    @property
    def n_pairs(self) -> int:
        return self.n_in * self.n_out if self.support is None else int(self.support[1].numel())

    @property
    def single_module(self) -> bool:
        return self.layer is self.in_layer

    def evaluate(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Evaluate the map on ``x`` (N, *in_shape) in batches; returns (N, n_out)."""
        out = torch.empty((x.shape[0], self.n_out), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                y = self.fn(x[start : start + batch_size])
                out[start : start + batch_size] = y.reshape(y.shape[0], -1)
        check_finite(f"layer {self.layer.path!r}", out)
        return out

    def apply_post(self, pre: torch.Tensor) -> torch.Tensor:
        """Apply the element-wise post operations (BatchNorm, activation) to pre-activations."""
        y = pre.reshape(pre.shape[0], *self.out_shape)
        for op in self.post:
            y = op(y)
        return y.reshape(pre.shape[0], -1)


def _module_device_dtype(module: nn.Module, default_dtype) -> tuple[torch.device, torch.dtype]:
    for p in module.parameters():
        return p.device, p.dtype
    for b in module.buffers():
        return b.device, (b.dtype if b.is_floating_point() else default_dtype)
    return torch.device("cpu"), default_dtype


def build_layer_map(
    topology: Topology,
    layer,
    *,
    in_layer=None,
    in_range=None,
    out_range=None,
    activation=None,
    device=None,
    pilot_generator: torch.Generator | None = None,
    structural_support: bool = True,
    float64_affine: bool = False,
) -> LayerMap:
    """Resolve everything the EI measures need about the map ``in_layer -> layer``."""
    if not isinstance(topology, Topology):
        raise InfolensError(
            "topology must come from infolens.topology_of(model, example_input), "
            f"got {type(topology).__name__}."
        )
    info = topology[layer]
    in_info = topology[in_layer] if in_layer is not None else info
    if in_info.order > info.order:
        raise InfolensError(
            f"layer {info.path!r} runs before in_layer {in_info.path!r}; pass an in_layer that "
            "comes earlier in the forward pass."
        )
    mod_device, dtype = _module_device_dtype(info.module, topology.input_dtype)
    dev = torch.device(device) if device is not None else mod_device
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()

    post = list(info.post)
    if activation is not None:
        act = activation_from(activation)
        post = [p for p in post if not isinstance(p, Activation)] + [act]
        out_act = act
    else:
        out_act = info.out_activation

    if in_info is info:
        module = info.module
        run = _float64_affine(module) if float64_affine else module

        def fn(x: torch.Tensor) -> torch.Tensor:
            y = run(x)
            for op in post:
                y = op(y)
            return y
    else:
        fn = _replay_fn(topology, in_info, info, post)

    lo_hi_in = _resolve_in_range(in_range, in_info)
    lmap = LayerMap(
        fn=fn,
        layer=info,
        in_layer=in_info,
        in_shape=in_info.in_shape,
        out_shape=info.out_shape,
        in_range=lo_hi_in,
        out_range=(0.0, 1.0),
        post=post,
        dtype=dtype,
        device=dev,
        support=None,
    )
    if out_range is not None:
        lmap.out_range = check_range("out_range", out_range)
    elif out_act is not None and out_act.range is not None:
        lmap.out_range = out_act.range
    else:
        lmap.out_range = _infer_out_range(lmap, pilot_generator)
    if structural_support and in_info is info and isinstance(info.module, _STRUCTURED):
        lmap.support = _structural_support(info.module, info.in_shape, dev, dtype)
    return lmap


def _resolve_in_range(in_range, in_info: LayerInfo) -> tuple[float, float]:
    if in_range is not None:
        return check_range("in_range", in_range)
    act = in_info.in_activation
    if act is not None and act.range is not None and not in_info.in_through_batchnorm:
        return act.range
    obs = in_info.observed_in_range
    if obs is None or not obs[0] < obs[1]:
        raise InfolensError(
            f"in_range of layer {in_info.path!r} cannot be inferred (no bounded activation feeds "
            "it and the example input is constant); pass in_range=(low, high), e.g. (0, 1) for "
            "pixel intensities."
        )
    warn_inferred_range(f"in_range of layer {in_info.path!r}", obs)
    return obs


def _infer_out_range(lmap: LayerMap, generator: torch.Generator | None) -> tuple[float, float]:
    gen = generator
    if gen is None:
        gen = torch.Generator(device=lmap.device).manual_seed(0)
    lo, hi = lmap.in_range
    x = torch.rand((4096, *lmap.in_shape), generator=gen, dtype=lmap.dtype, device=lmap.device)
    y = lmap.evaluate(x * (hi - lo) + lo, 1024)
    ymin, ymax = float(y.min()), float(y.max())
    if not ymin < ymax:
        ymin, ymax = ymin - 0.5, ymax + 0.5
    rng = (ymin, ymax)
    warn_inferred_range(f"out_range of layer {lmap.layer.path!r} (no bounded activation)", rng)
    return rng


def _replay_fn(topology: Topology, in_info: LayerInfo, info: LayerInfo, post):
    """Map in_layer's input to layer's output by running the model with in_layer's input
    replaced. Inputs of the graph that bypass ``in_layer`` hold the values produced by an
    all-zero model input."""
    model = topology.model
    base_shape = topology.input_shape[1:]

    def fn(x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []

        def pre(module, args):
            return (x,)

        def hook(module, args, output):
            captured.append(output)
            raise _Stop

        h1 = in_info.module.register_forward_pre_hook(pre)
        h2 = info.module.register_forward_hook(hook)
        try:
            base = torch.zeros((x.shape[0], *base_shape), dtype=topology.input_dtype, device=x.device)
            model(base)
        except _Stop:
            pass
        finally:
            h1.remove()
            h2.remove()
        if not captured:
            raise InfolensError(f"layer {info.path!r} did not run after in_layer {in_info.path!r}.")
        y = captured[0]
        for op in post:
            y = op(y)
        return y

    return fn


def _float64_affine(module: nn.Module):
    """Evaluate Linear/Conv in float64 and round once to the input dtype: outputs that do not
    depend on the BLAS's float32 summation order (other modules run as they are)."""
    if isinstance(module, nn.Linear):
        def run(x):
            b = module.bias.double() if module.bias is not None else None
            return F.linear(x.double(), module.weight.double(), b).to(x.dtype)
        return run
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        def run(x):
            b = module.bias.double() if module.bias is not None else None
            return module._conv_forward(x.double(), module.weight.double(), b).to(x.dtype)
        return run
    return module


def _without_bias(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Linear):
        return F.linear(x, module.weight)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return module._conv_forward(x, module.weight, None)
    return module(x)


def _structural_support(module, in_shape, device, dtype, block: int = 256):
    """Pairs (A, B) such that output B depends on input A through nonzero weights.

    Computed by pushing indicator inputs through the module with absolute weights and no
    bias: exact for Linear, Conv (stride, padding, dilation, groups), average and max
    pooling. Pairs outside the support are exactly independent (their MI is 0)."""
    n_in = 1
    for s in in_shape:
        n_in *= int(s)
    rows = []
    with torch.no_grad():
        for start in range(0, n_in, block):
            stop = min(start + block, n_in)
            eye = torch.zeros((stop - start, n_in), dtype=dtype, device=device)
            eye[torch.arange(stop - start), torch.arange(start, stop)] = 1
            e = eye.reshape(stop - start, *in_shape)
            if isinstance(module, nn.Linear):
                out = F.linear(e, module.weight.abs())
            elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                out = module._conv_forward(e, module.weight.abs(), None)
            else:
                out = module(e)
            rows.append((out.reshape(stop - start, -1) != 0).cpu())
    mask = torch.cat(rows)
    if bool(mask.all()):
        return None
    return support_from_mask(mask)


def affine_response(module: nn.Module, inputs: torch.Tensor, in_shape, dtype, device):
    """Responses ``r_A = f(e_A) - f(0)`` of an affine module to unit inputs ``A`` (no bias),
    and the offset ``f(0)``; shapes (len(inputs), n_out) and (n_out,)."""
    n_in = 1
    for s in in_shape:
        n_in *= int(s)
    with torch.no_grad():
        eye = torch.zeros((inputs.numel(), n_in), dtype=dtype, device=device)
        eye[torch.arange(inputs.numel()), inputs] = 1
        resp = _without_bias(module, eye.reshape(-1, *in_shape)).reshape(inputs.numel(), -1)
        f0 = module(torch.zeros((1, *in_shape), dtype=dtype, device=device)).reshape(-1)
    return resp, f0


# --------------------------------------------------------------------------- exact estimator

_NON_MONOTONE = {"gelu", "silu", "mish", "swish"}
_CLOSED_FORM = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "relu6": "relu6",
                "hardtanh": "hardtanh"}


def exact_scope(lmap: LayerMap) -> str | None:
    """Why the exact estimator does not apply to ``lmap`` (None when it does).

    It applies to one affine module (Linear, Conv, AvgPool), optionally followed by eval-mode
    BatchNorm (folded into the affine map) and one element-wise non-decreasing activation."""
    if not lmap.single_module:
        return (f"the map from {lmap.in_layer.path!r} to {lmap.layer.path!r} is a composite path "
                "(a nonlinearity in between is not covered)")
    module = lmap.layer.module
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return "MaxPool is not an affine map"
    if not isinstance(module, _AFFINE):
        return f"{type(module).__name__} is not one of Linear, Conv, AvgPool"
    ops = list(lmap.post)
    if ops and isinstance(ops[-1], Activation):
        act = ops.pop()
        if act.name.lower() in _NON_MONOTONE:
            return f"the activation {act.name} is not monotone"
    for op in ops:
        bn = isinstance(op, nn.modules.batchnorm._BatchNorm)
        if not bn or op.training or op.running_mean is None:
            return f"{type(op).__name__} after the layer is not an eval-mode BatchNorm"
    return None


def _affine64(module: nn.Module, x: torch.Tensor, bias: bool) -> torch.Tensor:
    if isinstance(module, nn.Linear):
        b = module.bias.double() if (bias and module.bias is not None) else None
        return F.linear(x, module.weight.double(), b)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        b = module.bias.double() if (bias and module.bias is not None) else None
        return module._conv_forward(x, module.weight.double(), b)
    return module(x)


def effective_affine(lmap: LayerMap, block: int = 1024):
    """The affine map to the pre-activation of an in-scope layer, in float64.

    Returns ``(W, b, act)``: ``W`` (n_in, n_out) with ``W[A, B]`` = d pre_B / d x_A, ``b``
    (n_out,) the pre-activation at x = 0 (eval BatchNorm folded in), and the output
    :class:`Activation` (None for the identity)."""
    module = lmap.layer.module
    dev = lmap.device
    n_in = lmap.n_in
    shape = lmap.in_shape
    with torch.no_grad():
        f0 = _affine64(module, torch.zeros((1, *shape), dtype=torch.float64, device=dev), True)
        out_shape = f0.shape[1:]
        rows = []
        for a0 in range(0, n_in, block):
            a1 = min(a0 + block, n_in)
            eye = torch.zeros((a1 - a0, n_in), dtype=torch.float64, device=dev)
            eye[torch.arange(a1 - a0), torch.arange(a0, a1)] = 1
            rows.append(_affine64(module, eye.reshape(-1, *shape), False).reshape(a1 - a0, -1))
        W = torch.cat(rows)
        b = f0.reshape(-1)
        act = None
        for op in lmap.post:
            if isinstance(op, Activation):
                act = op
                continue
            scale = op.weight.double() if op.weight is not None else torch.ones_like(op.running_var.double())
            scale = scale / torch.sqrt(op.running_var.double() + op.eps)
            shift = (op.bias.double() if op.bias is not None else 0.0) - op.running_mean.double() * scale
            per = int(torch.tensor(out_shape[1:]).prod()) if len(out_shape) > 1 else 1
            s_full = scale.repeat_interleave(per)
            W = W * s_full[None, :]
            b = b * s_full + shift.repeat_interleave(per)
    return W, b, act


def output_activation(lmap: LayerMap) -> Activation | None:
    """The output activation among ``lmap.post`` (None for the identity)."""
    acts = [op for op in lmap.post if isinstance(op, Activation)]
    return acts[-1] if acts else None


def activation_inverse_of(act: Activation | None):
    """The generalised inverse ``inv(g, side)`` of an output activation (see
    :mod:`infolens.estimators.exact_ei`): closed forms for identity, sigmoid, tanh, ReLU,
    ReLU6 and hardtanh; bisection for any other non-decreasing map (checked on a grid)."""
    from infolens.estimators.exact_ei import activation_inverse, numeric_inverse

    if act is None:
        return activation_inverse("identity")
    key = act.name.lower()
    if key in _CLOSED_FORM:
        if key == "hardtanh":
            return activation_inverse("hardtanh", clip=act.range or (-1.0, 1.0))
        return activation_inverse(_CLOSED_FORM[key])

    def f64(z):
        try:
            return act(z)
        except RuntimeError:  # a module with float32 parameters: evaluate as the layer does
            dtype = next((p.dtype for p in getattr(act.fn, "parameters", list)()), torch.float32)
            return act(z.to(dtype)).double()

    return numeric_inverse(f64)
