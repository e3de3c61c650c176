"""Representational complexity C and the degree-of-synergy atoms Pi_m.

Two exact paths: the full lattice (``isx``, n <= 5) and the union-information shortcut (n <= 6),
which needs only the redundancies of collections of equal-size source sets:
``U_m = sum_{B ⊆ K_m, B ≠ ∅} (-1)^{|B|+1} I_cap(B)`` (K_m: all m-subsets of the sources) is the
information available from at least one group of m sources, ``Pi_m = U_m - U_{m-1}`` and
``C = n - (1/I) sum_{m=1}^{n-1} U_m``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infolens._validation import InfolensError, check_choice, check_positive_int

from ._data import Distribution, build_distribution, read_sources, read_target, read_weights
from ._isx import (
    PIDResult,
    _isx_from_distribution,
    agreement_tables,
    complexity_from_degree_atoms,
)
from ._lattice import MAX_LATTICE_SOURCES, upset_of_subset
from ._union_kernel import signed_log_sum

#: Largest number of sources with an exact C (union shortcut, 1,114,235 redundancies at n = 6).
MAX_UNION_SOURCES = 6

METHODS = ("auto", "lattice", "union")


def union_collections(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Up-sets (``uint64``) and signs ``(-1)^{|B|+1}`` of every nonempty collection B of m-subsets.

    Collection ``B`` is numbered by the bits of its index over the m-subsets of ``[n]`` in
    increasing mask order; ``↑B`` is the union of the up-sets of its members.
    """
    members = [mask for mask in range(1, 1 << n) if bin(mask).count("1") == m]
    ups = np.zeros(1 << len(members), dtype=np.uint64)
    signs = np.empty(1 << len(members), dtype=np.float64)
    signs[0] = -1.0
    for j, mask in enumerate(members):
        size = 1 << j
        ups[size : 2 * size] = ups[:size] | np.uint64(upset_of_subset(mask, n))
        signs[size : 2 * size] = -signs[:size]
    return ups[1:], signs[1:]


