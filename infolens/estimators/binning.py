"""Equal-width binning of continuous values into small integer codes.

Codes are ``int16`` tensors on the input's device; ``-1`` marks a value that the out-of-range
policy dropped. Arithmetic is done in float64 so that bin edges are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from infolens._validation import InfolensError, check_choice, check_positive_int

DROPPED = -1
OUT_OF_RANGE_POLICIES = ("drop", "clip")


@dataclass(frozen=True)
class Binning:
    """An equal-width binning of ``[low, high]`` into ``bins`` bins.

    ``widen`` enlarges the range to ``[low - widen, high + widen)`` (deep-ei uses 1e-6, with
    an exclusive upper edge). With ``widen == 0`` the upper edge is inclusive, so ``high``
    itself falls in the last bin. Values outside the range are dropped (``policy="drop"``,
    code -1) or moved to the nearest edge bin (``policy="clip"``).
    """

    low: float
    high: float
    bins: int
    policy: str = "drop"
    widen: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("bins", self.bins)
        if self.bins > 32767:
            raise InfolensError(f"bins={self.bins} is too large; use at most 32767 bins.")
        check_choice("out_of_range", self.policy, OUT_OF_RANGE_POLICIES)
        if not self.low < self.high:
            raise InfolensError(
                f"range ({self.low}, {self.high}) is empty or inverted; pass low < high."
            )

    @property
    def edges(self) -> tuple[float, float]:
        """The (lower, upper) edge actually used, after widening."""
        return self.low - self.widen, self.high + self.widen

    def codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin ``x`` (any shape); returns ``(codes, out_of_range_mask)``.

        ``codes`` has ``x``'s shape and dtype int16; the mask marks values outside the
        (widened) range, whatever the policy did with them.
        """
        return bin_codes(x, self.low, self.high, self.bins, policy=self.policy, widen=self.widen)


def bin_codes(
    x: torch.Tensor,
    low: float | torch.Tensor,
    high: float | torch.Tensor,
    bins: int,
    *,
    policy: str = "drop",
    widen: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Equal-width bin codes of ``x`` over ``[low, high]``.

    Bin ``k`` holds ``lo + k·w <= v < lo + (k+1)·w`` with ``lo = low - widen``,
    ``w = (high - low + 2·widen) / bins``, computed as ``floor((v - lo) · bins / (hi - lo))``
    in float64. ``low``/``high`` may be per-variable tensors broadcasting against the last
    dimension of ``x`` (per-variable ranges). With ``widen == 0`` the value ``high`` belongs
    to the last bin; with ``widen > 0`` the widened upper edge is exclusive (deep-ei's rule).

    Returns ``(codes, out_of_range)``: int16 codes (``-1`` where ``policy="drop"`` dropped
    the value) and a boolean mask of the values outside the range.
    """
    xd = x.double()
    lo = _as_edge(low, xd) - widen
    hi = _as_edge(high, xd) + widen
    width = hi - lo
    # tensor/tensor true division: `scalar / tensor` is computed through a reciprocal in
    # torch, which rounds differently from the documented formula
    scale = torch.full_like(width, float(bins)) / width if isinstance(width, torch.Tensor) else bins / width
    scaled = (xd - lo) * scale
    inside = (xd >= lo) & (xd < hi)
    if widen == 0.0:
        inside |= xd == hi
    # clamp before the cast so far-out values cannot overflow int16; values within the
    # range whose float64 product rounds up to `bins` stay in the last bin
    codes = torch.floor(scaled).nan_to_num_(nan=0.0).clamp_(0, bins - 1).to(torch.int16)
    if policy == "drop":
        codes[~inside] = DROPPED
    else:
        codes[torch.isnan(xd)] = DROPPED
    return codes, ~inside


def code_dtype(bins: int) -> torch.dtype:
    """The smallest signed integer dtype holding codes ``-1 .. bins-1``."""
    return torch.int8 if bins <= 127 else torch.int16


def bin_codes_transposed(
    x: torch.Tensor,
    low: float | torch.Tensor,
    high: float | torch.Tensor,
    bins: int,
    *,
    policy: str = "drop",
    widen: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`bin_codes` of a 2-D ``x`` (N, k), returned transposed as (k, N) codes (int8
    when ``bins <= 127``, else int16), with the number of out-of-range values per variable.

    On the CPU a compiled kernel writes the transposed codes directly (the layout the
    counting kernel reads); elsewhere this is ``bin_codes(x).T``.
    """
    if x.device.type != "cpu" or x.dim() != 2:
        codes, oor = bin_codes(x, low, high, bins, policy=policy, widen=widen)
        return codes.T.contiguous().to(code_dtype(bins)), oor.sum(dim=0)
    from infolens.estimators._kernels import bin_transposed

    k = x.shape[1]
    lo = torch.as_tensor(low, dtype=torch.float64).expand(k) - widen
    hi = torch.as_tensor(high, dtype=torch.float64).expand(k) + widen
    xc = x.contiguous()
    if xc.dtype not in (torch.float32, torch.float64):
        xc = xc.double()
    out = torch.empty((k, x.shape[0]), dtype=code_dtype(bins))
    oor = torch.zeros((max(1, (x.shape[0] + 2047) // 2048), k), dtype=torch.int64)
    bin_transposed(
        xc.numpy(), lo.contiguous().numpy(), hi.contiguous().numpy(), int(bins),
        policy == "clip", widen == 0.0, out.numpy(), oor.numpy(),
    )
    return out, oor.sum(dim=0)


def _as_edge(edge: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    if isinstance(edge, torch.Tensor):
        return edge.to(device=like.device, dtype=torch.float64)
    return float(edge)


def floor_codes(x: torch.Tensor, low: float, high: float, bins: int, pad: float = 1e-4) -> torch.Tensor:
    """deep-ei 0.7.0's vector-EI binning: ``floor((v - low) / (high - low + pad) · bins)``.

    Computed in ``x``'s own dtype exactly as deep-ei does; returns int64 codes that may be
    negative (values below ``low`` become extra bins) or ``>= bins`` (the caller drops
    those samples). Used by :mod:`infolens.compat.deep_ei`.
    """
    return torch.floor((x - low) / (high - low + pad) * bins).to(torch.int64)
