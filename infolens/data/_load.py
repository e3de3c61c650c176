"""``load(name, ...)``: one entry point that returns a ``DatasetBundle`` for every dataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from infolens._validation import InfolensError, check_positive_int
from infolens.data import synthetic, tabular, vision
from infolens.data._bundle import DatasetBundle, make_bundle
from infolens.data._counter import check_seed
from infolens.data.szt import szt_bundle

_Draw = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]


def _synthetic_bundle(
    name: str,
    draw: _Draw,
    *,
    n_train: int | None,
    n_test: int | None,
    n: int | None,
    x_limits: tuple[float, float] | str,
    rule: str,
    seed: int,
    flatten: bool,
) -> DatasetBundle:
    if n is not None and (n_train is not None or n_test is not None):
        raise InfolensError(
            f"{name}: pass either n (train = test = the same n samples) or n_train and n_test "
            "(independent draws), not both."
        )
    if n is not None:
        n = check_positive_int("n", n)
        train = test = draw(n, 0)
        split_rule = f"train = test = the same {n} samples (stream 0)"
    elif n_train is not None and n_test is not None:
        n_train = check_positive_int("n_train", n_train)
        n_test = check_positive_int("n_test", n_test)
        train, test = draw(n_train, 0), draw(n_test, 1)
        split_rule = (
            f"independent draws: {n_train} train samples from stream 0, {n_test} test samples "
            "from stream 1 (each prefix-stable)"
        )
    else:
        raise InfolensError(
            f"{name} is generated; pass n_train= and n_test= (independent draws) or n= "
            f"(train = test), e.g. load('{name}', n_train=10_000, n_test=2_000)."
        )
    return make_bundle(
        name,
        train,
        test,
        num_classes=2,
        x_limits=x_limits,
        scaling="none: " + ("bits in {0, 1}" if x_limits == "binary" else "uniform in [0, 1)")
        + " as float32",
        source=f"generated: {rule}; counter-based splitmix64 draws (seed={seed})",
        split_rule=split_rule,
        flatten=flatten,
    )


def _exhaustive_bundle(name: str, X: torch.Tensor, y: torch.Tensor, rule: str, flatten: bool):
    return make_bundle(
        name,
        (X, y),
        (X, y),
        num_classes=2,
        x_limits="binary",
        scaling="none: bits in {0, 1} as float32",
        source=f"generated: {rule}; all {X.shape[0]} patterns in counting order, MSB first",
        split_rule="train = test = all patterns (the same tensors)",
        flatten=flatten,
    )


def _no_counts(name: str, o: dict[str, Any]) -> None:
    given = [k for k in ("n_train", "n_test", "n") if o.get(k) is not None]
    if given:
        raise InfolensError(f"{name} enumerates all patterns; drop {', '.join(given)}.")


def _xor(root, download, seed, flatten, o):
    irrelevant = bool(o.get("irrelevant", False))
    return _synthetic_bundle(
        "XOR",
        lambda n, s: synthetic.xor(n, seed=seed, irrelevant=irrelevant, stream=s),
        n_train=o.get("n_train"), n_test=o.get("n_test"), n=o.get("n"),
        x_limits=(0.0, 1.0),
        rule="y = [x0 >= 1/2] XOR [x1 >= 1/2], x ~ U[0,1)^" + ("3 (x2 irrelevant)" if irrelevant else "2"),
        seed=seed, flatten=flatten,
    )


def _parity(root, download, seed, flatten, o):
    if "n_bits" not in o:
        raise InfolensError("Parity needs n_bits, e.g. load('Parity', n_bits=8, n=10_000).")
    n_bits = o["n_bits"]
    continuous = bool(o.get("continuous", False))
    if o.get("exhaustive", False):
        _no_counts("Parity(exhaustive=True)", o)
        X, y = synthetic.parity(n_bits, exhaustive=True, continuous=continuous)
        return _exhaustive_bundle("Parity", X, y, f"y = sum of the {n_bits} bits mod 2", flatten)
    rule = (
        f"y = #{{j : x_j >= 1/2}} mod 2, x ~ U[0,1)^{n_bits}"
        if continuous
        else f"y = sum of {n_bits} fair bits mod 2"
    )
    return _synthetic_bundle(
        "Parity",
        lambda n, s: synthetic.parity(n_bits, n, seed=seed, continuous=continuous, stream=s),
        n_train=o.get("n_train"), n_test=o.get("n_test"), n=o.get("n"),
        x_limits=(0.0, 1.0) if continuous else "binary",
        rule=rule, seed=seed, flatten=flatten,
    )


def _checkerboard(root, download, seed, flatten, o):
    if "size" not in o:
        raise InfolensError(
            "Checkerboard needs size=(a, b), the number of cells along x0 and x1, e.g. "
            "load('Checkerboard', size=(4, 4), n=10_000)."
        )
    size = synthetic._check_size(o["size"])
    return _synthetic_bundle(
        "Checkerboard",
        lambda n, s: synthetic.checkerboard(n, size, seed=seed, stream=s),
        n_train=o.get("n_train"), n_test=o.get("n_test"), n=o.get("n"),
        x_limits=(0.0, 1.0),
        rule=f"y = (floor({size[0]} x0) + floor({size[1]} x1)) mod 2, x ~ U[0,1)^2",
        seed=seed, flatten=flatten,
    )


def _first_bit(root, download, seed, flatten, o):
    if "n_bits" not in o:
        raise InfolensError("FirstBit needs n_bits, e.g. load('FirstBit', n_bits=4).")
    X, y = synthetic.first_bit(o["n_bits"])
    return _exhaustive_bundle("FirstBit", X, y, "y = x0 (the first, most significant bit)", flatten)


def _images(fn):
    def build(root, download, seed, flatten, o):
        return fn(root, download=download, flatten=flatten, **o)

    return build


# canonical name -> (builder, valid options)
_DATASETS: dict[str, tuple[Callable[..., DatasetBundle], tuple[str, ...]]] = {
    "SZT": (
        lambda root, download, seed, flatten, o: szt_bundle(seed=seed, flatten=flatten, **o),
        ("split", "image_shape"),
    ),
    "Iris": (
        lambda root, download, seed, flatten, o: tabular.iris(seed=seed, flatten=flatten, **o),
        ("scale",),
    ),
    "Digits": (
        lambda root, download, seed, flatten, o: tabular.digits(seed=seed, flatten=flatten, **o),
        ("test_fraction", "scale"),
    ),
    "MNIST": (_images(vision.mnist), ("scale", "normalize", "train_subset", "subset_idx", "verify")),
    "FashionMNIST": (
        _images(vision.fashion_mnist),
        ("scale", "normalize", "train_subset", "subset_idx", "verify"),
    ),
    "CIFAR10": (
        _images(vision.cifar10),
        ("scale", "normalize", "train_subset", "subset_idx", "verify"),
    ),
    "DeepEIMNIST": (_images(vision.deep_ei_mnist), ("resize", "n_train", "verify")),
    "MNISTExtended": (_images(vision.mnist_extended), ("scale", "normalize", "verify")),
    "XOR": (_xor, ("n_train", "n_test", "n", "irrelevant")),
    "Parity": (_parity, ("n_bits", "continuous", "exhaustive", "n_train", "n_test", "n")),
    "Checkerboard": (_checkerboard, ("size", "n_train", "n_test", "n")),
    "FirstBit": (_first_bit, ("n_bits",)),
}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "_- ")


_BY_KEY = {_key(k): k for k in _DATASETS}

#: Canonical dataset names accepted by ``load`` (matched case-insensitively, ignoring ``_``,
#: ``-`` and spaces, so ``"fashion_mnist"`` and ``"CIFAR-10"`` work too).
DATASET_NAMES: tuple[str, ...] = tuple(_DATASETS)


def load(
    name: str,
    *,
    root: str | os.PathLike | tuple = "data",
    download: bool = False,
    seed: int = 0,
    flatten: bool = False,
    **options: Any,
) -> DatasetBundle:
    """Load a dataset by name and return a ``DatasetBundle``.

    ``name`` (case-insensitive): "SZT", "Iris", "Digits", "MNIST", "FashionMNIST",
    "CIFAR10", "DeepEIMNIST", "MNISTExtended", "XOR", "Parity", "Checkerboard", "FirstBit".
    ``root``: folder of the image files (torchvision's layout or flat), or a pair
    ``(train_dataset, test_dataset)`` of torchvision datasets; ignored by generated and
    scikit-learn datasets. ``download=True`` fetches missing image files with torchvision
    (network; never done by default). ``seed`` drives every random choice (SZT, Iris and
    Digits splits, synthetic draws). ``flatten=True`` gives X of shape N×D.

    Options per dataset (anything else raises ``InfolensError`` listing the valid ones):

    - SZT: ``split`` ("paper" 3277/819 default, "nninfo" 2796/1300, "all"),
      ``image_shape`` (1×12×1 samples).
    - Iris: ``scale`` (÷8, default True). Digits: ``test_fraction`` (0.25), ``scale`` (÷16).
    - MNIST, FashionMNIST, CIFAR10: ``scale`` (True ÷255, False raw, or a divisor such as
      256), ``normalize`` ((mean, std) or "train"), ``train_subset="thesis"``,
      ``subset_idx``, ``verify`` (published MD5s).
    - DeepEIMNIST: ``resize`` ("torch" or "skimage"), ``n_train`` (25 000), ``verify``.
    - MNISTExtended: ``scale`` (default 256), ``normalize``, ``verify``.
    - XOR: ``irrelevant`` (a third, uninformative input); Parity: ``n_bits``,
      ``continuous``, ``exhaustive``; Checkerboard: ``size=(a, b)``; each with
      ``n_train`` and ``n_test`` (independent draws, streams 0 and 1) or ``n`` (train =
      test). FirstBit: ``n_bits`` (all patterns, train = test).

    X is float32 (NCHW images or N×D), y int64 class indices; see each loader
    (``mnist``, ``szt_bundle``, ``xor``, ...) for exact shapes and scaling.
    """
    if not isinstance(name, str) or _key(name) not in _BY_KEY:
        raise InfolensError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)} "
            "(case-insensitive)."
        )
    canonical = _BY_KEY[_key(name)]
    builder, valid = _DATASETS[canonical]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InfolensError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {canonical}; valid options "
            f"are {', '.join(valid)} (besides root, download, seed and flatten)."
        )
    seed = check_seed(seed)
    return builder(root, bool(download), seed, bool(flatten), options)
