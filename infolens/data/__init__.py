"""Datasets of the reference experiments, with exact definitions (``specs/datasets.md``).

``load(name, ...)`` returns a ``DatasetBundle`` (train and test ``Split``s of float32 X and
int64 y, plus ``num_classes``, ``input_shape``, ``x_limits``, ``class_counts``,
``scaling``, ``source`` and ``split_rule``) for every dataset. The per-dataset functions are
exported too:

- datasets with a train/test split return a ``DatasetBundle``: ``iris``, ``digits``,
  ``mnist``, ``fashion_mnist``, ``cifar10``, ``deep_ei_mnist``, ``mnist_extended``,
  ``szt_bundle``;
- generated tasks return ``(X, y)`` tensors: ``szt`` (all 4096 patterns), ``xor``,
  ``parity``, ``checkerboard``, ``first_bit``, ``binary_patterns``;
- label encodings: ``one_hot``, ``from_one_hot``, ``binary_code`` (LSB first),
  ``from_binary_code``, ``binary_code_accuracy`` (all bits correct);
- index helpers: ``seeded_permutation``, ``random_split``, ``stratified_split``,
  ``class_balanced_subset``; file readers ``read_idx`` and ``read_cifar_batch``.

Nothing is downloaded unless ``download=True`` (which needs torchvision, an optional
extra). Every random choice takes an explicit ``seed``; the global RNG is never used.
"""

from infolens.data._bundle import DatasetBundle, Split
from infolens.data._files import read_cifar_batch, read_idx
from infolens.data._load import DATASET_NAMES, load
from infolens.data.encodings import (
    binary_code,
    binary_code_accuracy,
    from_binary_code,
    from_one_hot,
    one_hot,
)
from infolens.data.splits import (
    class_balanced_subset,
    random_split,
    seeded_permutation,
    stratified_split,
)
from infolens.data.synthetic import binary_patterns, checkerboard, first_bit, parity, xor
from infolens.data.szt import (
    SZT_ANTIPODAL_PAIRS,
    SZT_EDGES,
    SZT_NEIGHBOURS,
    szt,
    szt_bundle,
    szt_score,
)
from infolens.data.tabular import digits, iris
from infolens.data.vision import cifar10, deep_ei_mnist, fashion_mnist, mnist, mnist_extended

__all__ = [
    "DATASET_NAMES",
    "SZT_ANTIPODAL_PAIRS",
    "SZT_EDGES",
    "SZT_NEIGHBOURS",
    "DatasetBundle",
    "Split",
    "binary_code",
    "binary_code_accuracy",
    "binary_patterns",
    "checkerboard",
    "cifar10",
    "class_balanced_subset",
    "deep_ei_mnist",
    "digits",
    "fashion_mnist",
    "first_bit",
    "from_binary_code",
    "from_one_hot",
    "iris",
    "load",
    "mnist",
    "mnist_extended",
    "one_hot",
    "parity",
    "random_split",
    "read_cifar_batch",
    "read_idx",
    "seeded_permutation",
    "stratified_split",
    "szt",
    "szt_bundle",
    "szt_score",
    "xor",
]
