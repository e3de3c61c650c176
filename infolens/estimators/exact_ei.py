"""Exact (sampling-free) pairwise mutual information through an affine map and a monotone activation.

Setting. Inputs ``x_k`` are independent and uniform on ``[l, u]`` (the intervention
do(x ~ U[l, u]^n)). Output neuron ``B`` has the pre-activation ``z = c + Σ_k w_k x_k`` and the
output ``y = f(z)`` for a non-decreasing element-wise ``f``. Inputs and outputs are binned into
equal-width bins (``widen`` = δ widens both ranges on each side, as deep-ei does). For every pair
``(A, B)`` this module computes the exact joint table ``P(bin(x_A) = i, bin(y_B) = j)`` and its
mutual information in bits. No sampling is involved.

Output bins are pulled back through the generalised inverse ``f⁻(g) = inf{z : f(z) ≥ g}`` to
pre-activation thresholds ``t_0 < … < t_B`` (possibly ``±inf``); output bin ``j`` is
``t_j ≤ z < t_{j+1}``. Given ``x_A`` in input bin ``i`` (mid-point ``m_i``, half-width ``h_i``)
the pre-activation is ``z = M_{A,i} + Σ_{k≠A} a_k U_k + d_{A,i} V`` with ``U_k, V ~ U[−1, 1]``,
``a_k = s·|w_k|`` (``s = (u − l)/2``), ``d_{A,i} = |w_A|·h_i`` and
``M_{A,i} = c + μ Σ_{k≠A} w_k + w_A m_i`` (``μ = (l + u)/2``). Its CDF ``F(t) = P(z < t)`` is
computed by

- a closed form when only ``x_A`` moves (one nonzero weight, and every sensitivity term);
- the stabilised box-spline (Barrow–Smith) formula for a few nonzero weights (``n ≤ 6``), the
  smallest width treated analytically so that tiny weights do not cancel catastrophically;
- the Fourier series ``F(y) = 1/2 + y/T + (1/π) Σ_{q≥1} φ(ω_q) sin(ω_q y)/q``, ``ω_q = 2πq/T``,
  with the exact characteristic function ``φ`` (products of ``sinc``) and prefix/suffix
  leave-one-out products, for many inputs. The window ``T`` and the number of terms ``Q`` come
  from a priori bounds: the strict sub-Gaussian tail of uniforms (window) and an envelope of
  ``|sinc|`` (truncation), both below ``1e-15`` per CDF value by default.

Out-of-range outputs are dropped (``"drop"``, deep-ei: the table is renormalised by the in-range
mass ``Z``) or moved to the edge bins (``"clip"``). MI is the KL divergence of the normalised
joint from the product of its own marginals, in bits. Everything is float64, on the device of
the weights, chunked over output neurons to bound memory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from infolens._validation import InfolensError, check_choice

TRUNCATION_TOL = 1e-15
TAIL_EPS = 1e-17
BOX_SPLINE_MAX_INPUTS = 6
BOX_SPLINE_COND_MAX = 1e5
MAX_TERMS = 1 << 16
NEGLIGIBLE_WEIGHT = 1e-16
DEFAULT_WORKSPACE = 128 * 2**20
METHODS = ("auto", "box_spline", "fourier")
_X0 = math.sqrt(6.0 * math.log(math.pi))  # where exp(-x²/6) meets 1/π


# --------------------------------------------------------------------------- bins and edges


def input_bins(low: float, high: float, bins: int, widen: float = 0.0, *, device=None):
    """Input bins of ``U[low, high]`` under deep-ei's widened equal-width binning.

    Edges are ``e_i = low − widen + i·(high − low + 2·widen)/bins``; bin ``i`` intersected with
    ``[low, high]`` is ``[lo_i, hi_i]``. Returns float64 tensors ``(p, mid, half)``: the
    probability ``p_i = (hi_i − lo_i)/(high − low)`` of each bin, its mid-point and half-width.
    """
    e = _edges(low, high, bins, widen, device)
    lo = e[:-1].clamp(min=low)
    hi = e[1:].clamp(max=high)
    width = (hi - lo).clamp(min=0.0)
    return width / (high - low), (lo + hi) / 2, width / 2


def _edges(low: float, high: float, bins: int, widen: float, device) -> torch.Tensor:
    lo = low - widen
    step = (high - low + 2 * widen) / bins
    return lo + step * torch.arange(bins + 1, dtype=torch.float64, device=device)


@dataclass(frozen=True)
class PreactivationEdges:
    """Output bins as pre-activation thresholds.

    ``thresholds`` (bins + 1,) float64, non-decreasing, possibly ``±inf``: output bin ``j`` is
    ``thresholds[j] ≤ z < thresholds[j+1]``. With ``top_inclusive`` (no widening: the top
    output edge itself belongs to the last bin) the last bin also holds
    ``z == thresholds[-1]``; this only matters for a constant ``z``.
    """

    thresholds: torch.Tensor
    top_inclusive: bool


def _inv_identity(g, side):
    return g.clone()


def _inv_sigmoid(g, side):
    inside = (g > 0) & (g < 1)
    gs = torch.where(inside, g, torch.full_like(g, 0.5))
    z = torch.log(gs) - torch.log1p(-gs)
    return torch.where(inside, z, torch.where(g <= 0, -math.inf, math.inf))


def _inv_tanh(g, side):
    inside = (g > -1) & (g < 1)
    z = torch.atanh(torch.where(inside, g, torch.zeros_like(g)))
    return torch.where(inside, z, torch.where(g <= -1, -math.inf, math.inf))


def _clip_inverse(lo: float, hi: float):
    def inv(g, side):
        if side == "lower":  # inf{z : clip(z) ≥ g}
            below, above = g <= lo, g > hi
        else:  # sup{z : clip(z) ≤ g}
            below, above = g < lo, g >= hi
        z = torch.where(below, -math.inf, g)
        return torch.where(above, math.inf, z)

    return inv


_INVERSES: dict[str, Callable] = {
    "identity": _inv_identity,
    "sigmoid": _inv_sigmoid,
    "tanh": _inv_tanh,
    "relu": _clip_inverse(0.0, math.inf),
    "relu6": _clip_inverse(0.0, 6.0),
}


def activation_inverse(name: str, *, clip: tuple[float, float] | None = None) -> Callable:
    """The generalised inverse of a named non-decreasing activation.

    Returns ``inv(g, side)`` on float64 tensors: ``side="lower"`` gives
    ``inf{z : f(z) ≥ g}``, ``side="upper"`` gives ``sup{z : f(z) ≤ g}`` (``±inf`` when the set
    is empty or unbounded). Names: ``identity``, ``sigmoid`` (logit), ``tanh`` (artanh),
    ``relu``, ``relu6`` and ``hardtanh`` (pass ``clip=(min_val, max_val)``).
    """
    key = name.lower()
    if key == "hardtanh":
        lo, hi = clip if clip is not None else (-1.0, 1.0)
        return _clip_inverse(float(lo), float(hi))
    if key not in _INVERSES:
        raise InfolensError(
            f"no closed-form inverse for activation {name!r}; known: "
            f"{', '.join(sorted([*_INVERSES, 'hardtanh']))}. Use numeric_inverse(fn) for any "
            "other non-decreasing map."
        )
    return _INVERSES[key]


def numeric_inverse(fn: Callable[[torch.Tensor], torch.Tensor], *, bound: float = 1e12,
                    check_grid: int = 200_001) -> Callable:
    """The generalised inverse of a non-decreasing element-wise ``fn`` by bisection in float64.

    ``fn`` is first checked to be non-decreasing on a dense grid over ``[-60, 60]`` plus
    logarithmically spaced points out to ``±bound`` (raising an ``InfolensError`` naming the
    first decrease, e.g. for GELU or SiLU). ``inv(g, "lower")`` is ``inf{z : fn(z) ≥ g}`` and
    ``inv(g, "upper")`` is ``sup{z : fn(z) ≤ g}``, located to the float64 resolution, with
    ``±inf`` when ``g`` is not reached within ``±bound``.
    """
    lin = torch.linspace(-60.0, 60.0, check_grid, dtype=torch.float64)
    far = torch.logspace(math.log10(60.0), math.log10(bound), 2000, dtype=torch.float64)
    grid = torch.cat([-far.flip(0), lin, far])
    with torch.no_grad():
        vals = torch.as_tensor(fn(grid), dtype=torch.float64)
    scale = vals.abs().clamp(min=1.0)
    drop = (vals[1:] - vals[:-1]) < -1e-12 * scale[1:]
    if bool(drop.any()):
        k = int(drop.nonzero()[0])
        raise InfolensError(
            f"the activation is not non-decreasing (it falls between z={float(grid[k]):.4g} and "
            f"z={float(grid[k + 1]):.4g}), so the exact estimator does not apply; use a sampling "
            "estimator, e.g. estimator='miller_madow'."
        )

    def f64(z):
        with torch.no_grad():
            return torch.as_tensor(fn(z), dtype=torch.float64)

    def inv(g, side):
        g = g.to(torch.float64).cpu()
        lo = torch.full_like(g, -bound)
        hi = torch.full_like(g, bound)

        def hit(z):  # the predicate whose boundary is the inverse
            return f64(z) >= g if side == "lower" else f64(z) > g

        at_lo, at_hi = hit(lo), hit(hi)
        for _ in range(200):
            mid = (lo + hi) / 2
            done = (mid == lo) | (mid == hi)
            if bool(done.all()):
                break
            h = hit(mid)
            hi = torch.where(h & ~done, mid, hi)
            lo = torch.where(~h & ~done, mid, lo)
        z = hi if side == "lower" else lo
        z = torch.where(at_lo, -math.inf, z)
        return torch.where(~at_hi, math.inf, z)

    return inv


def preactivation_edges(out_range: tuple[float, float], bins: int, inverse: Callable, *,
                        widen: float = 0.0, device=None) -> PreactivationEdges:
    """Pre-activation thresholds of ``bins`` equal-width output bins over ``out_range``.

    Output edges ``g_j = lo − widen + j·(hi − lo + 2·widen)/bins`` are mapped through
    ``inverse`` (see :func:`activation_inverse`): ``t_j = f⁻(g_j)``. Without widening the top
    edge is inclusive (the binning rule of :mod:`infolens.estimators.binning`), so the last
    threshold is ``sup{z : f(z) ≤ hi}``.
    """
    lo, hi = float(out_range[0]), float(out_range[1])
    g = _edges(lo, hi, bins, widen, None)
    t = inverse(g, "lower").to(torch.float64)
    top_inclusive = widen == 0.0
    if top_inclusive:
        t[-1] = inverse(g[-1:], "upper").to(torch.float64)[0]
    if bool(torch.isnan(t).any()) or bool((t[1:] < t[:-1]).any()):
        raise InfolensError("the activation inverse gave NaN or decreasing thresholds; "
                            "is the activation non-decreasing?")
    return PreactivationEdges(t.to(device) if device is not None else t, top_inclusive)


# --------------------------------------------------------------------------- MI of tables


def mutual_information_from_probabilities(joint: torch.Tensor, *, base: float = 2.0) -> torch.Tensor:
    """``I = Σ_ij p_ij log(p_ij / (p_i· p_·j))`` of probability tables ``(..., Bx, By)``.

    Each table is first clipped at 0 and normalised by its total, and both marginals are taken
    from it, so the result is a true KL divergence (second order in errors near independence).
    Tables with zero total give 0. float64, in bits by default (``log base``).
    """
    j = joint.to(torch.float64).clamp(min=0.0)
    tot = j.sum(dim=(-2, -1), keepdim=True)
    j = j / torch.where(tot > 0, tot, torch.ones_like(tot))
    px = j.sum(dim=-1, keepdim=True)
    py = j.sum(dim=-2, keepdim=True)
    pos = j > 0
    denom = torch.where(pos, px * py, torch.ones_like(j))
    terms = torch.where(pos, j * torch.log(torch.where(pos, j, torch.ones_like(j)) / denom), 0.0)
    return (terms.sum(dim=(-2, -1)) / math.log(base)).clamp(min=0.0)


# --------------------------------------------------------------------------- CDF kernels


def _sinc(x: torch.Tensor) -> torch.Tensor:
    return torch.sinc(x / math.pi)


def _log_envelope(x: torch.Tensor) -> torch.Tensor:
    """log of a non-increasing bound on |sinc x| (x ≥ 0): exp(−x²/6) up to where it meets
    1/π, then 1/π up to π, then 1/x."""
    return torch.where(
        x <= _X0, -x * x / 6.0,
        torch.where(x <= math.pi, torch.full_like(x, -math.log(math.pi)), -torch.log(x.clamp(min=1.0))),
    )


def _window(a: torch.Tensor, dmax: torch.Tensor, tail_eps: float):
    """Half-window T/2 per output and its aliasing bound on the CDF.

    ``a`` (b, n) half-widths of all inputs of each output, ``dmax`` (b,) the largest bin
    half-width. Uses min(Σa, σ·sqrt(2 ln(2/ε))) with σ² = Σa²/3 (uniforms are strictly
    sub-Gaussian), enlarged by 1 %."""
    total = a.sum(dim=1)
    sigma = (a.square().sum(dim=1) / 3.0).sqrt()
    gauss = sigma * math.sqrt(2.0 * math.log(2.0 / tail_eps))
    half = 1.01 * (torch.minimum(total, gauss) + dmax)
    t = half - dmax
    bound = 2.0 * torch.exp(-(t * t) / (2.0 * sigma.square().clamp(min=1e-300)))
    bound = torch.where(total + dmax < half, torch.zeros_like(bound), bound)
    return half, bound


def _terms(a: torch.Tensor, half: torch.Tensor, tol: float, max_terms: int):
    """Number of series terms Q per output and the truncation bound on the CDF.

    The tail (1/π) Σ_{q>Q} env(ω_q)/q uses, for each ω, the worst leave-one-out product of
    the non-increasing envelope of |sinc| (the factor removed is the one of the largest
    width, the most decaying); beyond the evaluated grid, the r factors already in the 1/x
    regime bound the rest by env(ω_cap)/(π r). The envelope sums come from sorted widths and
    prefix sums (O(log n) per term)."""
    omega1 = math.pi / half  # 2π / T
    srt = a.sort(dim=1).values.contiguous()
    n = srt.shape[1]
    zero = torch.zeros_like(srt[:, :1])
    s2 = torch.cat([zero, srt.square().cumsum(dim=1)], dim=1)  # (b, n+1)
    sl = torch.cat([zero, srt.clamp(min=1e-300).log().cumsum(dim=1)], dim=1)
    amax = srt[:, -1:]
    cap = 64
    while True:
        q = torch.arange(1, cap + 1, dtype=torch.float64, device=a.device)
        om = omega1[:, None] * q[None, :]  # (b, cap)
        i1 = torch.searchsorted(srt, _X0 / om, right=True)  # Gaussian regime: a·ω ≤ x0
        i2 = torch.searchsorted(srt, math.pi / om, right=True)  # plateau up to π, then 1/x
        total = (-(om * om) / 6.0 * s2.gather(1, i1) - (i2 - i1) * math.log(math.pi)
                 - (sl[:, -1:] - sl.gather(1, i2)) - (n - i2) * om.log())
        worst = total - _log_envelope(amax * om)
        env = torch.exp(worst)
        r = (n - i2[:, -1]) - 1  # factors in the 1/x regime, minus the removed one
        beyond = torch.where(r >= 1, env[:, -1] / (math.pi * r.clamp(min=1)),
                             torch.full_like(env[:, -1], math.inf))
        terms = env / (math.pi * q)
        # tail(Q) = Σ_{Q<q≤cap} terms + beyond, for Q = 0..cap
        suffix = torch.cat([terms.flip(1).cumsum(1).flip(1), torch.zeros_like(terms[:, :1])], dim=1)
        tail = suffix + beyond[:, None]
        ok = tail < tol
        if bool(ok.any(dim=1).all()) or cap >= max_terms:
            break
        cap = min(cap * 4, max_terms)
    has = ok.any(dim=1)
    first = torch.where(has, ok.to(torch.int8).argmax(dim=1), torch.full_like(has, cap, dtype=torch.int64))
    bound = tail.gather(1, first[:, None])[:, 0]
    return first, bound


def _uniform_cdf(y: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """P(dV < y) for V ~ U[−1, 1], d > 0 (broadcasting)."""
    return ((y + d) / (2 * d)).clamp(0.0, 1.0)


def _box_spline_cdf(y: torch.Tensor, widths: torch.Tensor):
    """CDF of Σ_k c_k U_k (U_k ~ U[−1,1]) at ``y``, stabilised Barrow–Smith formula.

    ``widths`` (..., m) positive half-widths, ``y`` (..., K). The smallest width is treated
    analytically (the paired difference of truncated powers), which removes its 1/c
    amplification. Returns (F, cond) with the conditioning factor of the remaining sum."""
    m = widths.shape[-1]
    w = widths.sort(dim=-1).values
    d = w[..., :1]  # (..., 1)
    rest = w[..., 1:]  # (..., m-1)
    total = w.sum(dim=-1, keepdim=True)
    # evaluate at −|y| (fewer active terms, less cancellation) and use symmetry
    ya = -y.abs()
    if m == 1:
        f_neg = _uniform_cdf(ya, d)
        cond = torch.ones_like(d[..., 0])
    else:
        signs = torch.tensor(
            [[1.0 if (s >> k) & 1 == 0 else -1.0 for k in range(m - 1)] for s in range(1 << (m - 1))],
            dtype=torch.float64, device=y.device,
        )  # (S, m-1)
        sprod = signs.prod(dim=1)  # (S,)
        shift = rest @ signs.T  # (..., S)
        u = ya[..., None, :] + shift[..., :, None]  # (..., S, K)
        dd = d[..., None]  # (..., 1, 1)
        poly = torch.zeros_like(u)
        for j in range(1, m + 1, 2):
            poly = poly + math.comb(m, j) * u.pow(m - j) * dd.pow(j - 1)
        safe_d = torch.where(dd > 0, dd, torch.ones_like(dd))
        mid = (u + dd).pow(m) / (2 * safe_d)
        g = torch.where(u > dd, poly, torch.where(u > -dd, mid, torch.zeros_like(u)))
        norm = math.factorial(m) * (2 * rest).prod(dim=-1)  # (...)
        f_neg = (g * sprod[:, None]).sum(dim=-2) / norm[..., None]
        s2 = 2 * rest
        cond = s2.sum(dim=-1).pow(m - 1) / (math.factorial(m - 1) * s2.prod(dim=-1))
    f_neg = torch.where(ya <= -total, torch.zeros_like(f_neg), f_neg)
    f = torch.where(y > 0, 1.0 - f_neg, f_neg)
    return f, cond


# --------------------------------------------------------------------------- result


@dataclass
class ExactPairwise:
    """Exact pairwise MI of a layer and how it was computed.

    ``mi`` (n_in, n_out): ``I(bin(x_A); bin(y_B))`` in bits, 0 where ``w_AB = 0`` (for EI_parts)
    or where the in-range mass is 0. ``in_range_mass`` (n_in, n_out): ``Z``, the probability
    that ``y_B`` falls inside ``out_range`` (the normaliser under ``drop``). ``method``
    (n_out,): 0 = point mass (all weights 0), 1 = closed form / box-spline, 2 = Fourier series.
    ``window`` (n_out,): ``T/2`` of the Fourier window (NaN where unused); ``terms`` (n_out,):
    the number of series terms ``Q`` (0 where unused). ``cdf_error_bound``: the largest bound
    on the error of any computed CDF value (a priori window + truncation bounds for the
    Fourier series; conditioning × 1e-15 estimate for the box-spline; 1e-15 for closed forms).
    """

    mi: torch.Tensor
    in_range_mass: torch.Tensor
    method: torch.Tensor
    window: torch.Tensor
    terms: torch.Tensor
    cdf_error_bound: float
    units: str = "bits"

    @property
    def value(self) -> float:
        """Σ over all pairs of the MI, in bits."""
        return float(self.mi.sum())


# --------------------------------------------------------------------------- tables


def _tables_from_cdf(F: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Joint tables (..., nb, B+2) with columns [bins..., below, above] from CDF values
    F (..., nb, B+1) at the thresholds and input bin probabilities p (nb,)."""
    cells = (F[..., 1:] - F[..., :-1]).clamp(min=0.0)
    below = F[..., :1].clamp(min=0.0)
    above = (1.0 - F[..., -1:]).clamp(min=0.0)
    return torch.cat([cells, below, above], dim=-1) * p[:, None]


