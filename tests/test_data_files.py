"""MNIST/FashionMNIST/CIFAR-10 readers on tiny fixture files written into tmp_path.

Fixtures come in both layouts (torchvision's ``root/MNIST/raw/`` and flat ``root/``), as
plain and gzipped IDX, and as CIFAR batch pickles with str and bytes keys. Nothing here
touches the network: the download path runs against a stand-in torchvision module.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from infolens._validation import InfolensError
from infolens.data import (
    cifar10,
    deep_ei_mnist,
    fashion_mnist,
    load,
    mnist,
    mnist_extended,
    read_cifar_batch,
    read_idx,
)

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Training labels: 6 per class except class 5 (5), in a fixed shuffled order; test: 2 per class.
_rng = np.random.default_rng(1234)
TRAIN_Y = _rng.permutation(np.array([c for c in range(10) for _ in range(6 if c != 5 else 5)]))
TEST_Y = _rng.permutation(np.repeat(np.arange(10), 2))


def images_for(y: np.ndarray, offset: int) -> np.ndarray:
    """uint8 (N, 28, 28): each image is distinct and identifies its position."""
    n = len(y)
    base = (np.arange(784, dtype=np.int64)[None, :] + 7 * (np.arange(n)[:, None] + offset)) % 256
    img = base.astype(np.uint8).reshape(n, 28, 28)
    img[:, 0, 0] = (np.arange(n) + offset) % 256
    return img


TRAIN_X = images_for(TRAIN_Y, 0)
TEST_X = images_for(TEST_Y, 100)


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(dtype).tobytes()


def write_file(path: Path, payload: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_mnist(folder: Path, *, gz: bool, train=(TRAIN_X, TRAIN_Y), test=(TEST_X, TEST_Y)) -> dict:
    arrays = {
        "train_images": train[0], "train_labels": train[1],
        "test_images": test[0], "test_labels": test[1],
    }
    return {k: write_file(folder / IDX_NAMES[k], idx_bytes(arrays[k]), gz) for k in arrays}


# CIFAR fixture: five batches of 4 train images, a test batch of 10 (one per class).
CIFAR_TRAIN_Y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
CIFAR_TEST_Y = np.arange(10)


def cifar_rows(n: int, offset: int) -> np.ndarray:
    rows = np.zeros((n, 3072), dtype=np.uint8)
    for i in range(n):
        rows[i, :1024] = (10 + i + offset) % 256  # red plane
        rows[i, 1024:2048] = (100 + i + offset) % 256  # green plane
        rows[i, 2048:] = np.arange(1024) % 256  # blue plane varies along the row-major image
    return rows


def write_cifar(folder: Path, *, bytes_keys=(1, 3, 6)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = cifar_rows(20, 0)
    for b in range(5):
        batch = {"data": rows[4 * b : 4 * b + 4], "labels": CIFAR_TRAIN_Y[4 * b : 4 * b + 4].tolist(),
                 "batch_label": f"training batch {b + 1} of 5"}
        if b + 1 in bytes_keys:
            batch = {k.encode(): v for k, v in batch.items()}
        (folder / f"data_batch_{b + 1}").write_bytes(pickle.dumps(batch, protocol=2))
    test = {b"data": cifar_rows(10, 50), b"labels": CIFAR_TEST_Y.tolist()}
    if 6 not in bytes_keys:
        test = {k.decode(): v for k, v in test.items()}
    (folder / "test_batch").write_bytes(pickle.dumps(test))


# ----------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    p = write_file(tmp_path / "x-idx3-ubyte", idx_bytes(TRAIN_X), gz)
    arr = read_idx(p)
    assert arr.dtype == np.uint8 and arr.shape == TRAIN_X.shape
    np.testing.assert_array_equal(arr, TRAIN_X)
    lab = np.arange(24, dtype=np.int32).reshape(3, 8) - 5
    q = write_file(tmp_path / "q-idx2-int", idx_bytes(lab, 0x0C), gz)
    got = read_idx(q)
    assert got.dtype == np.int32 and got.dtype.byteorder in ("=", "|")
    np.testing.assert_array_equal(got, lab)


def test_read_idx_rejects_corrupt_files(tmp_path):
    good = idx_bytes(TRAIN_X)
    cases = {
        "short": (good[:3], "truncated IDX file"),
        "magic": (b"\x01\x02" + good[2:], "not an IDX file"),
        "type": (good[:2] + b"\x07" + good[3:], "not an IDX file"),
        "header": (good[:9], "truncated IDX header"),
        "payload": (good[:-100], "payload truncated"),
        "trailing": (good + b"\x00", "trailing bytes"),
    }
    for name, (payload, message) in cases.items():
        p = tmp_path / f"{name}-idx3-ubyte"
        p.write_bytes(payload)
        with pytest.raises(ValueError, match=message) as err:
            read_idx(p)
        assert str(p) in str(err.value)
    gzp = write_file(tmp_path / "cut-idx3-ubyte", good, gz=True)
    gzp.write_bytes(gzp.read_bytes()[:-40])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
        read_idx(gzp)
    assert str(gzp) in str(err.value)
    junk = tmp_path / "junk-idx3-ubyte.gz"
    junk.write_bytes(b"this is not gzip data at all")
    with pytest.raises(ValueError, match=r"junk-idx3-ubyte\.gz"):
        read_idx(junk)


# ----------------------------------------------------------------------------- MNIST-style


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(("loader", "sub"), [(mnist, "MNIST"), (fashion_mnist, "FashionMNIST")])
def test_mnist_like_layouts(tmp_path, layout, gz, loader, sub):
    folder = tmp_path / sub / "raw" if layout == "torchvision" else tmp_path
    files = write_mnist(folder, gz=gz)
    b = loader(tmp_path)
    assert b.name == sub and b.num_classes == 10
    assert b.train.X.shape == (59, 1, 28, 28) and b.test.X.shape == (20, 1, 28, 28)
    assert b.train.X.dtype == torch.float32 and b.train.y.dtype == torch.int64
    assert b.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(b.train.y.numpy(), TRAIN_Y)  # file order
    np.testing.assert_array_equal(b.test.y.numpy(), TEST_Y)
    np.testing.assert_array_equal(b.train.X.numpy()[:, 0], TRAIN_X.astype(np.float32) / 255)
    assert float(b.train.X.max()) <= 1.0 and b.x_limits == (0.0, 1.0)
    assert b.class_counts["train"] == np.bincount(TRAIN_Y).tolist()
    assert b.class_counts["test"] == [2] * 10
    assert str(files["train_images"]) in b.source
    assert "255" in b.scaling and "file order" in b.split_rule
    assert load(sub, root=tmp_path).train.X.shape == b.train.X.shape


def test_plain_file_preferred_when_both_exist(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw, gz=True)
    write_mnist(raw, gz=False)
    b = mnist(tmp_path)
    assert ".gz" not in b.source
    assert len(b.train) == 59


def test_torchvision_layout_wins_over_flat(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", gz=False)
    other_y = np.zeros(3, dtype=np.uint8)
    write_mnist(tmp_path, gz=False, train=(TRAIN_X[:3], other_y), test=(TEST_X[:3], other_y))
    assert len(mnist(tmp_path).train) == 59


def test_flatten(tmp_path):
    write_mnist(tmp_path, gz=False)
    b = mnist(tmp_path, flatten=True)
    assert b.train.X.shape == (59, 784) and b.input_shape == (784,)
    assert load("mnist", root=tmp_path, flatten=True).input_shape == (784,)


def test_scaling_modes(tmp_path):
    write_mnist(tmp_path, gz=True)
    raw = TRAIN_X.astype(np.float32)[:, None]
    thesis = mnist(tmp_path, scale=False)
    np.testing.assert_array_equal(thesis.train.X.numpy(), raw)
    assert thesis.x_limits == (0.0, 255.0) and "raw" in thesis.scaling
    nninfo = mnist(tmp_path, scale=256)
    np.testing.assert_array_equal(nninfo.train.X.numpy(), raw / np.float32(256))
    assert nninfo.x_limits == (0.0, 255 / 256) and float(nninfo.train.X.max()) < 1.0
    assert "256" in nninfo.scaling
    tuomaso = mnist(tmp_path, normalize=(0.1307, 0.3081))
    expected = (raw / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)
    np.testing.assert_allclose(tuomaso.train.X.numpy(), expected, rtol=1e-6, atol=1e-6)
    lo, hi = tuomaso.x_limits
    assert lo == pytest.approx(-0.1307 / 0.3081) and hi == pytest.approx((1 - 0.1307) / 0.3081)
    assert "0.1307" in tuomaso.scaling and "0.3081" in tuomaso.scaling
    stats = mnist(tmp_path, normalize="train")
    assert float(stats.train.X.double().mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(stats.train.X.double().std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    assert "training-split statistics" in stats.scaling
    with pytest.raises(InfolensError, match="scale=-1 is not supported"):
        mnist(tmp_path, scale=-1)
    with pytest.raises(InfolensError, match="normalize"):
        mnist(tmp_path, normalize=(0.5,))
    with pytest.raises(InfolensError, match="std must be > 0"):
        mnist(tmp_path, normalize=(0.5, 0.0))
    with pytest.raises(InfolensError, match="normalize='test' is not supported"):
        mnist(tmp_path, normalize="test")


def test_thesis_subset_counts_order_and_range(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    m = len(TEST_Y) // 10  # 2 per class
    for k in (0, 1):  # the smallest class (5) has 5 samples: subsets 0 and 1 exist
        b = mnist(tmp_path, train_subset="thesis", subset_idx=k)
        assert b.class_counts["train"] == [m] * 10 and len(b.test) == 20
        expected = np.sort(np.concatenate(
            [np.flatnonzero(TRAIN_Y == c)[k * m : (k + 1) * m] for c in range(10)]
        ))
        np.testing.assert_array_equal(b.train.y.numpy(), TRAIN_Y[expected])
        np.testing.assert_array_equal(b.train.X.numpy()[:, 0], TRAIN_X[expected] / np.float32(255))
        assert f"k={k}" in b.split_rule
    default = mnist(tmp_path, train_subset="thesis")
    assert torch.equal(default.train.X, mnist(tmp_path, train_subset="thesis", subset_idx=0).train.X)
    with pytest.raises(InfolensError, match=r"MNIST thesis training subset: subset_idx=2 is out of range.*0\.\.1"):
        mnist(tmp_path, train_subset="thesis", subset_idx=2)
    with pytest.raises(InfolensError, match="subset_idx must be an integer >= 0"):
        mnist(tmp_path, train_subset="thesis", subset_idx=-1)
    with pytest.raises(InfolensError, match="pass train_subset='thesis'"):
        mnist(tmp_path, subset_idx=1)
    with pytest.raises(InfolensError, match="train_subset='half' is not supported"):
        mnist(tmp_path, train_subset="half")


def test_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        mnist("data")
    assert str(err.value) == (
        "MNIST not found under 'data': expected train-images-idx3-ubyte[.gz], "
        "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] "
        "in 'data/MNIST/raw' or 'data'. Pass download=True to fetch them with torchvision "
        "(requires internet)."
    )
    with pytest.raises(FileNotFoundError, match=r"FashionMNIST not found under 'data'.*'data/FashionMNIST/raw'"):
        fashion_mnist()
    with pytest.raises(FileNotFoundError) as err:
        cifar10("data")
    msg = str(err.value)
    assert "CIFAR10 not found under 'data'" in msg and "'data/cifar-10-batches-py' or 'data'" in msg
    assert "data_batch_1, data_batch_2" in msg and "test_batch" in msg and "download=True" in msg


def test_missing_one_file_names_it(tmp_path):
    files = write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    files["test_labels"].unlink()
    with pytest.raises(FileNotFoundError) as err:
        mnist(tmp_path)
    msg = str(err.value)
    assert f"MNIST not found under '{tmp_path}'" in msg
    assert "lacks t10k-labels-idx1-ubyte[.gz]" in msg


def test_corrupt_and_inconsistent_files_name_the_file(tmp_path):
    files = write_mnist(tmp_path, gz=False)
    files["train_images"].write_bytes(files["train_images"].read_bytes()[:-5])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX payload truncated"):
        mnist(tmp_path)
    files = write_mnist(tmp_path, gz=False, test=(TEST_X, TEST_Y[:-1]))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: 19 labels, but .*t10k-images-idx3-ubyte has 20"):
        mnist(tmp_path)
    write_mnist(tmp_path, gz=False, test=(TEST_X, np.full(20, 10, dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: labels must lie in 0\.\.9"):
        mnist(tmp_path)
    write_mnist(tmp_path, gz=False, test=(TEST_X[:, :27], TEST_Y))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected uint8 images of shape \(N, 28, 28\)"):
        mnist(tmp_path)


# ----------------------------------------------------------------------------- CIFAR-10


def test_read_cifar_batch_bytes_and_str_keys(tmp_path):
    write_cifar(tmp_path, bytes_keys=(1,))
    for name in ("data_batch_1", "data_batch_2"):
        x, y = read_cifar_batch(tmp_path / name)
        assert x.shape == (4, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    x, _ = read_cifar_batch(tmp_path / "data_batch_1")
    assert np.all(x[0, 0] == 10) and np.all(x[0, 1] == 100)  # red, then green planes
    np.testing.assert_array_equal(x[0, 2].ravel(), np.arange(1024) % 256)  # row-major image


def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the published CIFAR-10 files are: Python 2, protocol 2,
    str keys stored as byte strings, the array via numpy.core.multiarray._reconstruct."""

    def s(b: bytes) -> bytes:  # a Python 2 str
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    def i(v: int) -> bytes:
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    out = b"\x80\x02}(" + s(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85" + s(b"b")
    out += b"\x87R(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R"
    out += b"(" + i(3) + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + i(0) + b"tb"
    out += b"\x89" + s(data.tobytes()) + b"tb"
    out += s(b"labels") + b"](" + b"".join(i(v) for v in labels) + b"e"
    return out + s(b"batch_label") + s(b"testing batch 1 of 1") + b"u."


def test_python2_cifar_pickle(tmp_path):
    rows = cifar_rows(3, 7)
    p = tmp_path / "test_batch"
    p.write_bytes(py2_batch(rows, [4, 0, 9]))
    assert pickle.loads(p.read_bytes(), encoding="latin1")["labels"] == [4, 0, 9]  # valid pickle
    x, y = read_cifar_batch(p)
    assert y.tolist() == [4, 0, 9]
    np.testing.assert_array_equal(x.reshape(3, -1), rows)


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_cifar10_layouts(tmp_path, layout):
    write_cifar(tmp_path / "cifar-10-batches-py" if layout == "torchvision" else tmp_path)
    b = cifar10(tmp_path)
    assert b.name == "CIFAR10" and b.input_shape == (3, 32, 32)
    assert b.train.X.shape == (20, 3, 32, 32) and b.test.X.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(b.train.y.numpy(), CIFAR_TRAIN_Y)  # batches 1..5 in order
    np.testing.assert_array_equal(b.test.y.numpy(), CIFAR_TEST_Y)
    red = b.train.X[:, 0, 0, 0].numpy() * 255
    np.testing.assert_allclose(red, 10 + np.arange(20), atol=1e-4)
    assert b.class_counts == {"train": [2] * 10, "test": [1] * 10}
    raw = cifar10(tmp_path, scale=False)
    assert float(raw.train.X[3, 1, 5, 5]) == 103.0
    flat = cifar10(tmp_path, flatten=True)
    assert flat.input_shape == (3072,)
    sub = cifar10(tmp_path, train_subset="thesis", subset_idx=1)  # m = 1 per class
    np.testing.assert_array_equal(sub.train.X.numpy(), b.train.X.numpy()[10:])
    with pytest.raises(InfolensError, match=r"valid subset_idx are 0\.\.1"):
        cifar10(tmp_path, train_subset="thesis", subset_idx=2)
    norm = cifar10(tmp_path, normalize="train")
    per_channel = norm.train.X.double().transpose(0, 1).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(1).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(1, unbiased=False).numpy(), 1.0, atol=1e-5)


