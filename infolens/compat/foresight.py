"""Drop-in replacements for torch-foresight 0.1.2's public functions (``foresight.ei``).

Same names, argument order, defaults and return types as foresight, computed by infolens'
sparse weight-graph engine (:mod:`infolens.measures.weight_ei`) configured the foresight way:
exact-type dispatch on ``{Linear, Conv2d, AvgPool2d}``, ``Linear`` as plain ``weight.T``, and the
noise entropy averaged over all rows (dead rows included). All entropies are in bits.

Beware foresight's names (kept here for compatibility): :func:`determinism` returns the *noise
entropy* ``⟨H(W_out)⟩`` and :func:`degeneracy` the *effect entropy* ``H(⟨W_out⟩)``; each is
``log₂N`` minus the Hoel quantity of the same name, so a large foresight "determinism" means low
Hoel determinism. :func:`ei` is ``degeneracy() − determinism()``, numerically Hoel's EI (≥ 0).
New code should use :func:`infolens.measures.weight_ei.weight_ei`.

Differences from foresight, all fixes: Conv2d dilation and groups are honoured (foresight built
wrong matrices), AvgPool2d padding is supported, conv layers never densify (so real CNNs fit in
memory), and a NaN weight gives NaN instead of being hidden.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from infolens._validation import InfolensError
from infolens.measures import weight_ei as _wei
from infolens.nn.connectivity import LayerShape, _trace, skipped_modules
from infolens.nn.paths import module_path

__all__ = ["H", "degeneracy", "determinism", "ei", "get_shapes", "lin_norm", "sig_norm", "soft_norm"]


def H(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Shannon entropy ``−Σ x log₂ x`` along ``dim`` (bits), foresight's default ``dim=0``.

    ``0·log 0 = 0``; ``x`` is not checked to be a distribution. Same as
    :func:`infolens.measures.weight_ei.entropy` except for the default dimension.
    """
    return _wei.entropy(x, dim=dim)


def lin_norm(W: torch.Tensor) -> torch.Tensor:
    """Row-normalise ``max(W, 0)`` (dimensionless); all-zero/negative rows stay zero.

    Any 2-D shape (foresight's docstring says 2x2). See
    :func:`infolens.measures.weight_ei.lin_norm`.
    """
    return _wei.lin_norm(W)


def soft_norm(W: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of ``W`` (dimensionless); non-edges get weight ``e⁰ = 1``.

    See :func:`infolens.measures.weight_ei.soft_norm`.
    """
    return _wei.soft_norm(W)


def sig_norm(W: torch.Tensor) -> torch.Tensor:
    """``σ(W)`` divided by its row sums (dimensionless); non-edges get weight ``σ(0) = ½``.

    See :func:`infolens.measures.weight_ei.sig_norm`.
    """
    return _wei.sig_norm(W)


_NAMED = {
    lin_norm: "lin", _wei.lin_norm: "lin",
    soft_norm: "soft", _wei.soft_norm: "soft",
    sig_norm: "sig", _wei.sig_norm: "sig",
}


def _engine_norm(norm):
    if not norm:  # foresight: any falsy norm uses the raw matrix (not a distribution)
        return None
    if isinstance(norm, str) and norm in ("lin", "soft", "sig"):
        return norm
    if callable(norm):
        return _NAMED.get(norm, norm)
    raise InfolensError(
        f"norm must be lin_norm, soft_norm, sig_norm, another callable or None, got {norm!r}."
    )


def _batch_size(input) -> int:
    if isinstance(input, torch.Tensor):
        return int(input.shape[0]) if input.dim() else 1
    if isinstance(input, (tuple, list)) and input:
        return _batch_size(input[0])
    return 1


def get_shapes(model: nn.Module, input) -> dict[nn.Module, tuple[torch.Size, torch.Size]]:
    """``{module: (input_shape, output_shape)}`` of every Linear/Conv2d/AvgPool2d (exact types).

    Shapes include the batch dimension, as in foresight; from one forward pass on ``input`` (no
    gradients, model temporarily in eval mode, hooks removed afterwards). A module called twice
    keeps its last call.
    """
    records, _ = _trace(model, input, exact_types=True)
    b = _batch_size(input)
    return {r.module: (torch.Size((b, *r.in_shape)), torch.Size((b, *r.out_shape)))
            for r in records}


def _run(model, input, shapes, norm, device) -> _wei.WeightEIResult:
    if shapes is None and input is None:
        raise InfolensError("pass input= (a batch the model accepts) or shapes= (from get_shapes).")
    if shapes is None:
        shapes = get_shapes(model, input)
    if isinstance(shapes, dict):
        records = []
        for module, (in_shape, out_shape) in shapes.items():
            records.append(LayerShape(module_path(model, module), module,
                                      tuple(in_shape)[1:], tuple(out_shape)[1:]))
    else:
        records = list(shapes)
    skipped = skipped_modules(model, None, exact_types=True)
    _wei._warn_skipped(skipped, strict=False)
    return _wei._compute(records, _engine_norm(norm), convention="foresight", N=None,
                         device=device, chunk_edges=_wei.DEFAULT_CHUNK_EDGES, method="auto",
                         exact_types=True, linear_blocks=False, skipped=skipped)


def determinism(model: nn.Module, input=None, shapes=None, norm: Callable | None = lin_norm,
                device="cpu") -> float:
    """foresight's ``determinism``: the noise entropy ``⟨H(W_out)⟩`` in bits.

    The mean row entropy of the normalised connectivity over *all* rows of all layers, dead rows
    counting 0. (Hoel's determinism is ``log₂N`` minus this.) ``shapes`` is foresight's dict from
    :func:`get_shapes`; ``norm`` is ``lin_norm``, ``soft_norm``, ``sig_norm``, another callable
    (applied to each dense matrix) or ``None`` (raw weights, not a distribution).
    """
    return float(_run(model, input, shapes, norm, device).noise_all_rows)


def degeneracy(model: nn.Module, input=None, shapes=None, norm: Callable | None = lin_norm,
               device="cpu") -> float:
    """foresight's ``degeneracy``: the effect entropy ``H(⟨W_out⟩)`` in bits.

    The entropy of the normalised, concatenated column sums of all layers (0 if they sum to 0).
    (Hoel's degeneracy is ``log₂N`` minus this.) Arguments as in :func:`determinism`.
    """
    return float(_run(model, input, shapes, norm, device).effect)


def ei(model: nn.Module, input=None, shapes=None, norm: Callable | None = lin_norm,
       device="cpu") -> float:
    """foresight's ``ei``: ``degeneracy() − determinism()`` = effect − noise entropy, in bits.

    Numerically Hoel's EI with the noise averaged over all rows (foresight's docstring states
    the difference with the opposite sign; the value is this one, ≥ 0). Arguments as in
    :func:`determinism`.
    """
    res = _run(model, input, shapes, norm, device)
    return float(res.effect - res.noise_all_rows)
