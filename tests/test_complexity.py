"""Tests of the network-level representational complexity (streaming counts -> I^sx estimator)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infolens import pid
from infolens._validation import InfolensError, InfolensWarning
from infolens.estimators.joint import JointCounts
from infolens.measures.complexity import _shuffle_tables, representational_complexity
from infolens.nn.quantization import QuantSpec, level_codes, quantize


def tiny_problem(width: int = 3, samples: int = 600, seed: int = 0, classes: int = 3):
    """A small tanh layer whose units depend on a class label."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (samples,), generator=g)
    means = torch.randn(classes, 4, generator=g)
    x = means[y] + 0.7 * torch.randn(samples, 4, generator=g)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, classes))
    return net, x, y


def reference_codes(net, x, levels=4):
    """Brute force: the whole layer at once, nearest levels by the definition."""
    with torch.no_grad():
        act = torch.tanh(net[0](x)).double()
    step = 2 / (levels - 1)
    codes = torch.round((act + 1) / step).long()
    assert torch.equal(codes, level_codes(act, levels, (-1, 1)))
    return codes.numpy()


def plugin_mi(codes: np.ndarray, y: np.ndarray) -> float:
    def h(*cols):
        _, c = np.unique(np.column_stack(cols), axis=0, return_counts=True)
        p = c / c.sum()
        return float(-(p * np.log2(p)).sum())

    return h(codes) + h(y) - h(codes, y)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfolensWarning)
        return fn(*args, **kwargs)


def test_equals_estimator_on_captured_codes():
    net, x, y = tiny_problem()
    res = quiet(representational_complexity, net, (x, y), "1", levels=4)
    codes = reference_codes(net, x)
    ref = pid.representational_complexity(codes, y.numpy())
    assert res.complexity == pytest.approx(ref.complexity, abs=1e-10)
    np.testing.assert_allclose(res.degree_atoms, ref.degree_atoms, atol=1e-10)
    assert res.mutual_information == pytest.approx(plugin_mi(codes, y.numpy()), abs=1e-10)
    assert res.n_samples == 600
    assert res.n_states == len(np.unique(np.column_stack([codes, y.numpy()]), axis=0))
    assert res.n_layer_states == res.n_states
    assert res.possible_states == 4**3 * 3
    assert res.layer == "1" and res.levels == 4 and res.limits == (-1.0, 1.0)
    assert res.sources == ((0,), (1,), (2,)) and res.method == "lattice"
    assert res.mutual_information > 0.2 and res.null is None


@settings(max_examples=6, deadline=None)
@given(batch=st.integers(1, 700), seed=st.integers(0, 10))
def test_streaming_batch_size_does_not_change_the_result(batch, seed):
    net, x, y = tiny_problem(seed=seed, samples=300)
    a = quiet(representational_complexity, net, (x, y), "1", levels=4, batch_size=batch)
    b = quiet(representational_complexity, net, (x, y), "1", levels=4, batch_size=300)
    assert a.n_samples == b.n_samples == 300 and a.n_states == b.n_states
    np.testing.assert_allclose(a.degree_atoms, b.degree_atoms, atol=1e-12)
    assert a.mutual_information == pytest.approx(b.mutual_information, abs=1e-12)


def test_dataloader_and_quantized_layer():
    net, x, y = tiny_problem()
    plain = quiet(representational_complexity, net, (x, y), "1", levels=8)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    qnet = quantize(net, {"1": QuantSpec(levels=8, limits=(-1, 1))}, inplace=False, seed=0)
    qnet.train()
    quant = quiet(representational_complexity, qnet, loader, "1")
    assert qnet.training  # mode restored
    assert quant.levels == 8
    np.testing.assert_allclose(quant.degree_atoms, plain.degree_atoms, atol=1e-10)
    with pytest.raises(InfolensError, match="quantized to 8 levels"):
        representational_complexity(qnet, loader, "1", levels=4)
    with pytest.raises(InfolensError, match="pass levels=L"):
        representational_complexity(net, loader, "1")


