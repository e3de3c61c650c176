"""Estimator core against closed forms and brute-force references."""

import collections
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infolens._validation import InfolensError
from infolens.estimators import pairwise as pw
from infolens.estimators.binning import Binning, bin_codes, floor_codes
from infolens.estimators.entropy import entropy_from_counts, mutual_information_from_joint
from infolens.estimators.joint import JointCounts, VectorMI
from infolens.estimators.pairwise import PairwiseCounts, support_from_mask


def test_bin_codes_edges_and_policies():
    x = torch.tensor([0.0, 0.2499, 0.25, 1.0, -0.1, 1.2, float("nan")])
    codes, oor = bin_codes(x, 0.0, 1.0, 4)
    assert codes.tolist() == [0, 0, 1, 3, -1, -1, -1]
    assert oor.tolist() == [False, False, False, False, True, True, True]
    clipped, _ = bin_codes(x, 0.0, 1.0, 4, policy="clip")
    assert clipped.tolist() == [0, 0, 1, 3, 0, 3, -1]
    assert codes.dtype == torch.int16


def test_bin_codes_widened_upper_edge_is_exclusive():
    hi = torch.tensor([1.0 + 1e-6], dtype=torch.float64)
    codes, _ = bin_codes(hi, 0.0, 1.0, 4, widen=1e-6)
    assert codes.tolist() == [-1]


def test_per_variable_ranges():
    x = torch.tensor([[0.5, 5.0], [0.95, 9.9]])
    codes, _ = bin_codes(x, torch.tensor([0.0, 0.0]), torch.tensor([1.0, 10.0]), 10)
    assert codes.tolist() == [[5, 5], [9, 9]]


@given(st.lists(st.floats(-2, 3, allow_nan=False), min_size=1, max_size=200), st.integers(2, 50))
def test_bin_codes_match_the_documented_formula(values, bins):
    x = torch.tensor(values, dtype=torch.float64)
    codes, oor = bin_codes(x, -1.0, 2.0, bins)
    expected = [
        min(math.floor((v + 1.0) * (bins / 3.0)), bins - 1) if -1.0 <= v <= 2.0 else -1
        for v in values
    ]
    assert codes.tolist() == expected
    assert int(oor.sum()) == sum(1 for v in values if not -1.0 <= v <= 2.0)


def test_binning_rejects_bad_range_and_policy():
    with pytest.raises(InfolensError, match="empty or inverted"):
        Binning(1.0, 1.0, 4)
    with pytest.raises(InfolensError, match="out_of_range"):
        Binning(0.0, 1.0, 4, policy="wrap")


def test_floor_codes_keeps_negative_bins():
    assert floor_codes(torch.tensor([-0.3, 0.0, 0.99995]), 0.0, 1.0, 8).tolist() == [-3, 0, 7]


def test_entropy_closed_forms():
    assert float(entropy_from_counts(torch.tensor([5, 5, 5, 5]))) == pytest.approx(2.0)
    assert float(entropy_from_counts(torch.tensor([7, 0, 0]))) == 0.0
    assert float(entropy_from_counts(torch.tensor([0, 0]))) == 0.0
    nats = float(entropy_from_counts(torch.tensor([1, 1]), base=math.e))
    assert nats == pytest.approx(math.log(2))
    mm = float(entropy_from_counts(torch.tensor([3, 1]), estimator="miller_madow"))
    plug = float(entropy_from_counts(torch.tensor([3, 1])))
    assert mm - plug == pytest.approx((2 - 1) / (2 * 4) / math.log(2))
    with pytest.raises(InfolensError, match="estimator"):
        entropy_from_counts(torch.tensor([1]), estimator="ksg")


def test_mutual_information_closed_forms():
    diag = torch.diag(torch.full((8,), 10))
    assert float(mutual_information_from_joint(diag)) == pytest.approx(3.0)
    indep = torch.outer(torch.tensor([1, 2, 3]), torch.tensor([4, 1]))
    assert float(mutual_information_from_joint(indep)) == pytest.approx(0.0, abs=1e-12)
    assert float(mutual_information_from_joint(torch.zeros(3, 3))) == 0.0


def _brute_counts(x, y, bx, by, pairs):
    out = []
    for a, b in pairs:
        t = np.zeros((bx, by), dtype=np.int64)
        for xa, yb in zip(x[:, a].tolist(), y[:, b].tolist()):
            if xa >= 0 and yb >= 0:
                t[xa, yb] += 1
        out.append(t)
    return np.stack(out) if out else np.zeros((0, bx, by), dtype=np.int64)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 5), st.integers(1, 4), st.integers(2, 5), st.integers(2, 5),
    st.integers(0, 60), st.sampled_from(["numba", "onehot"]), st.booleans(), st.integers(0, 10**6),
)
def test_pairwise_counts_equal_brute_force(n_in, n_out, bx, by, n, backend, sparse, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-1, bx, (n, n_in), generator=g).to(torch.int16)
    y = torch.randint(-1, by, (n, n_out), generator=g).to(torch.int16)
    mask = torch.rand(n_in, n_out, generator=g) > 0.4 if sparse else torch.ones(n_in, n_out, dtype=torch.bool)
    support = support_from_mask(mask) if sparse else None
    pc = PairwiseCounts(n_in, n_out, bx, by, support=support, backend=backend)
    half = n // 2
    pc.update(x[:half], y[:half])
    pc.update(x[half:], y[half:])
    pairs = mask.nonzero().tolist()
    ref = _brute_counts(x.numpy(), y.numpy(), bx, by, pairs)
    assert np.array_equal(pc.counts.numpy(), ref.reshape(pc.counts.shape))
    assert pc.n_samples == n


