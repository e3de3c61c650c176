"""SZT (Shwartz-Ziv & Tishby 12-bit task): every check value of the datasets spec §1.

The reference values (neighbour lists, antipodes, SHA-256, packed bytes, fractions) are
copied here from the spec so that the tests never read it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import deque

import numpy as np
import pytest
import torch

from infolens._validation import InfolensError
from infolens.data import (
    SZT_ANTIPODAL_PAIRS,
    SZT_EDGES,
    SZT_NEIGHBOURS,
    load,
    szt,
    szt_bundle,
    szt_score,
)

# Spec §1, copied.
NEIGHBOURS = {
    0: [1, 3, 5, 10, 11], 1: [0, 2, 3, 4, 11], 2: [1, 3, 4, 8, 9], 3: [0, 1, 2, 8, 10],
    4: [1, 2, 6, 9, 11], 5: [0, 6, 7, 10, 11], 6: [4, 5, 7, 9, 11], 7: [5, 6, 8, 9, 10],
    8: [2, 3, 7, 9, 10], 9: [2, 4, 6, 7, 8], 10: [0, 3, 5, 7, 8], 11: [0, 1, 4, 5, 6],
}
ANTIPODES = [(0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11)]
SHA256_PACKED = "371b2b46a5052b4f69f7991ca141fb5afa1ac364ef7beb81ec900eecac2f86d9"
FIRST_16_PACKED = "0000000000000003000000030001173f"


@pytest.fixture(scope="module")
def data():
    X, y = szt()
    return X, y


def _features(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k, a, p computed here from the spec's lists (independently of the library)."""
    X = X.astype(np.int64)
    edges = {tuple(sorted((u, v))) for u, vs in NEIGHBOURS.items() for v in vs}
    k = X.sum(1)
    a = sum(X[:, u] * X[:, v] for u, v in edges)
    p = sum(X[:, u] * X[:, v] for u, v in ANTIPODES)
    return k, a, p


def test_inputs_are_binary_counting_order_msb_first(data):
    X, y = data
    assert X.dtype == torch.float32 and X.shape == (4096, 12)
    assert y.dtype == torch.int64 and y.shape == (4096,)
    expected = np.array(list(itertools.product((0, 1), repeat=12)), dtype=np.float32)
    np.testing.assert_array_equal(X.numpy(), expected)
    i = np.arange(4096)
    np.testing.assert_array_equal(X.numpy(), ((i[:, None] >> (11 - np.arange(12))) & 1))
    as_int = (X.numpy().astype(np.int64) * (1 << np.arange(11, -1, -1))).sum(1)
    assert np.all(np.diff(as_int) > 0)


def test_positive_count_entropy_and_hash(data):
    _, y = data
    yn = y.numpy()
    assert set(np.unique(yn)) == {0, 1}
    assert int(yn.sum()) == 2118
    assert yn.mean() == pytest.approx(0.51709, abs=5e-6)
    p = yn.mean()
    h = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    assert h == pytest.approx(0.99916, abs=5e-6)
    packed = np.packbits(yn)
    assert packed.nbytes == 512
    assert hashlib.sha256(packed.tobytes()).hexdigest() == SHA256_PACKED
    assert packed[:16].tobytes().hex() == FIRST_16_PACKED
    assert int(np.flatnonzero(yn)[0]) == 62


def test_fraction_positive_by_hamming_weight(data):
    X, y = data
    k = X.numpy().sum(1).astype(int)
    yn = y.numpy()
    expected = {5: (60, 792), 6: (532, 924), 7: (732, 792)}
    for w in range(13):
        sel = k == w
        pos, tot = int(yn[sel].sum()), int(sel.sum())
        assert tot == math.comb(12, w)
        if w <= 4:
            assert pos == 0
        elif w >= 8:
            assert pos == tot
        else:
            assert (pos, tot) == expected[w]
    assert 60 / 792 == pytest.approx(0.0758, abs=5e-5)
    assert 532 / 924 == pytest.approx(0.5758, abs=5e-5)
    assert 732 / 792 == pytest.approx(0.9242, abs=5e-5)


def test_each_bit_carries_the_same_information(data):
    X, y = data
    Xn, yn = X.numpy().astype(int), y.numpy()

    def entropy(counts):
        p = np.asarray(counts, dtype=float) / np.sum(counts)
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    h_y = entropy(np.bincount(yn))
    mi = []
    for j in range(12):
        joint = np.zeros((2, 2))
        np.add.at(joint, (Xn[:, j], yn), 1)
        h_y_given_x = sum(joint[v].sum() / 4096 * entropy(joint[v]) for v in (0, 1))
        mi.append(h_y - h_y_given_x)
    assert mi == pytest.approx([mi[0]] * 12, abs=1e-12)
    assert mi[0] == pytest.approx(0.0339, abs=5e-5)