def _mi_and_mass(tables: torch.Tensor, out_of_range: str):
    """MI (bits) and in-range mass of tables (..., nb, B+2) [bins..., below, above]."""
    inner = tables[..., :-2]
    mass = inner.sum(dim=(-2, -1))
    if out_of_range == "clip":
        joint = inner.clone()
        joint[..., 0] += tables[..., -2]
        joint[..., -1] += tables[..., -1]
    else:
        joint = inner
    return mutual_information_from_probabilities(joint), mass


# --------------------------------------------------------------------------- fused MI


_KERNEL = None


def _numba_kernel():
    """Compile (once) the fused CPU kernel: CDF values -> joint table -> MI and mass per pair."""
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True, cache=True, boundscheck=False, nogil=True)
    def pair_mi(vals, ykw, delta, hw, p, n_per, k_lo, n_edges, fourier, clip, mi, mass):  # pragma: no cover
        n_pairs, nbin, kw = vals.shape
        nb = n_edges - 1
        inv_ln2 = 1.0 / np.log(2.0)
        for a in prange(n_pairs):
            o = a // n_per
            joint = np.zeros((nbin, nb))
            py = np.zeros(nb)
            px = np.zeros(nbin)
            inner = 0.0
            for i in range(nbin):
                pi = p[i]
                prev = 0.0
                for k in range(n_edges):
                    if k < k_lo:
                        f = 0.0
                    elif k >= k_lo + kw:
                        f = 1.0
                    else:
                        v = vals[a, i, k - k_lo]
                        if fourier:
                            y = ykw[o, k - k_lo] - delta[a, i]
                            if y >= hw[o]:
                                f = 1.0
                            elif y <= -hw[o]:
                                f = 0.0
                            else:
                                f = 0.5 + y / (2.0 * hw[o]) + v
                        else:
                            f = v
                    if k == 0:
                        below = f if f > 0.0 else 0.0
                    else:
                        c = f - prev
                        if c > 0.0:
                            joint[i, k - 1] = pi * c
                    prev = f
                above = 1.0 - prev
                if above < 0.0:
                    above = 0.0
                row = 0.0
                for j in range(nb):
                    row += joint[i, j]
                inner += row
                if clip:
                    joint[i, 0] += pi * below
                    joint[i, nb - 1] += pi * above
                    row += pi * (below + above)
                px[i] = row
                for j in range(nb):
                    py[j] += joint[i, j]
            tot = 0.0
            for i in range(nbin):
                tot += px[i]
            mass[a] = inner
            if tot <= 0.0:
                mi[a] = 0.0
                continue
            acc = 0.0
            for i in range(nbin):
                if px[i] <= 0.0:
                    continue
                for j in range(nb):
                    v = joint[i, j]
                    if v > 0.0:
                        acc += v * np.log(v * tot / (px[i] * py[j]))
            r = acc / tot * inv_ln2
            mi[a] = r if r > 0.0 else 0.0

    _KERNEL = pair_mi
    return _KERNEL


