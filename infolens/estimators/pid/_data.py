"""Input checking and the plug-in distribution shared by the PID estimators.

Everything here turns user arrays into a table of distinct realizations with their masses (integer
counts, or explicit probabilities when ``weights`` are given) and computes plug-in entropies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from infolens._validation import InfolensError


def _as_array(name: str, value: object) -> np.ndarray:
    """Convert arrays, tensors and nested lists to a numpy array (no copy when possible)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InfolensError(f"{name} could not be read as an array: {exc}.") from None


def _check_codes(name: str, arr: np.ndarray) -> np.ndarray:
    """Require a nonempty array of non-negative integer codes; return it as int64."""
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InfolensError(
            f"{name} must hold non-negative integer codes (e.g. quantization level indices), got "
            f"dtype {arr.dtype}; map the values to integer codes first, e.g. with "
            "np.unique(x, return_inverse=True)[1] or x.astype(int) for integral floats."
        )
    if arr.size and int(arr.min()) < 0:
        raise InfolensError(
            f"{name} holds negative codes (minimum {int(arr.min())}); symbols must be non-negative "
            "integers, e.g. level indices 0..L-1."
        )
    return arr.astype(np.int64, copy=False)


def compact_codes(columns: np.ndarray) -> tuple[np.ndarray, int]:
    """Map each row of an integer matrix ``(rows, k)`` to a code 0..K-1 (K distinct rows).

    Returns the codes and K. Rows are numbered in lexicographic order.
    """
    columns = np.asarray(columns, dtype=np.int64)
    if columns.ndim == 1:
        columns = columns[:, None]
    rows, k = columns.shape
    if rows == 0:
        return np.zeros(0, dtype=np.int64), 0
    if k == 0:
        return np.zeros(rows, dtype=np.int64), 1
    # Mixed-radix key when it fits in int64, else a row-wise unique.
    spans = columns.max(axis=0) + 1
    if float(np.prod(spans.astype(np.float64))) < 2.0**62:
        key = np.zeros(rows, dtype=np.int64)
        for j in range(k):
            key = key * spans[j] + columns[:, j]
        uniq, inv = np.unique(key, return_inverse=True)
    else:
        uniq, inv = np.unique(columns, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(uniq)


def _value_table(arr: np.ndarray) -> list:
    """Distinct values (ints, or tuples for multi-column arrays) in code order."""
    if arr.ndim == 1 or arr.shape[1] == 1:
        return [int(v) for v in np.unique(arr.reshape(-1))]
    return [tuple(int(x) for x in row) for row in np.unique(arr, axis=0)]


def read_sources(sources: object, *, name: str = "sources") -> tuple[np.ndarray, int, list]:
    """Read sources into a ``(samples, n)`` matrix of per-source codes.

    ``sources`` is an integer array ``(samples, n)`` (one column per source), a 1-D array (one
    source), or a list of arrays, each ``(samples,)`` or ``(samples, k)``; a ``(samples, k)`` entry
    is one source whose value is the tuple of its k columns (a group of neurons).
    Returns the code matrix, the number of samples and, per source, its distinct original values
    in code order (ints, or tuples for groups).
    """
    if isinstance(sources, (list, tuple)):
        if len(sources) == 0:
            raise InfolensError(f"{name} is empty; pass at least one source.")
        parts = [_as_array(f"{name}[{i}]", s) for i, s in enumerate(sources)]
        lengths = {p.shape[0] if p.ndim else -1 for p in parts}
        if -1 in lengths or any(p.ndim > 2 for p in parts):
            raise InfolensError(
                f"each entry of {name} must be an array of shape (samples,) or (samples, k)."
            )
        if len(lengths) != 1:
            raise InfolensError(
                f"the entries of {name} have mismatched lengths {sorted(lengths)}; every source "
                "needs one value per sample."
            )
        cols, values = [], []
        for i, p in enumerate(parts):
            p = _check_codes(f"{name}[{i}]", p)
            if p.ndim == 2 and p.shape[1] == 0:
                raise InfolensError(f"{name}[{i}] has no columns; a source needs >= 1 neuron.")
            cols.append(compact_codes(p)[0])
            values.append(_value_table(p))
        return np.stack(cols, axis=1), parts[0].shape[0], values
    arr = _as_array(name, sources)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InfolensError(
            f"{name} must have shape (samples, n_sources) or be a list of per-source arrays, "
            f"got shape {arr.shape}."
        )
    arr = _check_codes(name, arr)
    cols = [compact_codes(arr[:, j])[0] for j in range(arr.shape[1])]
    values = [_value_table(arr[:, j]) for j in range(arr.shape[1])]
    return np.stack(cols, axis=1), arr.shape[0], values


def read_target(target: object, samples: int) -> tuple[np.ndarray, list]:
    """Read a target ``(samples,)`` or ``(samples, k)`` (one joint variable) into codes.

    Returns the codes and the distinct original values in code order.
    """
    arr = _check_codes("target", _as_array("target", target))
    if arr.ndim not in (1, 2) or arr.shape[0] != samples:
        raise InfolensError(
            f"target must have shape ({samples},) or ({samples}, k) to match the {samples} "
            f"samples of the sources, got shape {arr.shape}."
        )
    return compact_codes(arr)[0], _value_table(arr)


def read_weights(weights: object, samples: int) -> np.ndarray:
    """Check explicit per-row probabilities: finite, non-negative, summing to 1."""
    w = _as_array("weights", weights)
    if w.ndim != 1 or w.shape[0] != samples:
        raise InfolensError(
            f"weights must have shape ({samples},), one probability per row, got {w.shape}."
        )
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise InfolensError(f"weights must be numbers, got dtype {w.dtype}.")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise InfolensError("weights hold NaN or inf; pass finite probabilities.")
    if np.any(w < 0):
        raise InfolensError("weights hold negative values; probabilities must be >= 0.")
    total = float(w.sum())
    if abs(total - 1.0) > 1e-9:
        raise InfolensError(
            f"weights sum to {total!r}, not 1; pass a normalised pmf (e.g. weights / weights.sum())."
        )
    return w


@dataclass(frozen=True)
class Distribution:
    """Plug-in joint distribution over distinct realizations ``(s_1..s_n, t)``.

    ``mass`` holds integer counts (``total`` = number of samples) or probabilities (``total`` = 1).
    """

    sources: np.ndarray  # (R, n) int64 per-source codes
    target: np.ndarray  # (R,) int64 target codes
    mass: np.ndarray  # (R,) float64, > 0
    total: float
    n_samples: int | None  # None when an explicit pmf was given
    exact_counts: bool
    source_values: tuple = ()  # per source: original value of each code
    target_values: tuple = ()  # original target value of each code

    @property
    def n_sources(self) -> int:
        return int(self.sources.shape[1])

    @property
    def n_realizations(self) -> int:
        return int(self.sources.shape[0])

    @property
    def prob(self) -> np.ndarray:
        return self.mass / self.total


def build_distribution(
    codes: np.ndarray, target: np.ndarray, weights: np.ndarray | None, samples: int
) -> Distribution:
    """Collapse rows to distinct realizations with their counts or summed weights."""
    if samples == 0:
        raise InfolensError("no samples were given; pass at least one row.")
    table = np.concatenate([codes, target[:, None]], axis=1)
    if weights is None:
        mass_rows = np.ones(samples)
    else:
        keep = weights > 0
        table, mass_rows = table[keep], weights[keep]
    key, k = compact_codes(table)
    mass = np.bincount(key, weights=mass_rows, minlength=k)
    first = np.full(k, -1, dtype=np.int64)
    first[key[::-1]] = np.arange(len(key))[::-1]
    uniq = table[first]
    return Distribution(
        sources=uniq[:, :-1],
        target=uniq[:, -1],
        mass=mass,
        total=float(samples) if weights is None else float(mass.sum()),
        n_samples=samples if weights is None else None,
        exact_counts=weights is None,
    )


def prepare(sources: object, target: object, weights: object | None) -> Distribution:
    """Validate ``sources``, ``target`` and ``weights`` and build the plug-in distribution."""
    codes, samples, svalues = read_sources(sources)
    tcodes, tvalues = read_target(target, samples)
    w = None if weights is None else read_weights(weights, samples)
    dist = build_distribution(codes, tcodes, w, samples)
    return replace(dist, source_values=tuple(svalues), target_values=tuple(tvalues))


def entropy(columns: np.ndarray, prob: np.ndarray) -> float:
    """Plug-in Shannon entropy in bits of the joint variable formed by ``columns``."""
    if columns.ndim == 2 and columns.shape[1] == 0:
        return 0.0
    key, k = compact_codes(columns)
    p = np.bincount(key, weights=prob, minlength=k)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def mutual_information(dist: Distribution, subset: Sequence[int]) -> float:
    """Plug-in I(T : S_subset) in bits."""
    cols = dist.sources[:, list(subset)]
    p = dist.prob
    return (
        entropy(cols, p)
        + entropy(dist.target, p)
        - entropy(np.concatenate([cols, dist.target[:, None]], axis=1), p)
    )
