"""Tests of the I^sx PID estimators: spec oracles, brute-force references and properties."""

from __future__ import annotations

import itertools
import math
import warnings
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from infolens._validation import InfolensError, InfolensWarning
from infolens.estimators.pid import (
    isx,
    nninfo_subsets,
    redundancy_lattice,
    reing_complexity,
    representational_complexity,
    shannon_invariants,
)
from infolens.estimators.pid._complexity import union_collections

LOG3 = math.log2(3)
BITS = np.array(list(itertools.product([0, 1], [0, 1])))  # X1, X2 independent fair bits
X1, X2 = BITS[:, 0], BITS[:, 1]
R_KEY, U1_KEY, U2_KEY, S_KEY = ((0,), (1,)), ((0,),), ((1,),), ((0, 1),)

# Spec §10 oracle table (bits): gate -> (sources, target, I, R, U1, U2, S, Pi_1, Pi_2, C).
ORACLES = {
    "XOR": (BITS, X1 ^ X2, 1.0, math.log2(2 / 3), math.log2(3 / 2), math.log2(3 / 2),
            math.log2(4 / 3), math.log2(3 / 2), math.log2(4 / 3), 3 - LOG3),
    "AND": (BITS, X1 & X2, 2 - 0.75 * LOG3, 2.5 - 1.5 * LOG3, 0.75 * LOG3 - 1,
            0.75 * LOG3 - 1, 1.5 - 0.75 * LOG3, 0.5, 1.5 - 0.75 * LOG3, 1.383689),
    "OR": (BITS, X1 | X2, 2 - 0.75 * LOG3, 2.5 - 1.5 * LOG3, 0.75 * LOG3 - 1,
           0.75 * LOG3 - 1, 1.5 - 0.75 * LOG3, 0.5, 1.5 - 0.75 * LOG3, 1.383689),
    "COPY": (BITS, BITS, 2.0, math.log2(4 / 3), math.log2(3 / 2), math.log2(3 / 2),
             math.log2(4 / 3), LOG3, math.log2(4 / 3), (4 - LOG3) / 2),
    "UNQ": (BITS, X1, 1.0, math.log2(4 / 3), math.log2(3 / 2), -math.log2(4 / 3),
            math.log2(4 / 3), math.log2(3 / 2), math.log2(4 / 3), 3 - LOG3),
    "RDN": (np.array([[0, 0], [1, 1]]), np.array([0, 1]), 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0),
}
# AND's C from the table: (1/2 + 2 (3/2 - 3/4 log2 3)) / (2 - 3/4 log2 3), exact form.
_AND_C = (0.5 + 2 * (1.5 - 0.75 * LOG3)) / (2 - 0.75 * LOG3)


# ---------------------------------------------------------------------------------------------
# Independent references (brute force over the definitions)
# ---------------------------------------------------------------------------------------------


def brute_antichains(n):
    """All antichains of nonempty subsets of range(n), by filtering every collection."""
    subsets = [frozenset(c) for k in range(1, n + 1) for c in itertools.combinations(range(n), k)]
    out = []
    for r in range(1, len(subsets) + 1):
        for coll in itertools.combinations(subsets, r):
            if all(not (a <= b) for a, b in itertools.permutations(coll, 2)):
                out.append(coll)
    return out


def key_of(coll):
    return tuple(sorted(tuple(sorted(a)) for a in coll))


def below(beta, alpha):
    """beta <= alpha iff every a in alpha contains some b in beta."""
    return all(any(b <= a for b in beta) for a in alpha)


def pmf_of(sources, target, weights=None):
    """dict (s tuple, t) -> probability, from samples or explicit weights."""
    src = np.asarray(sources)
    tgt = np.asarray(target)
    rows = len(src)
    w = np.full(rows, 1 / rows) if weights is None else np.asarray(weights, dtype=float)
    pmf = defaultdict(float)
    for i in range(rows):
        t = tuple(np.atleast_1d(tgt[i]).tolist())
        pmf[(tuple(src[i].tolist()), t)] += w[i]
    return {k: v for k, v in pmf.items() if v > 0}


