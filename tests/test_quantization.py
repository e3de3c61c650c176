"""Tests of the activation quantizer: levels, limits, rounding, gradients, applying by path."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from infolens._validation import InfolensError
from infolens.nn.quantization import (
    QuantizedLayer,
    Quantizer,
    QuantSpec,
    infer_limits,
    level_codes,
    quantize,
    quantized_layers,
)

SETTINGS = settings(max_examples=25, deadline=None)


def test_grids_of_the_spec():
    eight = Quantizer(8, (-1, 1)).grid
    expected8 = torch.tensor([-1, -5 / 7, -3 / 7, -1 / 7, 1 / 7, 3 / 7, 5 / 7, 1], dtype=torch.float64)
    assert torch.allclose(eight, expected8, atol=1e-15)
    four = Quantizer(4, (-1, 1)).grid
    assert torch.allclose(four, torch.tensor([-1, -1 / 3, 1 / 3, 1], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(Quantizer(3, (0, 1)).grid, torch.tensor([0, 0.5, 1], dtype=torch.float64))


def test_nearest_rounding_values_and_ties():
    q = Quantizer(4, (-1, 1)).eval()  # step 2/3, levels -1, -1/3, 1/3, 1
    x = torch.tensor([-1.0, -0.6, -0.7, 0.0, 0.3, 0.99, 1.0], dtype=torch.float64)
    # u = (x + 1) * 1.5 = 0, 0.6, 0.45, 1.5 (tie -> 2), 1.95, 2.985, 3
    expected = torch.tensor([-1, -1 / 3, -1, 1 / 3, 1 / 3, 1, 1], dtype=torch.float64)
    assert torch.allclose(q(x), expected, atol=1e-12)
    assert level_codes(x, 4, (-1, 1)).tolist() == [0, 1, 0, 2, 2, 3, 3]
    assert q.codes(x).tolist() == [0, 1, 0, 2, 2, 3, 3]


@SETTINGS
@given(
    levels=st.integers(2, 16),
    lo=st.floats(-3, 0.5),
    width=st.floats(0.1, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_nearest_is_closest_grid_point(levels, lo, width, seed):
    hi = lo + width
    g = torch.Generator().manual_seed(seed)
    x = lo + width * torch.rand(200, generator=g, dtype=torch.float64)
    q = Quantizer(levels, (lo, hi)).eval()
    out = q(x)
    grid = q.grid
    dist = (out[:, None] - grid[None, :]).abs().min(dim=1).values
    assert float(dist.max()) < 1e-9  # on the grid
    best = (x[:, None] - grid[None, :]).abs().min(dim=1).values
    assert torch.allclose((out - x).abs(), best, atol=1e-9)  # the nearest level
    k = level_codes(out, levels, (lo, hi))
    assert int(k.min()) >= 0 and int(k.max()) <= levels - 1
    assert torch.allclose(grid[k], out, atol=1e-9)  # codes index the levels
    assert torch.equal(k, level_codes(x, levels, (lo, hi)))


def test_stochastic_rounding_is_unbiased_and_neighbouring():
    q = Quantizer(8, (-1, 1), seed=123).train()
    x = torch.tensor([-0.95, -0.5, -0.1, 0.0, 0.2, 0.77, 0.99], dtype=torch.float64)
    draws = 20_000
    out = q(x.repeat(draws, 1))
    step = 2 / 7
    low = -1 + step * torch.floor((x + 1) / step)
    on_neighbours = (out - low).abs().lt(1e-12) | (out - low - step).abs().lt(1e-12)
    assert bool(on_neighbours.all())
    frac = (x + 1) / step - torch.floor((x + 1) / step)
    sigma = step * torch.sqrt(frac * (1 - frac)) / math.sqrt(draws)
    err = (out.mean(dim=0) - x).abs()
    assert bool((err <= 5 * sigma + 1e-12).all()), (err, sigma)
    # a value on the grid stays there (up to float rounding of u)
    on_grid = torch.full((1000,), 1 / 7, dtype=torch.float64)
    assert torch.allclose(q(on_grid), on_grid, atol=1e-12)


def test_stochastic_rounding_is_seeded():
    x = torch.rand(1000) * 2 - 1
    a = Quantizer(8, seed=7).train()(x)
    b = Quantizer(8, seed=7).train()(x)
    c = Quantizer(8, seed=8).train()(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    q = Quantizer(8, seed=7).train()
    first = q(x)
    assert not torch.equal(first, q(x))  # the stream advances
    q.reset_generator()
    assert torch.equal(first, q(x))


def test_modes():
    x = torch.linspace(-1, 1, 101)
    assert Quantizer(8).train().stochastic and not Quantizer(8).eval().stochastic
    near = Quantizer(8, mode="nearest").train()
    assert torch.equal(near(x), Quantizer(8).eval()(x))
    assert Quantizer(8, mode="stochastic").eval().stochastic


@pytest.mark.parametrize("mode", ["nearest", "stochastic"])
def test_straight_through_gradient(mode):
    x = torch.tensor([-1.5, -1.0, -0.3, 0.0, 0.41, 1.0, 2.0], requires_grad=True)
    q = Quantizer(8, (-1, 1), mode=mode, seed=0, check_limits=False)
    weights = torch.arange(1.0, 8.0)
    (q(x) * weights).sum().backward()
    inside = ((x >= -1) & (x <= 1)).float()
    assert torch.equal(x.grad, weights * inside)


def test_quantize_model_by_path():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())
    reference = nn.Sequential(*[m for m in net])  # same modules, unquantized forward
    x = torch.randn(64, 4)
    with torch.no_grad():
        pre = torch.tanh(net[0](x))
    out = quantize(net, {"1": QuantSpec(levels=8, limits=(-1, 1)), "3": 4}, seed=0)
    assert out is net and isinstance(net[1], QuantizedLayer) and net[3].limits == (0.0, 1.0)
    assert set(quantized_layers(net)) == {"1", "3"}
    net.eval()
    with torch.no_grad():
        hidden = net[1](net[0](x))
        expected_hidden = -1 + (2 / 7) * torch.round((pre + 1) / (2 / 7))
        assert torch.allclose(hidden, expected_hidden, atol=1e-6)
        # downstream layers see the quantized values
        logits = reference[2](expected_hidden)
        expected = torch.round(torch.sigmoid(logits) * 3) / 3
        assert torch.allclose(net(x), expected, atol=1e-6)
    net.train()
    y1 = net(x)
    y1.sum().backward()
    assert net[0].weight.grad is not None and torch.isfinite(net[0].weight.grad).all()


def test_quantize_copy_and_seed_streams():
    net = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3), nn.Tanh())
    copy = quantize(net, {"1": 8, "3": 8}, seed=3, inplace=False)
    assert isinstance(net[1], nn.Tanh) and isinstance(copy[1], QuantizedLayer)
    assert copy[1].quantizer.seed != copy[3].quantizer.seed
    again = quantize(net, {"1": 8, "3": 8}, seed=3, inplace=False)
    assert again[1].quantizer.seed == copy[1].quantizer.seed


def test_infer_limits():
    assert infer_limits(nn.Tanh()) == (-1.0, 1.0)
    assert infer_limits(nn.Sigmoid()) == (0.0, 1.0)
    assert infer_limits(nn.Hardtanh(-2, 3)) == (-2.0, 3.0)
    with pytest.raises(InfolensError, match="unbounded"):
        infer_limits(nn.ReLU(), "features.1")
    with pytest.raises(InfolensError, match="limits=\\(lo, hi\\)"):
        infer_limits(nn.Linear(2, 2))


def test_bad_input():
    with pytest.raises(InfolensError, match="levels must be an integer >= 2"):
        Quantizer(1)
    with pytest.raises(InfolensError, match="levels must be an integer >= 2"):
        QuantSpec(levels=2.5)
    with pytest.raises(InfolensError, match="inverted"):
        Quantizer(8, (1, -1))
    with pytest.raises(InfolensError, match="limits"):
        QuantSpec(levels=8, limits=(0, float("inf")))
    with pytest.raises(InfolensError, match="mode"):
        Quantizer(8, mode="floor")
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(InfolensError, match="valid paths: '0', '1', '2'"):
        quantize(net, {"5": QuantSpec(8, (-1, 1))})
    with pytest.raises(InfolensError, match="unbounded"):
        quantize(net, {"1": 8})
    with pytest.raises(InfolensError, match="nonempty mapping"):
        quantize(net, {})
    quantize(net, {"1": QuantSpec(8, (0, 6))})
    with pytest.raises(InfolensError, match="already quantized"):
        quantize(net, {"1": QuantSpec(8, (0, 6))})
    with pytest.raises(InfolensError, match="outside the quantization limits"):
        level_codes(torch.tensor([0.0, 1.5]), 8, (-1, 1))
    with pytest.raises(InfolensError, match="outside the quantization limits"):
        Quantizer(8)(torch.tensor([float("nan")]))
