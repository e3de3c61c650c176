"""MNIST, FashionMNIST and CIFAR-10 from their standard files, plus deep-ei's and nninfo's
MNIST variants.

The files are read by ``infolens.data._files`` (no torchvision needed). torchvision is
used only when ``download=True`` and a file is missing. ``root`` may also be a pair
``(train_dataset, test_dataset)`` of already constructed torchvision datasets (anything
with ``.data`` and ``.targets``), whose arrays are then used as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from infolens._validation import InfolensError, check_choice, check_positive_int
from infolens.data._bundle import DatasetBundle, make_bundle
from infolens.data._files import (
    MD5,
    find_files,
    missing_error,
    read_cifar_batch,
    read_idx,
    verify_md5,
)
from infolens.data.splits import class_balanced_subset

_IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_NAMES = (*(f"data_batch_{k}" for k in range(1, 6)), "test_batch")
_QMNIST_NAMES = ("qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int")


@dataclass(frozen=True)
class _Spec:
    name: str  # canonical name, key of the MD5 table
    subdir: str  # torchvision's folder under root
    files: tuple[str, ...]
    gz: bool  # files may be gzipped
    shape: tuple[int, int, int]  # per-image C, H, W
    torchvision: str  # torchvision.datasets class that downloads the files


_MNIST = _Spec("MNIST", "MNIST/raw", _IDX_NAMES, True, (1, 28, 28), "MNIST")
_FASHION = _Spec("FashionMNIST", "FashionMNIST/raw", _IDX_NAMES, True, (1, 28, 28), "FashionMNIST")
_CIFAR = _Spec("CIFAR10", "cifar-10-batches-py", _CIFAR_NAMES, False, (3, 32, 32), "CIFAR10")
_QMNIST = _Spec("QMNIST", "QMNIST/raw", _QMNIST_NAMES, True, (1, 28, 28), "QMNIST")

_Raw = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------- locating files


def _torchvision_datasets():
    try:
        import torchvision.datasets as tv_datasets
    except ImportError as exc:
        raise ImportError(
            "download=True fetches the files with torchvision, which is not installed; "
            "pip install infolens[vision] (or pip install torchvision), or place the files "
            "under root yourself."
        ) from exc
    return tv_datasets


def _download(spec: _Spec, root: Path) -> None:
    tv = _torchvision_datasets()
    root.mkdir(parents=True, exist_ok=True)
    cls = getattr(tv, spec.torchvision)
    if spec.torchvision == "QMNIST":
        cls(str(root), what="test", download=True)
    else:
        cls(str(root), train=True, download=True)
        cls(str(root), train=False, download=True)


def _locate(spec: _Spec, root: Path, *, download: bool, verify: bool, label: str) -> dict[str, Path]:
    files = find_files(root, spec.subdir, spec.files, gz=spec.gz, prefer_gz=verify)
    if files is None and download:
        _download(spec, root)
        files = find_files(root, spec.subdir, spec.files, gz=spec.gz, prefer_gz=verify)
    if files is None:
        raise missing_error(label, root, spec.subdir, spec.files, gz=spec.gz)
    if verify:
        for path in files.values():
            verify_md5(path, MD5[spec.name])
    return files


# --------------------------------------------------------------------------- reading arrays


def _idx_images(path: Path, hw: tuple[int, int] = (28, 28)) -> np.ndarray:
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != hw:
        raise ValueError(
            f"{path}: expected uint8 images of shape (N, {hw[0]}, {hw[1]}), got {arr.dtype} "
            f"{arr.shape}."
        )
    return arr[:, None]


def _check_labels(labels: np.ndarray, n: int, path: Path, images: Path, num_classes: int) -> None:
    if labels.shape[0] != n:
        raise ValueError(f"{path}: {labels.shape[0]} labels, but {images} has {n} images.")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{path}: labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}."
        )


def _idx_labels(path: Path, n: int, images: Path) -> np.ndarray:
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ValueError(f"{path}: expected uint8 labels of shape (N,), got {arr.dtype} {arr.shape}.")
    _check_labels(arr, n, path, images, 10)
    return arr.astype(np.int64)


def _read_idx_pair(files: dict[str, Path], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    img_path = files[f"{prefix}-images-idx3-ubyte"]
    x = _idx_images(img_path)
    return x, _idx_labels(files[f"{prefix}-labels-idx1-ubyte"], x.shape[0], img_path)


def _read_files(spec: _Spec, files: dict[str, Path]) -> _Raw:
    if spec is _CIFAR:
        parts = [read_cifar_batch(files[name]) for name in _CIFAR_NAMES]
        for name, (_, labels) in zip(_CIFAR_NAMES, parts):
            _check_labels(labels, labels.shape[0], files[name], files[name], 10)
        return (
            np.concatenate([p[0] for p in parts[:5]]),
            np.concatenate([p[1] for p in parts[:5]]),
            parts[5][0],
            parts[5][1],
        )
    return (*_read_idx_pair(files, "train"), *_read_idx_pair(files, "t10k"))


def _is_dataset_pair(root: object) -> bool:
    return isinstance(root, (tuple, list)) and len(root) == 2 and all(
        hasattr(d, "data") and hasattr(d, "targets") for d in root
    )


def _object_arrays(spec: _Spec, ds: object, which: str) -> tuple[np.ndarray, np.ndarray]:
    data, targets = ds.data, ds.targets  # type: ignore[attr-defined]
    x = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    y = targets.numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    c, h, w = spec.shape
    if x.ndim == 3 and c == 1:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] == c and x.shape[1:3] == (h, w):
        x = x.transpose(0, 3, 1, 2)  # torchvision's CIFAR10 keeps NHWC
    if x.dtype != np.uint8 or x.shape[1:] != spec.shape:
        raise InfolensError(
            f"{spec.name} {which} dataset object: .data must be uint8 images of shape "
            f"(N, {h}, {w}){'' if c == 1 else f' or (N, {h}, {w}, {c})'}, got {x.dtype} "
            f"{tuple(np.shape(data))}; pass the torchvision {spec.torchvision} dataset itself."
        )
    if y.ndim != 1 or y.shape[0] != x.shape[0] or (y.size and (y.min() < 0 or y.max() >= 10)):
        raise InfolensError(
            f"{spec.name} {which} dataset object: .targets must hold {x.shape[0]} labels in 0..9."
        )
    return np.ascontiguousarray(x), y.astype(np.int64)


def _raw(spec: _Spec, root: object, *, download: bool, verify: bool) -> tuple[_Raw, str]:
    if _is_dataset_pair(root):
        if verify:
            raise InfolensError(
                "verify=True checks files; it does not apply to dataset objects. Pass "
                "verify=False, or pass root as a folder."
            )
        tr, te = root  # type: ignore[misc]
        raw = (*_object_arrays(spec, tr, "train"), *_object_arrays(spec, te, "test"))
        return raw, f"dataset objects {type(tr).__name__}/{type(te).__name__} (.data, .targets)"
    if hasattr(root, "data") and hasattr(root, "targets"):
        raise InfolensError(
            f"{spec.name}: got a single dataset object; pass both splits as "
            "root=(train_dataset, test_dataset)."
        )
    if not isinstance(root, (str, os.PathLike)):
        raise InfolensError(
            f"root must be a folder (str or Path) or a pair (train_dataset, test_dataset), "
            f"got {type(root).__name__}."
        )
    files = _locate(spec, Path(root), download=download, verify=verify, label=spec.name)
    return _read_files(spec, files), "files: " + ", ".join(str(p) for p in files.values())


# --------------------------------------------------------------------------- scaling


def _divisor(scale: object) -> float | None:
    if scale is True:
        return 255.0
    if scale is False or scale is None:
        return None
    if isinstance(scale, (int, float, np.number)) and float(scale) > 0 and np.isfinite(scale):
        return float(scale)
    raise InfolensError(
        f"scale={scale!r} is not supported; pass True (divide by 255 to [0, 1]), False (raw "
        "0..255, as the thesis) or a positive divisor such as 256 (nninfo)."
    )


def _scale(x: np.ndarray, divisor: float | None) -> torch.Tensor:
    t = torch.from_numpy(x).to(torch.float32)
    return t if divisor is None else t / divisor


def _scaling_text(divisor: float | None) -> str:
    if divisor is None:
        return "none: raw uint8 values 0..255 as float32 (thesis)"
    if divisor == 255.0:
        return "uint8 / 255 -> [0, 1]"
    return f"uint8 / {divisor:g} -> [0, {255.0 / divisor:.6g}]"


def _per_channel(name: str, value: object, channels: int) -> torch.Tensor:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.shape[0] not in (1, channels) or not np.all(np.isfinite(arr)):
        raise InfolensError(
            f"normalize {name} must be a number or {channels} numbers (one per channel), "
            f"got {value!r}."
        )
    return torch.from_numpy(np.broadcast_to(arr, (channels,)).copy())


def _channel_stats(raw: np.ndarray, divisor: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and population std (float64) of uint8 NC... data after scaling,
    exact: computed from each channel's histogram of the 256 byte values."""
    if raw.shape[0] == 0:
        raise InfolensError("normalize='train' needs a non-empty training split.")
    values = np.arange(256, dtype=np.float64) / (divisor or 1.0)
    means, stds = [], []
    for c in range(raw.shape[1]):
        counts = torch.bincount(torch.from_numpy(raw[:, c].reshape(-1)), minlength=256).numpy()
        counts = counts.astype(np.float64)
        p = counts / counts.sum()
        mean = float(p @ values)
        means.append(mean)
        stds.append(float(np.sqrt(p @ (values - mean) ** 2)))
    return torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)


