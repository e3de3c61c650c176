"""load(): names, options and errors; Iris and digits; the bundle contract; the package's
import rules and docstrings; and, when the files are present, the real datasets.

Real-data tests look under $INFOLENS_DATA_ROOT (default ``data``) and are skipped when
the files are absent; nothing is ever downloaded.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import infolens.data as data
from infolens._validation import InfolensError
from infolens.data import DATASET_NAMES, DatasetBundle, Split, digits, iris, load

PACKAGE = Path(data.__file__).parent
DATA_ROOT = Path(os.environ.get("INFOLENS_DATA_ROOT", "data"))


# ----------------------------------------------------------------------------- contract


def test_split_contract():
    s = Split(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]))
    assert len(s) == 4
    X, y = s.tensors()
    assert X is s.X and y is s.y
    with pytest.raises(InfolensError, match="float32"):
        Split(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(InfolensError, match="int64"):
        Split(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int32))
    with pytest.raises(InfolensError, match="shape"):
        Split(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(AttributeError):
        s.X = torch.ones(1)  # frozen


def test_invalid_errors_are_value_errors():
    assert issubclass(InfolensError, ValueError)


def test_every_name_loads_offline_with_the_declared_fields(tmp_path):
    generated = {
        "SZT": {}, "Iris": {}, "Digits": {}, "XOR": {"n": 8},
        "Parity": {"n_bits": 3, "n": 8}, "Checkerboard": {"size": (2, 3), "n": 8},
        "FirstBit": {"n_bits": 3},
    }
    for name, options in generated.items():
        b = load(name.upper(), **options)
        assert isinstance(b, DatasetBundle) and b.name == name
        for split in (b.train, b.test):
            assert split.X.dtype == torch.float32 and split.y.dtype == torch.int64
            assert tuple(split.X.shape[1:]) == b.input_shape
            assert int(split.y.max()) < b.num_classes
        assert b.x_limits == "binary" or (isinstance(b.x_limits, tuple) and b.x_limits[0] < b.x_limits[1])
        assert set(b.class_counts) == {"train", "test"}
        assert sum(b.class_counts["train"]) == len(b.train)
        assert b.scaling and b.source and b.split_rule
    for name in ("MNIST", "FashionMNIST", "CIFAR10", "DeepEIMNIST", "MNISTExtended"):
        with pytest.raises(FileNotFoundError, match="not found under"):
            load(name.lower(), root=tmp_path)


def test_names_are_case_insensitive_and_forgiving():
    assert load("szt").name == load("SZT").name == "SZT"
    assert load("iRiS").name == "Iris"
    assert set(DATASET_NAMES) >= {
        "SZT", "Iris", "Digits", "MNIST", "FashionMNIST", "CIFAR10", "DeepEIMNIST",
        "MNISTExtended", "XOR", "Parity", "Checkerboard",
    }
    with pytest.raises(FileNotFoundError, match="FashionMNIST"):
        load("fashion_mnist", root="/nonexistent-infolens-root")
    with pytest.raises(FileNotFoundError, match="CIFAR10"):
        load("CIFAR-10", root="/nonexistent-infolens-root")


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(InfolensError, match="unknown dataset 'ImageNet'; choose one of SZT, Iris"):
        load("ImageNet")
    with pytest.raises(InfolensError) as err:
        load("SZT", splt="all")
    assert "unknown option(s) 'splt' for SZT" in str(err.value)
    assert "valid options are split, image_shape" in str(err.value)
    with pytest.raises(InfolensError, match="valid options are scale, normalize, train_subset, subset_idx, verify"):
        load("MNIST", resize="torch")
    with pytest.raises(InfolensError, match="valid options are resize, n_train, verify"):
        load("DeepEIMNIST", scale=True)


# ----------------------------------------------------------------------------- Iris, digits


def test_iris_deep_ei_setup():
    b = iris()
    assert (len(b.train), len(b.test)) == (100, 50)
    assert b.train.X.shape == (100, 4) and b.num_classes == 3
    X = torch.cat([b.train.X, b.test.X])
    assert float(X.max()) < 1.0 and float(X.max()) == pytest.approx(7.9 / 8)
    assert float(X.min()) > 0.0 and b.x_limits == (0.0, 1.0)
    counts = np.add(b.class_counts["train"], b.class_counts["test"])
    assert counts.tolist() == [50, 50, 50]
    again = load("Iris", seed=0)
    assert torch.equal(again.train.X, b.train.X) and torch.equal(again.test.y, b.test.y)
    other = load("Iris", seed=1)
    assert not torch.equal(other.train.X, b.train.X)
    from sklearn.datasets import load_iris

    raw = load_iris()
    rows = {tuple(r) for r in (raw.data / 8).astype(np.float32).tolist()}
    assert all(tuple(r) in rows for r in X.tolist())
    cm = iris(scale=False)
    assert float(torch.cat([cm.train.X, cm.test.X]).max()) == pytest.approx(7.9)
    assert cm.x_limits == (0.0, 8.0)


def test_digits_sizes_counts_and_split():
    b = digits()
    total = np.add(b.class_counts["train"], b.class_counts["test"])
    assert total.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert len(b.train) + len(b.test) == 1797 and len(b.test) == round(0.25 * 1797)
    assert b.input_shape == (1, 8, 8) and b.x_limits == (0.0, 1.0)
    assert float(b.train.X.max()) == 1.0 and float(b.train.X.min()) == 0.0
    frac = np.array(b.class_counts["test"]) / total
    assert np.all(np.abs(frac - 0.25) < 0.02)
    assert load("Digits", flatten=True).input_shape == (64,)
    assert torch.equal(load("digits", seed=5).test.y, digits(seed=5).test.y)
    assert not torch.equal(digits(seed=5).test.X, b.test.X)
    raw = digits(scale=False, test_fraction=0.5)
    assert float(raw.train.X.max()) == 16.0 and len(raw.test) == round(0.5 * 1797)


# ----------------------------------------------------------------------------- package rules


ALLOWED_TOP = {"torch", "numpy", "sklearn", "torchvision", "skimage", "infolens"}


def test_data_layer_imports_only_what_it_may():
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ALLOWED_TOP, f"{path.name} imports {name}"
                if top == "infolens":
                    assert name == "infolens._validation" or name.startswith("infolens.data"), (
                        f"{path.name} imports {name}"
                    )


def test_import_stays_light():
    code = (
        "import sys, infolens; assert 'infolens.data' not in sys.modules;"
        "import infolens.data;"
        "bad = [m for m in ('sklearn', 'torchvision', 'skimage', 'infolens.measures', "
        "'infolens.training', 'infolens.runs', 'infolens.nn', 'lightning') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(data.__file__).parents[2])


def test_public_functions_document_what_they_return():
    for name in data.__all__:
        obj = getattr(data, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            assert "return" in doc.lower(), f"{name} has no docstring saying what it returns"


# ----------------------------------------------------------------------------- real files


def _have(*parts: str) -> bool:
    names = ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    for folder in (DATA_ROOT.joinpath(*parts), DATA_ROOT):
        if all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in names):
            return True
    return False


needs_mnist = pytest.mark.skipif(not _have("MNIST", "raw"), reason=f"MNIST files not under {DATA_ROOT}")
needs_fashion = pytest.mark.skipif(
    not _have("FashionMNIST", "raw"), reason=f"FashionMNIST files not under {DATA_ROOT}"
)
needs_cifar = pytest.mark.skipif(
    not any((d / "test_batch").is_file() for d in (DATA_ROOT / "cifar-10-batches-py", DATA_ROOT)),
    reason=f"CIFAR-10 files not under {DATA_ROOT}",
)
needs_qmnist = pytest.mark.skipif(
    not any(
        (d / "qmnist-test-labels-idx2-int").is_file() or (d / "qmnist-test-labels-idx2-int.gz").is_file()
        for d in (DATA_ROOT / "QMNIST" / "raw", DATA_ROOT)
    ),
    reason=f"QMNIST files not under {DATA_ROOT}",
)

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.slow
@needs_mnist
def test_real_mnist():
    b = load("MNIST", root=DATA_ROOT)
    assert b.train.X.shape == (60_000, 1, 28, 28) and b.test.X.shape == (10_000, 1, 28, 28)
    assert b.class_counts == {"train": MNIST_TRAIN, "test": MNIST_TEST}
    for k in range(5):
        sub = load("MNIST", root=DATA_ROOT, train_subset="thesis", subset_idx=k)
        assert sub.class_counts["train"] == [1000] * 10
    with pytest.raises(InfolensError, match=r"0\.\.4"):
        load("MNIST", root=DATA_ROOT, train_subset="thesis", subset_idx=5)
    d = load("DeepEIMNIST", root=DATA_ROOT)
    assert (len(d.train), len(d.test)) == (25_000, 10_735)
    assert sum(MNIST_TRAIN[:5]) == 30_596 and sum(MNIST_TEST[:5]) == 5_139


@pytest.mark.slow
@needs_fashion
def test_real_fashion_mnist():
    b = load("FashionMNIST", root=DATA_ROOT)
    assert b.class_counts == {"train": [6000] * 10, "test": [1000] * 10}
    load("FashionMNIST", root=DATA_ROOT, train_subset="thesis", subset_idx=5)
    with pytest.raises(InfolensError, match=r"0\.\.5"):
        load("FashionMNIST", root=DATA_ROOT, train_subset="thesis", subset_idx=6)


@pytest.mark.slow
@needs_cifar
def test_real_cifar10():
    b = load("CIFAR10", root=DATA_ROOT)
    assert b.train.X.shape == (50_000, 3, 32, 32) and b.test.X.shape == (10_000, 3, 32, 32)
    assert b.class_counts == {"train": [5000] * 10, "test": [1000] * 10}
    with pytest.raises(InfolensError, match=r"0\.\.4"):
        load("CIFAR10", root=DATA_ROOT, train_subset="thesis", subset_idx=5)


@pytest.mark.slow
@needs_mnist
@needs_qmnist
def test_real_mnist_extended():
    b = load("MNISTExtended", root=DATA_ROOT)
    assert (len(b.train), len(b.test)) == (60_000, 60_000)
    assert float(b.train.X.max()) == 255 / 256