def test_cifar_corrupt_and_malicious_batches(tmp_path):
    write_cifar(tmp_path)
    p = tmp_path / "data_batch_2"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match="data_batch_2: corrupt or truncated CIFAR-10 batch"):
        cifar10(tmp_path)
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(ValueError, match=r"test_batch: corrupt or truncated CIFAR-10 batch.*refusing"):
        cifar10(tmp_path)
    assert not marker.exists()
    (tmp_path / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8)}))
    with pytest.raises(ValueError, match="test_batch: CIFAR-10 batch without 'data' and 'labels'"):
        cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(
        pickle.dumps({"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]})
    )
    with pytest.raises(ValueError, match=r"test_batch: 'data' must be uint8 of shape \(N, 3072\)"):
        cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(
        pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1, 2]})
    )
    with pytest.raises(ValueError, match="test_batch: 'labels' must be 2 integers"):
        cifar10(tmp_path)


# ----------------------------------------------------------------------------- verify, download


def test_verify_md5(tmp_path, monkeypatch):
    files = write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: MD5 [0-9a-f]{32} does not match the published f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        mnist(tmp_path, verify=True)
    from infolens.data import _files

    table = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in files.values()}
    monkeypatch.setitem(_files.MD5, "MNIST", table)
    assert len(mnist(tmp_path, verify=True).train) == 59
    write_mnist(tmp_path / "MNIST" / "raw", gz=False)  # plain copies are read unless verifying
    assert ".gz" in mnist(tmp_path, verify=True).source
    plain_only = tmp_path / "plain"
    write_mnist(plain_only, gz=False)
    with pytest.raises(ValueError, match="no published MD5 for this file"):
        mnist(plain_only, verify=True)


