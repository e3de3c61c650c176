"""Building zoo models by name: :func:`build_model`, :func:`model_from_config`."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from infolens._validation import InfolensError
from infolens.models.base import ZooModel
from infolens.models.cnn import CIFARNet, MNISTNet
from infolens.models.mlp import MLP, DeepEIMLP, NNInfoMLP
from infolens.models.vision import ConvNeXt, ResNet

__all__ = ["MODELS", "available_models", "build_model", "model_from_config", "model_options"]

#: The zoo, by canonical name.
MODELS: dict[str, type[ZooModel]] = {
    cls.name: cls for cls in (MLP, NNInfoMLP, DeepEIMLP, MNISTNet, CIFARNet, ResNet, ConvNeXt)
}

_POSITIONAL = ("self", "input_shape", "num_classes")


def available_models() -> list[str]:
    """Canonical names of the zoo models (accepted by :func:`build_model` in any case)."""
    return list(MODELS)


def _model_class(name: object) -> type[ZooModel]:
    if isinstance(name, str):
        for canonical, cls in MODELS.items():
            if canonical.lower() == name.lower():
                return cls
    raise InfolensError(
        f"unknown model {name!r}; choose one of {', '.join(MODELS)} (case-insensitive)."
    )


def model_options(name: str) -> dict[str, Any]:
    """The keyword arguments model ``name`` accepts besides input_shape and num_classes, with defaults."""
    cls = _model_class(name)
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if k not in _POSITIONAL}


def build_model(
    name: str, *, input_shape: tuple[int, ...], num_classes: int, **kwargs: Any
) -> ZooModel:
    """Construct zoo model ``name`` (case-insensitive) for ``input_shape`` and ``num_classes``.

    Names: ``"MLP"``, ``"NNInfoMLP"`` (quantized tanh MLP), ``"DeepEIMLP"`` (bias-free,
    U(±1/√fan_in)), ``"MNISTNet"``, ``"CIFARNet"``, ``"ResNet"`` (torchvision resnet18),
    ``"ConvNeXt"`` (torchvision convnext_tiny). ``kwargs`` are the model's own options (e.g.
    ``widths``, ``nonlinearity``); see each class. Initialisation uses torch's global RNG, so
    seed with ``torch.manual_seed`` first for reproducible weights.

    Raises:
        InfolensError: unknown name (lists the models) or unknown keyword (lists the valid
            ones), or an invalid value.
        ImportError: ResNet/ConvNeXt without torchvision (says how to install it).

    Example:
        >>> net = build_model("mlp", input_shape=(12,), num_classes=2, nonlinearity="Tanh")
        >>> net.name, net.measurement_points[-1]
        ('MLP', 'layer_5')
    """
    cls = _model_class(name)
    valid = model_options(cls.name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        shown = ", ".join(valid) if valid else "none"
        raise InfolensError(
            f"{cls.name} got unknown argument(s) {', '.join(repr(u) for u in unknown)}; its "
            f"options besides input_shape and num_classes are: {shown}."
        )
    return cls(input_shape, num_classes, **kwargs)


def model_from_config(config: Mapping[str, Any]) -> ZooModel:
    """Rebuild a model from its :attr:`ZooModel.config` (e.g. read back from YAML).

    ``config`` holds ``name``, ``input_shape``, ``num_classes`` and the model's options. The
    weights are freshly initialised (from torch's global RNG); load a state dict for trained
    weights.
    """
    if not isinstance(config, Mapping):
        raise InfolensError(
            f"config must be a mapping (a model's .config), got {type(config).__name__}."
        )
    missing = [k for k in ("name", "input_shape", "num_classes") if k not in config]
    if missing:
        raise InfolensError(
            f"config lacks {', '.join(repr(m) for m in missing)}; pass a model's .config, e.g. "
            "{'name': 'MLP', 'input_shape': [12], 'num_classes': 2, 'widths': [10, 7, 5, 4, 3]}."
        )
    rest = {k: v for k, v in config.items() if k != "name"}
    return build_model(config["name"], **rest)
