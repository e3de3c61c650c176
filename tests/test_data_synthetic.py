"""Synthetic tasks, the counter-based generator, label encodings and seeded splits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infolens._validation import InfolensError
from infolens.data import (
    binary_code,
    binary_code_accuracy,
    binary_patterns,
    checkerboard,
    class_balanced_subset,
    first_bit,
    from_binary_code,
    from_one_hot,
    load,
    one_hot,
    parity,
    random_split,
    seeded_permutation,
    stratified_split,
    xor,
)
from infolens.data._counter import _GAMMA, _mix, hash_uint64

# ----------------------------------------------------------------------------- generator


def test_splitmix64_finaliser_matches_reference_sequence():
    # splitmix64 seeded with 1234567: its published first five outputs.
    expected = [6457827717110365317, 3203168211198807973, 9817491932198370423,
                4593380528125082431, 16408922859458223821]
    with np.errstate(over="ignore"):
        state = np.array([1234567], dtype=np.uint64)
        got = [int(_mix(state + np.uint64(k) * _GAMMA)[0]) for k in range(1, 6)]
    assert got == expected


def test_counter_values_are_pinned():
    # Any change to the generator silently changes every synthetic dataset: pin a few values.
    h = hash_uint64(0, 0, np.arange(3, dtype=np.uint64), 2)
    again = hash_uint64(0, 0, np.array([2, 0, 1], dtype=np.uint64), 2)
    np.testing.assert_array_equal(again, h[[2, 0, 1]])
    x, _ = xor(3, seed=0)
    np.testing.assert_array_equal(x.numpy(), (h >> np.uint64(40)).astype(np.float64) / 2**24)
    assert h.dtype == np.uint64 and len({int(v) for v in h.ravel()}) == 6


@pytest.mark.parametrize(
    "draw",
    [
        lambda n, **kw: xor(n, **kw),
        lambda n, **kw: xor(n, irrelevant=True, **kw),
        lambda n, **kw: parity(5, n, **kw),
        lambda n, **kw: parity(5, n, continuous=True, **kw),
        lambda n, **kw: checkerboard(n, (3, 4), **kw),
    ],
    ids=["xor", "xor3", "parity", "parity-cont", "checkerboard"],
)
def test_determinism_prefix_stability_and_random_access(draw):
    X, y = draw(500, seed=7)
    X2, y2 = draw(500, seed=7)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    Xs, ys = draw(123, seed=7)
    assert torch.equal(Xs, X[:123]) and torch.equal(ys, y[:123])
    Xm, ym = draw(50, seed=7, start=200)
    assert torch.equal(Xm, X[200:250]) and torch.equal(ym, y[200:250])
    Xo, _ = draw(500, seed=8)
    assert not torch.equal(Xo, X)
    Xt, _ = draw(500, seed=7, stream=1)
    assert not torch.equal(Xt, X)
    assert X.dtype == torch.float32 and y.dtype == torch.int64
    assert set(y.unique().tolist()) <= {0, 1}


def test_uniform_inputs_in_unit_interval_and_fair():
    X, _ = xor(200_000, seed=1)
    x = X.numpy().astype(np.float64)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.003
    assert np.all(x * 2**24 == np.floor(x * 2**24))  # on the 2**-24 grid, exact in float32
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 0.01
    bits, _ = parity(16, 50_000, seed=2)
    assert set(np.unique(bits.numpy())) == {0.0, 1.0}
    assert abs(bits.numpy().mean() - 0.5) < 0.005


def test_xor_label_rule_and_irrelevant_input():
    X, y = xor(10_000, seed=3)
    expected = (X[:, 0] >= 0.5) ^ (X[:, 1] >= 0.5)
    assert torch.equal(y, expected.long())
    X3, y3 = xor(10_000, seed=3, irrelevant=True)
    assert X3.shape == (10_000, 3)
    assert torch.equal(X3[:, :2], X) and torch.equal(y3, y)
    # x2 carries no label information: its half-split gives the same label rate.
    hi = X3[:, 2] >= 0.5
    assert abs(float(y3[hi].float().mean() - y3[~hi].float().mean())) < 0.03


def test_parity_rules():
    X, y = parity(6, 5000, seed=4)
    assert torch.equal(y, X.sum(1).long() % 2)
    Xc, yc = parity(6, 5000, seed=4, continuous=True)
    assert torch.equal(yc, (Xc >= 0.5).sum(1) % 2)
    assert Xc.min() >= 0 and Xc.max() < 1


@pytest.mark.parametrize("n_bits", [1, 2, 3, 8, 12])
def test_exhaustive_parity_has_half_positives(n_bits):
    X, y = parity(n_bits, exhaustive=True)
    assert X.shape == (2**n_bits, n_bits)
    assert int(y.sum()) == 2 ** (n_bits - 1)
    expected = np.array(list(itertools.product((0, 1), repeat=n_bits)), dtype=np.float32)
    np.testing.assert_array_equal(X.numpy(), expected)
    np.testing.assert_array_equal(y.numpy(), expected.sum(1).astype(np.int64) % 2)


def test_checkerboard_2x2_equals_xor_on_same_inputs():
    Xc, yc = checkerboard(20_000, (2, 2), seed=5)
    Xx, yx = xor(20_000, seed=5)
    assert torch.equal(Xc, Xx)
    assert torch.equal(yc, yx)
    xx, yy = xor(1000, seed=9)
    assert torch.equal(checkerboard(1000, (2, 2), seed=9)[1], yy)
    assert torch.equal(checkerboard(1000, (2, 2), seed=9)[0], xx)


def test_checkerboard_rule():
    X, y = checkerboard(20_000, (3, 5), seed=6)
    x = X.numpy().astype(np.float64)
    expected = (np.floor(3 * x[:, 0]) + np.floor(5 * x[:, 1])).astype(np.int64) % 2
    np.testing.assert_array_equal(y.numpy(), expected)
    assert abs(float(y.float().mean()) - 7 / 15) < 0.015  # 7 of the 15 equal cells are 1


def test_first_bit_task():
    X, y = first_bit(4)
    assert X.shape == (16, 4)
    assert torch.equal(y, X[:, 0].long())
    assert int(y.sum()) == 8 and torch.equal(y[:8], torch.zeros(8, dtype=torch.int64))


def test_binary_patterns():
    X = binary_patterns(3)
    assert X.tolist()[:3] == [[0, 0, 0], [0, 0, 1], [0, 1, 0]]
    with pytest.raises(InfolensError, match="n_bits=25"):
        binary_patterns(25)


def test_synthetic_bad_arguments():
    with pytest.raises(InfolensError, match="n must be an integer >= 1"):
        xor(0)
    with pytest.raises(InfolensError, match="seed"):
        xor(10, seed=-3)
    with pytest.raises(InfolensError, match="seed"):
        xor(10, seed=1.5)
    with pytest.raises(InfolensError, match="size must be a pair"):
        checkerboard(10, (2,))
    with pytest.raises(InfolensError, match="size must be a pair"):
        checkerboard(10, (0, 2))
    with pytest.raises(InfolensError, match="leave n unset"):
        parity(4, 10, exhaustive=True)
    with pytest.raises(InfolensError, match="continuous"):
        parity(4, exhaustive=True, continuous=True)
    with pytest.raises(InfolensError, match="needs the number of samples"):
        parity(4)
    with pytest.raises(InfolensError, match="start"):
        xor(10, start=-1)


# ----------------------------------------------------------------------------- via load


def test_load_synthetic_train_test_streams():
    b = load("XOR", n_train=300, n_test=100, seed=2)
    assert (len(b.train), len(b.test)) == (300, 100)
    assert torch.equal(b.train.X, xor(300, seed=2)[0])
    assert torch.equal(b.test.X, xor(100, seed=2, stream=1)[0])
    bigger = load("xor", n_train=600, n_test=100, seed=2)
    assert torch.equal(bigger.train.X[:300], b.train.X)  # prefix-stable in n_train
    assert torch.equal(bigger.test.X, b.test.X)  # the test set does not move
    assert b.x_limits == (0.0, 1.0) and b.num_classes == 2 and b.input_shape == (2,)
    assert b.class_counts["train"] == np.bincount(b.train.y.numpy(), minlength=2).tolist()


def test_load_synthetic_n_means_train_equals_test():
    b = load("Checkerboard", size=(4, 4), n=256, seed=1)
    assert torch.equal(b.train.X, b.test.X) and len(b.train) == 256
    assert torch.equal(b.train.y, checkerboard(256, (4, 4), seed=1)[1])


def test_load_parity_and_first_bit():
    b = load("Parity", n_bits=5, n_train=64, n_test=32)
    assert b.x_limits == "binary" and b.input_shape == (5,)
    c = load("parity", n_bits=5, n=64, continuous=True)
    assert c.x_limits == (0.0, 1.0)
    e = load("Parity", n_bits=6, exhaustive=True)
    assert len(e.train) == 64 and e.class_counts["train"] == [32, 32]
    f = load("FirstBit", n_bits=3)
    assert f.class_counts == {"train": [4, 4], "test": [4, 4]}
    x3 = load("XOR", n=10, irrelevant=True)
    assert x3.input_shape == (3,)


def test_load_synthetic_errors():
    with pytest.raises(InfolensError, match="pass n_train= and n_test="):
        load("XOR")
    with pytest.raises(InfolensError, match="not both"):
        load("XOR", n=10, n_train=10)
    with pytest.raises(InfolensError, match="pass n_train= and n_test="):
        load("XOR", n_train=10)
    with pytest.raises(InfolensError, match="size=\\(a, b\\)"):
        load("Checkerboard", n=10)
    with pytest.raises(InfolensError, match="n_bits"):
        load("Parity", n=10)
    with pytest.raises(InfolensError, match="drop n"):
        load("Parity", n_bits=3, exhaustive=True, n=8)


# ----------------------------------------------------------------------------- encodings


def test_binary_code_lsb_first_examples():
    code = binary_code(torch.tensor([6, 9, 0, 15]), 4)
    assert code.dtype == torch.float32
    assert code.tolist() == [[0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]]
    assert binary_code([7], 3).tolist() == [[1, 1, 1]]
    with pytest.raises(InfolensError, match="needs 4 bits"):
        binary_code([8], 3)  # digits 0-7 only with 3 bits


@settings(max_examples=60, deadline=None)
@given(n_bits=st.integers(1, 20), data=st.data())
def test_binary_code_round_trip(n_bits, data):
    labels = data.draw(st.lists(st.integers(0, 2**n_bits - 1), min_size=1, max_size=50))
    y = torch.tensor(labels, dtype=torch.int64)
    bits = binary_code(y, n_bits)
    assert bits.shape == (len(labels), n_bits)
    assert torch.equal(from_binary_code(bits), y)
    weights = 2.0 ** torch.arange(n_bits, dtype=torch.float64)
    assert torch.equal((bits.double() * weights).sum(1).long(), y)  # LSB first
    assert binary_code_accuracy(bits, y) == 1.0
    assert binary_code_accuracy(bits, bits) == 1.0


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 30), data=st.data())
def test_one_hot_round_trip(c, data):
    labels = data.draw(st.lists(st.integers(0, c - 1), min_size=1, max_size=50))
    y = torch.tensor(labels)
    t = one_hot(y, c)
    assert t.dtype == torch.float32 and t.shape == (len(labels), c)
    assert torch.equal(t.sum(1), torch.ones(len(labels)))
    assert torch.equal(from_one_hot(t), y)


def test_all_bits_accuracy():
    y = torch.tensor([6, 9, 3, 0])
    out = binary_code(y, 4) * 0.8 + 0.1  # 0.1 / 0.9: correct after rounding
    assert binary_code_accuracy(out, y) == 1.0
    out[0, 3] = 0.7  # one wrong bit makes the whole sample wrong
    out[1, 0] = 0.5  # 0.5 rounds to 1: still correct
    assert binary_code_accuracy(out, y) == 0.75
    out[2, :] = 0.4
    assert binary_code_accuracy(out, y) == 0.5
    with pytest.raises(InfolensError, match="does not fit"):
        binary_code_accuracy(out, torch.tensor([16, 0, 0, 0]))


def test_encoding_errors():
    with pytest.raises(InfolensError, match="integer class labels"):
        one_hot(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(InfolensError, match="num_classes >= 4"):
        one_hot([0, 3], 3)
    with pytest.raises(InfolensError, match="negative"):
        binary_code([-1], 3)
    with pytest.raises(InfolensError, match="1-D"):
        one_hot(torch.zeros(2, 2, dtype=torch.int64), 2)


# ----------------------------------------------------------------------------- splits


def test_random_split_is_seeded_disjoint_and_covering():
    tr, te = random_split(100, n_train=70, seed=3)
    assert tr.dtype == torch.int64 and len(tr) == 70 and len(te) == 30
    assert sorted(torch.cat([tr, te]).tolist()) == list(range(100))
    tr2, _ = random_split(100, n_train=70, seed=3)
    assert torch.equal(tr, tr2)
    assert not torch.equal(tr, random_split(100, n_train=70, seed=4)[0])
    assert torch.equal(torch.cat([tr, te]), seeded_permutation(100, seed=3))
    with pytest.raises(InfolensError, match="n_train=101 exceeds"):
        random_split(100, n_train=101)


def test_stratified_split_keeps_proportions():
    y = np.repeat(np.arange(4), [40, 30, 20, 10])
    tr, te = stratified_split(y, test_fraction=0.25, seed=1)
    assert len(te) == 25 and len(tr) == 75
    # quotas 10, 7.5, 5, 2.5: the leftover sample goes to the lower of the tied classes
    assert np.bincount(y[te.numpy()], minlength=4).tolist() == [10, 8, 5, 2]
    assert sorted(torch.cat([tr, te]).tolist()) == list(range(100))
    assert torch.equal(te, stratified_split(y, test_fraction=0.25, seed=1)[1])
    assert not torch.equal(te, stratified_split(y, test_fraction=0.25, seed=2)[1])
    with pytest.raises(InfolensError, match="test_fraction"):
        stratified_split(y, test_fraction=1.5)


def test_class_balanced_subset_file_order_and_range():
    y = np.array([0, 1, 0, 2, 1, 0, 2, 1, 0, 2, 2, 0, 1])
    # per class file order: 0 -> [0,2,5,8,11], 1 -> [1,4,7,12], 2 -> [3,6,9,10]
    assert class_balanced_subset(y, 2).tolist() == [0, 1, 2, 3, 4, 6]
    assert class_balanced_subset(y, 2, subset_idx=1).tolist() == [5, 7, 8, 9, 10, 12]
    with pytest.raises(InfolensError, match=r"valid subset_idx are 0\.\.1"):
        class_balanced_subset(y, 2, subset_idx=2)
    with pytest.raises(InfolensError, match="pass per_class <= 4"):
        class_balanced_subset(y, 5)
    seeded = class_balanced_subset(y, 2, seed=0)
    other = class_balanced_subset(y, 2, seed=0, subset_idx=1)
    assert np.bincount(y[seeded.numpy()]).tolist() == [2, 2, 2]
    assert set(seeded.tolist()).isdisjoint(other.tolist())
    assert seeded.tolist() == sorted(seeded.tolist())
