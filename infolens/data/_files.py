"""Readers of the standard dataset files: IDX (optionally gzipped) and CIFAR-10 batches.

Every reader validates what it reads and raises ``ValueError`` naming the file when the
file is corrupt or truncated. File lookup accepts torchvision's layout
(``root/<Dataset>/raw/`` or ``root/cifar-10-batches-py/``) and the files placed directly
in ``root``; a missing file raises ``FileNotFoundError`` saying what was expected where.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Published MD5 checksums (the files torchvision downloads). IDX sums are of the .gz files.
MD5 = {
    "MNIST": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "CIFAR10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "QMNIST": {
        "qmnist-test-images-idx3-ubyte.gz": "1394631089c404de565df7b7aeaf9412",
        "qmnist-test-labels-idx2-int.gz": "5b5b05890a5e13444e108efe57b788aa",
    },
}


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({exc}).") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``) and return it as a native-endian numpy array.

    The array has the file's dtype (type code 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64) and the shape its header states. Validates the magic number (two zero bytes, a known type code, at least one
    dimension), the header length and that the payload has exactly the size the header
    states. Raises ``ValueError`` naming the file otherwise.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(
            f"{path}: truncated IDX file ({len(raw)} bytes, shorter than the 4-byte magic number)."
        )
    z0, z1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if z0 != 0 or z1 != 0 or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number {raw[:4].hex()}; expected 0000 followed by "
            "a type code 08/09/0b/0c/0d/0e and the number of dimensions)."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header}).")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - header
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: IDX payload {what}: {payload} bytes, but the header's sizes "
            f"{'x'.join(map(str, dims))} need {expected}."
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler for CIFAR batches: only numpy array reconstruction is allowed.

    A CIFAR batch is a dict of lists, strings and one uint8 array; any other global in the
    pickle is refused, so a tampered file cannot run code. ``_codecs.encode`` is how
    Python 3 writes ``bytes`` at pickle protocols below 3.
    """

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "ndarray":
            return np.ndarray
        if name == "dtype":
            return np.dtype
        if module == "_codecs":
            return codecs.encode
        core = _numpy_core()
        return getattr(core.multiarray if name == "_reconstruct" else core.numeric, name)


def _numpy_core():
    try:
        import numpy._core as core  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        import numpy.core as core
    return core


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch (``data_batch_k`` or ``test_batch``).

    Keys may be ``str`` or ``bytes``. Returns ``(images, labels)``: uint8 of shape
    (N, 3, 32, 32) (the 3072 values per row are 1024 red, 1024 green, 1024 blue, each a
    row-major 32×32 image) and int64 of shape (N,). Only numpy arrays and plain Python
    values are unpickled; anything else, a truncated file or wrong sizes raise
    ``ValueError`` naming the file.
    """
    path = Path(path)
    try:
        obj = _BatchUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, struct.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated CIFAR-10 batch ({exc}).") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a CIFAR-10 batch (a pickled dict), got {type(obj).__name__}.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: CIFAR-10 batch without 'data' and 'labels' (keys {sorted(batch)}).")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(
            f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}."
        )
    if labels.shape != (data.shape[0],) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"{path}: 'labels' must be {data.shape[0]} integers, got {labels.dtype} {labels.shape}."
        )
    return data.reshape(-1, 3, 32, 32).copy(), labels.astype(np.int64)


def md5sum(path: str | Path) -> str:
    """Hex MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, table: dict[str, str]) -> None:
    """Compare ``path`` against its published MD5; ``ValueError`` naming the file if not equal."""
    expected = table.get(path.name)
    if expected is None:
        known = ", ".join(sorted(table))
        raise ValueError(
            f"{path}: no published MD5 for this file (published: {known}); keep the original "
            "downloaded files (the .gz archives for IDX) or pass verify=False."
        )
    actual = md5sum(path)
    if actual != expected:
        raise ValueError(
            f"{path}: MD5 {actual} does not match the published {expected}; the file is "
            "corrupt or a different version. Delete it and download again."
        )


def _describe(names: Sequence[str], gz: bool) -> str:
    return ", ".join(f"{n}[.gz]" if gz else n for n in names)


def find_files(
    root: Path, subdir: str, names: Sequence[str], *, gz: bool, prefer_gz: bool = False
) -> dict[str, Path] | None:
    """Locate ``names`` in ``root/subdir`` (torchvision's layout) or directly in ``root``.

    Each name may also exist with a ``.gz`` suffix when ``gz`` is true; the plain file is
    used when both exist unless ``prefer_gz``. Returns ``{name: path}`` from the first
    layout that holds every file, or ``None`` when neither does (call
    ``missing_error`` for the message).
    """
    for folder in (root / subdir, root):
        found: dict[str, Path] = {}
        for name in names:
            candidates = [folder / name]
            if gz:
                candidates = [folder / f"{name}.gz", folder / name] if prefer_gz else [
                    folder / name, folder / f"{name}.gz"]
            hit = next((c for c in candidates if c.is_file()), None)
            if hit is not None:
                found[name] = hit
        if len(found) == len(names):
            return found
    return None


def missing_error(
    dataset: str,
    root: Path,
    subdir: str,
    names: Sequence[str],
    *,
    gz: bool,
    hint: str = "Pass download=True to fetch them with torchvision (requires internet).",
) -> FileNotFoundError:
    """The ``FileNotFoundError`` for a dataset whose files are not all under ``root``."""
    folders = (root / subdir, root)
    partial = []
    for folder in folders:
        present = [n for n in names if (folder / n).is_file() or (gz and (folder / f"{n}.gz").is_file())]
        if present:
            absent = [n for n in names if n not in present]
            partial.append(f" '{folder}' has {', '.join(present)} but lacks {_describe(absent, gz)}.")
    return FileNotFoundError(
        f"{dataset} not found under '{root}': expected {_describe(names, gz)} in "
        f"'{folders[0]}' or '{folders[1]}'.{''.join(partial)} {hint}"
    )
