"""Iris and 8×8 digits, bundled with scikit-learn (offline, no download)."""

from __future__ import annotations

import torch

from infolens.data._bundle import DatasetBundle, make_bundle
from infolens.data._counter import check_seed
from infolens.data.splits import random_split, stratified_split


def _sklearn_datasets():
    try:
        from sklearn import datasets
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency here
        raise ImportError(
            "Iris and digits come with scikit-learn, which is not installed; "
            "pip install scikit-learn."
        ) from exc
    return datasets


def iris(*, seed: int = 0, scale: bool = True, flatten: bool = False) -> DatasetBundle:
    """Iris in deep-ei's setup: 100 train / 50 test after a seeded shuffle.

    All 150 samples are put in seeded-permutation order (deep-ei's shuffle was unseeded);
    the first 100 are the training set and the other 50 the test set, not stratified, so
    the class balance per split varies with ``seed``. Returns a ``DatasetBundle`` whose X is
    float32 (N, 4): the four measurements in cm divided by 8 (every value in (0, 1),
    x_limits (0, 1)), or the raw cm with ``scale=False`` (x_limits (0, 8)); y is int64 in
    {0, 1, 2}. deep-ei trained with
    one-hot targets (``one_hot(y, 3)``). ``flatten`` is accepted for uniformity (already N×D).
    """
    seed = check_seed(seed)
    raw = _sklearn_datasets().load_iris()
    X = torch.as_tensor(raw.data, dtype=torch.float64)
    y = torch.as_tensor(raw.target, dtype=torch.int64)
    if scale:
        X = X / 8.0
    X = X.to(torch.float32)
    tr, te = random_split(150, n_train=100, seed=seed)
    return make_bundle(
        "Iris",
        (X[tr], y[tr]),
        (X[te], y[te]),
        num_classes=3,
        x_limits=(0.0, 1.0) if scale else (0.0, 8.0),
        scaling="features in cm / 8 -> (0, 1) (deep-ei)" if scale else "none: features in cm",
        source="sklearn.datasets.load_iris (150 samples, 4 features, 3 classes)",
        split_rule=f"deep-ei: seeded permutation (seed={seed}) of all 150, first 100 train, "
        "remaining 50 test, not stratified",
        flatten=flatten,
    )


def digits(
    *, seed: int = 0, test_fraction: float = 0.25, scale: bool = True, flatten: bool = False
) -> DatasetBundle:
    """scikit-learn's 8×8 digits (1797 images, 10 classes) with a seeded stratified split.

    Returns a ``DatasetBundle`` whose X is float32 NCHW (N, 1, 8, 8), or (N, 64) with
    ``flatten=True``; pixel values 0–16
    divided by 16 to [0, 1] (``scale=False`` keeps 0–16). y is int64 in 0..9. The test set
    is ``round(test_fraction·1797)`` samples in class proportion (``stratified_split``);
    both splits are in file order.
    """
    seed = check_seed(seed)
    raw = _sklearn_datasets().load_digits()
    X = torch.as_tensor(raw.images, dtype=torch.float64).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(raw.target, dtype=torch.int64)
    if scale:
        X = X / 16.0
    X = X.to(torch.float32)
    tr, te = stratified_split(y, test_fraction=test_fraction, seed=seed)
    return make_bundle(
        "Digits",
        (X[tr], y[tr]),
        (X[te], y[te]),
        num_classes=10,
        x_limits=(0.0, 1.0) if scale else (0.0, 16.0),
        scaling="pixel values 0..16 / 16 -> [0, 1]" if scale else "none: pixel values 0..16",
        source="sklearn.datasets.load_digits (1797 images of 8x8, 10 classes)",
        split_rule=f"seeded stratified split (seed={seed}, test_fraction={test_fraction}), "
        "file order within each split",
        flatten=flatten,
    )
