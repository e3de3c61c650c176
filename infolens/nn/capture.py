"""Forward-hook capture: record the outputs of submodules given by module path.

``capture(model, ["features.3", "classifier.0"])`` is a context manager yielding a dict that,
after each forward pass, maps every path to that module's output flattened to ``(batch, D)``.
Hooks are removed in ``finally``, so an exception inside the block leaves the model clean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from infolens._validation import InfolensError
from infolens.nn.paths import module_path, resolve_module


def _as_tensor(output: object, path: str) -> torch.Tensor:
    """The tensor a module returned (the first element of a tuple/list output)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise InfolensError(
        f"layer {path!r} returned {type(output).__name__}, not a tensor; hook a submodule "
        "that returns a tensor (or a tuple whose first element is the features)."
    )


def record(
    output: object,
    path: str,
    *,
    flatten: bool = True,
    detach: bool = True,
    clone: bool = True,
    store: Callable[[str, torch.Tensor], torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """The tensor that :func:`capture` records for a module output (what its hooks store).

    Exposed so that a caller that runs the modules itself (e.g. the children of an
    ``nn.Sequential`` one by one) records exactly what a hook would; the arguments mean the same
    as in :func:`capture`.
    """
    out = _as_tensor(output, path)
    if detach:
        out = out.detach()
    if flatten:
        out = (
            out.reshape(out.shape[0], math.prod(out.shape[1:]))
            if out.dim() > 0
            else out.reshape(1, 1)
        )
    kept = store(path, out) if store is not None else None
    if kept is None:
        kept = out.clone() if clone else out
    return kept


@contextmanager
def capture(
    model: nn.Module,
    layers: Sequence[str | nn.Module] | str | nn.Module,
    *,
    flatten: bool = True,
    detach: bool = True,
    clone: bool = True,
    store: Callable[[str, torch.Tensor], torch.Tensor | None] | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the modules at ``layers`` while the block runs.

    Parameters
    ----------
    model:
        The model whose forward passes are observed.
    layers:
        Dotted module paths (``"features.3"``) or submodules of ``model``; one or several.
    flatten:
        Reshape each output to ``(batch, D)`` with ``D`` the product of the non-batch dims.
    detach:
        Store detached tensors (no autograd graph is kept alive).
    clone:
        Store a copy, so that a later in-place operation of the model (``ReLU(inplace=True)``)
        cannot change the recorded output.
    store:
        Optional ``store(path, output) -> tensor or None``, called inside the hook with the
        (detached, flattened) output. A tensor it returns is recorded instead of the clone; it
        must hold its own copy of the values (e.g. a slice of a preallocated buffer filled
        with ``copy_``). ``None`` falls back to ``clone``.

    Yields
    ------
    dict
        ``{path: tensor}``, overwritten on every forward pass. A module that fires several times
        in one forward pass keeps its last output (as a hook on a reused ReLU would).

    Example
    -------
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> with capture(model, ["1"]) as feats:
    ...     _ = model(torch.zeros(5, 4))
    >>> tuple(feats["1"].shape)
    (5, 3)
    """
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    paths: list[str] = []
    modules: list[nn.Module] = []
    for layer in layers:
        module = resolve_module(model, layer, arg="layers")
        path = layer if isinstance(layer, str) else module_path(model, module)
        if path in paths:
            raise InfolensError(f"layers lists {path!r} twice; pass each module path once.")
        paths.append(path)
        modules.append(module)

    recorded: dict[str, torch.Tensor] = {}

    def make_hook(path: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            recorded[path] = record(
                output, path, flatten=flatten, detach=detach, clone=clone, store=store
            )

        return hook

    handles = []
    try:
        for path, module in zip(paths, modules):
            handles.append(module.register_forward_hook(make_hook(path)))
        yield recorded
    finally:
        for handle in handles:
            handle.remove()
