"""Counter-based random numbers: value (seed, stream, i, j) depends on nothing else.

The generator is splitmix64 used as a hash. A key is derived from ``(seed, stream)``; row
``i`` gets its own key ``mix(key + (i+1)·γ)`` and column ``j`` of that row is
``mix(row_key + (j+1)·γ)``, where ``γ`` is the 64-bit golden-ratio increment and ``mix`` the
splitmix64 finaliser. Because nothing is carried from one sample to the next, draws are
prefix-stable (the first m rows of an n-row draw equal an m-row draw), any sample can be
computed on its own, and the numbers are the same on every platform and numpy version
(the arithmetic is plain wrapping uint64).
"""

from __future__ import annotations

import numpy as np

from infolens._validation import InfolensError

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_CHUNK = 1 << 18  # rows per block, bounds the temporary uint64 arrays


def check_seed(seed: object) -> int:
    """Validate a seed: an integer in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InfolensError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0.")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise InfolensError(f"seed={seed} is outside [0, 2**64); pass e.g. seed=0.")
    return seed


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(seed: int, stream: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        k = _mix(np.array([seed], dtype=np.uint64) + _GAMMA)
        return _mix(k ^ _mix(np.array([stream], dtype=np.uint64) + _GAMMA + _GAMMA))


def hash_uint64(seed: int, stream: int, index: np.ndarray, n_cols: int) -> np.ndarray:
    """Random uint64 array of shape ``(len(index), n_cols)``; row r depends on ``index[r]``."""
    index = np.asarray(index, dtype=np.uint64)
    key = _key(seed, stream)
    out = np.empty((index.shape[0], n_cols), dtype=np.uint64)
    with np.errstate(over="ignore"):
        cols = (np.arange(1, n_cols + 1, dtype=np.uint64) * _GAMMA)[None, :]
        for lo in range(0, index.shape[0], _CHUNK):
            rows = index[lo : lo + _CHUNK]
            row_key = _mix(key + (rows + np.uint64(1)) * _GAMMA)
            out[lo : lo + _CHUNK] = _mix(row_key[:, None] + cols)
    return out


def uniform_float32(seed: int, stream: int, start: int, n: int, n_cols: int) -> np.ndarray:
    """Uniform float32 in [0, 1) of shape (n, n_cols) for samples ``start..start+n-1``.

    Each value is ``(h >> 40) / 2**24``: the top 24 bits of the hash, exact in float32, so
    1.0 never occurs.
    """
    h = hash_uint64(seed, stream, np.arange(start, start + n, dtype=np.uint64), n_cols)
    return (h >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def fair_bits(seed: int, stream: int, start: int, n: int, n_cols: int) -> np.ndarray:
    """Fair {0, 1} bits (uint8) of shape (n, n_cols): the top bit of each hash."""
    h = hash_uint64(seed, stream, np.arange(start, start + n, dtype=np.uint64), n_cols)
    return (h >> np.uint64(63)).astype(np.uint8)


def permutation(n: int, seed: int, stream: int = 0) -> np.ndarray:
    """A seeded permutation of ``range(n)`` (int64): indices sorted by their hash key."""
    keys = hash_uint64(seed, stream, np.arange(n, dtype=np.uint64), 1)[:, 0]
    return np.argsort(keys, kind="stable").astype(np.int64)