def union_information(
    dist: Distribution, chunk_size: int | None = None
) -> np.ndarray:
    """``U_m`` for m = 0..n in bits (``U_0 = 0``, ``U_n = I(T:S)``) by the union shortcut.

    ``U_m = sum_{B} (-1)^{|B|+1} I_cap(B)`` over the nonempty collections B of m-subsets; the
    union masses of all collections are built depth first (see :mod:`._union_kernel`).
    ``chunk_size`` is the number of rows per parallel task (default 256; memory per task is
    about ``(2^n + n_members + 5) * chunk_size`` float64 values).
    """
    n = dist.n_sources
    tab = agreement_tables(dist)
    p = dist.prob
    p_states = tab.state_mass / dist.total
    const = math.log2(dist.total) - float(p @ np.log2(tab.target_mass))
    # Union masses lie in [smallest mass, total]: keep products of `group` of them < 2**1000.
    span = max(abs(math.log2(dist.total)), abs(math.log2(float(dist.mass.min()))), 1.0)
    group = int(np.clip(1000 // span, 1, 64))
    chunk = chunk_size or 256
    out = np.zeros(n + 1)
    for m in range(1, n + 1):
        s_plus = signed_log_sum(tab.w_plus, p_states, n, m, group, chunk)
        s_minus = signed_log_sum(tab.w_minus, p, n, m, group, chunk)
        # I_cap(B) = I+ - I- = (-S+_B + log2 N) - (-S-_B + sum_r p_r log2 N_t(r)); sum sign = 1.
        out[m] = -s_plus + s_minus + const
    return out


@dataclass(frozen=True, eq=False)
class ComplexityResult:
    """Representational complexity C and degree-of-synergy atoms Pi_m (bits), I^sx PID.

    Attributes:
        complexity: C = (1/I) sum_m m Pi_m (NaN when I = 0); with subsampling, the mean over
            subsets (NaN subsets skipped).
        degree_atoms: Pi_m for m = 1..n (index m - 1), bits (mean over subsets if subsampled).
        union_information: U_m for m = 0..n (bits), ``U_m = sum_{deg <= m} Pi``.
        mutual_information: I(T:S) in bits.
        method: ``"lattice"`` or ``"union"`` (the method actually used).
        n_sources, n_samples (``None`` for an explicit pmf), n_realizations.
        pid: the full :class:`PIDResult` when the lattice was used (``None`` otherwise).
        subsets: the source subsets used (subsampling), else ``None``.
        subset_results: one ``ComplexityResult`` per subset (subsampling), else ``None``.
        complexity_std: standard deviation of C over subsets (subsampling), else ``None``.
        units: ``"bits"`` (C itself is a dimensionless degree).
    """

    complexity: float
    degree_atoms: np.ndarray
    union_information: np.ndarray
    mutual_information: float
    method: str
    n_sources: int
    n_samples: int | None
    n_realizations: int
    pid: PIDResult | None = None
    subsets: tuple[tuple[int, ...], ...] | None = None
    subset_results: tuple[ComplexityResult, ...] | None = None
    complexity_std: float | None = None
    units: str = "bits"


def _complexity_of(dist: Distribution, method: str, chunk_size: int | None) -> ComplexityResult:
    n = dist.n_sources
    if method == "auto":
        # For n <= 4 both are instant and the lattice also gives every atom; from n = 5 the
        # shortcut needs 2,108 redundancies instead of 7,579, and it is the only path at n = 6.
        method = "lattice" if n <= 4 else "union"
    if n > MAX_UNION_SOURCES:
        raise InfolensError(
            f"exact C is limited to {MAX_UNION_SOURCES} sources, got {n}; subsample neuron "
            "subsets (subsets=k, seeded) or group neurons into at most 6 sources "
            "(groups=[[0, 1], [2, 3], ...]); shannon_invariants() scales to any width."
        )
    if method == "lattice":
        if n > MAX_LATTICE_SOURCES:
            raise InfolensError(
                f"method='lattice' supports at most {MAX_LATTICE_SOURCES} sources, got {n}; "
                "use method='union' (exact C and Pi_m for 6 sources)."
            )
        pid = _isx_from_distribution(dist, "average", chunk_size)
        union = np.concatenate([[0.0], np.cumsum(pid.degree_atoms)])
        return ComplexityResult(
            complexity=pid.complexity,
            degree_atoms=pid.degree_atoms,
            union_information=union,
            mutual_information=pid.mutual_information,
            method="lattice",
            n_sources=n,
            n_samples=dist.n_samples,
            n_realizations=dist.n_realizations,
            pid=pid,
        )
    union = union_information(dist, chunk_size)
    degree_atoms = np.diff(union)
    info = float(union[-1])
    return ComplexityResult(
        complexity=complexity_from_degree_atoms(degree_atoms, info),
        degree_atoms=degree_atoms,
        union_information=union,
        mutual_information=info,
        method="union",
        n_sources=n,
        n_samples=dist.n_samples,
        n_realizations=dist.n_realizations,
    )


def _unrank_combination(index: int, n: int, k: int) -> tuple[int, ...]:
    """The ``index``-th k-subset of range(n) in ``itertools.combinations`` order."""
    out = []
    start = 0
    for remaining in range(k, 0, -1):
        for x in range(start, n):
            block = math.comb(n - x - 1, remaining - 1)
            if index < block:
                out.append(x)
                start = x + 1
                break
            index -= block
    return tuple(out)


def nninfo_subsets(
    n: int, k: int, n_subsets: int = 26, seed: int = 1234
) -> tuple[tuple[int, ...], ...]:
    """Fixed random k-subsets of ``range(n)`` (0-based), reproducing nninfo's recipe.

    ``numpy.random.RandomState(seed).permutation(comb(n, k))[:n_subsets]``, each entry an index
    into ``itertools.combinations(range(n), k)`` order. With the defaults and n = 10, k = 5 the
    first subsets are (2, 3, 5, 6, 9), (0, 3, 4, 5, 9), (0, 1, 3, 6, 8). When comb(n, k) exceeds
    10**7, distinct indices are drawn from the same generator instead of a full permutation.
    """
    n = check_positive_int("n", n)
    k = check_positive_int("subsets", k)
    if k > n:
        raise InfolensError(f"cannot choose subsets of {k} out of {n} sources; pass k <= {n}.")
    n_subsets = check_positive_int("n_subsets", n_subsets)
    total = math.comb(n, k)
    count = min(n_subsets, total)
    rng = np.random.RandomState(seed)
    if total <= 10**7:
        picks = [int(i) for i in rng.permutation(total)[:count]]
    else:
        seen: dict[int, None] = {}
        while len(seen) < count:
            seen.setdefault(int(rng.randint(0, 2**62) % total), None)
        picks = list(seen)
    return tuple(_unrank_combination(i, n, k) for i in picks)


def _check_groups(groups: object, width: int) -> list[list[int]]:
    try:
        out = [[int(i) for i in g] for g in groups]  # type: ignore[union-attr]
    except TypeError:
        raise InfolensError(
            "groups must be a list of lists of column indices, e.g. [[0, 1], [2, 3]]."
        ) from None
    flat = [i for g in out for i in g]
    if not out or any(len(g) == 0 for g in out):
        raise InfolensError("groups must be nonempty lists of column indices.")
    if any(i < 0 or i >= width for i in flat):
        raise InfolensError(f"group indices must lie in 0..{width - 1}, got {groups!r}.")
    if len(set(flat)) != len(flat):
        raise InfolensError(f"groups must be disjoint, got {groups!r}.")
    return out


def representational_complexity(
    sources: object,
    target: object,
    method: str = "auto",
    *,
    weights: object | None = None,
    groups: Sequence[Sequence[int]] | None = None,
    subsets: int | None = None,
    n_subsets: int = 26,
    seed: int = 1234,
    chunk_size: int | None = None,
) -> ComplexityResult:
    """Representational complexity C of the I^sx PID of I(T : S_1..S_n), and Pi_m (bits).

    ``C = (1/I) sum_{m=1}^{n} m Pi_m`` with ``Pi_m`` the sum of the atoms of degree of synergy m
    (``deg(alpha) = min_{a in alpha} |a|``) and ``I = I(T:S)``: C = 1 when all information is
    redundant or unique, n when it is all in the top synergy atom. C may leave [1, n] because
    I^sx atoms can be negative; it is NaN (with a warning) when I = 0.

    Args:
        sources, target, weights: as in :func:`isx` (integer codes; ``(samples, k)`` target is
            one joint variable; ``weights`` an explicit pmf).
        method: ``"lattice"`` (full I^sx lattice, n <= 5, also returns every atom in ``pid``),
            ``"union"`` (union-information shortcut, exact, n <= 6, no Möbius inversion) or
            ``"auto"`` (lattice for n <= 4, union for n = 5, 6).
        groups: coarse-graining. Disjoint lists of column indices of a 2-D ``sources`` array;
            each group becomes one source whose value is the tuple of its neurons' values
            (e.g. ``[[0, 1], [2, 3], [4, 5]]`` for pairs). Columns in no group are ignored.
        subsets: subsampling. Compute C on fixed random ``subsets``-of-n source subsets (taken
            after grouping) and report their mean (``complexity``), spread (``complexity_std``)
            and each subset's result. The subsets are :func:`nninfo_subsets` with ``n_subsets``
            and ``seed`` (nninfo's reproducible default: 26 subsets, seed 1234).
        chunk_size: rows per block of the log pass (bounds peak memory).

    Returns:
        A :class:`ComplexityResult` with C, Pi_m, U_m, I, the method used, N and R.

    Raises:
        InfolensError: more than 6 sources without ``subsets``/``groups`` (the error suggests
            both), method='lattice' with 6 sources, invalid codes, lengths or weights.
    """
    method = check_choice("method", method, METHODS)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    if groups is not None:
        arr = sources
        if isinstance(arr, (list, tuple)):
            raise InfolensError(
                "groups= coarse-grains the columns of a 2-D sources array; with a list of "
                "per-source arrays the sources are already groups, so drop groups=."
            )
        codes, samples, _ = read_sources(arr)
        grouped = _check_groups(groups, codes.shape[1])
        codes, _, _ = read_sources([codes[:, g] for g in grouped])
    else:
        codes, samples, _ = read_sources(sources)
    tcodes, _ = read_target(target, samples)
    w = None if weights is None else read_weights(weights, samples)
    n = codes.shape[1]
    if subsets is None:
        if n > MAX_UNION_SOURCES:
            raise InfolensError(
                f"{n} sources is too many for an exact I^sx complexity (at most "
                f"{MAX_UNION_SOURCES}; the lattice of 7 sources has 2.4e12 atoms). Subsample "
                "fixed random neuron subsets with subsets=k (e.g. subsets=5, seed=1234), or "
                "coarse-grain neurons into at most 6 sources with groups=[[0, 1], [2, 3], ...]."
            )
        return _complexity_of(build_distribution(codes, tcodes, w, samples), method, chunk_size)
    chosen = nninfo_subsets(n, subsets, n_subsets, seed)
    if subsets > MAX_UNION_SOURCES:
        raise InfolensError(
            f"subsets={subsets} is above the exact limit of {MAX_UNION_SOURCES} sources; pass "
            "subsets <= 6 (nninfo uses 5)."
        )
    results = tuple(
        _complexity_of(build_distribution(codes[:, list(c)], tcodes, w, samples), method, chunk_size)
        for c in chosen
    )
    cs = np.array([r.complexity for r in results])
    finite = cs[np.isfinite(cs)]
    return ComplexityResult(
        complexity=float(finite.mean()) if len(finite) else math.nan,
        degree_atoms=np.mean([r.degree_atoms for r in results], axis=0),
        union_information=np.mean([r.union_information for r in results], axis=0),
        mutual_information=float(np.mean([r.mutual_information for r in results])),
        method=results[0].method,
        n_sources=subsets,
        n_samples=results[0].n_samples,
        n_realizations=int(max(r.n_realizations for r in results)),
        subsets=chosen,
        subset_results=results,
        complexity_std=float(finite.std()) if len(finite) else math.nan,
    )


__all__ = [
    "ComplexityResult",
    "nninfo_subsets",
    "representational_complexity",
    "union_collections",
    "union_information",
]