def _normalize(
    normalize: object,
    xtr: torch.Tensor,
    xte: torch.Tensor,
    raw_train: np.ndarray,
    divisor: float | None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float], str]:
    channels = xtr.shape[1]
    lo, hi = 0.0, 255.0 / (divisor or 1.0)
    if isinstance(normalize, str):
        check_choice("normalize", normalize, ("train",))
        mean, std = _channel_stats(raw_train, divisor)
        origin = "per-channel training-split statistics"
    elif isinstance(normalize, (tuple, list)) and len(normalize) == 2:
        mean = _per_channel("mean", normalize[0], channels)
        std = _per_channel("std", normalize[1], channels)
        origin = "given"
    else:
        raise InfolensError(
            f"normalize={normalize!r} is not supported; pass (mean, std), e.g. (0.1307, 0.3081) "
            "for MNIST, per-channel sequences, or 'train' for per-channel training statistics."
        )
    if not bool((std > 0).all()):
        raise InfolensError(f"normalize std must be > 0, got {std.tolist()}.")
    shape = (1, channels) + (1,) * (xtr.ndim - 2)
    m32, s32 = mean.to(torch.float32).reshape(shape), std.to(torch.float32).reshape(shape)
    limits = (float(((lo - mean) / std).min()), float(((hi - mean) / std).max()))
    fmt = ", ".join
    text = (
        f", then (x - mean) / std per channel with mean=({fmt(f'{v:.6g}' for v in mean.tolist())}) "
        f"std=({fmt(f'{v:.6g}' for v in std.tolist())}) ({origin})"
    )
    return xtr.sub_(m32).div_(s32), xte.sub_(m32).div_(s32), limits, text


