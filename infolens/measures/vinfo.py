r"""Decodable (𝒱-)information: sufficiency and minimality of a layer (DIB, Dubois et al. 2020).

For a predictive family 𝒱, :math:`I_\mathcal{V}(Z\to T) = H_\mathcal{V}(T\mid\varnothing) -
H_\mathcal{V}(T\mid Z)`: the empirical entropy of the target minus the cross-entropy of the best
decoder in 𝒱. Here 𝒱 is "what the rest of the network can compute": a freshly initialised copy of
the layers after the split point, trained on the frozen representation :math:`Z`. Values are in
**bits**: ``H_emp(T) − CE/ln 2`` with ``CE`` the mean cross-entropy in nats on the evaluation split
and ``H_emp`` the plug-in entropy of the targets on that split (not ``log2 C``). Values may be
negative (a decoder worse than the best constant) and are reported unclamped.

* **Sufficiency** ``I_𝒱(Z → Y)``: one head on the true labels (higher = more sufficient).
* **Minimality** ``Σ_d I_𝒱(Z → Ñ_d)`` (or the mean over digits): one head per base-C digit of the
  sample's within-class index, :func:`digit_labels` (lower = more minimal).

All heads of one split point train together as one batched module: their parameters are stacked
with :func:`torch.func.stack_module_state` and run with ``vmap(functional_call)``; the loss is the
sum of the heads' mean cross-entropies, and AdamW is elementwise, so the heads stay independent.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from infolens._validation import (
    InfolensError,
    check_choice,
    check_finite,
    check_positive_int,
)

__all__ = ["decodable_information", "digit_labels"]

INPUT = "input"  # the split point whose representation is the raw input (l = 0)
_REDUCTIONS = ("sum", "mean")


# --------------------------------------------------------------------------------------
# Nuisance labels: modified Algorithm 1
# --------------------------------------------------------------------------------------


def _num_digits(max_count: int, num_classes: int) -> int:
    """Smallest d >= 0 with ``num_classes**d >= max_count``, in integer arithmetic."""
    digits, power = 0, 1
    while power < max_count:
        power *= num_classes
        digits += 1
    return digits


def _within_class_index(labels: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``k_i``: the number of samples of the same class that come before ``i`` in ``positions`` order."""
    n = labels.numel()
    order = torch.argsort(labels * n + positions, stable=True)
    sorted_labels = labels[order]
    counts = torch.bincount(sorted_labels)
    starts = torch.cumsum(counts, 0) - counts
    k = torch.empty_like(labels)
    k[order] = torch.arange(n, device=labels.device) - starts[sorted_labels]
    return k


