"""Fully connected zoo models: the thesis MLP, nninfo's quantized tanh MLP, deep-ei's bias-free nets.

* :class:`MLP` — Flatten → [Linear → NL] per width → Linear (spec geometry §4; Shwartz-Ziv &
  Tishby's 10-7-5-4-3 by default).
* :class:`NNInfoMLP` — nninfo's networks (spec pid §7–8): Linear → tanh → 8-level quantizer per
  hidden layer, Xavier-uniform weights with gain 5/3 and PyTorch-default biases.
* :class:`DeepEIMLP` — deep-ei's networks (spec datasets §2, §3.7): no biases, weights
  U(±1/√fan_in), an activation after every layer including the output.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from infolens._validation import InfolensError, check_choice
from infolens.models.base import (
    ZooModel,
    canonical_activation,
    check_bool,
    check_int,
    check_shape,
    check_widths,
    make_activation,
)
from infolens.nn.quantization import QuantSpec, infer_limits
from infolens.nn.quantization import quantize as quantize_layers

__all__ = ["MLP", "BinaryLogits", "DeepEIMLP", "NNInfoMLP"]


def _dense_blocks(
    in_features: int, widths: Sequence[int], activations: Sequence[str], *, bias: bool = True
) -> OrderedDict[str, nn.Module]:
    """``layer_k = Sequential([Flatten,] Linear(prev→w_k), NL_k)``; Flatten only in layer_1."""
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    prev = in_features
    for k, (width, act) in enumerate(zip(widths, activations), start=1):
        parts = [nn.Flatten()] if k == 1 else []
        parts += [nn.Linear(prev, width, bias=bias), make_activation(act)]
        blocks[f"layer_{k}"] = nn.Sequential(*parts)
        prev = width
    return blocks


class MLP(ZooModel):
    """The thesis MLP: Flatten → [Linear(prev→w) → NL] per width → Linear(last→C), with biases.

    Measurement points ``layer_1`` … ``layer_K`` are the outputs of the nonlinearities; the last
    hidden layer is the penultimate feature, so there is no ``output`` block. PyTorch-default
    initialisation.

    Args:
        input_shape: one sample's shape, e.g. ``(12,)`` or ``(1, 28, 28)`` (flattened).
        num_classes: C, the number of logits of the head.
        widths: hidden widths; default 10-7-5-4-3 (Shwartz-Ziv & Tishby).
        nonlinearity: a torch.nn activation class name (case-insensitive), instantiated without
            arguments: ``"ReLU"`` (default), ``"Tanh"`` for the original SZT setup, ...

    Example:
        >>> net = MLP((12,), 2, widths=(10, 7, 5, 4, 3), nonlinearity="Tanh")
        >>> net.measurement_points
        ['layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
    """

    name = "MLP"

    def __init__(
        self,
        input_shape: Sequence[int] | int,
        num_classes: int,
        *,
        widths: Sequence[int] = (10, 7, 5, 4, 3),
        nonlinearity: str = "ReLU",
    ) -> None:
        input_shape = check_shape("input_shape", input_shape, example="(12,)")
        num_classes = check_int("num_classes", num_classes)
        widths = check_widths("widths", widths)
        nonlinearity = canonical_activation(nonlinearity)
        blocks = _dense_blocks(math.prod(input_shape), widths, [nonlinearity] * len(widths))
        blocks["head"] = nn.Linear(widths[-1], num_classes)
        super().__init__(
            blocks,
            input_shape=input_shape,
            num_classes=num_classes,
            kwargs={"widths": widths, "nonlinearity": nonlinearity},
        )


class BinaryLogits(nn.Module):
    """Turn one logit ``z`` (N, 1) into two-class logits ``[0, z]`` (N, 2).

    ``softmax([0, z])[1] = sigmoid(z)`` and ``cross_entropy([0, z], y) =
    binary_cross_entropy_with_logits(z, y)`` exactly, so a network with one sigmoid output
    trained by BCE (nninfo's Tishby demo) is the same network trained by cross-entropy on these
    logits, and class-logit tools (accuracy by argmax, decodable information) apply unchanged.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``cat([zeros_like(z), z], dim=-1)``."""
        return torch.cat([torch.zeros_like(z), z], dim=-1)


#: Output kinds of :class:`NNInfoMLP`.
NNINFO_OUTPUTS = ("softmax", "sigmoid", "binary_code")


class NNInfoMLP(ZooModel):
    """nninfo's MLP: quantized tanh hidden layers, Xavier-uniform (gain 5/3) weights.

    Each hidden block ``layer_k`` is Linear → tanh → quantizer: with ``quantize=True`` the block
    is an :class:`infolens.nn.quantization.QuantizedLayer` wrapping ``Sequential([Flatten,]
    Linear, Tanh)`` and a :class:`~infolens.nn.quantization.Quantizer` with ``levels`` levels
    over the activation's limits ((-1, 1) for tanh). The quantizer rounds stochastically in
    ``train()`` mode (seeded, straight-through gradient) and to the nearest level in ``eval()``
    mode, so downstream layers see quantized values; because ``layer_k`` itself is the
    ``QuantizedLayer``, :func:`infolens.representational_complexity` on ``"layer_k"`` reads its
    levels and limits. The input and the output are not quantized. Every Linear weight
    (hidden and head) is Xavier-uniform with gain ``gain``; biases keep PyTorch's default init.

    nninfo configurations (spec pid §8): MNIST ``input_shape=(784,)``, ``widths=(50, 10, 5, 5,
    5)`` (default), 10 classes; the Tishby demo ``input_shape=(12,)``, ``widths=(12, 4, 4, 4)``,
    ``num_classes=2``, ``output="sigmoid"``; MNIST binary ``output="binary_code"``.

    Args:
        input_shape: one sample's shape (flattened by ``layer_1``).
        num_classes: C.
        widths: hidden widths.
        nonlinearity: a bounded torch.nn activation (default ``"Tanh"``; ``"Sigmoid"``,
            ``"Hardtanh"`` also have known limits). Unbounded ones cannot be quantized.
        levels: L >= 2 quantization levels (nninfo: 8, or 4).
        quantize: quantize the hidden layers (``False`` gives the same net unquantized).
        output: ``"softmax"``: the head gives C logits (softmax / cross-entropy).
            ``"sigmoid"`` (C = 2 only): one sigmoid unit trained by BCE, exposed as two-class
            logits ``[0, z]`` by :class:`BinaryLogits` (cross-entropy on them equals BCE on
            ``z``). ``"binary_code"``: ``ceil(log2 C)`` bit logits, least significant bit first,
            for sigmoid outputs trained by MSE on ``binary_code(y)`` (these are not class
            logits).
        gain: Xavier-uniform gain of every Linear weight (5/3, tanh's gain, as nninfo).
        rounding_seed: seed of the stochastic rounding streams (one independent stream per
            layer, see :func:`infolens.nn.quantization.quantize`); ``None`` uses torch's global
            generator.

    Example:
        >>> net = NNInfoMLP((12,), 2, widths=(12, 4, 4, 4), output="sigmoid")
        >>> net.eval()(torch.zeros(3, 12)).shape
        torch.Size([3, 2])
    """

    name = "NNInfoMLP"

    def __init__(
        self,
        input_shape: Sequence[int] | int,
        num_classes: int,
        *,
        widths: Sequence[int] = (50, 10, 5, 5, 5),
        nonlinearity: str = "Tanh",
        levels: int = 8,
        quantize: bool = True,
        output: str = "softmax",
        gain: float = 5 / 3,
        rounding_seed: int | None = 0,
    ) -> None:
        input_shape = check_shape("input_shape", input_shape, example="(784,)")
        num_classes = check_int("num_classes", num_classes)
        widths = check_widths("widths", widths, example="(12, 4, 4, 4)")
        nonlinearity = canonical_activation(nonlinearity)
        levels = QuantSpec(levels=levels).levels
        do_quantize = check_bool("quantize", quantize)
        output = check_choice("output", output, NNINFO_OUTPUTS)
        if (
            isinstance(gain, bool)
            or not isinstance(gain, (int, float))
            or not (math.isfinite(gain) and gain > 0)
        ):
            raise InfolensError(f"gain must be a positive number, got {gain!r}.")
        if rounding_seed is not None:
            rounding_seed = check_int("rounding_seed", rounding_seed, minimum=0)
        # raises for unbounded activations (ReLU), which cannot be quantized over fixed limits
        limits = (
            infer_limits(make_activation(nonlinearity), "nonlinearity") if do_quantize else None
        )

        blocks = _dense_blocks(math.prod(input_shape), widths, [nonlinearity] * len(widths))
        if output == "softmax":
            blocks["head"] = nn.Linear(widths[-1], num_classes)
        elif output == "sigmoid":
            if num_classes != 2:
                raise InfolensError(
                    f"output='sigmoid' is one sigmoid unit for a binary task and needs "
                    f"num_classes=2, got {num_classes}; use output='softmax' or 'binary_code'."
                )
            blocks["head"] = nn.Sequential(nn.Linear(widths[-1], 1), BinaryLogits())
        else:
            blocks["head"] = nn.Linear(widths[-1], max(1, (num_classes - 1).bit_length()))
        for module in blocks.values():
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_uniform_(layer.weight, gain=float(gain))

        super().__init__(
            blocks,
            input_shape=input_shape,
            num_classes=num_classes,
            kwargs={
                "widths": widths,
                "nonlinearity": nonlinearity,
                "levels": levels,
                "quantize": do_quantize,
                "output": output,
                "gain": float(gain),
                "rounding_seed": rounding_seed,
            },
        )
        if do_quantize:
            specs = {f"layer_{k}": QuantSpec(levels, limits) for k in range(1, len(widths) + 1)}
            # a bounded activation cannot leave its limits: no (data-dependent) limit check
            quantize_layers(self, specs, seed=rounding_seed, check_limits=False)

    @property
    def output_kind(self) -> str:
        """``"softmax"``, ``"sigmoid"`` or ``"binary_code"`` (see the class docs)."""
        return self._kwargs["output"]


class DeepEIMLP(ZooModel):
    """deep-ei's networks: bias-free Linear layers, weights U(±1/√fan_in), an activation after each.

    ``layer_k = Sequential([Flatten,] Linear(prev→w_k, bias=False), act_k)`` and ``head =
    Sequential(Linear(last→C, bias=False), act_out)`` (just the Linear when ``act_out`` is
    ``"Identity"``): deep-ei trains sigmoid outputs with MSE on one-hot targets, and measures the
    output layer with its activation. U(±1/√fan_in) is also PyTorch's default Linear init; it is
    drawn explicitly here.

    Reference nets (spec datasets §2, §3.7): Iris ``DeepEIMLP((4,), 3, widths=(5, 5))``
    (default widths); MNIST-25 ``DeepEIMLP((25,), 5, widths=(6,))``, ``(6, 6, 6)`` with
    ``activation`` ``"Sigmoid"``, ``"Tanh"`` or ``"ReLU"``, and ``(6, 6, 6, 6, 6)``.

    Args:
        input_shape: one sample's shape (flattened by ``layer_1``).
        num_classes: C, the output units.
        widths: hidden widths.
        activation: one torch.nn activation class name for every layer (default
            ``"Sigmoid"``), or a sequence of ``len(widths) + 1`` names, one per layer, the last
            for the output (``"Identity"`` for none).
    """

    name = "DeepEIMLP"

    def __init__(
        self,
        input_shape: Sequence[int] | int,
        num_classes: int,
        *,
        widths: Sequence[int] = (5, 5),
        activation: str | Sequence[str] = "Sigmoid",
    ) -> None:
        input_shape = check_shape("input_shape", input_shape, example="(4,)")
        num_classes = check_int("num_classes", num_classes)
        widths = check_widths("widths", widths, example="(5, 5)")
        if isinstance(activation, str):
            activation = canonical_activation(activation, "activation")
            acts = [activation] * (len(widths) + 1)
        elif isinstance(activation, Sequence) and len(activation) == len(widths) + 1:
            acts = [canonical_activation(a, "activation") for a in activation]
            activation = tuple(acts)
        else:
            raise InfolensError(
                f"activation must be one torch.nn activation name or a sequence of "
                f"len(widths) + 1 = {len(widths) + 1} names (hidden layers, then the output), "
                f"got {activation!r}."
            )
        blocks = _dense_blocks(math.prod(input_shape), widths, acts[:-1], bias=False)
        last = nn.Linear(widths[-1], num_classes, bias=False)
        blocks["head"] = (
            last if acts[-1] == "Identity" else nn.Sequential(last, make_activation(acts[-1]))
        )
        for module in blocks.values():
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    nn.init.uniform_(layer.weight, -bound, bound)
        super().__init__(
            blocks,
            input_shape=input_shape,
            num_classes=num_classes,
            kwargs={"widths": widths, "activation": activation},
        )