def _pair_mi(vals, ykw, delta, hw, p, n_per, k_lo, n_edges, fourier, clip, use_kernel=None):
    """MI (bits) and in-range mass per pair from CDF values (or Fourier series values).

    ``vals`` (P, I, kw): values at edges ``k_lo .. k_lo+kw-1`` (F = 0 below, 1 above those);
    with ``fourier`` they are series sums, turned into F = 1/2 + y/T + series, clamped to 0/1
    outside the window ``|y| < hw`` with ``y = ykw[o] − delta`` (``o = pair // n_per``).
    On the CPU a fused numba kernel; elsewhere the same steps in torch."""
    P = vals.shape[0]
    if use_kernel is None:
        use_kernel = vals.device.type == "cpu"
    if use_kernel:
        kern = _numba_kernel()
        mi = torch.empty(P, dtype=torch.float64)
        mass = torch.empty(P, dtype=torch.float64)
        kern(vals.contiguous().numpy(), ykw.contiguous().numpy(), delta.contiguous().numpy(),
             hw.contiguous().numpy(), p.contiguous().numpy(), int(n_per), int(k_lo), int(n_edges),
             bool(fourier), bool(clip), mi.numpy(), mass.numpy())
        return mi, mass
    return _pair_mi_torch(vals, ykw, delta, hw, p, n_per, k_lo, n_edges, fourier, clip)


