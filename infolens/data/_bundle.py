"""The return types of every loader: a ``Split`` of tensors and a ``DatasetBundle`` of two."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from infolens._validation import InfolensError


@dataclass(frozen=True)
class Split:
    """One split of a dataset, held in memory.

    ``X`` is float32, either NCHW images or N×D rows; ``y`` is int64 class indices of
    length N. ``len(split)`` is N and ``split.tensors()`` is ``(X, y)``, ready for
    ``torch.utils.data.TensorDataset(*split.tensors())``.
    """

    X: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.X, torch.Tensor) or not isinstance(self.y, torch.Tensor):
            raise InfolensError(
                "Split needs torch tensors X and y; convert with torch.as_tensor first."
            )
        if self.X.dtype != torch.float32:
            raise InfolensError(
                f"Split.X must be float32, got {self.X.dtype}; pass X.float()."
            )
        if self.y.dtype != torch.int64:
            raise InfolensError(
                f"Split.y must hold int64 class indices, got {self.y.dtype}; pass y.long()."
            )
        if self.y.ndim != 1 or self.X.ndim < 1 or self.X.shape[0] != self.y.shape[0]:
            raise InfolensError(
                f"Split needs X of shape (N, ...) and y of shape (N,), got X {tuple(self.X.shape)}"
                f" and y {tuple(self.y.shape)}."
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(X, y)``."""
        return self.X, self.y


@dataclass(frozen=True)
class DatasetBundle:
    """A dataset with its train and test splits and the metadata measures need.

    - ``name``: canonical dataset name (as accepted by ``infolens.data.load``).
    - ``train``, ``test``: ``Split`` objects (float32 X, int64 y).
    - ``num_classes``: number of classes C; labels lie in ``0..C-1``.
    - ``input_shape``: per-sample shape of ``X`` (``(C, H, W)`` for images, ``(D,)`` flat).
    - ``x_limits``: ``(lo, hi)``, the range inputs can take after scaling, or ``"binary"``
      for inputs in {0, 1}; needed for binning and quantisation.
    - ``class_counts``: ``{"train": [...], "test": [...]}``, samples per class.
    - ``scaling``: exactly what was applied to the raw values.
    - ``source``: where the data came from (files read, generator, package).
    - ``split_rule``: how train and test were formed.
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    x_limits: tuple[float, float] | str
    class_counts: dict[str, list[int]]
    scaling: str
    source: str
    split_rule: str


def class_counts(y: torch.Tensor, num_classes: int) -> list[int]:
    """Samples per class of integer labels ``y`` as a list of length ``num_classes``."""
    return [int(c) for c in torch.bincount(y, minlength=num_classes)[:num_classes]]


def make_bundle(
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    num_classes: int,
    x_limits: tuple[float, float] | str,
    scaling: str,
    source: str,
    split_rule: str,
    flatten: bool = False,
) -> DatasetBundle:
    """Assemble a ``DatasetBundle``; ``flatten=True`` reshapes X to N×D in both splits."""
    if flatten:
        train = (train[0].reshape(train[0].shape[0], -1), train[1])
        test = (test[0].reshape(test[0].shape[0], -1), test[1])
    tr = Split(train[0].contiguous(), train[1].contiguous())
    te = Split(test[0].contiguous(), test[1].contiguous())
    if tuple(tr.X.shape[1:]) != tuple(te.X.shape[1:]):
        raise InfolensError(
            f"{name}: train and test samples differ in shape ({tuple(tr.X.shape[1:])} vs "
            f"{tuple(te.X.shape[1:])})."
        )
    if isinstance(x_limits, tuple):
        x_limits = (float(x_limits[0]), float(x_limits[1]))
    return DatasetBundle(
        name=name,
        train=tr,
        test=te,
        num_classes=int(num_classes),
        input_shape=tuple(int(s) for s in tr.X.shape[1:]),
        x_limits=x_limits,
        class_counts={
            "train": class_counts(tr.y, num_classes),
            "test": class_counts(te.y, num_classes),
        },
        scaling=scaling,
        source=source,
        split_rule=split_rule,
    )