def test_download_without_torchvision_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(ImportError, match=r"pip install infolens\[vision\].*torchvision"):
        mnist(tmp_path, download=True)
    with pytest.raises(ImportError, match=r"infolens\[vision\]"):
        load("CIFAR10", root=tmp_path, download=True)
    write_mnist(tmp_path, gz=True)  # files present: download=True does not need torchvision
    assert len(mnist(tmp_path, download=True).train) == 59


def _fake_torchvision(monkeypatch, calls: list) -> None:
    """A stand-in torchvision whose MNIST 'download' writes the fixture files."""

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append(("MNIST", root, train, download))
            if download:
                write_mnist(Path(root) / "MNIST" / "raw", gz=True)

    class FakeQMNIST:
        def __init__(self, root, what="test", download=False):
            calls.append(("QMNIST", root, what, download))
            if download:
                write_qmnist(Path(root) / "QMNIST" / "raw", gz=True)

    datasets = types.ModuleType("torchvision.datasets")
    datasets.MNIST = FakeMNIST
    datasets.QMNIST = FakeQMNIST
    tv = types.ModuleType("torchvision")
    tv.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)


def test_download_goes_through_torchvision_only_when_asked(tmp_path, monkeypatch):
    calls: list = []
    _fake_torchvision(monkeypatch, calls)
    with pytest.raises(FileNotFoundError):
        mnist(tmp_path)  # download=False: torchvision is never touched
    assert calls == []
    b = mnist(tmp_path, download=True)
    assert len(b.train) == 59 and calls and all(c[3] for c in calls)
    calls.clear()
    mnist(tmp_path, download=True)  # already there: no second download
    assert calls == []