# --------------------------------------------------------------------------- public loaders


def _image_bundle(
    spec: _Spec,
    root: object,
    *,
    download: bool,
    scale: object,
    normalize: object,
    train_subset: str | None,
    subset_idx: int | None,
    verify: bool,
    flatten: bool,
) -> DatasetBundle:
    divisor = _divisor(scale)
    if train_subset is not None:
        check_choice("train_subset", train_subset, ("thesis",))
    elif subset_idx is not None:
        raise InfolensError(
            "subset_idx selects a thesis training subset; pass train_subset='thesis' with it."
        )
    (xtr, ytr, xte, yte), source = _raw(spec, root, download=download, verify=verify)
    rule = "standard train/test files, file order"
    if train_subset == "thesis":
        k = 0 if subset_idx is None else subset_idx
        per_class = yte.shape[0] // 10
        if per_class < 1:
            raise InfolensError(
                f"{spec.name}: the test set has {yte.shape[0]} samples, too few for a "
                "class-balanced subset of its size over 10 classes."
            )
        try:
            idx = class_balanced_subset(ytr, per_class, subset_idx=k, num_classes=10).numpy()
        except InfolensError as exc:
            raise InfolensError(f"{spec.name} thesis training subset: {exc}") from None
        xtr, ytr = xtr[idx], ytr[idx]
        rule = (
            f"thesis: class-balanced training subset k={k}, {per_class} per class (test size / 10), "
            f"within-class file-order ranks [{k * per_class}, {(k + 1) * per_class}), "
            f"{10 * per_class} in total; full test file"
        )
    Xtr, Xte = _scale(xtr, divisor), _scale(xte, divisor)
    lo, hi = 0.0, 255.0 / (divisor or 1.0)
    scaling = _scaling_text(divisor)
    limits: tuple[float, float] = (lo, hi)
    if normalize is not None:
        Xtr, Xte, limits, text = _normalize(normalize, Xtr, Xte, xtr, divisor)
        scaling += text
    return make_bundle(
        spec.name,
        (Xtr, torch.from_numpy(ytr)),
        (Xte, torch.from_numpy(yte)),
        num_classes=10,
        x_limits=limits,
        scaling=scaling,
        source=source,
        split_rule=rule,
        flatten=flatten,
    )


