"""Fast exact I^sx partial information decomposition (average, pointwise, target modes).

Algorithm (no R² term): for every realization r and every subset K of sources, count the mass of
realizations agreeing with r on K (and on T); a superset Möbius transform turns these into the
mass ``W[r, m]`` of realizations whose agreement set with r is exactly ``m``. The mass of the
union event of antichain alpha is then ``(W @ Ubar)[r, alpha]`` with ``Ubar[m, alpha] = [m in
↑alpha]``. Logarithms are averaged chunk by chunk, and atoms follow by Möbius inversion with the
sparse inverse of the unit-triangular zeta matrix.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from infolens._validation import InfolensError, InfolensWarning, check_choice, check_positive_int

from ._data import Distribution, compact_codes, prepare
from ._lattice import MAX_LATTICE_SOURCES, Antichain, Lattice
from ._lattice import redundancy_lattice as _redundancy_lattice

MODES = ("average", "pointwise", "target")

#: Mutual information (bits) at or below which C is undefined and reported as NaN.
ZERO_INFORMATION_TOL = 1e-12

#: Default bound on the size (in float64 entries) of one rows x columns block.
DEFAULT_BLOCK_ENTRIES = 1_000_000


# --------------------------------------------------------------------------------------------
# Agreement masses
# --------------------------------------------------------------------------------------------


def marginal_masses(codes: np.ndarray, mass: np.ndarray, n: int) -> np.ndarray:
    """``g[r, K]``: total mass of rows equal to row r on the columns in subset mask K.

    ``codes`` is ``(rows, n + extra)``; columns beyond the first ``n`` (e.g. the target) are always
    included in the match. ``K = 0`` matches on the extra columns only.
    """
    rows = codes.shape[0]
    extra = codes[:, n:]
    g = np.empty((rows, 1 << n), dtype=np.float64)
    for k_mask in range(1 << n):
        cols = [i for i in range(n) if (k_mask >> i) & 1]
        sub = np.concatenate([codes[:, cols], extra], axis=1)
        if sub.shape[1] == 0:
            g[:, k_mask] = mass.sum()
            continue
        key, size = compact_codes(sub)
        g[:, k_mask] = np.bincount(key, weights=mass, minlength=size)[key]
    return g


def exact_agreement(g: np.ndarray, n: int) -> np.ndarray:
    """Superset Möbius transform, in place: ``w[r, m] = sum_{K ⊇ m} mu(m, K) g[r, K]``.

    Turns "mass agreeing with r at least on K" into "mass whose agreement set is exactly m".
    """
    masks = np.arange(1 << n)
    for i in range(n):
        lower = masks[(masks >> i) & 1 == 0]
        g[:, lower] -= g[:, lower | (1 << i)]
    return g


# --------------------------------------------------------------------------------------------
# Chunked log-union-mass reductions
# --------------------------------------------------------------------------------------------


def _row_chunk(n_cols: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return chunk_size
    return max(1, DEFAULT_BLOCK_ENTRIES // max(n_cols, 1))


def weighted_log_masses(
    w: np.ndarray,
    ubar: np.ndarray,
    weights: np.ndarray | sp.spmatrix,
    chunk_size: int | None = None,
) -> np.ndarray:
    """``weights @ log2(w @ ubar)`` computed in row chunks (never the full rows x columns block).

    ``weights`` is a dense vector ``(rows,)`` or a sparse ``(groups, rows)`` matrix; the result is
    ``(columns,)`` or ``(groups, columns)`` in float64. Blocks are computed transposed, columns x
    rows, so that small row chunks stay in cache.
    """
    rows = w.shape[0]
    step = _row_chunk(ubar.shape[1], chunk_size)
    ub_t = torch.from_numpy(np.ascontiguousarray(ubar.T, dtype=np.float64))
    w_t = torch.from_numpy(np.ascontiguousarray(w.T, dtype=np.float64))
    dense = not sp.issparse(weights)
    if dense:
        acc = torch.zeros(ubar.shape[1], dtype=torch.float64)
        wts = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64))
        for start in range(0, rows, step):
            block = ub_t @ w_t[:, start : start + step]
            torch.log2_(block)
            acc += block @ wts[start : start + step]
        return acc.numpy()
    weights = sp.csr_matrix(weights)
    out = np.zeros((weights.shape[0], ubar.shape[1]))
    for start in range(0, rows, step):
        block = ub_t @ w_t[:, start : start + step]
        torch.log2_(block)
        out += (weights[:, start : start + step] @ block.numpy().T)
    return out


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One PID atom in bits: ``average = informative - misinformative``."""

    informative: float
    misinformative: float
    average: float