def _pair_mi_torch(vals, ykw, delta, hw, p, n_per, k_lo, n_edges, fourier, clip):
    P, nbin, kw = vals.shape
    o = torch.arange(P, device=vals.device) // n_per
    if fourier:
        y = ykw[o][:, None, :] - delta[:, :, None]
        h = hw[o][:, None, None]
        F = 0.5 + y / (2 * h) + vals
        F = torch.where(y >= h, torch.ones_like(F), torch.where(y <= -h, torch.zeros_like(F), F))
    else:
        F = vals
    lo = torch.zeros((P, nbin, k_lo), dtype=F.dtype, device=F.device)
    hi = torch.ones((P, nbin, n_edges - k_lo - kw), dtype=F.dtype, device=F.device)
    F = torch.cat([lo, F, hi], dim=-1)
    return _mi_and_mass(_tables_from_cdf(F, p), "clip" if clip else "drop")


_COEF_KERNEL = None


def _coef_kernel():
    """Compile (once) the CPU kernel building the GEMM operands of the Fourier series:
    ``pm = c_{A,q}·sinc(d_{A,i} ω_q)·cos(ω_q δ_{A,i})`` and the same with ``sin``, for
    ``ω_q = q·ω_1``, ``q = q0+1 ..``. The phases advance by complex multiplication from an
    exact start at each block (relative error ~ q·eps); sinc uses its Taylor series for
    small arguments. Writes ``[pm, −rm]`` side by side (one GEMM against ``[sin; cos]``)."""
    global _COEF_KERNEL
    if _COEF_KERNEL is not None:
        return _COEF_KERNEL
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True, cache=True, boundscheck=False, nogil=True)
    def coef_kernel(coef, d, delta, omega1, q0, out):  # pragma: no cover - compiled
        n_pairs, qb = coef.shape
        nbin = d.shape[1]
        for a in prange(n_pairs):
            w1 = omega1[a]
            for i in range(nbin):
                th1 = w1 * delta[a, i]
                x1 = w1 * d[a, i]
                c1, s1 = np.cos(th1), np.sin(th1)
                e1, f1 = np.cos(x1), np.sin(x1)
                cr, ci = np.cos(q0 * th1), np.sin(q0 * th1)
                sr, si = np.cos(q0 * x1), np.sin(q0 * x1)
                for k in range(qb):
                    cr, ci = cr * c1 - ci * s1, cr * s1 + ci * c1
                    sr, si = sr * e1 - si * f1, sr * f1 + si * e1
                    x = (q0 + k + 1) * x1
                    if x < 0.1:
                        x2 = x * x
                        sc = 1.0 - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0)))
                    else:
                        sc = si / x
                    v = coef[a, k] * sc
                    out[a, i, k] = v * cr
                    out[a, i, qb + k] = -v * ci

    _COEF_KERNEL = coef_kernel
    return _COEF_KERNEL