def test_onehot_path_chunks_below_fp32_exact_limit(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (100, 2), generator=g).to(torch.int16)
    y = torch.randint(0, 3, (100, 2), generator=g).to(torch.int16)
    ref = PairwiseCounts(2, 2, 3, 3, backend="numba")
    ref.update(x, y)
    monkeypatch.setattr(pw, "_FP32_EXACT", 8)  # force many chunks
    pc = PairwiseCounts(2, 2, 3, 3, backend="onehot")
    pc.update(x, y)
    assert torch.equal(pc.counts, ref.counts)


def test_update_input_counts_one_row():
    pc = PairwiseCounts(2, 3, 2, 2, backend="numba")
    pc.update_input(1, torch.tensor([0, 1, 1], dtype=torch.int16),
                    torch.tensor([[0, 1, 1], [1, 1, 0], [1, -1, 0]], dtype=torch.int16).T)
    assert pc.counts[:3].sum() == 0
    assert pc.counts[3].tolist() == [[1, 0], [0, 2]]
    assert pc.counts[4].tolist() == [[0, 1], [0, 1]]


def test_pairwise_rejects_shape_mismatch():
    pc = PairwiseCounts(2, 2, 2, 2)
    with pytest.raises(InfolensError, match="do not match"):
        pc.update(torch.zeros(3, 3, dtype=torch.int16), torch.zeros(3, 2, dtype=torch.int16))


def _h(rows):
    c = collections.Counter(map(tuple, rows))
    n = sum(c.values())
    return -sum(k / n * math.log2(k / n) for k in c.values()) if n else 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(2, 9), st.integers(1, 80), st.integers(0, 10**6), st.booleans())
def test_joint_counts_match_counter(n_vars, radix, n, seed, negatives):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, radix, (n, n_vars), generator=g)
    if negatives and n:
        codes[0, 0] = -5  # deep-ei's below-range bins switch the counter to raw words
    jc = JointCounts(n_vars, radix)
    jc.update(codes[: n // 3])
    jc.update(codes[n // 3 :])
    assert jc.entropy() == pytest.approx(_h(codes.tolist()), abs=1e-9)
    assert jc.n_samples == n


def test_vector_mi_respects_valid_mask():
    x = torch.tensor([[0], [1], [0], [1]])
    y = torch.tensor([[0], [1], [1], [0]])
    vm = VectorMI(1, 1, 2, 2)
    vm.update(x, y, valid=torch.tensor([True, True, False, False]))
    assert vm.n_samples == 2
    assert vm.mutual_information() == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1.5, 2.5, width=32), st.just(float("nan"))), min_size=1, max_size=300),
    st.integers(1, 3), st.integers(2, 40), st.sampled_from(["drop", "clip"]),
    st.sampled_from([0.0, 1e-6]), st.booleans(),
)
def test_compiled_transposed_binning_equals_bin_codes(values, k, bins, policy, widen, per_var):
    from infolens.estimators.binning import bin_codes_transposed

    x = torch.tensor(values, dtype=torch.float32)[: (len(values) // k) * k].reshape(-1, k)
    low = torch.linspace(-1.0, 0.0, k) if per_var else -1.0
    high = torch.linspace(1.0, 2.0, k) if per_var else 2.0
    codes, oor = bin_codes(x, low, high, bins, policy=policy, widen=widen)
    codesT, oorT = bin_codes_transposed(x, low, high, bins, policy=policy, widen=widen)
    assert torch.equal(codesT, codes.T)
    assert oorT.tolist() == oor.sum(dim=0).tolist()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 7), st.integers(2, 7), st.integers(0, 10**6),
       st.sampled_from(["plugin", "miller_madow"]), st.floats(0.0, 0.9))
def test_compiled_mi_equals_the_torch_formula(n_pairs, bx, by, seed, estimator, sparsity):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 20, (n_pairs, bx, by), generator=g, dtype=torch.int32)
    counts[torch.rand(counts.shape, generator=g) < sparsity] = 0
    pc = PairwiseCounts(n_pairs, 1, bx, by, backend="numba")
    pc.counts = counts
    ours = pc.mutual_information(estimator=estimator)
    ref = mutual_information_from_joint(counts, estimator=estimator)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.equal(pc._mi_and_totals(False)[1], counts.sum(dim=(1, 2)).long())


def test_public_names_resolve_and_import_stays_light():
    import subprocess
    import sys

    import infolens

    for name in infolens.__all__:
        assert getattr(infolens, name) is not None
    assert set(infolens.__all__) <= set(dir(infolens))
    code = "import sys, infolens; print('pandas' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(2, 6), st.integers(2, 80),
       st.integers(0, 10**6), st.booleans())
def test_vector_mi_matches_brute_force_in_both_modes(nx, ny, radix, n, seed, late_negative):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, radix, (n, nx), generator=g)
    y = torch.randint(0, radix, (n, ny), generator=g)
    if late_negative:
        y[-1, 0] = -2  # below-range bin in a later chunk: leaves combined-key mode
    valid = torch.rand(n, generator=g) > 0.2
    vm = VectorMI(nx, ny, radix, radix)
    half = n // 2
    vm.update(x[:half], y[:half], valid[:half])
    vm.update(x[half:], y[half:], valid[half:])
    xs, ys = x[valid].tolist(), y[valid].tolist()
    ref = _h(xs) + _h(ys) - _h([a + b for a, b in zip(xs, ys)])
    assert vm.mutual_information() == pytest.approx(ref, abs=1e-9)
    assert vm.n_samples == int(valid.sum())