def _digits(k: torch.Tensor, num_classes: int, n_digits: int) -> torch.Tensor:
    powers = num_classes ** torch.arange(n_digits, device=k.device, dtype=torch.int64)
    return (k[:, None] // powers) % num_classes


def _check_labels(labels: object, num_classes: int, arg: str = "labels") -> torch.Tensor:
    if (
        not isinstance(labels, torch.Tensor)
        or labels.dim() != 1
        or labels.is_floating_point()
        or labels.is_complex()
        or labels.dtype == torch.bool
    ):
        raise InfolensError(f"{arg} must be a 1-D integer tensor of class indices; pass e.g. y.long().")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise InfolensError(
            f"{arg} must lie in [0, num_classes={num_classes}), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]; pass the right num_classes."
        )
    return labels.long()


def _make_digits(
    labels: torch.Tensor,
    num_classes: int,
    n_digits: int,
    permutations: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Digits for dataset order (``permutations=0``, shape (1, N, D)) or p random orders (p, N, D)."""
    n = labels.numel()
    if permutations == 0:
        orders = [torch.arange(n)]
    else:
        orders = [torch.randperm(n, generator=generator) for _ in range(permutations)]
    return torch.stack(
        [
            _digits(_within_class_index(labels, o.to(labels.device)), num_classes, n_digits)
            for o in orders
        ]
    )


def digit_labels(
    labels: torch.Tensor,
    num_classes: int,
    permutations: int = 0,
    seed: int | None = None,
) -> torch.Tensor:
    r"""Nuisance labels: the base-C digits of each sample's index within its class (modified Alg. 1).

    Sample ``i`` gets ``k_i`` = the number of earlier samples with the same label (so
    ``(y_i, k_i)`` identifies it), written in base ``C = num_classes`` with
    ``N_D`` = the smallest integer ``d >= 0`` with ``C**d >= max_c n_c`` digits (integer
    arithmetic, exact at powers of C). Column ``d`` is the digit of power ``C**d``
    (``d = 0`` least significant): ``⌊k_i / C^d⌋ mod C``, a value in ``[0, C)`` (dimensionless
    class indices, usable as targets of a C-way decoder).

    Parameters
    ----------
    labels:
        ``(N,)`` integer labels in ``[0, num_classes)``, in dataset order.
    num_classes:
        ``C >= 2``, the base.
    permutations:
        ``0`` (default): ``k_i`` counts in dataset order and the result has shape ``(N, N_D)``.
        ``p >= 1``: ``p`` independent uniformly random orders within each class; the result has
        shape ``(p, N, N_D)``.
    seed:
        Seed of the random orders (same seed, same digits); ``None`` uses torch's global RNG.

    Returns
    -------
    LongTensor of shape ``(N, N_D)`` (or ``(p, N, N_D)``).

    Example
    -------
    >>> y = torch.tensor([0, 0, 0, 1, 1, 3, 4, 4, 4, 4, 4, 4])
    >>> digit_labels(y, 5).T.tolist()
    [[0, 1, 2, 0, 1, 0, 0, 1, 2, 3, 4, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]
    """
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    permutations = check_positive_int("permutations", permutations, minimum=0)
    labels = _check_labels(labels, num_classes)
    n_digits = _num_digits(int(torch.bincount(labels).max()) if labels.numel() else 0, num_classes)
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    out = _make_digits(labels, num_classes, n_digits, permutations, generator)
    return out[0] if permutations == 0 else out


def _entropy_bits(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Plug-in entropy in bits of each row of ``targets`` (H, N) -> (H,)."""
    counts = torch.zeros(targets.shape[0], num_classes, dtype=torch.float64, device=targets.device)
    counts.scatter_add_(1, targets, torch.ones_like(targets, dtype=torch.float64))
    p = counts / targets.shape[1]
    logp = torch.where(p > 0, torch.log2(torch.where(p > 0, p, 1.0)), 0.0)
    return -(p * logp).sum(1)


# --------------------------------------------------------------------------------------
# Batched head training
# --------------------------------------------------------------------------------------


# parameter-free modules that act elementwise, so they apply unchanged to (heads, batch, F)
_ELEMENTWISE = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU,
    nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Softsign, nn.Hardtanh,
    nn.Hardswish, nn.Hardsigmoid, nn.Tanhshrink, nn.LogSigmoid,
)  # fmt: skip


def _vmap_forward(base: nn.Module) -> Callable:
    """Generic batched forward: ``vmap(functional_call)`` over the stacked parameters."""

    def call(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (params, buffers), (x,))

    return vmap(call, in_dims=(0, 0, None), randomness="different")


def _linear_plan(base: nn.Module, input_dim: int) -> list[tuple[str, Any]] | None:
    """Steps of a head made only of ``Linear`` layers and elementwise activations, else ``None``.

    Such a head (an ``nn.Sequential`` without buffers, optionally starting with
    ``Flatten()``, whose first ``Linear`` sees a 2-D input) runs as explicit batched matrix
    products instead of ``vmap``.
    """
    if type(base) is not nn.Sequential or next(base.buffers(), None) is not None:
        return None
    steps: list[tuple[str, Any]] = []
    dims = input_dim
    has_linear = False
    for name, module in base.named_children():
        if type(module) is nn.Linear:
            if dims != 2:
                return None
            steps.append(("linear", name))
            has_linear = True
        elif type(module) is nn.Flatten and not has_linear and (module.start_dim, module.end_dim) == (1, -1):
            steps.append(("apply", module))
            dims = min(dims, 2)
        elif type(module) in _ELEMENTWISE and next(module.parameters(), None) is None:
            steps.append(("apply", module))
        else:
            return None
    return steps if has_linear else None


def _linear_forward(steps: list[tuple[str, Any]]) -> Callable:
    """Batched forward of a Linear/elementwise head with explicit (b)mm; see :func:`_linear_plan`.

    The input ``x`` (B, F) is shared by all heads, so the first ``Linear`` of all H heads is one
    matrix product ``x @ [W_1; …; W_H]ᵀ`` (B × H·out, kept contiguous for the activations that
    follow); later ones are ``baddbmm`` over heads. Returns logits of shape (H, B, C), like the
    vmap path (possibly a transposed view).
    """

    def forward(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, F) while shared, then (B, H, F) after the first Linear or (H, B, F) later
        heads_first = None  # None: shared input; False: (B, H, F); True: (H, B, F)
        for kind, item in steps:
            if kind == "apply":
                h = item(h)
                continue
            weight, bias = params[f"{item}.weight"], params.get(f"{item}.bias")
            n_heads, out_features, in_features = weight.shape
            if heads_first is None:
                flat = weight.reshape(n_heads * out_features, in_features).T
                y = h @ flat if bias is None else torch.addmm(bias.reshape(-1), h, flat)
                h, heads_first = y.view(-1, n_heads, out_features), False
            else:
                per_head = h if heads_first else h.transpose(0, 1)
                if bias is None:
                    h = torch.bmm(per_head, weight.transpose(1, 2))
                else:
                    h = torch.baddbmm(bias.unsqueeze(1), per_head, weight.transpose(1, 2))
                heads_first = True
        return h if heads_first else h.transpose(0, 1)

    return forward


def _flat_logits(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H, B, C)`` logits and ``(H, B)`` targets as matching ``(H·B, C)`` / ``(H·B,)`` rows.

    A transposed view of contiguous ``(B, H, C)`` logits is flattened in (b, h) order without
    a copy (the targets are transposed to match).
    """
    if not logits.is_contiguous() and logits.transpose(0, 1).is_contiguous():
        return logits.transpose(0, 1).reshape(-1, logits.shape[-1]), targets.T.reshape(-1)
    return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)


def _fused_supported(params: Sequence[torch.Tensor]) -> bool:
    """Whether torch's fused AdamW kernel accepts these parameters (device and dtype)."""
    try:
        from torch.optim.optimizer import _device_dtype_check_for_fused
    except ImportError:  # pragma: no cover - older or newer torch without the helper
        return False
    try:
        for p in params:
            _device_dtype_check_for_fused(p)
    except RuntimeError:
        return False
    return True


def _adamw(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The heads' optimiser: AdamW, fused where the device supports it (else ``foreach``).

    Default betas and eps; elementwise, so stacked heads stay independent. The benchmark's
    sequential baseline builds its per-head optimisers with this function too.
    """
    params = list(params)
    flag = {"fused": True} if _fused_supported(params) else {"foreach": True}
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **flag)


def _loop_forward(base: nn.Module) -> Callable:
    """Batched forward as a loop of ``functional_call`` over the heads' slices of the stacks.

    For heads ``vmap`` cannot run: BatchNorm (running statistics are updated in place, here in
    the head's own slice of the stacked buffers) and custom autograd functions such as the
    quantizers' straight-through rounding. Each head still has its own parameters and buffers.
    """

    def forward(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        n_heads = next(iter(params.values())).shape[0]
        return torch.stack([
            functional_call(
                base,
                ({k: v[h] for k, v in params.items()}, {k: v[h] for k, v in buffers.items()}),
                (x,),
            )
            for h in range(n_heads)
        ])

    return forward


def _needs_loop(base: nn.Module) -> bool:
    """Whether ``base`` holds modules that ``vmap`` cannot batch (BatchNorm, quantizers)."""
    from infolens.nn.quantization import Quantizer

    return any(
        isinstance(m, (nn.modules.batchnorm._BatchNorm, Quantizer)) for m in base.modules()
    )


def _batched_forward(base: nn.Module, example: torch.Tensor, fast_path: bool = True) -> Callable:
    """``forward(params, buffers, x) -> (H, B, C)`` for the stacked heads of ``base``'s type.

    Linear/elementwise heads use explicit batched matrix products (``fast_path``); heads with
    BatchNorm or quantizers loop over the heads (:func:`_loop_forward`); any other head uses
    ``vmap(functional_call)``. All compute every head exactly as on its own.
    """
    steps = _linear_plan(base, example.dim()) if fast_path else None
    if steps is not None:
        return _linear_forward(steps)
    return _loop_forward(base) if _needs_loop(base) else _vmap_forward(base)


def _train_heads(
    heads: Sequence[nn.Module],
    z: torch.Tensor,
    targets: torch.Tensor,
    epochs: Sequence[int],
    *,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    fast_path: bool = True,
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Train ``len(heads)`` heads as one batched module; head ``h`` fits ``targets[h]``.

    One shuffled mini-batch order (seeded) is shared by all heads; the loss is the sum over heads
    of each head's mean cross-entropy (nats), optimised by AdamW on the stacked parameters.
    Head ``h`` is snapshot after ``epochs[h]`` epochs. Returns the stateless base module and the
    stacked snapshot parameters and buffers. ``fast_path=False`` forces the generic vmap path.
    """
    params, buffers = stack_module_state(list(heads))
    base = copy.deepcopy(heads[0]).to("meta")
    forward = _batched_forward(base, z, fast_path)
    optimiser = _adamw(params.values(), lr, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = z.shape[0]
    final = {name: p.detach().clone() for name, p in params.items()}
    ends = torch.tensor(list(epochs))
    base.train()
    for epoch in range(1, max(epochs, default=0) + 1):
        order = torch.randperm(n, generator=generator).to(z.device)
        for idx in order.split(batch_size):
            logits = forward(params, buffers, z[idx])  # (H, B, C)
            # Σ_h mean_b CE = (Σ_{h,b} CE) / B: each head gets exactly its own mean-CE gradient
            flat, flat_targets = _flat_logits(logits, targets[:, idx])
            loss = F.cross_entropy(flat, flat_targets, reduction="sum") / idx.numel()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        done = (ends == epoch).nonzero().flatten().tolist()
        if done:
            with torch.no_grad():
                for name, p in params.items():
                    final[name][done] = p[done]
    return base, final, buffers


@torch.no_grad()
def _evaluate_heads(
    base: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    z: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    fast_path: bool = True,
) -> torch.Tensor:
    """Mean cross-entropy (nats) of every head on its targets, heads in eval mode -> (H,)."""
    base.eval()
    forward = _batched_forward(base, z, fast_path)
    total = torch.zeros(targets.shape[0], dtype=torch.float64, device=z.device)
    for start in range(0, z.shape[0], batch_size):
        logits = forward(params, buffers, z[start : start + batch_size])
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets[:, start : start + batch_size].reshape(-1),
            reduction="none",
        )
        total += ce.view(targets.shape[0], -1).sum(1).double()
    return total / z.shape[0]


# --------------------------------------------------------------------------------------
# Splitting a model
# --------------------------------------------------------------------------------------


def split_points(model: nn.Module) -> list[str]:
    """Valid ``split_at`` values of an ``nn.Sequential``: ``"input"`` and every child but the last.

    Split point ``"input"`` is the raw input (l = 0); a child's name means the output of that
    top-level child. The last child is excluded because nothing would be left to decode with.
    """
    if not isinstance(model, nn.Sequential):
        raise InfolensError(
            f"decodable_information splits nn.Sequential models by a top-level child path; got "
            f"{type(model).__name__}. Wrap the model as nn.Sequential(block_1, ..., head)."
        )
    names = [name for name, _ in model.named_children()]
    return [INPUT, *names[:-1]]


def _split(model: nn.Sequential, split_at: str) -> tuple[nn.Module, nn.Module]:
    valid = split_points(model)
    if not isinstance(split_at, str) or split_at not in valid:
        shown = ", ".join(repr(v) for v in valid)
        raise InfolensError(
            f"split_at={split_at!r} is not a split point of the model; valid split points: {shown} "
            "(top-level child names, as strings)."
        )
    if split_at == INPUT:
        return nn.Sequential(), model
    index = valid.index(split_at)  # child index + 1
    return model[:index], model[index:]


def _fresh_heads(
    decoder: nn.Module,
    split_at: str,
    seeds: Sequence[int],
    head_factory: Callable[[str, int], nn.Module] | None,
    device: torch.device,
) -> list[nn.Module]:
    """Freshly initialised copies of ``decoder``, one per seed."""
    heads = []
    for head_seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(head_seed)
            if head_factory is not None:
                head = head_factory(split_at, head_seed)
            else:
                head = copy.deepcopy(decoder)
                for name, module in head.named_modules():
                    own = list(module.parameters(recurse=False))
                    if not own:
                        continue
                    if not hasattr(module, "reset_parameters"):
                        raise InfolensError(
                            f"split_at={split_at!r}: decoder module {name!r} "
                            f"({type(module).__name__}) has parameters but no reset_parameters(); "
                            "pass head_factory=lambda split_at, seed: <fresh decoder>."
                        )
                    module.reset_parameters()
        head = head.to(device)
        trained = [p.detach().to(device) for p in decoder.parameters()]
        fresh = [p.detach() for p in head.parameters()]
        if trained and len(fresh) == len(trained) and all(
            a.shape == b.shape and torch.equal(a, b) for a, b in zip(fresh, trained)
        ):
            raise InfolensError(
                f"split_at={split_at!r}: every head parameter equals the trained one; the "
                "decoder was not freshly initialised (check head_factory)."
            )
        head.requires_grad_(True)
        heads.append(head)
    return heads


# --------------------------------------------------------------------------------------
# Data handling
# --------------------------------------------------------------------------------------

Data = Any  # (X, y) tensors, a map-style Dataset, or an iterable of (x, y) batches


def _batches(data: Data, batch_size: int, arg: str) -> Iterable:
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(
        isinstance(t, torch.Tensor) for t in data
    ):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise InfolensError(
                f"{arg}: inputs have {x.shape[0]} samples but labels {y.shape[0]}; pass (X, y) of "
                "equal length."
            )
        return ((x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, x.shape[0], batch_size))
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, Iterable):
        return data
    raise InfolensError(
        f"{arg} must be an (X, y) pair of tensors, a Dataset, or an iterable of (x, y) batches; "
        f"got {type(data).__name__}."
    )


def _encode(encoder: nn.Module, data: Data, batch_size: int, device: torch.device, arg: str):
    """Run the frozen encoder over ``data`` once; returns (Z, y) with Z of shape (N, ...)."""
    zs, ys = [], []
    with torch.inference_mode():
        for batch in _batches(data, batch_size, arg):
            if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                raise InfolensError(f"{arg}: each batch must be (inputs, labels, ...).")
            x, y = batch[0], batch[1]
            zs.append(encoder(x.to(device)))
            ys.append(torch.as_tensor(y).to(device))
    if not zs:
        raise InfolensError(f"{arg} holds no samples; pass a non-empty split.")
    # concatenated outside inference mode: normal tensors, usable as inputs to training
    return torch.cat(zs), torch.cat(ys)


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def decodable_information(
    model: nn.Module,
    split_at: str | Sequence[str],
    data: Data,
    *,
    eval_data: Mapping[str, Data] | None = None,
    fit_split: str = "train",
    num_classes: int | None = None,
    epochs: int = 20,
    minimality_epochs: int | None = None,
    digit_reduction: str = "sum",
    permutations: int = 0,
    batch_size: int = 400,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    seed: int = 0,
    head_factory: Callable[[str, int], nn.Module] | None = None,
    per_head: bool = False,
) -> pd.DataFrame:
    r"""Decodable (𝒱-)information of a layer's representation about the label and the nuisance, in bits.

    For split point ``l``, ``Z = f^{l:1}(X)`` is the output of the frozen encoder (the model up to
    and including child ``split_at``, in ``eval()`` mode, run once over each split). Decoders are
    freshly re-initialised copies of the rest of the network, trained with AdamW on ``Z`` from
    ``data`` (the fit split) and evaluated, in eval mode with their weights at the end of their
    epoch budget, on each split of ``eval_data``. For each head, ``I = H_emp(T) − CE/ln 2`` bits,
    with ``CE`` the mean cross-entropy (nats) on the evaluation split and ``H_emp(T)`` the
    empirical entropy (bits) of the head's targets there.

    * ``kind="sufficiency"``: ``I_𝒱(Z → Y)``, one head on the labels (trained ``epochs`` epochs).
    * ``kind="minimality"``: ``Σ_d I_𝒱(Z → Ñ_d)`` (``digit_reduction="sum"``, Dubois) or the mean
      over digits (``"mean"``, the thesis), one head per digit of :func:`digit_labels`
      (``minimality_epochs`` epochs, default ``epochs``); averaged over ``permutations`` random
      within-class orders when ``permutations >= 1`` (``0``: dataset order). The digit count
      ``N_D`` comes from the fit split; evaluation splits use the same powers. ``N_D = 0`` gives 0.

    All heads of one split point are trained together as one batched module
    (``stack_module_state`` + ``vmap(functional_call)``), sharing one encoder pass and one
    mini-batch order; they remain mathematically independent.

    Splitting: ``model`` must be an ``nn.Sequential``; ``split_at`` is a top-level child name (the
    representation is that child's output) or ``"input"`` (the raw input), see :func:`split_points`.
    The decoder's output size must be at least ``num_classes``. Decoders are re-initialised with
    each module's ``reset_parameters()`` under a per-head seed, or built by
    ``head_factory(split_at, seed)``. Heads with BatchNorm or quantizers are trained by a loop
    over the heads (vmap cannot batch them), still each with its own parameters and buffers.

    Parameters
    ----------
    data:
        The fit split: an ``(X, y)`` pair of tensors, a map-style Dataset of ``(x, y)``, or an
        iterable of ``(x, y)`` batches (in a fixed order).
    eval_data:
        ``{split name: data}`` to evaluate on; default ``{fit_split: data}``.
    num_classes:
        ``C``; default ``max(y) + 1`` over the fit split.
    seed:
        Seeds head initialisation, mini-batch order and permutations (same seed, same numbers).
    per_head:
        Also return one row per minimality head (``kind="minimality_digit"``, with ``digit`` =
        the power d and ``permutation``).

    Returns
    -------
    pandas.DataFrame with columns ``split_at, kind, fit_split, eval_split, value`` (bits),
    ``probe_loss`` (CE in nats, reduced over digits like ``value``), ``entropy`` (bits, reduced
    likewise), ``epochs``, ``n_heads``, ``digit``, ``permutation``.

    Example
    -------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x, y = torch.randn(90, 2), torch.arange(90) % 3
    >>> df = decodable_information(model, "1", (x, y), epochs=2, batch_size=30)
    >>> df[["split_at", "kind", "eval_split", "n_heads"]].values.tolist()
    [['1', 'sufficiency', 'train', 1], ['1', 'minimality', 'train', 4]]
    """
    epochs = check_positive_int("epochs", epochs, minimum=1)
    minimality_epochs = (
        epochs
        if minimality_epochs is None
        else check_positive_int("minimality_epochs", minimality_epochs, minimum=1)
    )
    batch_size = check_positive_int("batch_size", batch_size, minimum=1)
    permutations = check_positive_int("permutations", permutations, minimum=0)
    digit_reduction = check_choice("digit_reduction", digit_reduction, _REDUCTIONS)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InfolensError(f"lr must be a positive number, got {lr!r}.")
    if isinstance(split_at, str) or not isinstance(split_at, Sequence):
        points = [split_at]
    else:
        points = list(split_at)
    valid = split_points(model)
    for point in points:
        _split(model, point)  # validates every split point before any work
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    eval_sets = dict(eval_data) if eval_data is not None else {fit_split: data}
    if not eval_sets:
        raise InfolensError("eval_data is empty; pass {split name: data} or None.")

    rows: list[dict] = []
    was_training = model.training
    model.eval()
    try:
        for point in points:
            rows.extend(
                _one_split_point(
                    model, point, data, eval_sets, fit_split, num_classes, epochs,
                    minimality_epochs, digit_reduction, permutations, batch_size, float(lr),
                    float(weight_decay), int(seed) + 7919 * valid.index(point), head_factory,
                    per_head, device,
                )
            )  # fmt: skip
    finally:
        model.train(was_training)
    columns = [
        "split_at", "kind", "fit_split", "eval_split", "value", "probe_loss", "entropy",
        "epochs", "n_heads", "digit", "permutation",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _one_split_point(
    model, point, data, eval_sets, fit_split, num_classes, epochs, minimality_epochs,
    digit_reduction, permutations, batch_size, lr, weight_decay, seed, head_factory, per_head,
    device,
) -> list[dict]:  # fmt: skip
    encoder, decoder = _split(model, point)
    z, y = _encode(encoder, data, batch_size, device, "data")
    check_finite(f"representation at split_at={point!r} (fit split)", z)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.numel() else 0
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    y = _check_labels(y, num_classes, "labels of data")
    n_digits = _num_digits(int(torch.bincount(y).max()), num_classes)
    generator = torch.Generator().manual_seed(seed)
    n_perm = max(permutations, 1) if n_digits else 0
    digits = _make_digits(y, num_classes, n_digits, permutations, generator) if n_digits else None

    # targets (H, N): row 0 = labels, then digit d of permutation r at 1 + r*n_digits + d
    rows_t = [y]
    if digits is not None:
        rows_t += [digits[r, :, d] for r in range(n_perm) for d in range(n_digits)]
    targets = torch.stack(rows_t)
    head_epochs = [epochs] + [minimality_epochs] * (targets.shape[0] - 1)
    seed_gen = torch.Generator().manual_seed(seed)
    head_seeds = torch.randint(0, 2**62, (targets.shape[0],), generator=seed_gen).tolist()
    heads = _fresh_heads(decoder, point, head_seeds, head_factory, device)
    with torch.no_grad():
        out = heads[0].eval()(z[:1])
    for head in heads:
        head.train()  # one mode for stack_module_state; the base module's mode is set per phase
    if out.dim() != 2 or out.shape[1] < num_classes:
        raise InfolensError(
            f"split_at={point!r}: the decoder outputs shape {tuple(out.shape[1:])} per sample; it "
            f"must output at least num_classes={num_classes} logits."
        )
    base, params, buffers = _train_heads(
        heads, z, targets, head_epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, seed=seed,
    )  # fmt: skip
    del heads

    reduce = (lambda t: t.sum()) if digit_reduction == "sum" else (lambda t: t.mean())
    records: list[dict] = []
    for split_name, split_data in eval_sets.items():
        if split_data is data:
            z_e, y_e, digits_e = z, y, digits
        else:
            z_e, y_e = _encode(encoder, split_data, batch_size, device, f"eval_data[{split_name!r}]")
            check_finite(f"representation at split_at={point!r} ({split_name} split)", z_e)
            y_e = _check_labels(y_e, num_classes, f"labels of eval_data[{split_name!r}]")
            digits_e = (
                _make_digits(y_e, num_classes, n_digits, permutations, generator) if n_digits else None
            )
        rows_e = [y_e]
        if digits_e is not None:
            rows_e += [digits_e[r, :, d] for r in range(n_perm) for d in range(n_digits)]
        targets_e = torch.stack(rows_e)
        ce = _evaluate_heads(base, params, buffers, z_e, targets_e, batch_size)
        entropy = _entropy_bits(targets_e, num_classes)
        info = entropy - ce / math.log(2)
        common = {"split_at": point, "fit_split": fit_split, "eval_split": split_name}
        records.append({
            **common, "kind": "sufficiency", "value": float(info[0]), "probe_loss": float(ce[0]),
            "entropy": float(entropy[0]), "epochs": epochs, "n_heads": 1, "digit": pd.NA,
            "permutation": pd.NA,
        })  # fmt: skip
        if n_digits:
            per = lambda t: t[1:].view(n_perm, n_digits)  # noqa: E731
            value = torch.stack([reduce(r) for r in per(info)]).mean()
            loss = torch.stack([reduce(r) for r in per(ce)]).mean()
            ent = torch.stack([reduce(r) for r in per(entropy)]).mean()
        else:
            value = loss = ent = torch.tensor(0.0)
        records.append({
            **common, "kind": "minimality", "value": float(value), "probe_loss": float(loss),
            "entropy": float(ent), "epochs": minimality_epochs, "n_heads": n_perm * n_digits,
            "digit": pd.NA, "permutation": pd.NA,
        })  # fmt: skip
        if per_head:
            for r in range(n_perm):
                for d in range(n_digits):
                    h = 1 + r * n_digits + d
                    records.append({
                        **common, "kind": "minimality_digit", "value": float(info[h]),
                        "probe_loss": float(ce[h]), "entropy": float(entropy[h]),
                        "epochs": minimality_epochs, "n_heads": 1, "digit": d, "permutation": r,
                    })  # fmt: skip
    return records
