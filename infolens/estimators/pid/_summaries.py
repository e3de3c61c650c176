"""Summaries that need only mutual informations: Shannon invariants and Reing's complexity."""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from infolens._validation import InfolensError, InfolensWarning

from ._data import entropy, read_sources, read_target, read_weights
from ._isx import ZERO_INFORMATION_TOL

#: Reing's complexity averages over all 2**n source subsets.
MAX_REING_SOURCES = 20


def _read(sources: object, target: object | None, weights: object | None):
    codes, samples, _ = read_sources(sources)
    t = None if target is None else read_target(target, samples)[0]
    if weights is None:
        prob = np.full(samples, 1.0 / samples) if samples else np.zeros(0)
    else:
        prob = read_weights(weights, samples)
    if samples == 0:
        raise InfolensError("no samples were given; pass at least one row.")
    return codes, t, prob, samples


def _undefined(what: str) -> float:
    warnings.warn(f"{what} is zero, so the normalised summary is undefined; returning NaN.",
                  InfolensWarning, stacklevel=3)
    return math.nan


@dataclass(frozen=True)
class ShannonInvariants:
    """Average degrees of redundancy and vulnerability (Gutknecht et al. 2025).

    Attributes:
        redundancy: r = sum_i I(T:S_i) / I(T:S) (entropy mode: sum_i H(S_i) / H(S)).
        vulnerability: v = sum_i [I(T:S) - I(T:S_-i)] / I(T:S) (entropy mode: with H).
        total: I(T:S) (or H(S)) in bits, the normaliser.
        mode: ``"information"`` or ``"entropy"``.
        n_sources, n_samples.
        units: ``"bits"`` for ``total`` (the degrees are dimensionless).
    """

    redundancy: float
    vulnerability: float
    total: float
    mode: str
    n_sources: int
    n_samples: int
    units: str = "bits"


def shannon_invariants(
    sources: object, target: object | None = None, weights: object | None = None
) -> ShannonInvariants:
    """Average degrees of redundancy and vulnerability from plug-in mutual informations (bits).

    With a target: ``r = sum_i I(T:S_i) / I(T:S)`` and
    ``v = sum_i [I(T:S) - I(T:S_{-i})] / I(T:S)``, where ``S_{-i}`` is all sources but i.
    For any lattice PID these equal ``(1/I) sum_alpha rho(alpha) Pi(alpha)`` (rho = number of
    singletons in alpha) and ``(1/I) sum_alpha nu(alpha) Pi(alpha)`` (nu = size of the
    intersection of alpha's sets). Entropy-only mode (``target=None``, e.g. autoencoders):
    every I(T:.) is replaced by H(.). Needs only 2n + 1 estimates, so any width works.
    Returns NaN with a warning when the normaliser is zero.
    """
    codes, t, prob, samples = _read(sources, target, weights)
    n = codes.shape[1]

    def info(cols: list[int]) -> float:
        sub = codes[:, cols]
        if t is None:
            return entropy(sub, prob)
        both = np.concatenate([sub, t[:, None]], axis=1)
        return entropy(sub, prob) + entropy(t, prob) - entropy(both, prob)

    everything = list(range(n))
    total = info(everything)
    singles = sum(info([i]) for i in everything)
    drops = sum(total - info([j for j in everything if j != i]) for i in everything)
    mode = "entropy" if t is None else "information"
    if not total > ZERO_INFORMATION_TOL:
        what = "H(S)" if t is None else "I(T:S)"
        return ShannonInvariants(_undefined(what), math.nan, total, mode, n, samples)
    return ShannonInvariants(singles / total, drops / total, total, mode, n, samples)


@dataclass(frozen=True)
class ReingResult:
    """Reing et al. (2021) directed differences and complexity, bits.

    Attributes:
        conditional_entropies: C_k = mean over k-subsets K of H(T | S_K), k = 0..n (C_0 = H(T)).
        differences: C(k-1||k) = C_{k-1} - C_k for k = 1..n (index k - 1); they sum to I(T:S).
        mean_information: mean over k-subsets of I(T:S_K), k = 0..n.
        complexity: sum_k k C(k-1||k) / sum_k C(k-1||k) = n - (1/I) sum_{k<n} mean I_k, in [1, n]
            (NaN when I = 0). Corrects nninfo, which drops C(0||1) and shifts the weights.
        mutual_information: I(T:S).
        n_sources, n_samples, units.
    """

    conditional_entropies: np.ndarray
    differences: np.ndarray
    mean_information: np.ndarray
    complexity: float
    mutual_information: float
    n_sources: int
    n_samples: int
    units: str = "bits"


def reing_complexity(
    sources: object, target: object, weights: object | None = None
) -> ReingResult:
    """Reing's directed differences C(k-1||k) and complexity, with the correct indexing (bits).

    ``C_k`` is the mean of the plug-in H(T | S_K) over all k-subsets K (``C_0 = H(T)``); the
    differences ``C(k-1||k) = C_{k-1} - C_k`` (k = 1..n) are >= 0 and sum to I(T:S). The
    complexity ``sum_{k=1}^n k C(k-1||k) / sum_{k=1}^n C(k-1||k)`` lies in [1, n] (a redundant
    copy gives 1, n-bit parity gives n). At most 20 sources (all 2**n subsets are visited).
    """
    codes, t, prob, samples = _read(sources, target, weights)
    n = codes.shape[1]
    if n > MAX_REING_SOURCES:
        raise InfolensError(
            f"reing_complexity visits all 2**n subsets; got n={n} > {MAX_REING_SOURCES}. "
            "Group neurons into fewer sources or use shannon_invariants()."
        )
    h_t = entropy(t, prob)
    cond = np.zeros(n + 1)
    for k in range(n + 1):
        vals = []
        for subset in itertools.combinations(range(n), k):
            sub = codes[:, list(subset)]
            both = np.concatenate([sub, t[:, None]], axis=1)
            vals.append(entropy(both, prob) - entropy(sub, prob))
        cond[k] = float(np.mean(vals))
    diffs = cond[:-1] - cond[1:]
    info = float(diffs.sum())
    mean_info = h_t - cond
    if info > ZERO_INFORMATION_TOL:
        complexity = float((np.arange(1, n + 1) * diffs).sum() / info)
    else:
        complexity = _undefined("I(T:S)")
    return ReingResult(cond, diffs, mean_info, complexity, info, n, samples)
