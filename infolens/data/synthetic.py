"""nninfo's synthetic tasks: XOR, parity, checkerboard and the first-bit task.

Each task is a per-sample rule applied to counter-based random numbers: input j of sample
i is a function of ``(seed, stream, i, j)`` only (splitmix64 used as a hash, see
``infolens.data._counter``). Draws are therefore deterministic and **prefix-stable**: the
first m samples of a size-n draw equal a size-m draw, and ``start`` gives random access
(``f(n, start=s)`` equals rows ``s..s+n-1`` of a longer draw). Tasks share the stream, so
for the same seed XOR, checkerboard and continuous parity see the same x in their first
columns. Uniform inputs are float32 in [0, 1) on the 2**-24 grid; labels are int64 in {0, 1}.
"""

from __future__ import annotations

import numpy as np
import torch

from infolens._validation import InfolensError, check_positive_int
from infolens.data._counter import check_seed, fair_bits, uniform_float32

MAX_EXHAUSTIVE_BITS = 24


def _check_draw(n: object, start: object, stream: object, seed: object) -> tuple[int, int, int, int]:
    n = check_positive_int("n", n)
    start = check_positive_int("start", start, minimum=0)
    if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or not (
        0 <= int(stream) < 2**64
    ):
        raise InfolensError(f"stream must be an integer in [0, 2**64), got {stream!r}.")
    if start + n > 2**63:
        raise InfolensError(f"start + n = {start + n} exceeds 2**63; pass a smaller start.")
    return n, start, int(stream), check_seed(seed)


def binary_patterns(n_bits: int) -> torch.Tensor:
    """All ``2**n_bits`` binary patterns in counting order, most significant bit first.

    Returns float32 of shape (2**n_bits, n_bits) with ``X[i, j] = (i >> (n_bits-1-j)) & 1``
    (the order of ``itertools.product((0, 1), repeat=n_bits)``). At most 24 bits.
    """
    n_bits = check_positive_int("n_bits", n_bits)
    if n_bits > MAX_EXHAUSTIVE_BITS:
        raise InfolensError(
            f"n_bits={n_bits} gives 2**{n_bits} patterns; all patterns are available up to "
            f"n_bits={MAX_EXHAUSTIVE_BITS}. Draw samples instead (exhaustive=False)."
        )
    i = torch.arange(2**n_bits, dtype=torch.int64)
    return ((i[:, None] >> torch.arange(n_bits - 1, -1, -1)) & 1).to(torch.float32)


def xor(
    n: int, *, seed: int = 0, irrelevant: bool = False, start: int = 0, stream: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """XOR task: x ~ U[0,1)² and ``y = [x₀ ≥ ½] XOR [x₁ ≥ ½]``.

    With ``irrelevant=True`` a third input x₂ ~ U[0,1) is appended that carries no label
    information (x₀, x₁ are unchanged). Returns ``(X, y)``: X float32 (n, 2) or (n, 3) in
    [0, 1); y int64 (n,) in {0, 1}. Samples ``start..start+n-1`` of the ``(seed, stream)``
    sequence; x_limits are (0, 1).
    """
    n, start, stream, seed = _check_draw(n, start, stream, seed)
    x = uniform_float32(seed, stream, start, n, 3 if irrelevant else 2)
    y = (x[:, 0] >= 0.5) ^ (x[:, 1] >= 0.5)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def parity(
    n_bits: int,
    n: int | None = None,
    *,
    seed: int = 0,
    continuous: bool = False,
    exhaustive: bool = False,
    start: int = 0,
    stream: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parity task on ``n_bits`` inputs.

    - binary (default): x ∈ {0,1}^n_bits i.i.d. fair bits, ``y = (Σ x_j) mod 2``
      (x_limits "binary");
    - ``continuous=True``: x ~ U[0,1)^n_bits, ``y = #{j : x_j ≥ ½} mod 2`` (x_limits (0, 1));
    - ``exhaustive=True`` (binary only, leave ``n`` unset): all 2**n_bits patterns in
      counting order, MSB first, exactly half of them positive.

    Returns ``(X, y)``: X float32 (n, n_bits), y int64 (n,) in {0, 1}.
    """
    n_bits = check_positive_int("n_bits", n_bits)
    if exhaustive:
        if continuous:
            raise InfolensError(
                "exhaustive=True enumerates binary patterns; it cannot be combined with "
                "continuous=True. Pass one of them."
            )
        if n is not None:
            raise InfolensError(
                f"exhaustive=True returns all 2**{n_bits} patterns; leave n unset (got n={n!r})."
            )
        X = binary_patterns(n_bits)
        return X, (X.sum(dim=1).to(torch.int64) % 2)
    if n is None:
        raise InfolensError(
            "parity needs the number of samples n (e.g. parity(8, 10_000)), or exhaustive=True "
            "for all 2**n_bits patterns."
        )
    n, start, stream, seed = _check_draw(n, start, stream, seed)
    if continuous:
        x = uniform_float32(seed, stream, start, n, n_bits)
        y = (x >= 0.5).sum(axis=1) % 2
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    bits = fair_bits(seed, stream, start, n, n_bits)
    y = bits.sum(axis=1, dtype=np.int64) % 2
    return torch.from_numpy(bits.astype(np.float32)), torch.from_numpy(y)


def _check_size(size: object) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)
    ):
        raise InfolensError(
            f"size must be a pair of positive integers (cells along x0 and x1), got {size!r}; "
            "pass e.g. size=(4, 4)."
        )
    return int(size[0]), int(size[1])


def checkerboard(
    n: int, size: tuple[int, int], *, seed: int = 0, start: int = 0, stream: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checkerboard task: x ~ U[0,1)² and ``y = (⌊a·x₀⌋ + ⌊b·x₁⌋) mod 2`` for ``size=(a, b)``.

    The products are exact (float64 of the float32 inputs), so the rule holds exactly on
    the returned X. ``size=(2, 2)`` gives the XOR labels. Returns ``(X, y)``: X float32
    (n, 2) in [0, 1), y int64 (n,) in {0, 1}; x_limits are (0, 1).
    """
    a, b = _check_size(size)
    n, start, stream, seed = _check_draw(n, start, stream, seed)
    x = uniform_float32(seed, stream, start, n, 2)
    cells = np.floor(x.astype(np.float64) * np.array([a, b], dtype=np.float64)).astype(np.int64)
    y = (cells[:, 0] + cells[:, 1]) % 2
    return torch.from_numpy(x), torch.from_numpy(y)


def first_bit(n_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """nninfo's first-bit ("fake") task: all 2**n_bits patterns with ``y = x₀``.

    Returns ``(X, y)``: X float32 (2**n_bits, n_bits) in counting order, MSB first, so x₀
    is the most significant bit; y int64 (2**n_bits,) in {0, 1}. x_limits "binary".
    """
    X = binary_patterns(n_bits)
    return X, X[:, 0].to(torch.int64)