def naive_pid(pmf, n):
    """SxPID-style reference: O(R^2) scan per antichain, then recursive Möbius inversion.

    Returns (average atoms dict, local atoms dict realization -> dict) for the net atoms and the
    informative / misinformative parts: {key: (plus, minus)}.
    """
    nodes = brute_antichains(n)
    reals = list(pmf.items())
    p_t = defaultdict(float)
    for (_s, t), p in reals:
        p_t[t] += p
    local = {}
    for (s, t), _ in reals:
        red = {}
        for alpha in nodes:
            union = 0.0
            union_t = 0.0
            for (s2, t2), p2 in reals:
                if any(all(s2[i] == s[i] for i in a) for a in alpha):
                    union += p2
                    if t2 == t:
                        union_t += p2
            red[alpha] = (-math.log2(union), -math.log2(union_t / p_t[t]))
        local[(s, t)] = red
    order = sorted(nodes, key=lambda a: sum(below(b, a) for b in nodes))
    strictly_below = {a: [b for b in order if b is not a and below(b, a)] for a in order}

    def invert(values):
        atoms = {}
        for alpha in order:  # every strictly lower node comes earlier in this order
            atoms[alpha] = values[alpha] - sum(atoms[b] for b in strictly_below[alpha])
        return {key_of(a): v for a, v in atoms.items()}

    local_atoms = {}
    for r, red in local.items():
        plus = invert({a: v[0] for a, v in red.items()})
        minus = invert({a: v[1] for a, v in red.items()})
        local_atoms[r] = {k: (plus[k], minus[k]) for k in plus}
    avg = {}
    for key in next(iter(local_atoms.values())):
        avg[key] = (
            sum(pmf[r] * local_atoms[r][key][0] for r in local_atoms),
            sum(pmf[r] * local_atoms[r][key][1] for r in local_atoms),
        )
    return avg, local_atoms


def plugin_mi(sources, target, cols, weights=None):
    """I(T : S_cols) in bits straight from the plug-in pmf."""
    pmf = pmf_of(np.asarray(sources)[:, list(cols)], target, weights)
    ps, pt = defaultdict(float), defaultdict(float)
    for (s, t), p in pmf.items():
        ps[s] += p
        pt[t] += p
    return sum(p * math.log2(p / (ps[s] * pt[t])) for (s, t), p in pmf.items())


def random_data(seed, n, size=None, levels=None, t_levels=None):
    rng = np.random.default_rng(seed)
    size = size or int(rng.integers(8, 60))
    levels = levels or int(rng.integers(2, 4))
    t_levels = t_levels or int(rng.integers(2, 4))
    s = rng.integers(0, levels, (size, n))
    # Target depends on the sources plus noise, so the information is nonzero and mixed.
    t = (s @ rng.integers(0, 3, n) + rng.integers(0, 2, size)) % t_levels
    return s, t


def random_pmf(seed, n):
    """Explicit pmf over a small random support: (sources, target, weights)."""
    rng = np.random.default_rng(seed)
    states = np.array(list(itertools.product(range(2), repeat=n + 1)))
    keep = rng.random(len(states)) < 0.7
    keep[:2] = True
    states = states[keep]
    w = rng.random(len(states)) + 0.05
    return states[:, :n], states[:, n], w / w.sum()


seeds = st.integers(0, 2**31 - 1)
SETTINGS = settings(max_examples=20, deadline=None)


# ---------------------------------------------------------------------------------------------
# Oracles (spec §10)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gate", sorted(ORACLES))
def test_two_source_oracles(gate):
    src, tgt, i, red, u1, u2, syn, pi1, pi2, c = ORACLES[gate]
    res = isx(src, tgt)
    assert res.mutual_information == pytest.approx(i, abs=1e-9)
    for key, want in [(R_KEY, red), (U1_KEY, u1), (U2_KEY, u2), (S_KEY, syn)]:
        assert res[key].average == pytest.approx(want, abs=1e-9), key
    assert res.degree_atoms == pytest.approx([pi1, pi2], abs=1e-9)
    want_c = _AND_C if gate in ("AND", "OR") else c
    assert res.complexity == pytest.approx(want_c, abs=1e-9)
    assert res.complexity == pytest.approx(c, abs=1e-6)  # the rounded table value
    rc = representational_complexity(src, tgt, method="union")
    assert rc.complexity == pytest.approx(want_c, abs=1e-9)
    assert rc.degree_atoms == pytest.approx([pi1, pi2], abs=1e-9)


