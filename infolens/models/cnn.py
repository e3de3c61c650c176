"""The thesis CNNs (spec geometry §4): MNISTNet and CIFARNet."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from infolens._validation import InfolensError
from infolens.models.base import (
    ZooModel,
    canonical_activation,
    check_bool,
    check_int,
    check_shape,
    check_widths,
    make_activation,
)

__all__ = ["CIFARNet", "MNISTNet", "ResidualStep"]


def _mnist_spatial(size: int) -> int:
    """Side length after Conv5 (valid) → MaxPool2 → Conv3 (valid) → MaxPool2."""
    return ((size - 4) // 2 - 2) // 2


class MNISTNet(ZooModel):
    """The thesis MNIST net (after tuomaso's fast-MNIST net).

    ``layer_1`` = Conv 5×5 in→24 (valid) → MaxPool 2 → NL; ``layer_2`` = Conv 3×3 24→32 (valid) →
    MaxPool 2 → NL; ``output`` = Flatten → Linear(F→256) → NL, with F = 32·5·5 = 800 for 28×28
    inputs (inferred for other sizes; at least 12×12); ``head`` = Linear(256→C). PyTorch-default
    initialisation and biases.

    Args:
        input_shape: ``(channels, height, width)``, e.g. ``(1, 28, 28)``.
        num_classes: C.
        nonlinearity: a torch.nn activation class name (default ``"ReLU"``).
    """

    name = "MNISTNet"

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, *, nonlinearity: str = "ReLU"
    ) -> None:
        input_shape = check_shape("input_shape", input_shape, ndim=3, example="(1, 28, 28)")
        num_classes = check_int("num_classes", num_classes)
        nonlinearity = canonical_activation(nonlinearity)
        channels, height, width = input_shape
        h, w = _mnist_spatial(height), _mnist_spatial(width)
        if h < 1 or w < 1:
            raise InfolensError(
                f"MNISTNet needs inputs of at least 12×12 (two valid convolutions and two 2×2 "
                f"poolings), got {height}×{width}; pad or resize the images."
            )
        nl = lambda: make_activation(nonlinearity)  # noqa: E731
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        blocks["layer_1"] = nn.Sequential(nn.Conv2d(channels, 24, 5), nn.MaxPool2d(2), nl())
        blocks["layer_2"] = nn.Sequential(nn.Conv2d(24, 32, 3), nn.MaxPool2d(2), nl())
        blocks["output"] = nn.Sequential(nn.Flatten(), nn.Linear(32 * h * w, 256), nl())
        blocks["head"] = nn.Linear(256, num_classes)
        super().__init__(
            blocks,
            input_shape=input_shape,
            num_classes=num_classes,
            kwargs={"nonlinearity": nonlinearity},
        )


class ResidualStep(nn.Module):
    """``x ← NL(x + BN(Conv3×3(x)))``, channels unchanged ('same' padding, no conv bias).

    Args:
        channels: input and output channels.
        nonlinearity: a torch.nn activation class name.
        bn_running_stats: ``track_running_stats`` of the BatchNorm (``False``: batch statistics
            in eval mode too, as in the thesis).
    """

    def __init__(self, channels: int, nonlinearity: str, bn_running_stats: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels, track_running_stats=bn_running_stats)
        self.act = make_activation(nonlinearity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``act(x + bn(conv(x)))``."""
        return self.act(x + self.bn(self.conv(x)))


class CIFARNet(ZooModel):
    """The thesis CIFAR net (loosely after airbench): residual-then-downsample blocks.

    Block k (``layer_k``): a :class:`ResidualStep` ``x ← NL(x + BN(Conv3×3(x)))`` on the
    block's input channels, then ``NL(MaxPool2(BN(Conv3×3 in→out)))``; convolutions use 'same'
    padding and no bias, so each block halves the spatial size (32→16→8→4 for the default three
    blocks of widths 64/128/256). ``output`` = global **max** pool → Flatten (the last width,
    256-d); ``head`` = Linear(256→C) with bias. PyTorch-default initialisation.

    Args:
        input_shape: ``(channels, height, width)``, e.g. ``(3, 32, 32)``; height and width must
            be at least ``2**len(widths)``.
        num_classes: C.
        widths: output channels of the blocks (default 64, 128, 256).
        nonlinearity: a torch.nn activation class name (default ``"ReLU"``).
        bn_running_stats: BatchNorm ``track_running_stats`` (default ``True``). ``False``
            reproduces the thesis: batch statistics are used in eval mode too, so eval outputs
            depend on the batch (spec geometry §1.3).
    """

    name = "CIFARNet"

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        *,
        widths: Sequence[int] = (64, 128, 256),
        nonlinearity: str = "ReLU",
        bn_running_stats: bool = True,
    ) -> None:
        input_shape = check_shape("input_shape", input_shape, ndim=3, example="(3, 32, 32)")
        num_classes = check_int("num_classes", num_classes)
        widths = check_widths("widths", widths, example="(64, 128, 256)")
        nonlinearity = canonical_activation(nonlinearity)
        bn_running_stats = check_bool("bn_running_stats", bn_running_stats)
        channels, height, width = input_shape
        if min(height, width) < 2 ** len(widths):
            raise InfolensError(
                f"CIFARNet with {len(widths)} blocks halves the spatial size {len(widths)} times and "
                f"needs inputs of at least {2 ** len(widths)}×{2 ** len(widths)}, got "
                f"{height}×{width}; pad or resize the images."
            )
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        prev = channels
        for k, out in enumerate(widths, start=1):
            blocks[f"layer_{k}"] = nn.Sequential(
                OrderedDict(
                    residual=ResidualStep(prev, nonlinearity, bn_running_stats),
                    conv=nn.Conv2d(prev, out, 3, padding=1, bias=False),
                    bn=nn.BatchNorm2d(out, track_running_stats=bn_running_stats),
                    pool=nn.MaxPool2d(2),
                    act=make_activation(nonlinearity),
                )
            )
            prev = out
        blocks["output"] = nn.Sequential(
            OrderedDict(pool=nn.AdaptiveMaxPool2d(1), flatten=nn.Flatten())
        )
        blocks["head"] = nn.Linear(prev, num_classes)
        super().__init__(
            blocks,
            input_shape=input_shape,
            num_classes=num_classes,
            kwargs={
                "widths": widths,
                "nonlinearity": nonlinearity,
                "bn_running_stats": bn_running_stats,
            },
        )
