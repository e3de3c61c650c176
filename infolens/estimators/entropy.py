"""Entropy and mutual information from integer counts.

Estimators are chosen by name:

- ``"plugin"``: the maximum-likelihood estimate ``H = -Σ p log p`` with ``p = c / N``.
- ``"miller_madow"``: plug-in plus the Miller–Madow bias correction ``(K - 1) / (2N)`` nats,
  with ``K`` the number of occupied cells.

Units are bits by default (``base=2``); pass ``base=math.e`` for nats. Every function is
vectorised over leading dimensions and computes in float64.
"""

from __future__ import annotations

import math

import torch

from infolens._validation import InfolensError, check_choice

ESTIMATORS = ("plugin", "miller_madow")


def _check_base(base: float) -> float:
    base = float(base)
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise InfolensError(f"base={base!r} is not a valid logarithm base; pass e.g. 2 or math.e.")
    return base


def _sum_clogc(counts: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    c = counts.double()
    return torch.xlogy(c, c).sum(dim=dims)


def entropy_from_counts(
    counts: torch.Tensor,
    dim: int | tuple[int, ...] = -1,
    *,
    estimator: str = "plugin",
    base: float = 2.0,
) -> torch.Tensor:
    """Entropy ``H = log N - (1/N) Σ_i c_i log c_i`` of the histogram(s) in ``counts``.

    ``dim`` names the cell dimension(s); the others are batch dimensions. An empty histogram
    (N = 0) has entropy 0. Miller–Madow adds ``(K - 1) / (2N)`` nats (K occupied cells).
    Returns float64, in units of ``log base`` (bits by default).
    """
    check_choice("estimator", estimator, ESTIMATORS)
    base = _check_base(base)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    n = counts.sum(dim=dims).double()
    safe_n = n.clamp(min=1.0)
    h = torch.log(safe_n) - _sum_clogc(counts, dims) / safe_n
    if estimator == "miller_madow":
        k = (counts > 0).sum(dim=dims).double()
        h = h + (k - 1).clamp(min=0) / (2 * safe_n)
    h = torch.where(n > 0, h, torch.zeros_like(h))
    return h / math.log(base)


def mutual_information_from_joint(
    joint: torch.Tensor,
    *,
    estimator: str = "plugin",
    base: float = 2.0,
    block: int = 4096,
) -> torch.Tensor:
    """Mutual information ``I(X;Y) = H(X) + H(Y) - H(X,Y)`` of joint count tables.

    ``joint`` has shape ``(..., Bx, By)``: one ``Bx × By`` contingency table per leading index.
    With ``estimator="plugin"`` each entropy is the plug-in estimate and the result is
    clipped at 0 (it is non-negative up to rounding); ``"miller_madow"`` corrects each of the
    three entropies and is not clipped (a bias-corrected estimate can be negative). Tables
    with no counts give 0. Computed ``block`` tables at a time to bound memory. Returns
    float64 of shape ``joint.shape[:-2]``, in bits by default.
    """
    if joint.dim() < 2:
        raise InfolensError("joint must have at least 2 dimensions (..., Bx, By).")
    lead = joint.shape[:-2]
    flat = joint.reshape(-1, joint.shape[-2], joint.shape[-1])
    out = torch.empty(flat.shape[0], dtype=torch.float64, device=joint.device)
    for start in range(0, flat.shape[0], block):
        tables = flat[start : start + block]
        hx = entropy_from_counts(tables.sum(dim=2), -1, estimator=estimator, base=base)
        hy = entropy_from_counts(tables.sum(dim=1), -1, estimator=estimator, base=base)
        hxy = entropy_from_counts(tables, (1, 2), estimator=estimator, base=base)
        mi = hx + hy - hxy
        if estimator == "plugin":
            mi = mi.clamp(min=0.0)
        out[start : start + block] = mi
    return out.reshape(lead)