def test_informative_misinformative_oracles():
    xor = isx(BITS, X1 ^ X2)
    keys = [R_KEY, U1_KEY, U2_KEY, S_KEY]
    plus = [math.log2(4 / 3), math.log2(3 / 2), math.log2(3 / 2), math.log2(4 / 3)]
    assert [xor[k].informative for k in keys] == pytest.approx(plus, abs=1e-9)
    assert [xor[k].misinformative for k in keys] == pytest.approx([1, 0, 0, 0], abs=1e-9)
    and_ = isx(BITS, X1 & X2)
    assert [and_[k].informative for k in keys] == pytest.approx(plus, abs=1e-9)
    minus = [0.5 * math.log2(1.5), 0.25 * LOG3, 0.25 * LOG3, 0.5 - 0.25 * LOG3]
    assert [and_[k].misinformative for k in keys] == pytest.approx(minus, abs=1e-9)


def test_xor_pointwise_redundancy_is_the_same_everywhere():
    res = isx(BITS, X1 ^ X2, mode="pointwise")
    col = res.antichains.index(R_KEY)
    assert res.local_average[:, col] == pytest.approx([math.log2(2 / 3)] * 4, abs=1e-12)
    assert res.local_informative[:, col] == pytest.approx([math.log2(4 / 3)] * 4, abs=1e-12)


def test_explicit_pmf_matches_samples_and_records_counts():
    res = isx(BITS, X1 & X2, weights=np.full(4, 0.25))
    ref = isx(np.repeat(BITS, 3, axis=0), np.repeat(X1 & X2, 3))
    assert res.average == pytest.approx(ref.average, abs=1e-12)
    assert res.n_samples is None and ref.n_samples == 12
    assert res.n_realizations == ref.n_realizations == 4
    assert res.units == "bits"


# ---------------------------------------------------------------------------------------------
# Lattice
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "size", "per_degree"),
    [(1, 1, [1]), (2, 4, [3, 1]), (3, 18, [10, 7, 1]), (4, 166, [53, 97, 15, 1]),
     (5, 7579, [686, 5443, 1418, 31, 1])],
)
def test_lattice_sizes_and_degrees(n, size, per_degree):
    lat = redundancy_lattice(n)
    assert len(lat) == size
    assert np.bincount(lat.degree)[1:].tolist() == per_degree
    assert lat.antichains[-1] == (tuple(range(n)),)  # top {[n]}
    assert lat.antichains[0] == tuple((i,) for i in range(n))  # bottom {1}..{n}


def test_lattice_n5_operator_sizes():
    lat = redundancy_lattice(5)
    assert lat.zeta.nnz == 7_813_193  # spec: 7.8M ones
    assert lat.mobius.nnz == 303_681


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_lattice_matches_brute_force_order(n):
    lat = redundancy_lattice(n)
    brute = brute_antichains(n)
    assert sorted(key_of(a) for a in brute) == sorted(lat.antichains)
    z = lat.zeta.toarray()
    for alpha in brute:
        for beta in brute:
            i, j = lat.index[key_of(alpha)], lat.index[key_of(beta)]
            assert z[i, j] == float(below(beta, alpha))
    # Möbius operator is the inverse of the unit lower-triangular zeta matrix.
    assert np.allclose(np.tril(z), z) and np.all(np.diag(z) == 1)
    assert np.array_equal(lat.mobius.toarray() @ z, np.eye(len(lat)))