def _fourier_series(w, yk, mid, half, mu, s, T2, Q, q_block=256, use_kernel=None):
    """Series part (1/π) Σ_q φ_{A,i}(ω_q) sin(ω_q y)/q at y = yk − delta_{A,i}.

    ``w`` (b, n) weights of b outputs, ``yk`` (b, kw) finite thresholds minus each output's
    centre, ``T2`` (b,) half-windows, ``Q`` (b,) numbers of terms. Leave-one-out products of
    sinc come from prefix and suffix cumulative products; the evaluation is two real GEMMs
    per block of terms. Returns (b, n, I, kw)."""
    b, n = w.shape
    nb, kw = mid.shape[0], yk.shape[1]
    a = s * w.abs()
    d = w.abs()[:, :, None] * half[None, None, :]  # (b, n, nb)
    delta = w[:, :, None] * (mid - mu)[None, None, :]  # M − C
    series = None
    qmax = int(Q.max()) if Q.numel() else 0
    omega1 = math.pi / T2  # (b,)
    for q0 in range(0, qmax if kw else 0, q_block):
        q1 = min(q0 + q_block, qmax)
        q = torch.arange(q0 + 1, q1 + 1, dtype=torch.float64, device=w.device)
        live = (q[None, :] <= Q[:, None].to(torch.float64)).to(torch.float64)  # (b, qb)
        om = omega1[:, None] * q[None, :]  # (b, qb)
        sk = _sinc(a[:, :, None] * om[:, None, :])  # (b, n, qb)
        ones = torch.ones_like(sk[:, :1])
        pre = torch.cat([ones, sk[:, :-1].cumprod(dim=1)], dim=1)
        suf = torch.cat([sk[:, 1:].flip(1).cumprod(dim=1).flip(1), ones], dim=1)
        coef = pre * suf * (live / (math.pi * q[None, :]))[:, None, :]  # (b, n, qb)
        if use_kernel if use_kernel is not None else w.device.type == "cpu":
            pr = torch.empty((b, n * nb, 2 * (q1 - q0)), dtype=torch.float64)
            _coef_kernel()(
                coef.reshape(b * n, -1).contiguous().numpy(), d.reshape(b * n, nb).numpy(),
                delta.reshape(b * n, nb).numpy(),
                omega1[:, None].expand(b, n).reshape(-1).contiguous().numpy(), q0,
                pr.view(b * n, nb, -1).numpy(),
            )
        else:
            arg = om[:, None, None, :]
            cf = coef[:, :, None, :] * _sinc(d[..., None] * arg)  # (b, n, nb, qb)
            th = delta[..., None] * arg
            pr = torch.cat([cf * torch.cos(th), -cf * torch.sin(th)], dim=-1).reshape(b, n * nb, -1)
        ang = om[:, :, None] * yk[:, None, :]  # (b, qb, kw)
        trig = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)  # (b, 2qb, kw)
        if series is None:
            series = torch.bmm(pr, trig)
        else:
            series.baddbmm_(pr, trig)
    if series is None:
        series = torch.zeros((b, n * nb, kw), dtype=torch.float64, device=w.device)
    return series.reshape(b, n, nb, kw), delta


