"""Shwartz-Ziv & Tishby (2017) 12-bit task, generated from its exact rule.

The 12 input bits sit on the vertices of a regular icosahedron. For a pattern with k ones,
a edges with both ends on and p antipodal pairs with both ends on, the label is
``y = 1  ⇔  31k − 3k² + 7a − 4p ≥ 119``. Over the 4096 patterns in binary counting order
this reproduces the authors' ``var_u.mat`` (variables F and y) bit for bit; 2118 are
positive. No data file is read.
"""

from __future__ import annotations

import numpy as np
import torch

from infolens._validation import InfolensError, check_choice
from infolens.data._bundle import DatasetBundle, make_bundle
from infolens.data._counter import check_seed
from infolens.data.splits import random_split

#: Neighbours of each vertex of the icosahedron (5 each, 30 edges).
SZT_NEIGHBOURS: tuple[tuple[int, ...], ...] = (
    (1, 3, 5, 10, 11),
    (0, 2, 3, 4, 11),
    (1, 3, 4, 8, 9),
    (0, 1, 2, 8, 10),
    (1, 2, 6, 9, 11),
    (0, 6, 7, 10, 11),
    (4, 5, 7, 9, 11),
    (5, 6, 8, 9, 10),
    (2, 3, 7, 9, 10),
    (2, 4, 6, 7, 8),
    (0, 3, 5, 7, 8),
    (0, 1, 4, 5, 6),
)
#: The 6 antipodal vertex pairs (graph distance 3).
SZT_ANTIPODAL_PAIRS: tuple[tuple[int, int], ...] = ((0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11))
#: The 30 edges ``(u, v)`` with ``u < v``.
SZT_EDGES: tuple[tuple[int, int], ...] = tuple(
    sorted({(min(u, v), max(u, v)) for u, nbrs in enumerate(SZT_NEIGHBOURS) for v in nbrs})
)
SZT_THRESHOLD = 119
SZT_SPLITS = ("paper", "nninfo", "all")


def _pair_count(bits: torch.Tensor, pairs: tuple[tuple[int, int], ...]) -> torch.Tensor:
    idx = torch.tensor(pairs, dtype=torch.int64)
    return (bits[:, idx[:, 0]] * bits[:, idx[:, 1]]).sum(dim=1)


def szt_score(X: object) -> torch.Tensor:
    """Return the SZT score ``31k − 3k² + 7a − 4p`` of each 12-bit row (int64, shape (N,)).

    ``X`` is (N, 12) with entries in {0, 1}; k counts ones, a the icosahedron edges with both
    ends 1, p the antipodal pairs with both ends 1. The label is ``score >= 119``.
    """
    bits = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if bits.ndim != 2 or bits.shape[1] != 12:
        raise InfolensError(f"X must have shape (N, 12), got {tuple(bits.shape)}.")
    if bits.numel() and not bool(((bits == 0) | (bits == 1)).all()):
        raise InfolensError("X must hold only 0 and 1 (the 12 input bits).")
    bits = bits.to(torch.int64)
    k = bits.sum(dim=1)
    a = _pair_count(bits, SZT_EDGES)
    p = _pair_count(bits, SZT_ANTIPODAL_PAIRS)
    return 31 * k - 3 * k * k + 7 * a - 4 * p


def szt() -> tuple[torch.Tensor, torch.Tensor]:
    """All 4096 SZT patterns and their labels.

    Returns ``(X, y)``: X float32 of shape (4096, 12) in binary counting order, most
    significant bit first (``X[i, j] = (i >> (11 - j)) & 1``), values in {0, 1}; y int64 of
    shape (4096,) with ``y = 1`` iff ``szt_score(X) >= 119`` (2118 positives).
    """
    i = torch.arange(4096, dtype=torch.int64)
    bits = (i[:, None] >> torch.arange(11, -1, -1, dtype=torch.int64)) & 1
    y = (szt_score(bits) >= SZT_THRESHOLD).to(torch.int64)
    return bits.to(torch.float32), y


def szt_bundle(
    *, split: str = "paper", seed: int = 0, image_shape: bool = False, flatten: bool = False
) -> DatasetBundle:
    """Return the SZT task as a ``DatasetBundle`` (also ``load("SZT", ...)``).

    ``split``: ``"paper"`` (seeded random 3277 train / 819 test, the paper's 80/20),
    ``"nninfo"`` (seeded random 2796 / 1300) or ``"all"`` (train = test = all 4096, the
    thesis; both splits share the same tensors). Random splits keep the seeded-permutation
    order. X is float32 in {0, 1}, shape (N, 12), or (N, 1, 12, 1) with ``image_shape=True``
    (the thesis's layout); ``flatten=True`` always gives (N, 12). y is int64 in {0, 1}.
    """
    split = check_choice("split", split, SZT_SPLITS)
    seed = check_seed(seed)
    X, y = szt()
    if image_shape:
        X = X.reshape(-1, 1, 12, 1)
    if split == "all":
        train = test = (X, y)
        rule = "all: train = test = all 4096 patterns (thesis)"
    else:
        n_train = round(0.8 * 4096) if split == "paper" else 2796
        tr, te = random_split(4096, n_train=n_train, seed=seed)
        train, test = (X[tr], y[tr]), (X[te], y[te])
        origin = "the paper's 80/20" if split == "paper" else "nninfo's demo sizes"
        rule = (
            f"{split}: seeded random split (seed={seed}), {n_train} train / {4096 - n_train} "
            f"test ({origin}), in seeded-permutation order"
        )
    return make_bundle(
        "SZT",
        train,
        test,
        num_classes=2,
        x_limits="binary",
        scaling="none: input bits in {0, 1} as float32",
        source="generated: y = 1 iff 31k - 3k^2 + 7a - 4p >= 119 on the icosahedron "
        "(reproduces var_u.mat of Shwartz-Ziv & Tishby's IDNNs code bit for bit)",
        split_rule=rule,
        flatten=flatten,
    )