def test_mobius_equals_triangular_solve_n5():
    lat = redundancy_lattice(5)
    rhs = np.random.default_rng(0).standard_normal(len(lat))
    solved = spla.spsolve_triangular(lat.zeta, rhs, lower=True, unit_diagonal=True)
    assert np.abs(lat.mobius @ rhs - solved).max() < 1e-8 * np.abs(solved).max()


def test_lattice_rejects_bad_n():
    with pytest.raises(InfolensError, match="union"):
        redundancy_lattice(6)
    with pytest.raises(InfolensError):
        redundancy_lattice(0)


# ---------------------------------------------------------------------------------------------
# Brute-force agreement
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(seed=seeds, n=st.integers(1, 3))
def test_fast_equals_naive_average_and_pointwise(seed, n):
    s, t = random_data(seed, n, size=int(np.random.default_rng(seed).integers(4, 25)))
    avg, loc = naive_pid(pmf_of(s, t), n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfolensWarning)  # tiny samples may carry no information
        res = isx(s, t)
        pw = isx(s, t, mode="pointwise")
    for key, (plus, minus) in avg.items():
        assert res[key].informative == pytest.approx(plus, abs=1e-10)
        assert res[key].misinformative == pytest.approx(minus, abs=1e-10)
    rows = pw.local_rows
    for i in range(len(rows)):
        s_val = tuple(int(rows[f"source_{j}"][i]) for j in range(n))
        r = (s_val, (int(rows["target"][i]),))
        for key, (plus, minus) in loc[r].items():
            k = pw.antichains.index(key)
            assert pw.local_informative[i, k] == pytest.approx(plus, abs=1e-10)
            assert pw.local_misinformative[i, k] == pytest.approx(minus, abs=1e-10)


@settings(max_examples=3, deadline=None)
@given(seed=seeds)
def test_fast_equals_naive_four_sources_weighted(seed):
    s, t, w = random_pmf(seed, 4)
    avg, _ = naive_pid(pmf_of(s, t, w), 4)
    res = isx(s, t, weights=w)
    got = np.array([res[k].average for k in avg])
    want = np.array([p - m for p, m in avg.values()])
    assert np.abs(got - want).max() < 1e-10


# ---------------------------------------------------------------------------------------------
# Properties (spec §10)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(seed=seeds, n=st.integers(2, 4), weighted=st.booleans())
def test_sums_modes_and_self_redundancy(seed, n, weighted):
    if weighted:
        s, t, w = random_pmf(seed, n)
    else:
        (s, t), w = random_data(seed, n), None
    res = isx(s, t, weights=w)
    info = plugin_mi(s, t, range(n), w)
    assert res.average.sum() == pytest.approx(info, abs=1e-10)
    assert res.mutual_information == pytest.approx(info, abs=1e-10)
    assert res.average == pytest.approx(res.informative - res.misinformative, abs=1e-12)
    assert res.degree_atoms.sum() == pytest.approx(info, abs=1e-10)
    for mode in ("pointwise", "target"):
        loc = isx(s, t, weights=w, mode=mode)
        assert np.abs(loc.local_weights @ loc.local_average - res.average).max() < 1e-10
        assert np.abs(loc.local_average.sum(axis=1) @ loc.local_weights - info) < 1e-10
        assert np.abs(loc.informative - res.informative).max() < 1e-10
    # Self-redundancy: sum_{beta <= {K}} Pi(beta) = I(T : S_K) for every K.
    red = res.redundancies()
    for k in range(1, n + 1):
        for subset in itertools.combinations(range(n), k):
            got = red[res.antichains.index((subset,))]
            assert got == pytest.approx(plugin_mi(s, t, subset, w), abs=1e-10)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 4))