def test_rule_threshold_and_library_score(data):
    X, y = data
    k, a, p = _features(X.numpy())
    score = 31 * k - 3 * k**2 + 7 * a - 4 * p
    np.testing.assert_array_equal(szt_score(X).numpy(), score)
    yn = y.numpy()
    np.testing.assert_array_equal(yn, (score >= 119).astype(np.int64))
    assert score[yn == 0].max() == 118
    assert score[yn == 1].min() == 119


def test_decision_table_equivalence(data):
    X, y = data
    k, a, p = _features(X.numpy())
    table = np.where(
        k <= 4, 0,
        np.where(k >= 8, 1,
                 np.where(k == 5, a == 7,
                          np.where(k == 6, (a >= 7) | ((a == 6) & (p == 0)),
                                   ~((a == 8) & (p == 2))))),
    ).astype(np.int64)
    np.testing.assert_array_equal(y.numpy(), table)


def test_icosahedron_structure():
    assert {i: sorted(v) for i, v in enumerate(SZT_NEIGHBOURS)} == NEIGHBOURS
    assert list(SZT_ANTIPODAL_PAIRS) == ANTIPODES
    assert len(SZT_EDGES) == 30 and all(u < v for u, v in SZT_EDGES)
    for u, nbrs in NEIGHBOURS.items():
        assert len(nbrs) == 5 and u not in nbrs
        assert all(u in NEIGHBOURS[v] for v in nbrs)  # symmetric
    for s in range(12):  # breadth-first distances
        dist = {s: 0}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in NEIGHBOURS[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    queue.append(v)
        by_d = {d: sorted(v for v, dv in dist.items() if dv == d) for d in range(4)}
        assert [len(by_d[d]) for d in range(4)] == [1, 5, 5, 1]
        (anti,) = by_d[3]
        assert tuple(sorted((s, anti))) in ANTIPODES
    assert sorted(v for pair in ANTIPODES for v in pair) == list(range(12))


@pytest.mark.parametrize(("split", "n_train", "n_test"), [("paper", 3277, 819), ("nninfo", 2796, 1300)])
def test_random_splits_sizes_disjoint_covering(split, n_train, n_test, data):
    _, y = data
    b = load("SZT", split=split, seed=3)
    assert (len(b.train), len(b.test)) == (n_train, n_test)
    ids_tr = (b.train.X.numpy().astype(np.int64) * (1 << np.arange(11, -1, -1))).sum(1)
    ids_te = (b.test.X.numpy().astype(np.int64) * (1 << np.arange(11, -1, -1))).sum(1)
    assert len(set(ids_tr)) == n_train and len(set(ids_te)) == n_test
    assert set(ids_tr).isdisjoint(ids_te)
    assert set(ids_tr) | set(ids_te) == set(range(4096))
    np.testing.assert_array_equal(b.train.y.numpy(), y.numpy()[ids_tr])
    np.testing.assert_array_equal(b.test.y.numpy(), y.numpy()[ids_te])
    again = load("szt", split=split, seed=3)
    assert torch.equal(again.train.X, b.train.X) and torch.equal(again.test.y, b.test.y)
    other = load("SZT", split=split, seed=4)
    assert not torch.equal(other.train.X, b.train.X)
    assert b.class_counts["train"] == np.bincount(b.train.y.numpy(), minlength=2).tolist()
    assert sum(b.class_counts["train"]) + sum(b.class_counts["test"]) == 4096


def test_all_split_and_metadata(data):
    X, y = data
    b = load("SZT", split="all")
    assert len(b.train) == len(b.test) == 4096
    assert torch.equal(b.train.X, b.test.X) and torch.equal(b.train.y, b.test.y)
    assert torch.equal(b.train.X, X) and torch.equal(b.train.y, y)
    assert b.class_counts == {"train": [1978, 2118], "test": [1978, 2118]}
    assert b.x_limits == "binary" and b.num_classes == 2 and b.input_shape == (12,)
    assert b.name == "SZT" and b.scaling and b.source and b.split_rule


def test_default_split_is_paper_seed_zero():
    b = load("SZT")
    ref = szt_bundle(split="paper", seed=0)
    assert len(b.train) == 3277
    assert torch.equal(b.train.X, ref.train.X)


def test_image_shape_and_flatten():
    b = load("SZT", split="all", image_shape=True)
    assert b.input_shape == (1, 12, 1) and b.train.X.shape == (4096, 1, 12, 1)
    f = load("SZT", split="all", image_shape=True, flatten=True)
    assert f.input_shape == (12,) and torch.equal(f.train.X, szt()[0])


def test_bad_arguments():
    with pytest.raises(InfolensError, match="split='half' is not supported; choose one of"):
        load("SZT", split="half")
    with pytest.raises(InfolensError, match="seed"):
        load("SZT", seed=-1)
    with pytest.raises(InfolensError, match=r"shape \(N, 12\)"):
        szt_score(torch.zeros(3, 11))
    with pytest.raises(InfolensError, match="only 0 and 1"):
        szt_score(torch.full((3, 12), 2.0))