# ----------------------------------------------------------------------------- dataset objects


class FakeDataset:
    def __init__(self, data, targets):
        self.data, self.targets = data, targets


def test_torchvision_dataset_objects(tmp_path):
    write_mnist(tmp_path, gz=False)
    from_files = mnist(tmp_path, train_subset="thesis")
    objs = (
        FakeDataset(torch.from_numpy(TRAIN_X), torch.from_numpy(TRAIN_Y.astype(np.int64))),
        FakeDataset(torch.from_numpy(TEST_X), torch.from_numpy(TEST_Y.astype(np.int64))),
    )
    from_objs = mnist(objs, train_subset="thesis")
    assert torch.equal(from_objs.train.X, from_files.train.X)
    assert torch.equal(from_objs.test.y, from_files.test.y)
    assert "FakeDataset" in from_objs.source
    assert torch.equal(load("MNIST", root=objs).train.X, mnist(tmp_path).train.X)
    # CIFAR10 objects keep NHWC numpy arrays and list targets
    write_cifar(tmp_path / "cifar-10-batches-py")
    ref = cifar10(tmp_path)
    nhwc = (ref.train.X.numpy() * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    nhwc_te = (ref.test.X.numpy() * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    c = cifar10((FakeDataset(nhwc, CIFAR_TRAIN_Y.tolist()), FakeDataset(nhwc_te, list(range(10)))))
    assert torch.equal(c.train.X, ref.train.X) and torch.equal(c.test.y, ref.test.y)
    with pytest.raises(InfolensError, match=r"pass both splits as root=\(train_dataset, test_dataset\)"):
        mnist(objs[0])
    with pytest.raises(InfolensError, match="verify=True checks files"):
        mnist(objs, verify=True)
    with pytest.raises(InfolensError, match="uint8 images of shape"):
        mnist((FakeDataset(torch.zeros(3, 28, 28), torch.zeros(3)), objs[1]))
    with pytest.raises(InfolensError, match=r"labels in 0\.\.9"):
        mnist((FakeDataset(torch.from_numpy(TRAIN_X), torch.zeros(3)), objs[1]))
    with pytest.raises(InfolensError, match="root must be a folder"):
        mnist(123)


# ----------------------------------------------------------------------------- deep-ei variant


@pytest.mark.parametrize("gz", [False, True])
def test_deep_ei_mnist_on_fixtures(tmp_path, gz):
    write_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    keep = np.concatenate([TRAIN_Y, TEST_Y]) < 5
    n_kept = int(keep.sum())  # 30 train + 10 test images of digits 0-4
    b = deep_ei_mnist(tmp_path, n_train=25)
    assert b.name == "DeepEIMNIST" and b.num_classes == 5
    assert b.input_shape == (25,) and b.train.X.shape == (25, 25)
    assert len(b.test) == n_kept - 25
    labels = np.concatenate([TRAIN_Y, TEST_Y])[keep]
    np.testing.assert_array_equal(torch.cat([b.train.y, b.test.y]).numpy(), labels)
    assert b.class_counts["train"] == np.bincount(labels[:25], minlength=5).tolist()
    assert float(b.train.X.min()) >= 0.0 and float(b.train.X.max()) <= 1.0
    assert b.x_limits == (0.0, 1.0) and "torch bilinear" in b.scaling
    imgs = np.concatenate([TRAIN_X, TEST_X])[keep].astype(np.float64) / 255
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(imgs[:, None]), size=(5, 5), mode="bilinear", align_corners=False,
        antialias=True,
    ).reshape(-1, 25).float()
    assert torch.equal(b.train.X, ref[:25])
    # a constant image stays constant after resizing
    const = np.full((2, 28, 28), 51, np.uint8)
    write_mnist(tmp_path / "c", gz=False, train=(const, np.array([0, 1], np.uint8)),
                test=(const, np.array([2, 3], np.uint8)))
    cb = deep_ei_mnist(tmp_path / "c", n_train=2)
    np.testing.assert_allclose(cb.train.X.numpy(), 0.2, atol=1e-6)
    assert load("DeepEIMNIST", root=tmp_path, n_train=25, flatten=True).input_shape == (25,)


def test_deep_ei_mnist_skimage_resize(tmp_path):
    transform = pytest.importorskip("skimage.transform")
    write_mnist(tmp_path, gz=True)
    b = deep_ei_mnist(tmp_path, n_train=25, resize="skimage")
    keep = np.concatenate([TRAIN_Y, TEST_Y]) < 5
    imgs = np.concatenate([TRAIN_X, TEST_X])[keep].astype(np.float64) / 255
    ref = np.stack([transform.resize(img, (5, 5)) for img in imgs]).reshape(-1, 25)
    np.testing.assert_array_equal(b.train.X.numpy(), ref[:25].astype(np.float32))
    assert "skimage" in b.scaling


def test_deep_ei_mnist_errors(tmp_path, monkeypatch):
    write_mnist(tmp_path, gz=False)
    with pytest.raises(InfolensError, match="n_train=25000 leaves no test samples: there are 40"):
        deep_ei_mnist(tmp_path)
    with pytest.raises(InfolensError, match="resize='pil' is not supported"):
        deep_ei_mnist(tmp_path, resize="pil", n_train=10)
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.transform", None)
    with pytest.raises(ImportError, match="pip install scikit-image"):
        deep_ei_mnist(tmp_path, resize="skimage", n_train=10)


# ----------------------------------------------------------------------------- extended MNIST

Q_Y = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5])
Q_X = images_for(Q_Y, 200)