def test_permutation_and_relabel_invariance(seed, n):
    s, t = random_data(seed, n)
    rng = np.random.default_rng(seed + 1)
    base = isx(s, t)
    perm = rng.permutation(n)  # new column j is old column perm[j]
    new_index = np.argsort(perm)
    moved = isx(s[:, perm], t)
    for key in base.antichains:
        mapped = [[int(new_index[i]) for i in a] for a in key]
        assert moved[mapped].average == pytest.approx(base[key].average, abs=1e-10)
    assert moved.degree_atoms == pytest.approx(base.degree_atoms, abs=1e-10)
    assert moved.complexity == pytest.approx(base.complexity, abs=1e-9)
    relabelled = s.copy()
    col = int(rng.integers(n))
    relabelled[:, col] = rng.permutation(10)[s[:, col]] + 5
    t2 = rng.permutation(10)[t] * 3
    again = isx(relabelled, t2)
    assert np.abs(again.average - base.average).max() < 1e-10


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_rdn_gives_complexity_one(n):
    t = np.arange(4).repeat(3)
    s = np.tile(t[:, None], (1, n))
    res = representational_complexity(s, t, method="lattice")
    assert res.complexity == pytest.approx(1.0, abs=1e-10)
    if n >= 2:
        assert representational_complexity(s, t, method="union").complexity == pytest.approx(
            1.0, abs=1e-10
        )


def test_rdn_union_six_sources():
    t = np.arange(3).repeat(2)
    s = np.tile(t[:, None], (1, 6))
    res = representational_complexity(s, t)
    assert res.method == "union"
    assert res.complexity == pytest.approx(1.0, abs=1e-10)
    assert res.mutual_information == pytest.approx(LOG3, abs=1e-10)
    assert res.union_information[0] == 0.0 and res.union_information[-1] == pytest.approx(LOG3)


def test_union_collections_count():
    counts = {n: sum(len(union_collections(n, m)[0]) for m in range(1, n)) for n in (2, 3, 4, 5)}
    assert counts == {2: 3, 3: 14, 4: 93, 5: 2108}
    _, signs = union_collections(3, 1)
    assert signs.tolist() == [1, 1, -1, 1, -1, -1, 1]  # (-1)^(|B|+1)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 4), weighted=st.booleans())
def test_union_shortcut_equals_lattice(seed, n, weighted):
    if weighted:
        s, t, w = random_pmf(seed, n)
    else:
        (s, t), w = random_data(seed, n), None
    lat = representational_complexity(s, t, method="lattice", weights=w)
    uni = representational_complexity(s, t, method="union", weights=w)
    assert uni.complexity == pytest.approx(lat.complexity, abs=1e-12)
    assert np.abs(uni.degree_atoms - lat.degree_atoms).max() < 1e-12
    assert np.abs(uni.union_information - lat.union_information).max() < 1e-12


def test_union_equals_lattice_five_sources():
    s, t = random_data(7, 5, size=400, levels=3, t_levels=3)
    lat = representational_complexity(s, t, method="lattice")
    uni = representational_complexity(s, t, method="union")
    assert uni.complexity == pytest.approx(lat.complexity, abs=1e-10)
    assert np.abs(uni.degree_atoms - lat.degree_atoms).max() < 1e-10


@SETTINGS
@given(seed=seeds)
def test_coarse_graining_identity(seed):
    s, t = random_data(seed, 4, levels=2)
    groups = [[0, 1], [2, 3]]
    fine = isx(s, t)
    touched = np.array(
        [min(sum(any(i in g for i in a) for g in groups) for a in key) for key in fine.antichains]
    )
    via_fine = float(touched @ fine.average / fine.mutual_information)
    coarse = representational_complexity(s, t, groups=groups)
    assert coarse.complexity == pytest.approx(via_fine, abs=1e-12)
    assert coarse.mutual_information == pytest.approx(fine.mutual_information, abs=1e-12)
    listed = isx([s[:, :2], s[:, 2:]], t)
    assert listed.complexity == pytest.approx(via_fine, abs=1e-12)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 4))
def test_shannon_invariants_two_forms(seed, n):
    s, t = random_data(seed, n)
    direct = shannon_invariants(s, t)
    r_atoms, v_atoms = isx(s, t).shannon_invariants()
    assert direct.redundancy == pytest.approx(r_atoms, abs=1e-10)
    assert direct.vulnerability == pytest.approx(v_atoms, abs=1e-10)
    assert direct.total == pytest.approx(plugin_mi(s, t, range(n)), abs=1e-10)


