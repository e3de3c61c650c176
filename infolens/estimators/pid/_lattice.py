"""The redundancy lattice A_n of antichains, generated in code.

Conventions (shared by the whole ``pid`` package):

* Source ``i`` (0-based) is bit ``i`` of a *subset mask*; a subset of ``[n]`` is an ``int`` in
  ``1 .. 2**n - 1``.
* An antichain ``alpha`` is stored as its *up-set* ``u(alpha)``: an integer with ``2**n`` bits, bit
  ``m`` set iff subset ``m`` contains some member of ``alpha`` (``m`` in the up-set of ``alpha``).
  The empty subset is never in an up-set.
* ``beta <= alpha`` (``beta`` below ``alpha``) iff ``u(alpha)`` is a subset of ``u(beta)``.
* Public antichain keys are tuples of sorted tuples of 0-based source indices, the outer tuple
  sorted too, e.g. ``((0,), (1,))`` for {1}{2} and ``((0, 1),)`` for {12}.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from infolens._validation import InfolensError

Antichain = tuple[tuple[int, ...], ...]

#: Largest number of sources for which the full lattice is generated (|A_5| = 7,579).
MAX_LATTICE_SOURCES = 5


def subset_to_tuple(mask: int, n: int) -> tuple[int, ...]:
    """Sorted tuple of the 0-based indices whose bits are set in ``mask``."""
    return tuple(i for i in range(n) if (mask >> i) & 1)


def upset_of_subset(mask: int, n: int) -> int:
    """Up-set bitmask of the single set ``mask``: every subset of ``[n]`` that contains it."""
    u = 0
    for m in range(1, 1 << n):
        if m & mask == mask:
            u |= 1 << m
    return u


def canonical_antichain(antichain: Iterable[Iterable[int]]) -> Antichain:
    """Canonical key of an antichain: sorted tuple of sorted tuples of ints.

    Raises ``InfolensError`` when the collection is empty, holds an empty set, or two of its sets
    are nested (then it is not an antichain).
    """
    try:
        sets = [tuple(sorted({int(i) for i in a})) for a in antichain]
    except TypeError:
        raise InfolensError(
            f"an antichain must be a collection of collections of source indices, got "
            f"{antichain!r}; pass e.g. ((0,), (1,)) for {{1}}{{2}}."
        ) from None
    if not sets or any(len(a) == 0 for a in sets):
        raise InfolensError(f"antichain {antichain!r} must be nonempty and hold nonempty sets.")
    frozen = [frozenset(a) for a in sets]
    for i, a in enumerate(frozen):
        for j, b in enumerate(frozen):
            if i != j and a <= b:
                raise InfolensError(
                    f"{antichain!r} is not an antichain: {sorted(a)} is contained in {sorted(b)}."
                )
    return tuple(sorted(set(sets)))


def _enumerate_upsets(n: int) -> list[int]:
    """All nonempty up-sets of nonempty subsets of ``[n]``, as ``2**n``-bit integers.

    Depth-first over subsets in decreasing popcount: a subset may join the up-set only if all its
    immediate supersets are already in it. Each leaf is one up-set.
    """
    full = (1 << n) - 1
    order = sorted(range(1, full + 1), key=lambda m: (-bin(m).count("1"), m))
    need = []
    for m in order:
        sup = 0
        for i in range(n):
            if not (m >> i) & 1:
                sup |= 1 << (m | (1 << i))
        need.append((1 << m, sup))
    out: list[int] = []
    depth = len(order)

    def dfs(pos: int, u: int) -> None:
        if pos == depth:
            if u:
                out.append(u)
            return
        bit, sup = need[pos]
        dfs(pos + 1, u)
        if u & sup == sup:
            dfs(pos + 1, u | bit)

    dfs(0, 0)
    return out


def _membership(upsets: np.ndarray, n: int) -> np.ndarray:
    """Boolean matrix ``(len(upsets), 2**n)``: entry ``[k, m]`` says whether ``m`` is in up-set k."""
    bits = np.arange(1 << n, dtype=np.uint64)
    return ((upsets[:, None] >> bits[None, :]) & np.uint64(1)).astype(bool)


def _minimal_masks(inside: np.ndarray, n: int) -> np.ndarray:
    """Members of each up-set none of whose one-smaller subsets is a member (its antichain)."""
    minimal = inside.copy()
    for m in range(1, 1 << n):
        for i in range(n):
            if (m >> i) & 1:
                minimal[:, m] &= ~inside[:, m & ~(1 << i)]
    minimal[:, 0] = False
    return minimal


@dataclass(frozen=True, eq=False)
class Lattice:
    """The redundancy lattice A_n with its zeta and Möbius operators.

    Nodes are ordered by decreasing up-set size, so ``beta <= alpha`` implies that ``beta`` comes
    first: the zeta matrix ``Z[alpha, beta] = [beta <= alpha]`` is unit lower-triangular, and the
    redundancies are ``I_cap = Z @ Pi`` (the zeta relation).

    Attributes:
        n: number of sources.
        antichains: canonical keys, in lattice order.
        upsets: up-set bitmasks (``uint64``), in lattice order.
        degree: degree of synergy ``min_{a in alpha} |a|`` of each node.
        index: key -> position.
    """

    n: int
    antichains: tuple[Antichain, ...]
    upsets: np.ndarray
    degree: np.ndarray
    index: dict[Antichain, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.antichains)

    @functools.cached_property
    def ubar(self) -> np.ndarray:
        """Dense 0/1 matrix ``(2**n, |A_n|)``: entry ``[m, alpha]`` is 1 iff ``m`` is in ``↑alpha``."""
        bits = np.arange(1 << self.n, dtype=np.uint64)
        return ((self.upsets[None, :] >> bits[:, None]) & np.uint64(1)).astype(np.float64)

    @functools.cached_property
    def zeta(self) -> sp.csr_matrix:
        """Sparse unit lower-triangular zeta matrix ``Z[alpha, beta] = [beta <= alpha]``."""
        u = self.upsets
        size = len(u)
        indices: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        step = max(1, 2_000_000 // max(size, 1))
        for start in range(0, size, step):
            stop = min(size, start + step)
            # beta <= alpha  <=>  u(alpha) is a subset of u(beta); such beta never come later.
            hit = (u[start:stop, None] & ~u[None, :stop]) == 0
            counts.append(hit.sum(axis=1))
            indices.append(np.nonzero(hit)[1].astype(np.int32))
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.concatenate(counts), out=indptr[1:])
        idx = np.concatenate(indices)
        return sp.csr_matrix((np.ones(len(idx)), idx, indptr), shape=(size, size))

    @functools.cached_property
    def mobius(self) -> sp.csr_matrix:
        """Sparse Möbius matrix ``M = Z^{-1}``, so that ``Pi = M @ I_cap``.

        The lattice is distributive. Its Möbius function is ``mu(beta, alpha) = (-1)^|D|`` when
        ``↑beta`` is ``↑alpha`` plus a set ``D`` of subsets each of whose immediate supersets is
        already in ``↑alpha`` (so ``D`` is an antichain of subsets), and 0 otherwise.
        """
        n = self.n
        inside = _membership(self.upsets, n)
        # m is addable to ↑alpha iff m is outside it and all immediate supersets of m are inside.
        addable = ~inside
        addable[:, 0] = False
        for m in range(1, 1 << n):
            for i in range(n):
                if not (m >> i) & 1:
                    addable[:, m] &= inside[:, m | (1 << i)]
        one = np.uint64(1)
        rows: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        signs: list[np.ndarray] = []
        for a_idx, u in enumerate(self.upsets):
            ups = np.array([u], dtype=np.uint64)
            sgn = np.array([1.0])
            for m in np.flatnonzero(addable[a_idx]):
                ups = np.concatenate([ups, ups | (one << np.uint64(m))])
                sgn = np.concatenate([sgn, -sgn])
            rows.append(np.full(len(ups), a_idx, dtype=np.int64))
            targets.append(ups)
            signs.append(sgn)
        order = np.argsort(self.upsets)
        sorted_ups = self.upsets[order]
        all_targets = np.concatenate(targets)
        cols = order[np.searchsorted(sorted_ups, all_targets)]
        size = len(self.upsets)
        return sp.csr_matrix(
            (np.concatenate(signs), (np.concatenate(rows), cols)), shape=(size, size)
        )

    def position(self, antichain: Iterable[Iterable[int]]) -> int:
        """Position of an antichain (any order of sets and indices) in this lattice."""
        key = canonical_antichain(antichain)
        try:
            return self.index[key]
        except KeyError:
            raise InfolensError(
                f"antichain {key} does not belong to the lattice of {self.n} sources "
                f"(indices must be 0..{self.n - 1})."
            ) from None


@functools.cache
def redundancy_lattice(n: int) -> Lattice:
    """The redundancy lattice A_n for ``n`` sources (1 <= n <= 5), generated and cached.

    |A_n| = 1, 4, 18, 166, 7579 for n = 1..5. Nodes are sorted by decreasing up-set size (then by
    up-set value), a linear extension of the order in which lower nodes come first.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_LATTICE_SOURCES:
        raise InfolensError(
            f"the full redundancy lattice is generated for 1..{MAX_LATTICE_SOURCES} sources, got "
            f"n={n!r}; for 6 sources use representational_complexity(..., method='union'), and "
            "for more, group neurons into sources or subsample neuron subsets."
        )
    n = int(n)
    ups = _enumerate_upsets(n)
    ups.sort(key=lambda u: (-bin(u).count("1"), u))
    upsets = np.array(ups, dtype=np.uint64)
    minimal = _minimal_masks(_membership(upsets, n), n)
    tuples = [subset_to_tuple(m, n) for m in range(1 << n)]
    sizes = np.array([bin(m).count("1") for m in range(1 << n)])
    antichains = tuple(tuple(sorted(tuples[m] for m in np.flatnonzero(row))) for row in minimal)
    degree = np.where(minimal, sizes[None, :], n + 1).min(axis=1).astype(np.int64)
    return Lattice(
        n=n,
        antichains=antichains,
        upsets=upsets,
        degree=degree,
        index={a: i for i, a in enumerate(antichains)},
    )