def write_qmnist(folder: Path, *, gz: bool, labels=None, code=0x0C) -> None:
    lab = np.zeros((len(Q_Y), 8), dtype=np.int32) if labels is None else labels
    if labels is None:
        lab[:, 0] = Q_Y
        lab[:, 1] = 7  # other QMNIST columns (writer ids, ...) are ignored
    write_file(folder / "qmnist-test-images-idx3-ubyte", idx_bytes(Q_X), gz)
    write_file(folder / "qmnist-test-labels-idx2-int", idx_bytes(lab, code), gz)


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_mnist_extended_on_fixtures(tmp_path, layout):
    write_mnist(tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path, gz=True)
    write_qmnist(tmp_path / "QMNIST" / "raw" if layout == "torchvision" else tmp_path, gz=False)
    b = mnist_extended(tmp_path)
    assert b.name == "MNISTExtended"
    assert len(b.train) == 59 and len(b.test) == 20 + 9  # sequential: MNIST train | test + QMNIST
    np.testing.assert_array_equal(b.train.y.numpy(), TRAIN_Y)
    np.testing.assert_array_equal(b.test.y.numpy(), np.concatenate([TEST_Y, Q_Y]))
    np.testing.assert_array_equal(b.test.X.numpy()[20:, 0], Q_X.astype(np.float32) / np.float32(256))
    assert "256" in b.scaling and b.x_limits == (0.0, 255 / 256)
    assert load("MNISTExtended", root=tmp_path, scale=True).x_limits == (0.0, 1.0)