def test_groups_and_subsets_match_the_estimator():
    net, x, y = tiny_problem(width=7, samples=500)
    codes = reference_codes(net, x, levels=4)
    groups = [[0, 1], [2, 3], [4]]
    res = quiet(representational_complexity, net, (x, y), "1", levels=4, sources=groups)
    ref = quiet(pid.representational_complexity, codes, y.numpy(), groups=groups)
    np.testing.assert_allclose(res.degree_atoms, ref.degree_atoms, atol=1e-10)
    assert res.sources == ((0, 1), (2, 3), (4,)) and res.possible_states == 4**5 * 3
    sub = quiet(representational_complexity, net, (x, y), "1", levels=4, sources=3, n_subsets=4,
                subset_seed=5)
    ref_sub = quiet(pid.representational_complexity, codes, y.numpy(), subsets=3, n_subsets=4,
                    seed=5)
    assert sub.estimate.subsets == ref_sub.subsets
    assert sub.complexity == pytest.approx(ref_sub.complexity, abs=1e-10)
    np.testing.assert_allclose(sub.degree_atoms, ref_sub.degree_atoms, atol=1e-10)


def test_callable_joint_target():
    net, x, y = tiny_problem(classes=4)
    bits = quiet(
        representational_complexity, net, (x, y), "1", levels=4,
        target=lambda _x, labels: torch.stack([labels & 1, labels >> 1], dim=1),
    )
    label = quiet(representational_complexity, net, (x, y), "1", levels=4)
    # the 2-bit code taken jointly is a relabelling of the label: nothing changes
    np.testing.assert_allclose(bits.degree_atoms, label.degree_atoms, atol=1e-10)
    first_bit = quiet(representational_complexity, net, (x, y), "1", levels=4,
                      target=lambda _x, labels: labels & 1)
    assert first_bit.mutual_information < label.mutual_information - 1e-3


def test_shuffle_null_is_near_zero_and_seeded():
    net, x, y = tiny_problem(samples=3000)
    res = quiet(representational_complexity, net, (x, y), "1", levels=4, null=3, seed=11)
    again = quiet(representational_complexity, net, (x, y), "1", levels=4, null=3, seed=11)
    assert res.mutual_information > 0.3
    assert res.null.mutual_information.shape == (3,)
    # plug-in bias ~ (R_st - R_s - R_t + 1) / (2 N ln 2) ~ 0.01 bits here
    assert np.all(res.null.mutual_information < 0.05)
    assert np.all(res.null.mutual_information >= -1e-12)
    np.testing.assert_array_equal(res.null.mutual_information, again.null.mutual_information)
    assert res.null.degree_atoms.shape == (3, 3)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), states=st.integers(1, 12), classes=st.integers(1, 5))
def test_shuffle_tables_keep_both_margins(seed, states, classes):
    rng = np.random.default_rng(seed)
    n = 40
    s, t = rng.integers(0, states, n), rng.integers(0, classes, n)
    table, counts = np.unique(np.c_[s, t], axis=0, return_counts=True)
    state_of = np.unique(table[:, 0], return_inverse=True)[1]
    target_of = np.unique(table[:, 1], return_inverse=True)[1]
    si, ti, c = _shuffle_tables(state_of, target_of, counts.astype(float), rng)
    assert c.sum() == n and np.all(c > 0)
    np.testing.assert_array_equal(np.bincount(si, weights=c), np.bincount(state_of, weights=counts))
    np.testing.assert_array_equal(np.bincount(ti, weights=c), np.bincount(target_of, weights=counts))


