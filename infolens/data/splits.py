"""Seeded splits and class-balanced subsets, as index tensors.

Every random choice here is a seeded permutation from the counter-based hash in
``infolens.data._counter``: indices are ordered by a 64-bit key computed from
``(seed, index)``. The result depends only on the arguments, never on the global RNG, the
platform or the numpy version.
"""

from __future__ import annotations

import numpy as np
import torch

from infolens._validation import InfolensError, check_positive_int
from infolens.data._counter import check_seed, permutation


def _labels(y: object) -> np.ndarray:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InfolensError(
            f"y must be a 1-D array of integer class labels, got shape {arr.shape} and dtype "
            f"{arr.dtype}; pass integer labels (decode one-hot targets with from_one_hot)."
        )
    if arr.size and arr.min() < 0:
        raise InfolensError("y holds negative labels; class labels must be 0..C-1.")
    return arr.astype(np.int64, copy=False)


def seeded_permutation(n: int, *, seed: int = 0) -> torch.Tensor:
    """Return a seeded permutation of ``0..n-1`` as an int64 tensor of shape (n,)."""
    n = check_positive_int("n", n, minimum=0)
    return torch.from_numpy(permutation(n, check_seed(seed)))


def random_split(n: int, *, n_train: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``0..n-1`` at random into ``n_train`` and ``n - n_train`` indices.

    Returns ``(train_idx, test_idx)``, int64 tensors in seeded-permutation order (train is
    the first ``n_train`` entries of ``seeded_permutation(n, seed=seed)``, test the rest),
    disjoint and together covering ``0..n-1``.
    """
    n = check_positive_int("n", n, minimum=0)
    n_train = check_positive_int("n_train", n_train, minimum=0)
    if n_train > n:
        raise InfolensError(f"n_train={n_train} exceeds the {n} samples; pass n_train <= {n}.")
    perm = seeded_permutation(n, seed=seed)
    return perm[:n_train].clone(), perm[n_train:].clone()


def stratified_split(
    y: object, *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split that keeps class proportions.

    The test set has ``round(test_fraction · N)`` samples, shared among classes in
    proportion to their sizes (largest remainders get the leftover samples, ties to the
    lower class). Within each class the test samples are chosen by a seeded permutation.
    Returns ``(train_idx, test_idx)``: sorted int64 tensors (file order), disjoint, covering.
    """
    labels = _labels(y)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
        0.0 < float(test_fraction) < 1.0
    ):
        raise InfolensError(
            f"test_fraction must be a number in (0, 1), got {test_fraction!r}; pass e.g. 0.25."
        )
    seed = check_seed(seed)
    n = labels.shape[0]
    classes = np.unique(labels)
    sizes = np.array([(labels == c).sum() for c in classes], dtype=np.int64)
    n_test = round(float(test_fraction) * n)
    quota = sizes * (n_test / n) if n else sizes * 0.0
    take = np.floor(quota).astype(np.int64)
    order = sorted(range(len(classes)), key=lambda i: (-(quota[i] - take[i]), i))
    for i in order[: n_test - int(take.sum())]:
        take[i] += 1
    keys = permutation(n, seed, stream=1)
    rank = np.empty(n, dtype=np.int64)
    rank[keys] = np.arange(n)
    test_mask = np.zeros(n, dtype=bool)
    for c, t in zip(classes, take):
        members = np.flatnonzero(labels == c)
        chosen = members[np.argsort(rank[members], kind="stable")[:t]]
        test_mask[chosen] = True
    return (
        torch.from_numpy(np.flatnonzero(~test_mask).astype(np.int64)),
        torch.from_numpy(np.flatnonzero(test_mask).astype(np.int64)),
    )


def class_balanced_subset(
    y: object,
    per_class: int,
    *,
    subset_idx: int = 0,
    num_classes: int | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Indices of a class-balanced subset with ``per_class`` samples of every class.

    Subset ``k = subset_idx`` takes, from each class, the samples whose within-class rank
    lies in ``[k·per_class, (k+1)·per_class)``. With ``seed=None`` the rank is file order
    (the thesis's rule, §3.5 of the datasets spec); with an integer seed it is a seeded
    permutation within each class, so different k still give disjoint subsets. Returns a
    sorted int64 tensor of ``num_classes · per_class`` indices (original relative order).
    Raises ``InfolensError`` naming the valid range of ``subset_idx`` when a class is too small.
    """
    labels = _labels(y)
    per_class = check_positive_int("per_class", per_class)
    if isinstance(subset_idx, bool) or not isinstance(subset_idx, (int, np.integer)) or subset_idx < 0:
        raise InfolensError(f"subset_idx must be an integer >= 0, got {subset_idx!r}.")
    subset_idx = int(subset_idx)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    num_classes = check_positive_int("num_classes", num_classes)
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    smallest = int(counts.min())
    n_subsets = smallest // per_class
    if n_subsets == 0:
        cls = int(counts.argmin())
        raise InfolensError(
            f"class {cls} has only {smallest} samples, fewer than per_class={per_class}; "
            f"pass per_class <= {smallest}."
        )
    if subset_idx >= n_subsets:
        cls = int(counts.argmin())
        raise InfolensError(
            f"subset_idx={subset_idx} is out of range: with {per_class} samples per class and "
            f"{smallest} in the smallest class (class {cls}), valid subset_idx are "
            f"0..{n_subsets - 1}."
        )
    if seed is None:
        rank_order = np.arange(labels.shape[0])
    else:
        rank_order = permutation(labels.shape[0], check_seed(seed), stream=2)
    ordered = labels[rank_order]
    lo, hi = subset_idx * per_class, (subset_idx + 1) * per_class
    chosen = [rank_order[np.flatnonzero(ordered == c)[lo:hi]] for c in range(num_classes)]
    return torch.from_numpy(np.sort(np.concatenate(chosen)).astype(np.int64))

