"""Input validation shared by every public entry point.

Checks happen once, at the boundary; each message says what was wrong and what to pass
instead (scikit-learn style). Internals trust their inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


class InfolensError(ValueError):
    """Base class for infolens input errors (a ``ValueError``)."""


def check_range(name: str, value: object) -> tuple[float, float]:
    """Validate a ``(low, high)`` range and return it as two floats.

    Raises an ``InfolensError`` naming ``name`` when the range is not two finite numbers
    with ``low < high`` (an empty or inverted range).
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InfolensError(
            f"{name} must be a (low, high) pair of numbers, got {value!r}; "
            f"pass e.g. {name}=(0.0, 1.0)."
        )
    try:
        lo, hi = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise InfolensError(
            f"{name} must hold two numbers, got {value!r}; pass e.g. {name}=(0.0, 1.0)."
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InfolensError(f"{name}={value!r} is not finite; pass finite bounds.")
    if not lo < hi:
        raise InfolensError(
            f"{name}={value!r} is empty or inverted (low must be < high); "
            f"pass e.g. {name}=({min(lo, hi)}, {max(lo, hi) if lo != hi else hi + 1.0})."
        )
    return lo, hi


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Validate an integer argument that must be ``>= minimum``."""
    if isinstance(value, bool) or (not isinstance(value, (int,)) and not (
        isinstance(value, float) and value.is_integer()
    )):
        raise InfolensError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    ivalue = int(value)
    if ivalue < minimum:
        raise InfolensError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return ivalue


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Validate a string option against its allowed values."""
    if value not in choices:
        opts = ", ".join(repr(c) for c in choices)
        raise InfolensError(f"{name}={value!r} is not supported; choose one of {opts}.")
    return str(value)


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise if ``tensor`` holds NaN or inf; ``name`` should identify the layer or argument.

    One reduction decides in the common case: a finite sum means every value is finite.
    """
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return
    if bool(torch.isfinite(tensor.sum(dtype=torch.float64))):
        return
    if not bool(torch.isfinite(tensor).all()):
        n_bad = int((~torch.isfinite(tensor)).sum())
        raise InfolensError(
            f"{name} produced {n_bad} non-finite value(s) (NaN or inf); check the weights "
            "and inputs of this layer (e.g. exploding activations or a division by zero)."
        )


def parse_memory(value: int | float | str | None, *, default: int) -> int:
    """Parse a memory cap given as bytes or a string like ``"256MiB"`` / ``"2GB"``."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise InfolensError(f"max_memory must be bytes or a string like '256MiB', got {value!r}.")
    if isinstance(value, (int, float)):
        nbytes = int(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        units = {
            "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
            "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "B": 1,
        }
        suffix = next((u for u in units if text.upper().endswith(u)), "")
        number, mult = (text[: -len(suffix)], units[suffix]) if suffix else (text, 1)
        try:
            nbytes = int(float(number) * mult)
        except ValueError:
            raise InfolensError(
                f"max_memory={value!r} is not understood; pass bytes or e.g. '256MiB', '2GB'."
            ) from None
    else:
        raise InfolensError(f"max_memory must be bytes or a string like '256MiB', got {value!r}.")
    if nbytes < 2**20:
        raise InfolensError(f"max_memory={value!r} is below 1 MiB; pass at least '1MiB'.")
    return nbytes


class InfolensWarning(UserWarning):
    """Warning category for results that are undefined or at risk (e.g. C with I = 0)."""


def check_codes(value: object, batch: int, *, name: str, allow_float: bool = False) -> torch.Tensor:
    """``value`` as ``(batch, k)`` int64 codes (k = 1 for class labels), validated.

    Accepts integer or boolean tensors/arrays of shape ``(batch,)`` or ``(batch, k)``; with
    ``allow_float=True`` also floats whose values are all integers (BCE/MSE targets such as 0./1.
    or one-hot rows). Raises on negative codes, non-integer values and a length mismatch; the
    messages call the argument ``name``.
    """
    import numpy as np

    t = value.detach().cpu() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if t.dtype == torch.bool:
        t = t.long()
    if t.is_floating_point() and allow_float and bool(torch.isfinite(t).all()) and bool(
        (t == t.round()).all()
    ):
        t = t.long()
    if t.is_floating_point() or t.is_complex():
        raise InfolensError(
            f"{name} must be non-negative integer codes (class labels or an encoding), got dtype "
            f"{t.dtype}; map them to integers first (e.g. y.long())."
        )
    if t.dim() == 0 or t.dim() > 2 or t.shape[0] != batch:
        raise InfolensError(
            f"{name} has shape {tuple(t.shape)} but the batch has {batch} samples (mismatched "
            f"lengths); pass {name} of shape ({batch},) or ({batch}, k)."
        )
    if t.numel() and int(t.min()) < 0:
        raise InfolensError(
            f"{name} holds negative codes (minimum {int(t.min())}); pass non-negative integers."
        )
    return t.reshape(batch, -1).long()