def test_shannon_invariants_entropy_mode():
    s = np.array([[0, 0], [1, 1], [0, 1], [1, 0]])  # two independent fair bits
    inv = shannon_invariants(s)
    assert inv.mode == "entropy" and inv.total == pytest.approx(2.0)
    assert inv.redundancy == pytest.approx(1.0) and inv.vulnerability == pytest.approx(1.0)
    copy = shannon_invariants(np.array([[0, 0], [1, 1]]))
    assert copy.redundancy == pytest.approx(2.0) and copy.vulnerability == pytest.approx(0.0)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 4))
def test_reing_two_forms_and_range(seed, n):
    s, t = random_data(seed, n)
    res = reing_complexity(s, t)
    info = plugin_mi(s, t, range(n))
    assert res.differences.sum() == pytest.approx(info, abs=1e-10)
    assert np.all(res.differences >= -1e-12)
    if info == 0:  # no information: the complexity is undefined and reported as NaN
        assert np.isnan(res.complexity)
        return
    alt = n - res.mean_information[1:n].sum() / info
    assert res.complexity == pytest.approx(alt, abs=1e-10)
    assert 1 - 1e-10 <= res.complexity <= n + 1e-10
    mean_i1 = np.mean([plugin_mi(s, t, [i]) for i in range(n)])
    assert res.mean_information[1] == pytest.approx(mean_i1, abs=1e-10)


def test_reing_copy_and_parity():
    copy = reing_complexity(BITS[:, [0, 0]], X1)
    assert copy.complexity == pytest.approx(1.0)
    bits3 = np.array(list(itertools.product([0, 1], repeat=3)))
    parity = reing_complexity(bits3, bits3.sum(axis=1) % 2)
    assert parity.complexity == pytest.approx(3.0)
    # nninfo's shifted formula would give 1 for any two sources; the corrected one does not.
    assert reing_complexity(BITS, X1 ^ X2).complexity == pytest.approx(2.0)


def test_nninfo_subsets_reproduce_published_indices():
    first = nninfo_subsets(10, 5)[:3]
    assert [tuple(i + 1 for i in c) for c in first] == [
        (3, 4, 6, 7, 10), (1, 4, 5, 6, 10), (1, 2, 4, 7, 9)]
    assert len(nninfo_subsets(10, 5)) == 26
    assert len(nninfo_subsets(6, 5, n_subsets=26)) == 6  # capped at comb(6, 5)
    assert nninfo_subsets(10, 5, seed=1) != nninfo_subsets(10, 5)