_IMAGE_DOC = """

    ``root``: a folder holding the files in torchvision's layout (``root/{sub}/``) or
    directly, or a pair ``(train_dataset, test_dataset)`` of torchvision dataset objects.
    Files: {files}. Missing files raise ``FileNotFoundError`` (``download=True`` fetches
    them with torchvision, an optional extra); corrupt or truncated files raise
    ``ValueError`` naming the file. ``verify=True`` checks the published MD5s.

    Returns a ``DatasetBundle``: X float32 NCHW {shape} ((N, D) with ``flatten=True``), y
    int64 in 0..9, train then test in file order. ``scale``: True divides by 255 to [0, 1]
    (default), False keeps the raw 0..255 values (the thesis), a number divides by it
    (256 gives nninfo's [0, 1)). ``normalize``: ``(mean, std)`` (numbers or per-channel
    sequences) or ``"train"`` (per-channel statistics of the returned training split),
    applied after scaling. ``train_subset="thesis"`` keeps a class-balanced training
    subset the size of the test set: ``subset_idx`` k takes within-class ranks
    [k·m, (k+1)·m), m = n_test // 10 (k = 0..{kmax} on the real files).
    """


def mnist(
    root: object = "data",
    *,
    download: bool = False,
    scale: bool | float = True,
    normalize: object = None,
    train_subset: str | None = None,
    subset_idx: int | None = None,
    verify: bool = False,
    flatten: bool = False,
) -> DatasetBundle:
    return _image_bundle(
        _MNIST, root, download=download, scale=scale, normalize=normalize,
        train_subset=train_subset, subset_idx=subset_idx, verify=verify, flatten=flatten,
    )


def fashion_mnist(
    root: object = "data",
    *,
    download: bool = False,
    scale: bool | float = True,
    normalize: object = None,
    train_subset: str | None = None,
    subset_idx: int | None = None,
    verify: bool = False,
    flatten: bool = False,
) -> DatasetBundle:
    return _image_bundle(
        _FASHION, root, download=download, scale=scale, normalize=normalize,
        train_subset=train_subset, subset_idx=subset_idx, verify=verify, flatten=flatten,
    )


def cifar10(
    root: object = "data",
    *,
    download: bool = False,
    scale: bool | float = True,
    normalize: object = None,
    train_subset: str | None = None,
    subset_idx: int | None = None,
    verify: bool = False,
    flatten: bool = False,
) -> DatasetBundle:
    return _image_bundle(
        _CIFAR, root, download=download, scale=scale, normalize=normalize,
        train_subset=train_subset, subset_idx=subset_idx, verify=verify, flatten=flatten,
    )


