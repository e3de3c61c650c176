"""Decodable (𝒱-)information: nuisance digits, batched heads, information properties, bad input."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infolens._validation import InfolensError
from infolens.measures.vinfo import (
    _adamw,
    _entropy_bits,
    _evaluate_heads,
    _fresh_heads,
    _linear_plan,
    _train_heads,
    decodable_information,
    digit_labels,
    split_points,
)

# Worked example of the geometry spec, §2.2 (numbers copied here on purpose).
WORKED_LABELS = [0, 0, 0, 1, 1, 3, 4, 4, 4, 4, 4, 4]
WORKED_DIGIT0 = [0, 1, 2, 0, 1, 0, 0, 1, 2, 3, 4, 0]
WORKED_DIGIT1 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
WORKED_H_Y, WORKED_H_N0, WORKED_H_N1 = 1.7296, 2.0546, 0.4138


# ---------------------------------------------------------------- digit labels


def test_digit_labels_reproduce_the_worked_example():
    y = torch.tensor(WORKED_LABELS)
    digits = digit_labels(y, num_classes=5)
    assert digits.dtype == torch.long
    assert tuple(digits.shape) == (12, 2)
    assert digits[:, 0].tolist() == WORKED_DIGIT0
    assert digits[:, 1].tolist() == WORKED_DIGIT1
    entropies = _entropy_bits(torch.stack([y, digits[:, 0], digits[:, 1]]), 5)
    assert entropies.tolist() == pytest.approx([WORKED_H_Y, WORKED_H_N0, WORKED_H_N1], abs=1e-4)
    assert all(h < math.log2(5) for h in entropies.tolist())


@pytest.mark.parametrize(
    ("num_classes", "max_count", "n_digits"),
    [
        (5, 125, 3),  # exact power: a float ceil(log_5 125) gives 4
        (5, 126, 4),
        (5, 25, 2),
        (5, 5, 1),
        (5, 6, 2),
        (5, 1, 0),
        (2, 2048, 11),
        (2, 2118, 12),  # SZT
        (10, 1000, 3),  # a balanced 1000-per-class subset
        (10, 1135, 4),  # MNIST test
        (3, 243, 5),
    ],
)
def test_number_of_digits_uses_integer_arithmetic(num_classes, max_count, n_digits):
    y = torch.cat([torch.zeros(max_count, dtype=torch.long), torch.ones(1, dtype=torch.long)])
    digits = digit_labels(y, num_classes)
    assert digits.shape == (max_count + 1, n_digits)
    if n_digits:
        assert int(digits[:max_count, -1].max()) > 0  # the leading digit is used
        assert int(digits.max()) < num_classes


def within_class_index(labels: torch.Tensor) -> list[int]:
    seen: dict[int, int] = {}
    out = []
    for label in labels.tolist():
        out.append(seen.get(label, 0))
        seen[label] = out[-1] + 1
    return out


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=80),
    num_classes=st.integers(4, 6),
)
def test_digits_encode_the_within_class_index(labels, num_classes):
    y = torch.tensor(labels)
    digits = digit_labels(y, num_classes)
    powers = num_classes ** torch.arange(digits.shape[1])
    assert (digits * powers).sum(1).tolist() == within_class_index(y)
    assert ((digits >= 0) & (digits < num_classes)).all()
    assert num_classes ** digits.shape[1] >= max(torch.bincount(y).tolist())


def test_permutations_are_seeded_random_within_class_orders():
    y = torch.tensor([0, 1, 2] * 30)
    a = digit_labels(y, 3, permutations=4, seed=0)
    assert tuple(a.shape) == (4, 90, 4)  # 3^3 = 27 < 30 <= 81
    assert torch.equal(a, digit_labels(y, 3, permutations=4, seed=0))
    assert not torch.equal(a, digit_labels(y, 3, permutations=4, seed=1))
    powers = 3 ** torch.arange(4)
    for r in range(4):
        k = (a[r] * powers).sum(1)
        for c in range(3):
            assert sorted(k[y == c].tolist()) == list(range(30))  # a permutation of 0..n_c-1
    assert not torch.equal(a[0], a[1])


def test_digit_labels_bad_input():
    with pytest.raises(InfolensError, match=r"\[0, num_classes=3\)"):
        digit_labels(torch.tensor([0, 3]), 3)
    with pytest.raises(InfolensError, match="integer"):
        digit_labels(torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(InfolensError, match="num_classes"):
        digit_labels(torch.tensor([0, 0]), 1)


# ---------------------------------------------------------------- batched heads


def tiny_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()


def test_batched_heads_equal_separate_trainings():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 3, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 4, (3, 50), generator=g)
    heads = [tiny_mlp(s) for s in (1, 2, 3)]
    budgets = [2, 4, 4]
    kwargs = {"batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "seed": 5}
    _, batched, _ = _train_heads(
        [copy.deepcopy(h) for h in heads], z, targets, budgets, **kwargs
    )
    for h, head in enumerate(heads):
        _, alone, _ = _train_heads(
            [copy.deepcopy(head)], z, targets[h : h + 1], budgets[h : h + 1], **kwargs
        )
        for name in alone:
            torch.testing.assert_close(batched[name][h], alone[name][0], rtol=1e-12, atol=1e-12)
        # and training moved the weights
        assert not torch.equal(alone["0.weight"][0], head[0].weight)


def plain_training(head, z, target, epochs, *, batch_size, lr, weight_decay, seed):
    """One head trained the ordinary way: nn.Module forward, mean CE, AdamW, same batch order."""
    head = copy.deepcopy(head)
    optimiser = _adamw(head.parameters(), lr, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(z.shape[0], generator=generator)
        for idx in order.split(batch_size):
            loss = nn.functional.cross_entropy(head(z[idx]), target[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return head


HEAD_SHAPES = {
    "linear": lambda: nn.Sequential(nn.Linear(3, 4)),
    "mlp": lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4)),
    "no_bias": lambda: nn.Sequential(nn.Linear(3, 5, bias=False), nn.GELU(), nn.Linear(5, 4, bias=False)),
    "flatten_first": lambda: nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(3, 4)),
}


@pytest.mark.parametrize("shape", sorted(HEAD_SHAPES))
def test_fast_path_equals_vmap_and_ordinary_training(shape):
    # The explicit batched-matmul path, the generic vmap path and heads trained one by one with
    # an ordinary nn.Module loop all agree (float64).
    g = torch.Generator().manual_seed(0)
    z = torch.randn(45, 3, generator=g, dtype=torch.float64)
    if shape == "flatten_first":
        z = z.view(45, 3, 1)
    targets = torch.randint(0, 4, (3, 45), generator=g)
    heads = []
    for s in (1, 2, 3):
        torch.manual_seed(s)
        heads.append(HEAD_SHAPES[shape]().double())
    assert _linear_plan(heads[0], z.dim()) is not None
    kwargs = {"batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "seed": 5}
    base, fast, buffers = _train_heads([copy.deepcopy(h) for h in heads], z, targets, [3] * 3, **kwargs)
    _, generic, _ = _train_heads(
        [copy.deepcopy(h) for h in heads], z, targets, [3] * 3, fast_path=False, **kwargs
    )
    for name in fast:
        torch.testing.assert_close(fast[name], generic[name], rtol=1e-12, atol=1e-12)
    ce = _evaluate_heads(base, fast, buffers, z, targets, batch_size=7)
    ce_generic = _evaluate_heads(base, fast, buffers, z, targets, batch_size=7, fast_path=False)
    torch.testing.assert_close(ce, ce_generic, rtol=1e-12, atol=1e-12)
    for h, head in enumerate(heads):
        alone = plain_training(head, z, targets[h], 3, **kwargs)
        for name, p in alone.named_parameters():
            torch.testing.assert_close(fast[name][h], p.detach(), rtol=1e-12, atol=1e-12)
        with torch.no_grad():
            expected = nn.functional.cross_entropy(alone(z), targets[h])
        torch.testing.assert_close(ce[h], expected, rtol=1e-12, atol=1e-12)
        assert not torch.equal(alone[-1].weight, head[-1].weight)  # training moved the weights


def test_other_heads_use_the_generic_path_and_stay_independent():
    assert _linear_plan(nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), nn.Linear(4, 4)), 2) is None
    assert _linear_plan(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 4)), 2) is None
    assert _linear_plan(nn.Linear(3, 4), 2) is None  # not a Sequential
    assert _linear_plan(nn.Sequential(nn.Linear(3, 4)), 3) is None  # Linear over a 3-D input
    assert _linear_plan(nn.Sequential(nn.Linear(3, 4), nn.Flatten(), nn.Linear(4, 4)), 2) is None
    assert _linear_plan(nn.Sequential(nn.ReLU()), 2) is None  # no Linear: nothing to stack
    g = torch.Generator().manual_seed(1)
    z = torch.randn(30, 3, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 4, (2, 30), generator=g)
    heads = []
    for s in (1, 2):
        torch.manual_seed(s)
        heads.append(nn.Sequential(nn.Linear(3, 5), nn.LayerNorm(5), nn.Linear(5, 4)).double())
    kwargs = {"batch_size": 8, "lr": 0.01, "weight_decay": 0.0, "seed": 2}
    _, batched, _ = _train_heads([copy.deepcopy(h) for h in heads], z, targets, [2, 2], **kwargs)
    for h, head in enumerate(heads):
        alone = plain_training(head, z, targets[h], 2, **kwargs)
        for name, p in alone.named_parameters():
            torch.testing.assert_close(batched[name][h], p.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["batchnorm", "quantized"])
def test_heads_vmap_cannot_run_loop_and_equal_ordinary_training(kind):
    # BatchNorm (running statistics updated in each head's own buffers) and straight-through
    # quantizers (custom autograd functions) take the loop path; each head still trains and
    # evaluates exactly as on its own, running statistics included.
    from infolens.nn.quantization import Quantizer

    g = torch.Generator().manual_seed(3)
    z = torch.randn(40, 3, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 4, (2, 40), generator=g)

    def make():
        if kind == "batchnorm":
            return nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 4))
        return nn.Sequential(
            nn.Linear(3, 5), nn.Tanh(), Quantizer(8, (-1, 1), mode="nearest"), nn.Linear(5, 4)
        )

    heads = []
    for s in (1, 2):
        torch.manual_seed(s)
        heads.append(make().double())
    kwargs = {"batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "seed": 4}
    base, batched, buffers = _train_heads([copy.deepcopy(h) for h in heads], z, targets, [2, 2], **kwargs)
    ce = _evaluate_heads(base, batched, buffers, z, targets, batch_size=9)
    for h, head in enumerate(heads):
        alone = plain_training(head, z, targets[h], 2, **kwargs)
        for name, p in alone.named_parameters():
            torch.testing.assert_close(batched[name][h], p.detach(), rtol=1e-12, atol=1e-12)
        for name, b in alone.named_buffers():
            torch.testing.assert_close(buffers[name][h], b, rtol=1e-12, atol=1e-12)
        alone.eval()
        with torch.no_grad():
            expected = nn.functional.cross_entropy(alone(z), targets[h])
        torch.testing.assert_close(ce[h], expected, rtol=1e-12, atol=1e-12)
    x, y = blobs(60, seed=1)
    model = nn.Sequential(OrderedDict(enc=nn.Linear(2, 3), bn=nn.BatchNorm1d(3), head=nn.Linear(3, 4)))
    table = decodable_information(model, "enc", (x, y), epochs=2)
    assert table["value"].map(math.isfinite).all()


def test_fresh_heads_are_reinitialised_and_checked():
    decoder = nn.Sequential(nn.Linear(3, 4))
    heads = _fresh_heads(decoder, "enc", [1, 2], None, torch.device("cpu"))
    assert not torch.equal(heads[0][0].weight, heads[1][0].weight)
    assert not torch.equal(heads[0][0].weight, decoder[0].weight)
    again = _fresh_heads(decoder, "enc", [1], None, torch.device("cpu"))
    assert torch.equal(again[0][0].weight, heads[0][0].weight)  # per-head seeds
    with pytest.raises(InfolensError, match="not freshly initialised"):
        _fresh_heads(decoder, "enc", [1], lambda s, seed: copy.deepcopy(decoder), torch.device("cpu"))


# ---------------------------------------------------------------- information properties


CENTRES = torch.tensor([[4.0, 4.0], [4.0, -4.0], [-4.0, 4.0], [-4.0, -4.0]])
FAST = {"lr": 0.05, "batch_size": 100, "epochs": 15}


def blobs(n: int, seed: int, noise: float = 0.5):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    return CENTRES[y] + noise * torch.randn(n, 2, generator=g), y


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(enc=nn.Identity(), head=nn.Linear(2, 4)))


def value(df: pd.DataFrame, kind: str, split: str) -> float:
    row = df[(df.kind == kind) & (df.eval_split == split)]
    assert len(row) == 1
    return float(row.value.iloc[0])


def test_separable_balanced_problem_gives_log2_c_and_shuffling_lowers_it():
    x, y = blobs(400, seed=0)
    x_test, y_test = blobs(400, seed=1)
    evals = {"train": (x, y), "test": (x_test, y_test)}
    df = decodable_information(linear_model(), "enc", (x, y), eval_data=evals, **FAST)
    for split in ("train", "test"):
        v = value(df, "sufficiency", split)
        assert math.log2(4) - 0.05 < v <= math.log2(4) + 1e-9
    suff = df[df.kind == "sufficiency"]
    assert (suff.entropy == 2.0).all() and (suff.probe_loss < 0.035).all()

    y_shuffled = y[torch.randperm(400, generator=torch.Generator().manual_seed(3))]
    shuffled = decodable_information(
        linear_model(), "enc", (x, y_shuffled),
        eval_data={"test": (x_test, y_shuffled)}, **FAST,
    )  # fmt: skip
    assert value(shuffled, "sufficiency", "test") < value(df, "sufficiency", "test") - 1.5


def test_representation_independent_of_labels_gives_about_zero():
    g = torch.Generator().manual_seed(0)
    x, x_test = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    y = torch.randint(0, 4, (1000,), generator=g)
    y_test = torch.randint(0, 4, (1000,), generator=g)
    df = decodable_information(
        linear_model(), "enc", (x, y), eval_data={"test": (x_test, y_test)}, **FAST
    )
    assert abs(value(df, "sufficiency", "test")) < 0.03


def test_minimality_low_for_class_only_codes_high_for_memorising_codes():
    # Balanced classes: a code holding only the class says nothing about within-class digits.
    n, c = 128, 2
    y = torch.arange(n) % c
    class_code = torch.eye(c, n)[y]
    g = torch.Generator().manual_seed(0)
    memorising = torch.randn(n, n, generator=g)  # n points in general position in R^n
    model = nn.Sequential(OrderedDict(enc=nn.Identity(), head=nn.Linear(n, c)))
    kwargs = {"lr": 0.1, "batch_size": n, "epochs": 150, "per_head": True}
    low = decodable_information(model, "enc", (class_code, y), **kwargs)
    high = decodable_information(model, "enc", (memorising, y), **kwargs)
    n_digits = 6  # 2^6 = 64 = n_c
    assert int(low[low.kind == "minimality"].n_heads.iloc[0]) == n_digits
    assert abs(value(low, "minimality", "train")) < 0.05
    assert value(high, "minimality", "train") > 4.0  # of at most 6 bits (sum over digits)
    # the sum row is the sum of the per-digit rows
    digits = high[high.kind == "minimality_digit"]
    assert sorted(digits.digit.tolist()) == list(range(n_digits))
    assert value(high, "minimality", "train") == pytest.approx(digits.value.sum(), rel=1e-9)


def test_mean_reduction_and_permutations():
    x, y = blobs(60, seed=0)
    common = {"lr": 0.05, "batch_size": 30, "epochs": 2, "per_head": True}
    mean_df = decodable_information(linear_model(), "enc", (x, y), digit_reduction="mean", **common)
    digits = mean_df[mean_df.kind == "minimality_digit"]
    assert value(mean_df, "minimality", "train") == pytest.approx(digits.value.mean(), rel=1e-9)
    perm_df = decodable_information(linear_model(), "enc", (x, y), permutations=3, **common)
    m = perm_df[perm_df.kind == "minimality"]
    assert int(m.n_heads.iloc[0]) == 3 * 2  # 15 per class: 4 < 15 <= 16, so 2 digits per order
    per_perm = perm_df[perm_df.kind == "minimality_digit"].groupby("permutation").value.sum()
    assert len(per_perm) == 3
    assert value(perm_df, "minimality", "train") == pytest.approx(per_perm.mean(), rel=1e-9)


def test_same_seed_same_numbers_and_model_untouched():
    x, y = blobs(80, seed=0)
    model = linear_model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kwargs = {"lr": 0.05, "batch_size": 20, "epochs": 3}
    a = decodable_information(model, "enc", (x, y), seed=1, **kwargs)
    b = decodable_information(model, "enc", (x, y), seed=1, **kwargs)
    c = decodable_information(model, "enc", (x, y), seed=2, **kwargs)
    pd.testing.assert_frame_equal(a, b)
    assert not a.value.equals(c.value)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert list(a.columns[:6]) == ["split_at", "kind", "fit_split", "eval_split", "value", "probe_loss"]


def test_several_split_points_and_the_raw_input():
    x, y = blobs(60, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 4))
    assert split_points(model) == ["input", "0", "1"]
    df = decodable_information(model, ["input", "1"], (x, y), lr=0.05, batch_size=30, epochs=2)
    assert df.split_at.tolist() == ["input", "input", "1", "1"]
    assert df.kind.tolist() == ["sufficiency", "minimality"] * 2
    assert (df.epochs == 2).all()


def test_one_sample_per_class_has_no_digits():
    x, y = blobs(4, seed=0)
    df = decodable_information(linear_model(), "enc", (x, y), epochs=1)
    row = df[df.kind == "minimality"].iloc[0]
    assert row.value == 0.0 and row.n_heads == 0


# ---------------------------------------------------------------- bad input


def test_invalid_split_point_lists_the_valid_ones():
    x, y = blobs(20, seed=0)
    model = nn.Sequential(OrderedDict(enc=nn.Identity(), mid=nn.ReLU(), head=nn.Linear(2, 4)))
    with pytest.raises(InfolensError, match="valid split points: 'input', 'enc', 'mid'"):
        decodable_information(model, "head", (x, y))
    with pytest.raises(InfolensError, match="valid split points"):
        decodable_information(model, "enc.0", (x, y))


def test_unsupported_models_and_decoders_are_errors():
    x, y = blobs(20, seed=0)

    class NotSequential(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(InfolensError, match=r"nn\.Sequential"):
        decodable_information(NotSequential(), "enc", (x, y))
    narrow = nn.Sequential(OrderedDict(enc=nn.Identity(), head=nn.Linear(2, 3)))
    with pytest.raises(InfolensError, match="at least num_classes=4 logits"):
        decodable_information(narrow, "enc", (x, y), epochs=1)
    with pytest.raises(InfolensError, match="digit_reduction"):
        decodable_information(linear_model(), "enc", (x, y), digit_reduction="max")
    bad = x.clone()
    bad[0, 0] = math.nan
    with pytest.raises(InfolensError, match="split_at='enc'"):
        decodable_information(linear_model(), "enc", (bad, y), epochs=1)


def test_value_uses_the_empirical_entropy_not_log2_c():
    y = torch.tensor(WORKED_LABELS)
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(OrderedDict(enc=nn.Identity(), head=nn.Linear(2, 5)))
    df = decodable_information(model, "enc", (x, y), epochs=2, batch_size=4, per_head=True)
    suff = df[df.kind == "sufficiency"].iloc[0]
    assert suff.entropy == pytest.approx(WORKED_H_Y, abs=1e-4)
    assert suff.value == pytest.approx(suff.entropy - suff.probe_loss / math.log(2), rel=1e-12)
    digits = df[df.kind == "minimality_digit"].sort_values("digit")
    assert digits.entropy.tolist() == pytest.approx([WORKED_H_N0, WORKED_H_N1], abs=1e-4)
    minimality = df[df.kind == "minimality"].iloc[0]
    assert minimality.entropy == pytest.approx(WORKED_H_N0 + WORKED_H_N1, abs=1e-4)


def test_sufficiency_head_is_read_out_at_its_own_budget():
    x, y = blobs(80, seed=0)
    kwargs = {"lr": 0.05, "batch_size": 20, "epochs": 2, "seed": 4}
    short = decodable_information(linear_model(), "enc", (x, y), **kwargs)
    long = decodable_information(linear_model(), "enc", (x, y), minimality_epochs=6, **kwargs)
    assert value(long, "sufficiency", "train") == pytest.approx(
        value(short, "sufficiency", "train"), rel=1e-6
    )  # the heads are independent: training the digit heads longer does not touch it
    assert value(long, "minimality", "train") != value(short, "minimality", "train")
    assert long.set_index("kind").epochs.to_dict() == {"sufficiency": 2, "minimality": 6}


def test_datasets_and_dataloaders_are_accepted():
    from torch.utils.data import DataLoader, TensorDataset

    x, y = blobs(60, seed=0)
    kwargs = {"lr": 0.05, "batch_size": 20, "epochs": 2}
    ref = decodable_information(linear_model(), "enc", (x, y), **kwargs)
    ds = TensorDataset(x, y)
    for data in (ds, DataLoader(ds, batch_size=7)):
        df = decodable_information(linear_model(), "enc", data, **kwargs)
        pd.testing.assert_frame_equal(df, ref)