def test_subsampling_averages_subset_results():
    s, t = random_data(3, 8, size=200, levels=2, t_levels=2)
    res = representational_complexity(s, t, subsets=3, n_subsets=4, seed=5)
    assert res.subsets == nninfo_subsets(8, 3, 4, 5)
    each = [representational_complexity(s[:, list(c)], t).complexity for c in res.subsets]
    assert res.complexity == pytest.approx(np.mean(each), abs=1e-12)
    assert res.complexity_std == pytest.approx(np.std(each), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------------------------


def test_to_frame_is_tidy():
    frame = isx(BITS, X1 ^ X2).to_frame()
    assert list(frame.columns) == [
        "antichain", "label", "degree", "informative", "misinformative", "average"]
    assert frame["label"].tolist() == ["{1}{2}", "{1}", "{2}", "{12}"]
    assert frame.attrs["units"] == "bits"
    tgt = isx(BITS, X1 ^ X2, mode="target").to_frame()
    assert len(tgt) == 8 and set(tgt["target"]) == {0, 1}
    pw = isx(BITS, (X1 ^ X2) + 7, mode="pointwise").to_frame()
    assert len(pw) == 16 and set(pw["target"]) == {7, 8}
    assert pw.groupby("label")["probability"].sum().tolist() == pytest.approx([1.0] * 4)


def test_group_sources_and_joint_target():
    # A (samples, k) target is one joint variable; a (samples, k) source is one group.
    res = isx([BITS[:, 0], BITS[:, 1]], BITS)
    assert res.mutual_information == pytest.approx(2.0)
    grouped = isx([BITS], X1 ^ X2)
    assert grouped.n_sources == 1 and grouped.mutual_information == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_too_many_sources_errors_suggest_alternatives():
    s = np.zeros((10, 7), dtype=int)
    with pytest.raises(InfolensError, match=r"subsets=.*groups="):
        representational_complexity(s, np.zeros(10, dtype=int))
    with pytest.raises(InfolensError, match="at most 5"):
        isx(s[:, :6], np.zeros(10, dtype=int))
    with pytest.raises(InfolensError, match="method='union'"):
        representational_complexity(s[:, :6], np.zeros(10, dtype=int), method="lattice")


@pytest.mark.parametrize(
    ("sources", "target", "weights", "match"),
    [
        (np.array([[0.5, 1.0]]), np.array([0]), None, "integer"),
        (np.array([[0, -1]]), np.array([0]), None, "negative"),
        (np.array([[0, 1]]), np.array([-2]), None, "negative"),
        (np.array([[0, 1], [1, 0]]), np.array([0, 1, 0]), None, "shape"),
        ([np.array([0, 1]), np.array([0, 1, 1])], np.array([0, 1]), None, "mismatched"),
        (np.array([[0], [1]]), np.array([0, 1]), np.array([0.7, 0.7]), "sum to"),
        (np.array([[0], [1]]), np.array([0, 1]), np.array([1.5, -0.5]), "negative"),
        (np.array([[0], [1]]), np.array([0, 1]), np.array([1.0]), "shape"),
        (np.array([[0], [1]]), np.array([0.0, 1.0]), None, "integer"),
    ],
)
def test_bad_input_errors(sources, target, weights, match):
    with pytest.raises(InfolensError, match=match):
        isx(sources, target, weights=weights)


def test_bad_options():
    with pytest.raises(InfolensError, match="mode"):
        isx(BITS, X1, mode="local")
    with pytest.raises(InfolensError, match="method"):
        representational_complexity(BITS, X1, method="fast")
    with pytest.raises(InfolensError, match="disjoint"):
        representational_complexity(BITS, X1, groups=[[0, 1], [1]])
    with pytest.raises(InfolensError, match="antichain"):
        isx(BITS, X1)[[(0,), (0, 1)]]


def test_zero_information_gives_nan_with_warning():
    s = np.array([[0], [0], [1], [1]])
    t = np.array([0, 1, 0, 1])  # exactly independent
    with pytest.warns(InfolensWarning, match="undefined"):
        res = isx(s, t)
    assert math.isnan(res.complexity)
    assert res.mutual_information == pytest.approx(0.0, abs=1e-12)
    with pytest.warns(InfolensWarning):
        assert math.isnan(representational_complexity(BITS, np.zeros(4, int)).complexity)
    with pytest.warns(InfolensWarning):
        assert math.isnan(representational_complexity(BITS, X1 * 0, method="union").complexity)
    with pytest.warns(InfolensWarning):
        assert math.isnan(reing_complexity(s, t).complexity)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        isx(BITS, X1)  # nonzero information: no warning


# ---------------------------------------------------------------------------------------------
# Optional cross-check against dit 2.3 (tiny pmfs only; dit is slow)
# ---------------------------------------------------------------------------------------------


def test_dit_pid_sx_cross_check():
    dit = pytest.importorskip("dit")
    pid_sx = pytest.importorskip("dit.pid").PID_SX
    s, t, w = random_pmf(11, 2)
    outcomes = [f"{a}{b}{c}" for (a, b), c in zip(s.tolist(), t.tolist())]
    ref = pid_sx(dit.Distribution(outcomes, w.tolist()), [[0], [1]], [2])
    res = isx(s, t, weights=w)
    for key, dit_key in [(R_KEY, ((0,), (1,))), (U1_KEY, ((0,),)), (U2_KEY, ((1,),)),
                         (S_KEY, ((0, 1),))]:
        assert res[key].average == pytest.approx(float(ref.get_pi(dit_key)), abs=1e-9)