_idx_files = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)"
mnist.__doc__ = "MNIST (60 000 train / 10 000 test images of 1×28×28, 10 classes)." + _IMAGE_DOC.format(
    sub="MNIST/raw", files=_idx_files, shape="(N, 1, 28, 28)", kmax=4)
fashion_mnist.__doc__ = (
    "FashionMNIST (60 000 train / 10 000 test images of 1×28×28, 10 classes)."
    + _IMAGE_DOC.format(sub="FashionMNIST/raw", files=_idx_files, shape="(N, 1, 28, 28)", kmax=5)
)
cifar10.__doc__ = "CIFAR-10, python version (50 000 train / 10 000 test images of 3×32×32)." + _IMAGE_DOC.format(
    sub="cifar-10-batches-py",
    files="data_batch_1..data_batch_5 (train, in this order), test_batch",
    shape="(N, 3, 32, 32)",
    kmax=4,
)


def _resize_torch(x: torch.Tensor) -> torch.Tensor:
    out = []
    for lo in range(0, x.shape[0], 8192):
        out.append(
            torch.nn.functional.interpolate(
                x[lo : lo + 8192], size=(5, 5), mode="bilinear", align_corners=False, antialias=True
            )
        )
    return torch.cat(out) if out else x.new_empty((0, 1, 5, 5))


def _resize_skimage(x: torch.Tensor) -> torch.Tensor:
    try:
        from skimage.transform import resize as sk_resize
    except ImportError as exc:
        raise ImportError(
            "resize='skimage' needs scikit-image, which is not installed; pip install "
            "scikit-image, or use resize='torch'."
        ) from exc
    imgs = x[:, 0].numpy()
    out = np.stack([sk_resize(img, (5, 5)) for img in imgs]) if len(imgs) else np.zeros((0, 5, 5))
    return torch.from_numpy(np.asarray(out, dtype=np.float64))[:, None]


def deep_ei_mnist(
    root: object = "data",
    *,
    download: bool = False,
    resize: str = "torch",
    n_train: int = 25_000,
    verify: bool = False,
    flatten: bool = False,
) -> DatasetBundle:
    """deep-ei's 25-input MNIST: digits 0–4 resized to 5×5.

    The standard training file followed by the standard test file (file order), keeping
    digits 0–4 (30 596 + 5 139 = 35 735 samples on the real files); each image is scaled to
    [0, 1] (÷255), resized from 28×28 to 5×5 and flattened. The first ``n_train`` (25 000)
    samples are the training set, the rest (10 735) the test set. ``resize="torch"``
    (default): bilinear with anti-aliasing, ``align_corners=False``, computed in float64;
    ``resize="skimage"``: scikit-image's default ``resize`` as deep-ei used (needs
    scikit-image; not bit-identical to torch). ``root`` as for ``mnist``.

    Returns a ``DatasetBundle``: X float32 (N, 25) in [0, 1] (always flat, as deep-ei fed
    it; ``flatten`` is accepted for uniformity), y int64 in 0..4 (5 classes; deep-ei
    trained on ``one_hot(y, 5)``).
    """
    resize = check_choice("resize", resize, ("torch", "skimage"))
    n_train = check_positive_int("n_train", n_train)
    (xtr, ytr, xte, yte), source = _raw(_MNIST, root, download=download, verify=verify)
    x = np.concatenate([xtr, xte])
    y = np.concatenate([ytr, yte])
    keep = y < 5
    x, y = x[keep], y[keep]
    if n_train >= x.shape[0]:
        raise InfolensError(
            f"n_train={n_train} leaves no test samples: there are {x.shape[0]} images of digits "
            f"0-4; pass n_train < {x.shape[0]}."
        )
    scaled = torch.from_numpy(x).to(torch.float64) / 255.0
    small = _resize_torch(scaled) if resize == "torch" else _resize_skimage(scaled)
    X = small.clamp_(0.0, 1.0).to(torch.float32).reshape(-1, 25)
    Y = torch.from_numpy(y)
    how = (
        "torch bilinear, antialias=True, align_corners=False (float64)"
        if resize == "torch"
        else "skimage.transform.resize defaults (bilinear, Gaussian anti-aliasing, reflect)"
    )
    return make_bundle(
        "DeepEIMNIST",
        (X[:n_train], Y[:n_train]),
        (X[n_train:], Y[n_train:]),
        num_classes=5,
        x_limits=(0.0, 1.0),
        scaling=f"uint8 / 255 -> [0, 1], resized 28x28 -> 5x5 with {how}",
        source=source,
        split_rule=f"digits 0-4 of the training file then the test file (file order); first "
        f"{n_train} train, remaining {x.shape[0] - n_train} test",
        flatten=flatten,
    )


