"""The common base of the model zoo: named blocks, measurement points, splits and fresh copies.

A :class:`ZooModel` is an ``nn.Sequential`` whose top-level children are named blocks

    layer_1, ..., layer_K, [output,] head

The output of child ``layer_k`` (after the block's final nonlinearity) is the measurement point
``"layer_k"``; ``output``, when present (CNNs), is the penultimate feature; ``head`` is the
classifier. Every measurement point is therefore both a module path and a top-level child, so
hooks (``"layer_2"``), :func:`infolens.decodable_information` (``split_at="layer_2"``) and
:meth:`ZooModel.split` all address the same representation.

Fresh heads for probes come from a newly constructed model with the same constructor arguments
under a seed (:meth:`ZooModel.fresh_copy`, :meth:`ZooModel.head_factory`), never from
``reset_parameters`` on a trained copy (spec geometry §2.3): model-specific init schemes and
parameters without ``reset_parameters`` (ConvNeXt's layer scale) are then initialised exactly as
in a new model.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from infolens._validation import InfolensError

__all__ = [
    "INPUT",
    "ZooModel",
    "activation_names",
    "count_parameters",
    "make_activation",
]

#: The split point whose representation is the raw input (l = 0), as in decodable_information.
INPUT = "input"
#: Name of the classifier block, always the last child.
HEAD = "head"
#: Name of the optional penultimate feature block (CNNs).
OUTPUT = "output"


# --------------------------------------------------------------------------------------
# Small shared validators
# --------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_shape(
    name: str, value: object, *, ndim: int | None = None, example: str = ""
) -> tuple[int, ...]:
    """Validate a per-sample shape (an int or a sequence of positive ints) and return a tuple.

    ``ndim`` fixes the number of dimensions (e.g. 3 for ``(channels, height, width)``).
    """
    if _is_int(value):
        value = (int(value),)
    hint = f"; pass e.g. {name}={example}" if example else ""
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not value
        or not all(_is_int(v) and int(v) >= 1 for v in value)
    ):
        raise InfolensError(
            f"{name} must be a nonempty tuple of positive integers (one sample's shape, without "
            f"the batch dimension), got {value!r}{hint}."
        )
    shape = tuple(int(v) for v in value)
    if ndim is not None and len(shape) != ndim:
        raise InfolensError(
            f"{name} must have {ndim} dimensions, got {shape} with {len(shape)}{hint}."
        )
    return shape


def check_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Validate an integer ``>= minimum`` (numpy integers accepted, bools rejected)."""
    if not _is_int(value) or int(value) < minimum:
        raise InfolensError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_widths(name: str, value: object, example: str = "(10, 7, 5)") -> tuple[int, ...]:
    """Validate a nonempty sequence of positive layer widths and return it as a tuple."""
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not value
        or not all(_is_int(v) and int(v) >= 1 for v in value)
    ):
        raise InfolensError(
            f"{name} must be a nonempty sequence of positive integers (one per hidden layer), "
            f"got {value!r}; pass e.g. {name}={example}."
        )
    return tuple(int(v) for v in value)


def check_bool(name: str, value: object) -> bool:
    """Validate a boolean flag."""
    if not isinstance(value, (bool, np.bool_)):
        raise InfolensError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


# --------------------------------------------------------------------------------------
# Activations by torch.nn class name
# --------------------------------------------------------------------------------------

_ACTIVATIONS: dict[str, type[nn.Module]] | None = None


def _activation_table() -> dict[str, type[nn.Module]]:
    """``{lower-case name: class}`` of torch.nn activation classes constructible without args."""
    global _ACTIVATIONS
    if _ACTIVATIONS is None:
        table: dict[str, type[nn.Module]] = {}
        for name in dir(nn):
            cls = getattr(nn, name)
            if not (
                isinstance(cls, type)
                and issubclass(cls, nn.Module)
                and cls.__module__ == "torch.nn.modules.activation"
            ):
                continue
            try:
                cls()
            except TypeError:  # needs arguments (Threshold, MultiheadAttention)
                continue
            table[name.lower()] = cls
        table["identity"] = nn.Identity  # no nonlinearity (a linear layer)
        _ACTIVATIONS = table
    return _ACTIVATIONS


def activation_names() -> list[str]:
    """The accepted nonlinearity names: torch.nn activation classes that take no arguments.

    These are the classes of ``torch.nn.modules.activation`` constructible without arguments,
    plus ``"Identity"`` (no nonlinearity).
    """
    return sorted(cls.__name__ for cls in _activation_table().values())


def _activation_class(name: object, arg: str) -> type[nn.Module]:
    cls = _activation_table().get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise InfolensError(
            f"{arg}={name!r} is not a torch.nn activation class name; use one of "
            f"{', '.join(activation_names())} (e.g. 'ReLU', 'Tanh', 'Sigmoid', 'GELU')."
        )
    return cls