def antichain_label(antichain: Antichain) -> str:
    """Compact 1-based label, e.g. ``((0,), (1, 2))`` -> ``'{1}{23}'`` (``{1,2}`` style past 9)."""
    sep = "," if any(i >= 9 for a in antichain for i in a) else ""
    return "".join("{" + sep.join(str(i + 1) for i in a) + "}" for a in antichain)


def complexity_from_degree_atoms(degree_atoms: np.ndarray, information: float) -> float:
    """C = (1/I) sum_m m * Pi_m; NaN with an ``InfolensWarning`` when I <= 1e-12 bits."""
    if not information > ZERO_INFORMATION_TOL:
        warnings.warn(
            f"the mutual information I(T:S) = {information:.3g} bits is zero, so the "
            "representational complexity C = (1/I) sum_m m Pi_m is undefined; returning NaN.",
            InfolensWarning,
            stacklevel=3,
        )
        return math.nan
    m = np.arange(1, len(degree_atoms) + 1)
    return float((m * degree_atoms).sum() / information)


@dataclass(frozen=True, eq=False)
class PIDResult:
    """The I^sx partial information decomposition of I(T : S_1..S_n), in bits.

    Attributes:
        antichains: atom keys in lattice order; each is a tuple of sorted tuples of 0-based
            source indices, e.g. ``((0,), (1,))`` is the redundancy {1}{2} of two sources.
        degree: degree of synergy ``min_{a in alpha} |a|`` of each atom.
        informative, misinformative, average: the averaged atoms Pi+, Pi- and
            Pi = Pi+ - Pi- (bits), aligned with ``antichains``. In the ``pointwise`` and
            ``target`` modes they are the p-weighted means of the local atoms.
        mutual_information: I(T:S) in bits, the sum of all atoms (``average``).
        degree_atoms: Pi_m = sum of the atoms of degree m, for m = 1..n (index m - 1).
        complexity: representational complexity C = (1/I) sum_m m Pi_m (NaN when I = 0).
        mode: ``"average"``, ``"pointwise"`` or ``"target"``.
        n_sources, n_samples (``None`` for an explicit pmf), n_realizations (distinct
            (s, t) tuples with p > 0).
        local_informative, local_misinformative, local_average: ``(rows, atoms)`` local atoms
            in the ``pointwise`` mode (one row per realization) and ``target`` mode (one row per
            target value); ``None`` in the ``average`` mode.
        local_weights: p(r) or p(t) of each local row (the local atoms average to the atoms).
        local_rows: a DataFrame describing the local rows (source and target values).
        units: always ``"bits"``.
    """

    antichains: tuple[Antichain, ...]
    degree: np.ndarray
    informative: np.ndarray
    misinformative: np.ndarray
    average: np.ndarray
    mutual_information: float
    degree_atoms: np.ndarray
    complexity: float
    mode: str
    n_sources: int
    n_samples: int | None
    n_realizations: int
    local_informative: np.ndarray | None = None
    local_misinformative: np.ndarray | None = None
    local_average: np.ndarray | None = None
    local_weights: np.ndarray | None = None
    local_rows: pd.DataFrame | None = None
    units: str = "bits"

    @property
    def lattice(self) -> Lattice:
        """The redundancy lattice the atoms are indexed by."""
        return _redundancy_lattice(self.n_sources)

    @property
    def atoms(self) -> dict[Antichain, Atom]:
        """Every atom keyed by antichain: informative, misinformative and average value (bits)."""
        return {
            a: Atom(float(p), float(m), float(v))
            for a, p, m, v in zip(
                self.antichains, self.informative, self.misinformative, self.average
            )
        }

    def __getitem__(self, antichain: Iterable[Iterable[int]]) -> Atom:
        """The atom of an antichain given in any order, e.g. ``result[[(1,), (0,)]]``."""
        i = self.lattice.position(antichain)
        return Atom(
            float(self.informative[i]), float(self.misinformative[i]), float(self.average[i])
        )

    def redundancies(self) -> np.ndarray:
        """Redundancies I_cap(alpha) = sum_{beta <= alpha} Pi(beta) in bits (zeta relation)."""
        return np.asarray(self.lattice.zeta @ self.average)

    def shannon_invariants(self) -> tuple[float, float]:
        """Average degrees of redundancy and vulnerability from the atoms (bits / bits).

        r = (1/I) sum_alpha rho(alpha) Pi(alpha) with rho the number of singletons in alpha;
        v = (1/I) sum_alpha nu(alpha) Pi(alpha) with nu = |intersection of the sets of alpha|.
        """
        rho = np.array([sum(len(a) == 1 for a in ac) for ac in self.antichains])
        nu = np.array([len(set.intersection(*(set(a) for a in ac))) for ac in self.antichains])
        info = self.mutual_information
        if not info > ZERO_INFORMATION_TOL:
            warnings.warn(
                "I(T:S) is zero; the Shannon invariants are undefined (NaN).",
                InfolensWarning,
                stacklevel=2,
            )
            return math.nan, math.nan
        return float(rho @ self.average / info), float(nu @ self.average / info)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per atom (per local row and atom in the local modes).

        Columns: ``antichain`` (key), ``label`` (1-based, e.g. ``{1}{2}``), ``degree``,
        ``informative``, ``misinformative``, ``average`` (bits). The local modes add the columns
        of ``local_rows`` and ``probability``.
        """
        labels = [antichain_label(a) for a in self.antichains]
        base = pd.DataFrame(
            {
                "antichain": pd.Series(self.antichains, dtype=object),
                "label": labels,
                "degree": self.degree,
            }
        )
        if self.local_average is None:
            frame = base.assign(
                informative=self.informative,
                misinformative=self.misinformative,
                average=self.average,
            )
            frame.attrs["units"] = self.units
            return frame
        rows, atoms = self.local_average.shape
        assert self.local_rows is not None and self.local_weights is not None
        left = self.local_rows.loc[np.repeat(np.arange(rows), atoms)].reset_index(drop=True)
        left["probability"] = np.repeat(self.local_weights, atoms)
        right = base.loc[np.tile(np.arange(atoms), rows)].reset_index(drop=True)
        frame = pd.concat([left, right], axis=1).assign(
            informative=self.local_informative.reshape(-1),
            misinformative=self.local_misinformative.reshape(-1),
            average=self.local_average.reshape(-1),
        )
        frame.attrs["units"] = self.units
        return frame


# --------------------------------------------------------------------------------------------
# Core
# --------------------------------------------------------------------------------------------


def check_lattice_size(n: int) -> None:
    """Refuse more sources than the full lattice supports, with the alternatives."""
    if n > MAX_LATTICE_SOURCES:
        raise InfolensError(
            f"the full I^sx lattice supports at most {MAX_LATTICE_SOURCES} sources, got {n} "
            f"(|A_6| = 7,828,352 atoms). For C and Pi_m of 6 sources use "
            "representational_complexity(..., method='union'); for more, subsample neuron "
            "subsets (subsets=k) or group neurons into fewer sources (groups=...)."
        )


@dataclass(frozen=True)
class _Tables:
    """Agreement masses of a distribution, shared by the lattice and the union paths."""

    w_plus: np.ndarray  # (R_s, 2^n) exact-agreement masses over distinct source states
    w_minus: np.ndarray  # (R, 2^n) same restricted to T = t, per realization
    state_of: np.ndarray  # (R,) index of each realization's source state
    state_mass: np.ndarray  # (R_s,)
    target_mass: np.ndarray  # (R,) N_t(r), mass of realizations with the same target


def agreement_tables(dist: Distribution) -> _Tables:
    """Steps 2-3 of the fast algorithm: marginal masses and exact-agreement transforms."""
    n = dist.n_sources
    state_of, n_states = compact_codes(dist.sources)
    state_mass = np.bincount(state_of, weights=dist.mass, minlength=n_states)
    first = np.full(n_states, -1, dtype=np.int64)
    first[state_of[::-1]] = np.arange(len(state_of))[::-1]
    states = dist.sources[first]
    w_plus = exact_agreement(marginal_masses(states, state_mass, n), n)
    table = np.concatenate([dist.sources, dist.target[:, None]], axis=1)
    w_minus = exact_agreement(marginal_masses(table, dist.mass, n), n)
    target_mass = np.bincount(dist.target, weights=dist.mass)[dist.target]
    return _Tables(w_plus, w_minus, state_of, state_mass, target_mass)


def _local_rows_pointwise(dist: Distribution) -> pd.DataFrame:
    data = {
        f"source_{i}": [dist.source_values[i][c] for c in dist.sources[:, i]]
        if dist.source_values
        else dist.sources[:, i]
        for i in range(dist.n_sources)
    }
    data["target"] = (
        [dist.target_values[c] for c in dist.target] if dist.target_values else dist.target
    )
    frame = pd.DataFrame(data)
    frame.insert(0, "realization", np.arange(dist.n_realizations))
    return frame


def _isx_from_distribution(
    dist: Distribution, mode: str, chunk_size: int | None = None
) -> PIDResult:
    n = dist.n_sources
    check_lattice_size(n)
    lat = _redundancy_lattice(n)
    ubar = lat.ubar
    mob = lat.mobius
    tab = agreement_tables(dist)
    log_total = math.log2(dist.total)
    log_nt = np.log2(tab.target_mass)
    p = dist.prob
    local = {}
    if mode == "average":
        i_plus = -weighted_log_masses(tab.w_plus, ubar, tab.state_mass / dist.total, chunk_size)
        i_plus += log_total
        i_minus = -weighted_log_masses(tab.w_minus, ubar, p, chunk_size) + float(p @ log_nt)
        pi_plus = mob @ i_plus
        pi_minus = mob @ i_minus
    elif mode == "target":
        classes, n_t = dist.target, int(dist.target.max()) + 1
        t_mass = np.bincount(classes, weights=dist.mass, minlength=n_t)
        cond = dist.mass / t_mass[classes]  # p(s | t) of each realization
        r = np.arange(dist.n_realizations)
        p_minus = sp.csr_matrix((cond, (classes, r)), shape=(n_t, dist.n_realizations))
        p_plus = sp.csr_matrix((cond, (classes, tab.state_of)), shape=(n_t, len(tab.state_mass)))
        i_plus = -weighted_log_masses(tab.w_plus, ubar, p_plus, chunk_size) + log_total
        i_minus = -weighted_log_masses(tab.w_minus, ubar, p_minus, chunk_size)
        i_minus += np.log2(t_mass)[:, None]
        loc_plus = np.asarray(mob @ i_plus.T).T
        loc_minus = np.asarray(mob @ i_minus.T).T
        t_prob = t_mass / dist.total
        pi_plus, pi_minus = t_prob @ loc_plus, t_prob @ loc_minus
        local = {
            "local_informative": loc_plus,
            "local_misinformative": loc_minus,
            "local_average": loc_plus - loc_minus,
            "local_weights": t_prob,
            "local_rows": pd.DataFrame(
                {"target": list(dist.target_values) if dist.target_values else np.arange(n_t)}
            ),
        }
    else:  # pointwise
        rows = dist.n_realizations
        size = len(lat)
        loc_plus = np.empty((rows, size))
        loc_minus = np.empty((rows, size))
        step = _row_chunk(size, chunk_size)
        ub = torch.from_numpy(np.ascontiguousarray(ubar))
        mob_t = mob.T.tocsr()
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            wp = torch.from_numpy(np.ascontiguousarray(tab.w_plus[tab.state_of[start:stop]]))
            ip = log_total - torch.log2(wp @ ub).numpy()
            wm = torch.from_numpy(np.ascontiguousarray(tab.w_minus[start:stop]))
            im = log_nt[start:stop, None] - torch.log2(wm @ ub).numpy()
            loc_plus[start:stop] = np.asarray(ip @ mob_t)
            loc_minus[start:stop] = np.asarray(im @ mob_t)
        pi_plus, pi_minus = p @ loc_plus, p @ loc_minus
        local = {
            "local_informative": loc_plus,
            "local_misinformative": loc_minus,
            "local_average": loc_plus - loc_minus,
            "local_weights": p,
            "local_rows": _local_rows_pointwise(dist),
        }
    pi = pi_plus - pi_minus
    info = float(pi.sum())
    degree_atoms = np.bincount(lat.degree - 1, weights=pi, minlength=n)
    return PIDResult(
        antichains=lat.antichains,
        degree=lat.degree,
        informative=np.asarray(pi_plus, dtype=np.float64),
        misinformative=np.asarray(pi_minus, dtype=np.float64),
        average=np.asarray(pi, dtype=np.float64),
        mutual_information=info,
        degree_atoms=degree_atoms,
        complexity=complexity_from_degree_atoms(degree_atoms, info),
        mode=mode,
        n_sources=n,
        n_samples=dist.n_samples,
        n_realizations=dist.n_realizations,
        **local,
    )


def isx(
    sources: object,
    target: object,
    weights: object | None = None,
    mode: str = "average",
    *,
    chunk_size: int | None = None,
) -> PIDResult:
    """I^sx partial information decomposition of I(T : S_1..S_n), in bits (1 <= n <= 5).

    Definition (Makkeh, Gutknecht & Wibral 2021). For a realization (s, t) and an antichain
    alpha = {a_1..a_k} of source index sets, the pointwise redundancy is
    ``i_cap = log2 P(t | OR_j {S_aj = s_aj}) / P(t) = i+ - i-`` with the informative part
    ``i+ = -log2 P(OR_j {S_aj = s_aj})`` and the misinformative part
    ``i- = -log2 P(OR_j {S_aj = s_aj} | T = t)``. Atoms Pi solve the zeta relation
    ``I_cap(alpha) = sum_{beta <= alpha} Pi(beta)`` on the redundancy lattice (Möbius inversion)
    and sum to I(T:S). Probabilities are plug-in frequencies (or ``weights``).

    Args:
        sources: non-negative integer codes, ``(samples, n_sources)`` with one source per
            column, or a list of arrays, each ``(samples,)`` or ``(samples, k)``; a
            ``(samples, k)`` entry is one source whose value is the tuple of its k columns (a
            group of neurons).
        target: non-negative integer codes, ``(samples,)`` or ``(samples, k)``; a ``(samples,
            k)`` target is one joint variable (all k columns together).
        weights: optional probability of each row (an explicit pmf, one row per state); must be
            finite, non-negative and sum to 1. Without it, rows are samples counted equally.
        mode: ``"average"`` (atoms of the averaged redundancies), ``"pointwise"`` (local atoms
            of every distinct realization as well) or ``"target"`` (atoms of the redundancies
            averaged within each target value, one row per target value, as nninfo reports).
        chunk_size: rows per block of the (rows x atoms) log pass; bounds peak memory to about
            ``chunk_size * n_atoms * 8`` bytes per block (default: ~8 MB blocks).

    Returns:
        A :class:`PIDResult` (bits) with every atom's informative, misinformative and average
        value keyed by antichain, I(T:S), Pi_m for m = 1..n, the complexity C, the sample and
        realization counts, and ``to_frame()``.

    Raises:
        InfolensError: more than 5 sources, non-integer or negative codes, mismatched lengths,
            or invalid weights.
    """
    mode = check_choice("mode", mode, MODES)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    dist = prepare(sources, target, weights)
    return _isx_from_distribution(dist, mode, chunk_size)

