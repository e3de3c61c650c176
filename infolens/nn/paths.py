"""Module paths: address a submodule of a model by its dotted name (``"features.3"``)."""

from __future__ import annotations

from torch import nn

from infolens._validation import InfolensError


def module_path(model: nn.Module, module: nn.Module) -> str:
    """Return the dotted path of ``module`` inside ``model`` (``""`` for the model itself)."""
    for name, sub in model.named_modules():
        if sub is module:
            return name
    raise InfolensError(
        f"module {type(module).__name__} is not part of the model; pass a submodule of the "
        "model or its dotted path (see `dict(model.named_modules())`)."
    )


def resolve_module(model: nn.Module, layer: nn.Module | str, *, arg: str = "layer") -> nn.Module:
    """Resolve ``layer`` (a module or a dotted path such as ``"features.3"``) to a submodule.

    Raises an error listing the valid paths when the path does not exist.
    """
    if isinstance(layer, nn.Module):
        module_path(model, layer)  # validates membership
        return layer
    if not isinstance(layer, str):
        raise InfolensError(
            f"{arg} must be an nn.Module or a dotted module path string, got {type(layer).__name__}."
        )
    modules = dict(model.named_modules())
    if layer in modules:
        return modules[layer]
    valid = [name for name in modules if name]
    shown = ", ".join(repr(v) for v in valid[:30]) + (" ..." if len(valid) > 30 else "")
    raise InfolensError(f"{arg}={layer!r} is not a module path of the model; valid paths: {shown}.")