def test_mnist_extended_errors(tmp_path, monkeypatch):
    write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    with pytest.raises(FileNotFoundError) as err:
        mnist_extended(tmp_path)
    msg = str(err.value)
    assert "QMNIST test files (for MNISTExtended) not found" in msg
    assert "qmnist-test-images-idx3-ubyte[.gz], qmnist-test-labels-idx2-int[.gz]" in msg
    assert f"'{tmp_path / 'QMNIST' / 'raw'}'" in msg and "download=True" in msg
    write_qmnist(tmp_path, gz=True, labels=np.zeros((9, 8), np.uint8), code=0x08)
    with pytest.raises(ValueError, match=r"qmnist-test-labels-idx2-int.gz: expected int32 \(type code 0x0C\)"):
        mnist_extended(tmp_path)
    write_qmnist(tmp_path, gz=True, labels=np.zeros((9, 3), np.int32))
    with pytest.raises(ValueError, match=r"shape \(N, 8\)"):
        mnist_extended(tmp_path)
    with pytest.raises(InfolensError, match="reads files"):
        mnist_extended((FakeDataset(1, 2), FakeDataset(1, 2)))
    calls: list = []
    _fake_torchvision(monkeypatch, calls)
    fresh = tmp_path / "fresh"
    b = mnist_extended(fresh, download=True)
    assert len(b.train) == 59 and len(b.test) == 29
    assert {c[0] for c in calls} == {"MNIST", "QMNIST"}