def _edge_window(yk, T2, maxdelta):
    """The range [k_lo, k_hi) of edges that some output of the chunk must evaluate: below it
    F = 0 and above it F = 1 for every output (|y| ≥ T/2 whatever the input bin)."""
    reach = (T2 + maxdelta)[:, None]
    low = (yk <= -reach).sum(dim=1)
    high = (yk >= reach).sum(dim=1)
    K = yk.shape[1]
    return int(low.min()), int((K - high).max())


def _fourier_cdf(w, c_center, thr, mid, half, mu, s, T2, Q):
    """CDF F (b, n, I, K) of z for every pair (A = each of the n inputs) and input bin."""
    yk = thr[None, :] - c_center[:, None]  # (b, K)
    fin = torch.isfinite(yk)
    series, delta = _fourier_series(w, torch.where(fin, yk, torch.zeros_like(yk)), mid, half,
                                    mu, s, T2, Q)
    y = yk[:, None, None, :] - delta[..., None]  # (b, n, nb, K)
    F = 0.5 + y / (2 * T2)[:, None, None, None] + series
    hw = T2[:, None, None, None]
    return torch.where(y >= hw, torch.ones_like(F), torch.where(y <= -hw, torch.zeros_like(F), F))


def _box_cdf(w, c_center, thr, mid, half, mu, s):
    """CDF F (b, n, nb, K) by the stabilised box-spline formula, and its conditioning."""
    b, n = w.shape
    nb = mid.shape[0]
    a = s * w.abs()  # (b, n)
    d = w.abs()[:, :, None] * half[None, None, :]  # (b, n, nb)
    delta = w[:, :, None] * (mid - mu)[None, None, :]
    if n > 1:
        idx = torch.arange(n, device=w.device)
        others = torch.stack([torch.cat([idx[:k], idx[k + 1:]]) for k in range(n)])  # (n, n-1)
        oth = a[:, others]  # (b, n, n-1)
        widths = torch.cat([oth[:, :, None, :].expand(b, n, nb, n - 1), d[..., None]], dim=-1)
    else:
        widths = d[..., None]
    y = (thr[None, :] - c_center[:, None])[:, None, None, :] - delta[..., None]  # (b, n, nb, K)
    fin = torch.isfinite(y)
    yf = torch.where(fin, y, torch.zeros_like(y))
    F, cond = _box_spline_cdf(yf, widths)
    F = torch.where(fin, F, (y > 0).to(F.dtype))
    return F, cond


def _constant_mass(z0: torch.Tensor, edges: PreactivationEdges) -> torch.Tensor:
    """1.0 where a constant pre-activation z0 lands inside the output range, else 0.0."""
    t = edges.thresholds.to(z0.device)
    top = (z0 <= t[-1]) if edges.top_inclusive else (z0 < t[-1])
    return ((z0 >= t[0]) & top).to(torch.float64)


def _check_common(weights, bias, in_range, in_bins, out_of_range):
    check_choice("out_of_range", out_of_range, ("drop", "clip"))
    if weights.dim() != 2:
        raise InfolensError(f"weights must be (n_in, n_out), got shape {tuple(weights.shape)}.")
    w = weights.to(torch.float64)
    c = (torch.zeros(w.shape[1], dtype=torch.float64, device=w.device) if bias is None
         else torch.as_tensor(bias, dtype=torch.float64, device=w.device).reshape(-1))
    if c.numel() != w.shape[1]:
        raise InfolensError(f"bias has {c.numel()} entries for {w.shape[1]} outputs.")
    if not (bool(torch.isfinite(w).all()) and bool(torch.isfinite(c).all())):
        raise InfolensError("weights and bias must be finite.")
    lo, hi = float(in_range[0]), float(in_range[1])
    if not lo < hi:
        raise InfolensError(f"in_range={in_range!r} is empty or inverted.")
    if int(in_bins) < 1:
        raise InfolensError(f"in_bins must be >= 1, got {in_bins!r}.")
    return w, c, lo, hi


def _warn_mass(mass: torch.Tensor, pairs: torch.Tensor, min_mass: float, out_of_range: str) -> None:
    m = mass[pairs]
    zero = int((m == 0).sum())
    if zero:
        warnings.warn(
            f"{zero} of {m.numel()} pairs have no probability inside out_range; their MI is "
            "defined as 0. Check in_range/out_range.", stacklevel=3,
        )
    tiny = int(((m > 0) & (m < min_mass)).sum())
    if tiny and out_of_range == "drop":
        warnings.warn(
            f"{tiny} of {m.numel()} pairs have an in-range mass below {min_mass:g} (smallest "
            f"{float(m[m > 0].min()):.3g}); under out_of_range='drop' their MI is conditional on "
            "that rare event.", stacklevel=3,
        )