def _qmnist_test50k(files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    img_path = files["qmnist-test-images-idx3-ubyte"]
    lab_path = files["qmnist-test-labels-idx2-int"]
    x = _idx_images(img_path)
    lab = read_idx(lab_path)
    if lab.dtype != np.int32 or lab.ndim != 2 or lab.shape[1] != 8:
        raise ValueError(
            f"{lab_path}: expected int32 (type code 0x0C) labels of shape (N, 8), got {lab.dtype} "
            f"{lab.shape}."
        )
    y = lab[:, 0].astype(np.int64)
    _check_labels(y, x.shape[0], lab_path, img_path, 10)
    return x[-50_000:], y[-50_000:]


def mnist_extended(
    root: str | os.PathLike = "data",
    *,
    download: bool = False,
    scale: bool | float = 256,
    normalize: object = None,
    verify: bool = False,
    flatten: bool = False,
) -> DatasetBundle:
    """nninfo's extended MNIST (120 000 images): MNIST train, MNIST test, QMNIST test50k.

    The sequence is the MNIST training file (60 000), the MNIST test file (10 000) and the
    last 50 000 rows of QMNIST's test files (``qmnist-test-images-idx3-ubyte[.gz]``,
    ``qmnist-test-labels-idx2-int[.gz]``: int32 N×8, column 0 the digit; torchvision layout
    ``root/QMNIST/raw/``), split sequentially at the end of the MNIST training file: 60 000
    train, 60 000 test on the real files. Pixels are divided by 256 by default (nninfo,
    [0, 255/256]); ``scale`` and ``normalize`` as for ``mnist``. Missing or corrupt files
    raise as for ``mnist``.

    Returns a ``DatasetBundle``: X float32 (N, 1, 28, 28) ((N, 784) with ``flatten=True``),
    y int64 in 0..9.
    """
    divisor = _divisor(scale)
    if not isinstance(root, (str, os.PathLike)):
        raise InfolensError(
            "mnist_extended reads files; pass root as the folder holding the MNIST and QMNIST "
            "files."
        )
    folder = Path(root)
    mfiles = _locate(_MNIST, folder, download=download, verify=verify, label="MNIST")
    qfiles = _locate(
        _QMNIST, folder, download=download, verify=verify, label="QMNIST test files (for MNISTExtended)"
    )
    xtr, ytr, xte, yte = _read_files(_MNIST, mfiles)
    xq, yq = _qmnist_test50k(qfiles)
    Xtr = _scale(xtr, divisor)
    Xte = _scale(np.concatenate([xte, xq]), divisor)
    lo, hi = 0.0, 255.0 / (divisor or 1.0)
    limits: tuple[float, float] = (lo, hi)
    scaling = _scaling_text(divisor)
    if normalize is not None:
        Xtr, Xte, limits, text = _normalize(normalize, Xtr, Xte, xtr, divisor)
        scaling += text
    files: Sequence[Path] = [*mfiles.values(), *qfiles.values()]
    return make_bundle(
        "MNISTExtended",
        (Xtr, torch.from_numpy(ytr)),
        (Xte, torch.from_numpy(np.concatenate([yte, yq]))),
        num_classes=10,
        x_limits=limits,
        scaling=scaling,
        source="files: " + ", ".join(str(p) for p in files),
        split_rule=f"nninfo: MNIST train ({xtr.shape[0]}), MNIST test ({xte.shape[0]}), last "
        f"{xq.shape[0]} rows of QMNIST test, split sequentially into {xtr.shape[0]} train / "
        f"{xte.shape[0] + xq.shape[0]} test",
        flatten=flatten,
    )
