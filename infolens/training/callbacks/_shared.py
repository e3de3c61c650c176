"""Helpers shared by the EI, weight-graph EI, complexity and information-plane callbacks.

* :func:`on_rank0`: compute on rank 0 only and hand the result to every rank (one
  ``all_gather_object``), so all ranks hold identical records; an error on rank 0 is raised on
  every rank instead of leaving the others waiting in a collective.
* :func:`gather_merged`: all-gather per-rank count states and merge them (exact sums).
* :func:`label_transform`: labels as integer codes (integral float targets such as BCE's 0./1.
  or one-hot rows are accepted here).
* :func:`limits_for`: a layer's binning/quantization limits from a tuple, a per-layer dict or
  the layer's bounded activation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from infolens._validation import InfolensError, check_range
from infolens.measures.info_plane import activation_limits, label_codes
from infolens.training.callbacks._base import Dist


class _RankError:
    """An exception raised on rank 0, carried to the other ranks."""

    def __init__(self, err: BaseException) -> None:
        self.kind = type(err)
        self.message = str(err)


def on_rank0(dist: Dist, compute: Callable[[], Any]) -> Any:
    """``compute()`` on rank 0, its result returned on every rank (``None`` never computed).

    Outside a process group (one rank) this is just ``compute()``.
    """
    if dist.world_size == 1:
        return compute()
    payload: Any = None
    if dist.rank == 0:
        try:
            payload = compute()
        except Exception as err:  # re-raised on every rank below
            payload = _RankError(err)
    result = dist.all_gather_object(payload)[0]
    if isinstance(result, _RankError):
        try:
            raise result.kind(result.message)
        except TypeError:  # an exception type that cannot be rebuilt from its message
            raise InfolensError(f"rank 0 failed: {result.message}") from None
    return result


def gather_states(dist: Dist, states: Any) -> list[Any]:
    """Every rank's ``states`` (picklable plain data), in rank order, on every rank."""
    return dist.all_gather_object(states)


def label_transform(y: torch.Tensor) -> torch.Tensor:
    """Labels ``(B,)``/``(B, k)`` as int64 codes; integral float targets are accepted."""
    return label_codes(y, int(y.shape[0]), allow_float=True)


def limits_for(
    model: nn.Module, path: str, limits: Any
) -> tuple[float, float] | None:
    """The limits of layer ``path``: ``limits`` (a pair or ``{path: pair}``), else the layer's
    bounded activation (:func:`infolens.measures.info_plane.activation_limits`), else ``None``."""
    if limits is not None:
        if isinstance(limits, Mapping):
            if path in limits:
                return check_range(f"limits[{path!r}]", limits[path])
        else:
            return check_range("limits", limits)
    return activation_limits(model.get_submodule(path))


def check_limits_arg(limits: Any) -> Any:
    """Validate a ``limits`` argument: ``None``, a ``(lo, hi)`` pair or ``{path: (lo, hi)}``."""
    if limits is None:
        return None
    if isinstance(limits, Mapping):
        return {str(k): check_range(f"limits[{k!r}]", v) for k, v in limits.items()}
    return check_range("limits", limits)


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first parameter (CPU/float32 without one)."""
    param = next(model.parameters(), None)
    if param is None:
        return torch.device("cpu"), torch.get_default_dtype()
    dtype = param.dtype if param.is_floating_point() else torch.get_default_dtype()
    return param.device, dtype


def fmt_limits(limits: tuple[float, float]) -> str:
    """``"[-1, 1]"``: limits as they appear in a record's ``bins`` text."""
    return f"[{limits[0]:.6g}, {limits[1]:.6g}]"