def exact_ei_parts(
    weights: torch.Tensor,
    bias: torch.Tensor | None,
    in_range: tuple[float, float],
    in_bins: int,
    edges: PreactivationEdges,
    *,
    widen: float = 0.0,
    out_of_range: str = "drop",
    method: str = "auto",
    workspace: int = DEFAULT_WORKSPACE,
    min_mass: float = 0.01,
    tol: float = TRUNCATION_TOL,
) -> ExactPairwise:
    """Exact ``I(bin(x_A); bin(y_B))`` for every pair, all inputs uniform together (EI_parts).

    ``weights`` (n_in, n_out) is the effective weight matrix (column ``B`` = the coefficients of
    output ``B``'s pre-activation), ``bias`` (n_out,) its offset, ``in_range`` the uniform input
    range, ``edges`` the output bins as pre-activation thresholds
    (:func:`preactivation_edges`), ``widen`` the input-range widening δ. ``method``: ``"auto"``
    (closed form for one input, box-spline up to 6 nonzero inputs, Fourier beyond),
    ``"box_spline"`` or ``"fourier"`` (for cross-checks). Work is chunked over outputs to use
    about ``workspace`` bytes. Returns :class:`ExactPairwise` (MI in bits).
    """
    check_choice("method", method, METHODS)
    w_all, c_all, lo, hi = _check_common(weights, bias, in_range, in_bins, out_of_range)
    dev = w_all.device
    n_in, n_out = w_all.shape
    p, mid, half = input_bins(lo, hi, int(in_bins), widen, device=dev)
    mu, s = (lo + hi) / 2, (hi - lo) / 2
    thr = edges.thresholds.to(device=dev, dtype=torch.float64)
    nb, K = p.shape[0], thr.shape[0]
    mi = torch.zeros((n_in, n_out), dtype=torch.float64, device=dev)
    mass = torch.zeros((n_in, n_out), dtype=torch.float64, device=dev)
    meth = torch.zeros(n_out, dtype=torch.int8, device=dev)
    window = torch.full((n_out,), math.nan, dtype=torch.float64, device=dev)
    terms = torch.zeros(n_out, dtype=torch.int64, device=dev)
    bound = 0.0
    absw = w_all.abs()
    sig = absw > NEGLIGIBLE_WEIGHT * absw.amax(dim=0, keepdim=True)  # (n_in, n_out)
    nnz = sig.sum(dim=0)
    center_all = c_all + mu * w_all.sum(dim=0)

    for nval in torch.unique(nnz).tolist():
        outs = (nnz == nval).nonzero()[:, 0]
        if nval == 0:
            mass[:, outs] = _constant_mass(center_all[outs], edges)[None, :]
            meth[outs] = 0
            continue
        use_box = method == "box_spline" or (method == "auto" and nval <= BOX_SPLINE_MAX_INPUTS)
        if method == "box_spline" and nval > 10:
            raise InfolensError(f"method='box_spline' supports up to 10 inputs per output, got {nval}.")
        sub = (~sig[:, outs]).to(torch.int8).argsort(dim=0, stable=True)[:nval].T  # (b_all, nval)
        per_out = 8 * nval * nb * K * (6 + (1 << (nval - 1)) if use_box else 6)
        chunk = max(1, workspace // max(per_out, 1))
        for j0 in range(0, outs.numel(), chunk):
            o = outs[j0 : j0 + chunk]
            rows = sub[j0 : j0 + chunk]  # (b, nval)
            w = w_all[rows, o[:, None]]  # (b, nval)
            C = center_all[o]
            b = o.numel()
            clip = out_of_range == "clip"
            done = False
            if use_box:
                F, cond = _box_cdf(w, C, thr, mid, half, mu, s)
                worst = float(cond.max()) if cond.numel() else 1.0
                if not (method == "auto" and worst > BOX_SPLINE_COND_MAX and nval >= 4):
                    bound = max(bound, worst * 1e-15)
                    meth[o] = 1
                    zeros = torch.zeros((b, K), dtype=torch.float64, device=dev)
                    mi_c, mass_c = _pair_mi(F.reshape(b * nval, nb, K), zeros,
                                            torch.zeros((b * nval, nb), dtype=torch.float64, device=dev),
                                            torch.ones(b, dtype=torch.float64, device=dev), p,
                                            nval, 0, K, False, clip)
                    done = True
                del F
            if not done:  # ill-conditioned box-spline: the Fourier series is accurate here
                a = s * w.abs()
                dmax = w.abs().amax(dim=1) * half.max()
                T2, wb = _window(a, dmax, TAIL_EPS)
                Q, tb = _terms(a, T2, tol, MAX_TERMS)
                fchunk = max(1, workspace // (8 * nval * nb * (K * 3 + 6 * min(int(Q.max()), 256))))
                mi_parts, mass_parts = [], []
                maxdelta = w.abs().amax(dim=1) * (mid - mu).abs().max()
                for k0 in range(0, b, fchunk):
                    sl = slice(k0, k0 + fchunk)
                    yk = thr[None, :] - C[sl, None]
                    k_lo, k_hi = _edge_window(yk, T2[sl], maxdelta[sl])
                    ykw = yk[:, k_lo:k_hi].contiguous()
                    series, delta = _fourier_series(w[sl], ykw, mid, half, mu, s, T2[sl], Q[sl])
                    bb = series.shape[0]
                    m_, z_ = _pair_mi(series.reshape(bb * nval, nb, -1), ykw,
                                      delta.reshape(bb * nval, nb), T2[sl], p, nval, k_lo, K,
                                      True, clip)
                    mi_parts.append(m_)
                    mass_parts.append(z_)
                mi_c, mass_c = torch.cat(mi_parts), torch.cat(mass_parts)
                bound = max(bound, float((wb + tb).max()))
                meth[o] = 2
                window[o] = T2
                terms[o] = Q
            mi_c, mass_c = mi_c.reshape(b, nval), mass_c.reshape(b, nval)
            # the in-range mass does not depend on A (the input bins partition its range)
            zb = mass_c.mean(dim=1)
            mass[:, o] = zb[None, :]
            mi_c = torch.where(mass_c > 0, mi_c, torch.zeros_like(mi_c))
            mi[rows, o[:, None]] = mi_c
    if bound == 0.0:
        bound = 1e-15
    _warn_mass(mass, torch.ones_like(mass, dtype=torch.bool), min_mass, out_of_range)
    return ExactPairwise(mi, mass, meth, window, terms, bound)


def exact_sensitivity(
    weights: torch.Tensor,
    bias: torch.Tensor | None,
    in_range: tuple[float, float],
    in_bins: int,
    edges: PreactivationEdges,
    *,
    widen: float = 0.0,
    out_of_range: str = "drop",
    workspace: int = DEFAULT_WORKSPACE,
    min_mass: float = 0.01,
) -> ExactPairwise:
    """Exact sensitivity terms ``I(bin(x_A); bin(y_B))`` with only ``x_A`` uniform, others 0.

    Then ``z = c_B + w_AB·x_A``: given input bin ``i``, ``z`` is uniform on
    ``c_B + w_AB·[lo_i, hi_i]`` (closed form; a point mass when ``w_AB = 0``, whose MI is 0).
    Arguments as :func:`exact_ei_parts`. Returns :class:`ExactPairwise` (MI in bits; the
    in-range mass is per pair here).
    """
    w_all, c_all, lo, hi = _check_common(weights, bias, in_range, in_bins, out_of_range)
    dev = w_all.device
    n_in, n_out = w_all.shape
    p, mid, half = input_bins(lo, hi, int(in_bins), widen, device=dev)
    thr = edges.thresholds.to(device=dev, dtype=torch.float64)
    nb, K = p.shape[0], thr.shape[0]
    mi = torch.zeros((n_in, n_out), dtype=torch.float64, device=dev)
    mass = torch.zeros((n_in, n_out), dtype=torch.float64, device=dev)
    chunk = max(1, workspace // (8 * n_in * nb * K * 6))
    for b0 in range(0, n_out, chunk):
        w = w_all[:, b0 : b0 + chunk].T  # (b, n)
        c = c_all[b0 : b0 + chunk]
        d = w.abs()[:, :, None] * half  # (b, n, nb)
        center = c[:, None, None] + w[:, :, None] * mid  # (b, n, nb)
        y = thr - center[..., None]  # (b, n, nb, K)
        dd = d[..., None]
        safe = torch.where(dd > 0, dd, torch.ones_like(dd))
        F = torch.where(dd > 0, ((y + dd) / (2 * safe)).clamp(0.0, 1.0), (y > 0).to(torch.float64))
        bb, n = w.shape
        mi_c, mass_c = _pair_mi(F.reshape(bb * n, nb, K), torch.zeros((bb, K), dtype=torch.float64, device=dev),
                                torch.zeros((bb * n, nb), dtype=torch.float64, device=dev),
                                torch.ones(bb, dtype=torch.float64, device=dev), p, n, 0, K,
                                False, out_of_range == "clip")
        mi_c, mass_c = mi_c.reshape(bb, n), mass_c.reshape(bb, n)
        zero = w == 0
        if bool(zero.any()):  # a constant output: its bin follows the binning's edge rule
            mass_c = torch.where(zero, _constant_mass(c[:, None].expand_as(w), edges), mass_c)
            mi_c = torch.where(zero, torch.zeros_like(mi_c), mi_c)
        mi_c = torch.where(mass_c > 0, mi_c, torch.zeros_like(mi_c))
        mi[:, b0 : b0 + chunk] = mi_c.T
        mass[:, b0 : b0 + chunk] = mass_c.T
    _warn_mass(mass, torch.ones_like(mass, dtype=torch.bool), min_mass, out_of_range)
    n = n_out
    return ExactPairwise(
        mi, mass, torch.ones(n, dtype=torch.int8, device=dev),
        torch.full((n,), math.nan, dtype=torch.float64, device=dev),
        torch.zeros(n, dtype=torch.int64, device=dev), 1e-15,
    )


def exact_pair_tables(
    weights: torch.Tensor,
    bias: torch.Tensor | None,
    in_range: tuple[float, float],
    in_bins: int,
    edges: PreactivationEdges,
    *,
    widen: float = 0.0,
    method: str = "auto",
) -> torch.Tensor:
    """The exact joint probability tables of every pair, (n_in, n_out, in_bins, out_bins + 2).

    Entry ``[A, B, i, j]`` is ``P(bin(x_A) = i, bin(y_B) = j)`` with all inputs uniform; the two
    last columns are the masses below and above ``out_range`` (before drop or clip). Meant for
    small layers (tests, χ² checks): no chunking. ``method`` as in :func:`exact_ei_parts`.
    """
    check_choice("method", method, METHODS)
    w_all, c_all, lo, hi = _check_common(weights, bias, in_range, in_bins, "drop")
    dev = w_all.device
    n_in, n_out = w_all.shape
    p, mid, half = input_bins(lo, hi, int(in_bins), widen, device=dev)
    mu, s = (lo + hi) / 2, (hi - lo) / 2
    thr = edges.thresholds.to(device=dev, dtype=torch.float64)
    out = torch.zeros((n_in, n_out, p.shape[0], thr.shape[0] + 1), dtype=torch.float64, device=dev)
    for b in range(n_out):
        w = w_all[:, b]
        nz = (w.abs() > NEGLIGIBLE_WEIGHT * w.abs().max()).nonzero()[:, 0]
        C = c_all[b] + mu * w.sum()
        if nz.numel() == 0:
            t = thr
            z0 = float(c_all[b])
            j = min(int((t <= z0).sum()) - 1, thr.shape[0] - 2)
            col = torch.zeros(thr.shape[0] + 1, dtype=torch.float64, device=dev)
            inside = bool(_constant_mass(c_all[b : b + 1], edges)[0])
            col[j if inside else (-2 if z0 < float(t[0]) else -1)] = 1.0
            out[:, b] = p[:, None] * col
            continue
        wn = w[nz][None, :]
        use_box = method == "box_spline" or (method == "auto" and nz.numel() <= BOX_SPLINE_MAX_INPUTS)
        if use_box:
            F, _ = _box_cdf(wn, C[None], thr, mid, half, mu, s)
        else:
            a = s * wn.abs()
            T2, _ = _window(a, wn.abs().amax(dim=1) * half.max(), TAIL_EPS)
            Q, _ = _terms(a, T2, TRUNCATION_TOL, MAX_TERMS)
            F = _fourier_cdf(wn, C[None], thr, mid, half, mu, s, T2, Q)
        tab = _tables_from_cdf(F, p)[0]  # (nnz, nb, K+1)
        out[nz, b] = tab
        rest = torch.ones(n_in, dtype=torch.bool, device=dev)
        rest[nz] = False
        if bool(rest.any()):  # zero-weight inputs: independent of y_B
            marg = tab[0].sum(dim=0)  # P(y_B in column j), the same for every A
            out[rest, b] = p[:, None] * marg[None, :]
    return out