def test_shuffle_tables_match_permutation_law():
    # 2 states x 2 classes, 2 samples each: after a random permutation the number of class-0
    # samples on state 0 is hypergeometric: P(0) = 1/6, P(1) = 4/6, P(2) = 1/6.
    state_of, target_of = np.array([0, 1]), np.array([0, 1])
    counts = np.array([2.0, 2.0])
    rng = np.random.default_rng(0)
    draws = 6000
    hits = np.zeros(3)
    for _ in range(draws):
        si, ti, c = _shuffle_tables(state_of, target_of, counts, rng)
        hits[int(c[(si == 0) & (ti == 0)].sum())] += 1
    np.testing.assert_allclose(hits / draws, [1 / 6, 4 / 6, 1 / 6], atol=0.025)


def test_bias_warning_rule():
    net, x, y = tiny_problem(samples=200)
    with pytest.warns(InfolensWarning, match="possible joint states"):
        representational_complexity(net, (x, y), "1", levels=8)  # 8^3 * 3 = 1536 > 200
    with warnings.catch_warnings():
        warnings.simplefilter("error", InfolensWarning)
        representational_complexity(net, (x, y), "1", levels=2)  # 2^3 * 3 = 24 < 200


def test_zero_information_gives_nan_with_warning():
    net, x, _ = tiny_problem(samples=100)
    y0 = torch.zeros(100, dtype=torch.long)
    with pytest.warns(InfolensWarning, match="undefined"):
        res = representational_complexity(net, (x, y0), "1", levels=2)
    assert math.isnan(res.complexity) and abs(res.mutual_information) < 1e-12


def test_bad_input():
    net, x, y = tiny_problem(width=7, samples=50)
    with pytest.raises(InfolensError, match=r"sources=k.*sources=\[\[0, 1\]"):
        representational_complexity(net, (x, y), "1", levels=4)
    with pytest.raises(InfolensError, match="mismatched lengths"):
        representational_complexity(net, (x, y[:-1]), "1", levels=4, sources=3)
    with pytest.raises(InfolensError, match="integer codes"):
        representational_complexity(net, (x, y.float()), "1", levels=4, sources=3)
    with pytest.raises(InfolensError, match="negative"):
        representational_complexity(net, (x, y - 1), "1", levels=4, sources=3)
    with pytest.raises(InfolensError, match="mismatched lengths"):
        representational_complexity(net, (x, y), "1", levels=4, sources=3,
                                    target=lambda _x, labels: labels[:-1])
    with pytest.raises(InfolensError, match="valid paths"):
        representational_complexity(net, (x, y), "9", levels=4)
    with pytest.raises(InfolensError, match="unbounded"):
        relu = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        representational_complexity(relu, (x, y), "1", levels=4)
    with pytest.raises(InfolensError, match="outside the quantization limits"):
        representational_complexity(net, (x, y), "0", levels=4, limits=(-1e-3, 1e-3), sources=3)
    with pytest.raises(InfolensError, match="disjoint"):
        representational_complexity(net, (x, y), "1", levels=4, sources=[[0, 1], [1, 2]])
    with pytest.raises(InfolensError, match="subsets above 6"):
        representational_complexity(net, (x, y), "1", levels=4, sources=7)
    with pytest.raises(InfolensError, match="no samples"):
        representational_complexity(net, [], "1", levels=4, sources=3)
    with pytest.raises(InfolensError, match="levels must be an integer >= 2"):
        representational_complexity(net, (x, y), "1", levels=1, sources=3)


def test_joint_counts_states_roundtrip():
    counter = JointCounts(3, 8)
    rows = torch.tensor([[1, 2, 3], [1, 2, 3], [7, 0, 5], [0, 0, 0]])
    counter.update(rows[:2])
    counter.update(rows[2:])
    states, counts = counter.states()
    got = {tuple(r): int(c) for r, c in zip(states.tolist(), counts.tolist())}
    assert got == {(1, 2, 3): 2, (7, 0, 5): 1, (0, 0, 0): 1}
    counter.update(torch.tensor([[9, 1, 1]]))  # outside the radix: raw mode, still exact
    states, counts = counter.states()
    assert {tuple(r): int(c) for r, c in zip(states.tolist(), counts.tolist())}[(9, 1, 1)] == 1
    assert JointCounts(2, 4).states()[0].shape == (0, 2)