def canonical_activation(name: object, arg: str = "nonlinearity") -> str:
    """The class name of activation ``name`` (matched case-insensitively), e.g. ``'relu'`` -> ``'ReLU'``."""
    return _activation_class(name, arg).__name__


def make_activation(name: str, arg: str = "nonlinearity") -> nn.Module:
    """A new instance of the torch.nn activation class ``name``, constructed without arguments.

    ``name`` is matched case-insensitively (``"relu"`` -> ``nn.ReLU()``); any other name raises
    an ``InfolensError`` that lists the accepted ones.
    """
    return _activation_class(name, arg)()


# --------------------------------------------------------------------------------------
# Parameters and config helpers
# --------------------------------------------------------------------------------------


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (shared parameters counted once).

    ``trainable_only=True`` counts only parameters with ``requires_grad``.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _plain(value: Any) -> Any:
    """A YAML-safe copy of a config value: tuples to lists, numpy scalars to Python scalars."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _flatten_sequential(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """Leaf children of nested plain ``nn.Sequential`` containers, in forward order."""
    if type(module) is not nn.Sequential:
        return [(prefix or "0", module)]
    items: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        items.extend(_flatten_sequential(child, f"{prefix}_{name}" if prefix else name))
    return items


# --------------------------------------------------------------------------------------
# The base class
# --------------------------------------------------------------------------------------


class ZooModel(nn.Sequential):
    """Base class of the model zoo: an ``nn.Sequential`` of named blocks.

    Children, in order: ``layer_1`` … ``layer_K`` (K >= 1), optionally ``output`` (the
    penultimate feature of CNNs) and ``head`` (the classifier). The output of each child but the
    head is a measurement point (:attr:`measurement_points`), addressable as a module path, a
    hook point and a ``split_at`` of :func:`infolens.decodable_information`.

    Subclasses build their blocks and call ``super().__init__(blocks, input_shape=...,
    num_classes=..., kwargs=...)`` with the keyword arguments they were constructed with, so
    that :attr:`config` and :meth:`fresh_copy` can rebuild them: ``type(self)(input_shape,
    num_classes, **kwargs)`` must construct an identical architecture.

    Slicing (``model[:2]``) returns a plain ``nn.Sequential`` of the selected named blocks
    (sharing their modules), not a ``ZooModel``.

    Attributes:
        name: the zoo name of the architecture (``"MLP"``, ``"CIFARNet"``, ...).
        input_shape: one sample's input shape, without the batch dimension.
        num_classes: number of classes C.
    """

    name: ClassVar[str] = "ZooModel"

    def __init__(
        self,
        blocks: Mapping[str, nn.Module],
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        kwargs: Mapping[str, Any],
    ) -> None:
        names = list(blocks)
        k = sum(1 for n in names if n not in (OUTPUT, HEAD))
        layers = [f"layer_{i}" for i in range(1, k + 1)]
        if k == 0 or names not in ([*layers, HEAD], [*layers, OUTPUT, HEAD]):
            raise InfolensError(
                f"ZooModel blocks must be named layer_1..layer_K (K >= 1), optionally 'output', "
                f"then 'head', in that order; got {names}."
            )
        super().__init__(OrderedDict(blocks))
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self._kwargs = dict(kwargs)

    # -- structure -------------------------------------------------------------------

    def __getitem__(self, idx):
        """Child ``idx``; a slice gives a plain ``nn.Sequential`` of the named blocks in it."""
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    @property
    def measurement_points(self) -> list[str]:
        """Names of the measurement points: ``["layer_1", ..., "layer_K"]`` plus ``"output"`` if any."""
        return [name for name in self._modules if name != HEAD]

    @property
    def num_layers(self) -> int:
        """K, the number of ``layer_k`` blocks."""
        return sum(1 for name in self._modules if name.startswith("layer_"))

    @property
    def split_points(self) -> list[str]:
        """Valid split points by name: ``"input"`` (l = 0) and every measurement point."""
        return [INPUT, *self.measurement_points]

    def _split_index(self, split_at: int | str) -> int:
        points = self.split_points
        if _is_int(split_at) and 0 <= int(split_at) < len(points):
            return int(split_at)
        if isinstance(split_at, str) and split_at in points:
            return points.index(split_at)
        raise InfolensError(
            f"split_at={split_at!r} is not a split point of {self.name}; pass an integer l in "
            f"0..{len(points) - 1} (the number of blocks in the encoder) or one of "
            f"{', '.join(repr(p) for p in points)}."
        )

    def split(self, split_at: int | str) -> tuple[nn.Sequential, nn.Sequential]:
        """``(encoder, decoder)`` with ``decoder(encoder(x)) == model(x)``.

        ``split_at`` is an integer ``l`` (the encoder is the first ``l`` blocks: ``l = 0`` gives
        an empty encoder, ``l = K`` ends at ``layer_K`` and ``l = K + 1`` at ``output`` when the
        model has one) or a split-point name (``"input"``, ``"layer_k"``, ``"output"``). Both
        parts are plain ``nn.Sequential`` views that share their modules with the model; copy
        and freeze the encoder (``copy.deepcopy(enc).eval().requires_grad_(False)``) for probes.
        """
        index = self._split_index(split_at)
        return self[:index], self[index:]

    # -- config and fresh copies --------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The constructor name and arguments as a YAML-safe dict (lists, not tuples).

        ``{"name": ..., "input_shape": [...], "num_classes": C, **kwargs}``; rebuild with
        :func:`infolens.models.model_from_config`.
        """
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            **_plain(self._kwargs),
        }

    def fresh_copy(self, seed: int) -> ZooModel:
        """A newly constructed model with the same constructor arguments, initialised under ``seed``.

        Runs the constructor inside ``torch.random.fork_rng`` after ``torch.manual_seed(seed)``
        (the caller's RNG state is untouched), so the result is the same for the same seed, on
        CPU, and equals ``torch.manual_seed(seed); build_model(**config)``. The copy is then moved
        to the device and floating dtype of this model's parameters; it is in training mode.
        """
        if not _is_int(seed):
            raise InfolensError(f"seed must be an integer, got {seed!r}.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            fresh = type(self)(self.input_shape, self.num_classes, **self._kwargs)
        ref = next(self.parameters(), None)
        if ref is not None:
            fresh = fresh.to(
                device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None
            )
        return fresh

    def head_factory(self, split_at: int | str, seed: int) -> nn.Sequential:
        """The freshly initialised rest of the network after ``split_at``, under ``seed``.

        The tail of :meth:`fresh_copy` ``(seed)`` after ``split_at`` (see :meth:`split`),
        returned as a plain ``nn.Sequential`` whose children are the tail's modules with nested
        plain ``nn.Sequential`` blocks unpacked (``layer_2`` → ``layer_2_0``, ``layer_2_1``, …).
        It computes the same function as ``split(split_at)[1]`` with fresh weights; unpacking lets
        Linear/activation tails run on :func:`infolens.decodable_information`'s batched-matmul
        path. Pass it as ``decodable_information(..., head_factory=model.head_factory)``.
        """
        index = self._split_index(split_at)
        tail = self.fresh_copy(seed)[index:]
        return nn.Sequential(OrderedDict(_flatten_sequential(tail)))

    # -- description --------------------------------------------------------------------

    def feature_shapes(
        self, input_shape: Sequence[int] | None = None
    ) -> dict[str, tuple[int, ...]]:
        """Per-sample output shape of the input and of every block, for ``input_shape``.

        Runs one forward pass on zeros (batch of 2, eval mode, no gradients; the training mode is
        restored). Keys: ``"input"``, the measurement points and ``"head"``. Another
        ``input_shape`` works for size-agnostic models (CIFARNet, ResNet, ConvNeXt); models whose
        Linear layers are sized for their input (MLPs, MNISTNet) raise ``InfolensError``.
        """
        shape = self.input_shape if input_shape is None else check_shape("input_shape", input_shape)
        ref = next(self.parameters(), None)
        kwargs = {} if ref is None else {"device": ref.device, "dtype": ref.dtype}
        x = torch.zeros((2, *shape), **kwargs)
        shapes = {INPUT: tuple(shape)}
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for name, block in self.named_children():
                    try:
                        x = block(x)
                    except RuntimeError as err:
                        raise InfolensError(
                            f"{self.name} built for input_shape={self.input_shape} cannot run on "
                            f"input_shape={tuple(shape)} (block {name!r} fails: {err}); build a "
                            "model for that shape."
                        ) from err
                    shapes[name] = tuple(x.shape[1:])
        finally:
            self.train(was_training)
        return shapes

    def describe(self, input_shape: Sequence[int] | None = None) -> str:
        """A table of the measurement points: output shape, width (features) and parameters.

        One row per block (``input``, ``layer_1`` … ``output``, ``head``) for ``input_shape``
        (default: the model's own).
        """
        shapes = self.feature_shapes(input_shape)
        rows = [("point", "shape", "width", "parameters")]
        for name, shape in shapes.items():
            params = "" if name == INPUT else f"{count_parameters(self.get_submodule(name)):,}"
            rows.append((name, str(shape), str(math.prod(shape)), params))
        cols = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            f"{self.name} ({', '.join(f'{k}={v}' for k, v in self.config.items() if k != 'name')})"
            f": {count_parameters(self):,} parameters"
        ]
        for r in rows:
            lines.append(
                f"  {r[0]:<{cols[0]}}  {r[1]:<{cols[1]}}  {r[2]:>{cols[2]}}  {r[3]:>{cols[3]}}".rstrip()
            )
        return "\n".join(lines)

    def extra_repr(self) -> str:
        """The constructor arguments, shown on the first line of the module's repr."""
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "name")
