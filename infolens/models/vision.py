"""torchvision's ResNet-18 and ConvNeXt-T, re-blocked into zoo models (spec geometry §4).

torchvision is an optional dependency (``pip install "infolens[vision]"``) and is imported only
when one of these models is built. The re-blocking functions :func:`resnet_blocks` and
:func:`convnext_blocks` only read the modules' attributes, so they work on any module laid out
like torchvision's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from types import ModuleType

from torch import nn

from infolens._validation import InfolensError
from infolens.models.base import ZooModel, check_int, check_shape

__all__ = ["ConvNeXt", "ResNet", "convnext_blocks", "resnet_blocks", "torchvision_models"]

VISION_INSTALL_HINT = (
    'pip install "infolens[vision]" (in this project\'s pinned environment: '
    "pip install torch==2.14.1 torchvision==0.29.1, a CUDA build of about 5.5 GB)"
)


def torchvision_models(model: str = "this model") -> ModuleType:
    """``torchvision.models``, imported on first use.

    Raises an ``ImportError`` that names ``model`` and says how to install torchvision.
    """
    try:
        import torchvision.models as models
    except ImportError as err:
        raise ImportError(
            f"{model} is built from torchvision, which is not installed; install it with "
            f"{VISION_INSTALL_HINT}."
        ) from err
    return models


def resnet_blocks(net: nn.Module) -> OrderedDict[str, nn.Module]:
    """Zoo blocks of a torchvision-style ResNet (attributes ``conv1`` … ``fc``), sharing its modules.

    ``layer_1`` = stem (``conv1``, ``bn1``, ``relu``, ``maxpool``) + ``layer1``; ``layer_2`` …
    ``layer_4`` = ``layer2`` … ``layer4``; ``output`` = ``avgpool`` + Flatten (the 512-d
    feature of ResNet-18); ``head`` = ``fc``. The composition computes torchvision's forward.
    """
    stem = OrderedDict((n, getattr(net, n)) for n in ("conv1", "bn1", "relu", "maxpool", "layer1"))
    return OrderedDict(
        layer_1=nn.Sequential(stem),
        layer_2=net.layer2,
        layer_3=net.layer3,
        layer_4=net.layer4,
        output=nn.Sequential(OrderedDict(avgpool=net.avgpool, flatten=nn.Flatten(1))),
        head=net.fc,
    )


def convnext_blocks(net: nn.Module) -> OrderedDict[str, nn.Module]:
    """Zoo blocks of a torchvision-style ConvNeXt (``features``, ``avgpool``, ``classifier``).

    ``features`` is [stem, stage 1, downsample, stage 2, …, stage S]; ``layer_1`` = stem +
    stage 1 and ``layer_k`` = downsample + stage k, so the measurement points are the last blocks
    of the stages (``features[1][-1]``, ``[3][-1]``, …). ``output`` = ``avgpool`` + the
    classifier's LayerNorm and Flatten (768-d for ConvNeXt-T); ``head`` = the classifier's
    Linear.
    """
    features = list(net.features)
    if len(features) < 2 or len(features) % 2:
        raise InfolensError(
            f"expected ConvNeXt features [stem, stage, downsample, stage, ...] of even length, "
            f"got {len(features)} modules."
        )
    norm, flatten, linear = net.classifier
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    blocks["layer_1"] = nn.Sequential(OrderedDict(stem=features[0], stage=features[1]))
    for k in range(2, len(features) // 2 + 1):
        blocks[f"layer_{k}"] = nn.Sequential(
            OrderedDict(downsample=features[2 * k - 2], stage=features[2 * k - 1])
        )
    blocks["output"] = nn.Sequential(OrderedDict(avgpool=net.avgpool, norm=norm, flatten=flatten))
    blocks["head"] = linear
    return blocks


class ResNet(ZooModel):
    """torchvision ResNet-18 (``resnet18(weights=None, num_classes=C)``) as a zoo model.

    For inputs with other than 3 channels, ``conv1`` is replaced by Conv(in→64, 7×7, stride 2,
    padding 3, no bias), initialised as torchvision initialises its convolutions
    (Kaiming-normal, fan_out, ReLU). Blocks (:func:`resnet_blocks`): ``layer_1`` = stem +
    ``layer1``, ``layer_2`` … ``layer_4``, ``output`` = the 512-d average-pooled feature,
    ``head`` = ``fc``. The measurement points are the outputs of torchvision's ``layer1`` …
    ``layer4`` (after the last block's post-residual ReLU).

    Needs torchvision (``pip install "infolens[vision]"``).

    Args:
        input_shape: ``(channels, height, width)``.
        num_classes: C.
    """

    name = "ResNet"

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        input_shape = check_shape("input_shape", input_shape, ndim=3, example="(3, 32, 32)")
        num_classes = check_int("num_classes", num_classes)
        models = torchvision_models("ResNet (torchvision resnet18)")
        net = models.resnet18(weights=None, num_classes=num_classes)
        if input_shape[0] != net.conv1.in_channels:
            out = net.conv1.out_channels
            net.conv1 = nn.Conv2d(
                input_shape[0], out, kernel_size=7, stride=2, padding=3, bias=False
            )
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        super().__init__(
            resnet_blocks(net), input_shape=input_shape, num_classes=num_classes, kwargs={}
        )


#: ConvNeXt's stem divides the size by 4 and its three downsamplings by 2 each.
CONVNEXT_MIN_SIZE = 32


class ConvNeXt(ZooModel):
    """torchvision ConvNeXt-T (``convnext_tiny(weights=None, num_classes=C)``) as a zoo model.

    For inputs with other than 3 channels, the stem convolution is replaced by Conv(in→96, 4×4,
    stride 4), initialised as torchvision initialises its convolutions (truncated normal, std
    0.02, zero bias). Blocks (:func:`convnext_blocks`): ``layer_1`` = stem + stage 1,
    ``layer_2`` … ``layer_4`` = downsample + stage, ``output`` = the 768-d feature after the
    classifier's LayerNorm and Flatten, ``head`` = the classifier's Linear.

    Inputs must be at least 32×32 (28×28 fails at the last downsampling, 7→3→1→0); pad MNIST to
    32×32. Needs torchvision (``pip install "infolens[vision]"``).

    Args:
        input_shape: ``(channels, height, width)``, height and width >= 32.
        num_classes: C.
    """

    name = "ConvNeXt"

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        input_shape = check_shape("input_shape", input_shape, ndim=3, example="(3, 32, 32)")
        num_classes = check_int("num_classes", num_classes)
        channels, height, width = input_shape
        if min(height, width) < CONVNEXT_MIN_SIZE:
            raise InfolensError(
                f"ConvNeXt needs inputs of at least {CONVNEXT_MIN_SIZE}×{CONVNEXT_MIN_SIZE}, got "
                f"{height}×{width}: its stem divides the size by 4 and three downsamplings halve "
                f"it (28→7→3→1→0 fails). Pad the images, e.g. 28×28 MNIST to 32×32 with "
                f"torch.nn.functional.pad(x, (2, 2, 2, 2)), and pass input_shape=("
                f"{channels}, 32, 32)."
            )
        models = torchvision_models("ConvNeXt (torchvision convnext_tiny)")
        net = models.convnext_tiny(weights=None, num_classes=num_classes)
        stem = net.features[0]
        if channels != stem[0].in_channels:
            old = stem[0]
            stem[0] = nn.Conv2d(channels, old.out_channels, kernel_size=4, stride=4, bias=True)
            nn.init.trunc_normal_(stem[0].weight, std=0.02)
            nn.init.zeros_(stem[0].bias)
        super().__init__(
            convnext_blocks(net), input_shape=input_shape, num_classes=num_classes, kwargs={}
        )
