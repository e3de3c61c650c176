"""Label encodings produced on demand: one-hot rows and LSB-first binary codes.

Stored labels are always integer classes; these functions turn them into float targets
(for MSE- or sigmoid-trained nets, as in deep-ei and nninfo) and back. When an
information decomposition uses the label as target, use the integer class (all bits
jointly), not a single bit of the binary code.
"""

from __future__ import annotations

import numpy as np
import torch

from infolens._validation import InfolensError, check_positive_int


def _int_labels(y: object, name: str = "y") -> torch.Tensor:
    t = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise InfolensError(
            f"{name} must hold integer class labels, got dtype {t.dtype}; pass labels as "
            "integers (e.g. y.long()), not encoded targets."
        )
    if t.ndim != 1:
        raise InfolensError(f"{name} must be 1-D (one label per sample), got shape {tuple(t.shape)}.")
    t = t.long()
    if t.numel() and int(t.min()) < 0:
        raise InfolensError(f"{name} holds negative labels; class labels must be 0..C-1.")
    return t


def one_hot(y: object, num_classes: int) -> torch.Tensor:
    """One-hot rows of integer labels.

    Returns a float32 tensor of shape (N, num_classes) with a single 1.0 per row, at
    column ``y[i]``. Raises ``InfolensError`` if a label is outside ``0..num_classes-1``.
    """
    t = _int_labels(y)
    num_classes = check_positive_int("num_classes", num_classes)
    if t.numel() and int(t.max()) >= num_classes:
        raise InfolensError(
            f"label {int(t.max())} does not fit num_classes={num_classes}; pass "
            f"num_classes >= {int(t.max()) + 1}."
        )
    return torch.nn.functional.one_hot(t, num_classes).to(torch.float32)


def from_one_hot(targets: object) -> torch.Tensor:
    """Return integer labels (int64, shape (N,)) from one-hot rows or scores: each row's argmax."""
    t = targets if isinstance(targets, torch.Tensor) else torch.as_tensor(np.asarray(targets))
    if t.ndim != 2:
        raise InfolensError(f"targets must be 2-D (N, C), got shape {tuple(t.shape)}.")
    return t.argmax(dim=1).long()


def binary_code(y: object, n_bits: int) -> torch.Tensor:
    """Binary code of integer labels, least significant bit first.

    Returns a float32 tensor of shape (N, n_bits) with ``out[i, b] = (y[i] >> b) & 1``;
    e.g. with 4 bits, 6 → (0, 1, 1, 0) and 9 → (1, 0, 0, 1). Use 4 bits for 10 classes, 3
    for digits 0–7. Raises ``InfolensError`` if a label needs more than ``n_bits`` bits.
    """
    t = _int_labels(y)
    n_bits = check_positive_int("n_bits", n_bits)
    if n_bits > 62:
        raise InfolensError(f"n_bits={n_bits} is too large; pass n_bits <= 62.")
    if t.numel() and int(t.max()) >= 2**n_bits:
        need = int(t.max()).bit_length()
        raise InfolensError(
            f"label {int(t.max())} needs {need} bits, more than n_bits={n_bits}; pass n_bits={need}."
        )
    shifts = torch.arange(n_bits, dtype=torch.int64)
    return ((t[:, None] >> shifts) & 1).to(torch.float32)


def from_binary_code(bits: object, *, threshold: float = 0.5) -> torch.Tensor:
    """Return integer labels (int64, shape (N,)) from LSB-first bits or sigmoid outputs.

    Each value is rounded at ``threshold`` (``>= threshold`` counts as 1), then
    ``label = Σ_b bit_b · 2**b``. The inverse of ``binary_code``.
    """
    t = bits if isinstance(bits, torch.Tensor) else torch.as_tensor(np.asarray(bits))
    if t.ndim != 2:
        raise InfolensError(f"bits must be 2-D (N, n_bits), got shape {tuple(t.shape)}.")
    if t.shape[1] > 62:
        raise InfolensError(f"bits has {t.shape[1]} columns; at most 62 bits are supported.")
    hard = (t >= threshold).to(torch.int64)
    weights = torch.ones(t.shape[1], dtype=torch.int64) << torch.arange(t.shape[1])
    return (hard * weights).sum(dim=1)


def binary_code_accuracy(outputs: object, y: object, *, threshold: float = 0.5) -> float:
    """Fraction of samples whose bits are *all* correct after rounding at ``threshold``.

    ``outputs`` is (N, n_bits), LSB first (e.g. sigmoid outputs); ``y`` is either integer
    labels of shape (N,) or target bits of shape (N, n_bits). Returns a float in [0, 1].
    """
    out = outputs if isinstance(outputs, torch.Tensor) else torch.as_tensor(np.asarray(outputs))
    if out.ndim != 2:
        raise InfolensError(f"outputs must be 2-D (N, n_bits), got shape {tuple(out.shape)}.")
    target = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    if target.ndim == 2:
        if target.shape != out.shape:
            raise InfolensError(
                f"target bits have shape {tuple(target.shape)} but outputs {tuple(out.shape)}."
            )
        labels = from_binary_code(target, threshold=threshold)
    else:
        labels = _int_labels(target)
        if labels.shape[0] != out.shape[0]:
            raise InfolensError(f"y has {labels.shape[0]} labels but outputs {out.shape[0]} rows.")
        if labels.numel() and int(labels.max()) >= 2 ** out.shape[1]:
            raise InfolensError(
                f"label {int(labels.max())} does not fit the {out.shape[1]} output bits."
            )
    if out.shape[0] == 0:
        raise InfolensError("outputs is empty; accuracy needs at least one sample.")
    return float((from_binary_code(out, threshold=threshold) == labels).to(torch.float64).mean())
