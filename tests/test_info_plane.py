"""The binned information plane: brute-force entropies, bounds, exact merging, bad input."""

from __future__ import annotations

import math
import pickle
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from infolens._validation import InfolensError, InfolensWarning
from infolens.measures.info_plane import (
    InfoPlaneCounts,
    activation_limits,
    count_info_plane,
    information_plane,
)
from infolens.nn.quantization import QuantSpec, quantize


def _entropy(samples) -> float:
    counts = np.array(list(Counter(samples).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _brute_force(acts: np.ndarray, y: np.ndarray, bins: int, lo: float, hi: float):
    codes = np.clip(np.floor((acts.astype(np.float64) - lo) * bins / (hi - lo)), 0, bins - 1)
    t = [tuple(r) for r in codes.astype(int)]
    yy = [int(v) for v in y]
    h_t, h_y, h_ty = _entropy(t), _entropy(yy), _entropy(list(zip(t, yy)))
    return h_t, h_t + h_y - h_ty, h_y


def _net(seed=0, width=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 3), nn.Sigmoid())


def _data(n=300, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = ((x[:, 0] > 0).long() + (x[:, 1] > 0.5).long())
    return x, y


@pytest.mark.parametrize("bins", [2, 7, 30])
def test_matches_brute_force_numpy_entropies(bins):
    net, (x, y) = _net(), _data()
    df = information_plane(net, (x, y), ["1", "3"], bins=bins, batch_size=64)
    with torch.no_grad():
        a1 = torch.tanh(net[0](x)).numpy()
        a3 = torch.sigmoid(net[2](torch.tensor(a1))).numpy()
    for row, acts, (lo, hi) in [(df.iloc[0], a1, (-1, 1)), (df.iloc[1], a3, (0, 1))]:
        i_xt, i_ty, h_y = _brute_force(acts, y.numpy(), bins, lo, hi)
        assert row.I_XT == pytest.approx(i_xt, abs=1e-12)
        assert row.I_TY == pytest.approx(i_ty, abs=1e-12)
        assert row.H_Y == pytest.approx(h_y, abs=1e-12)
        assert row.limits == (lo, hi) and row.bins == bins and row.samples == len(x)
        assert row.estimator == "plugin" and row.units == "bits"


def test_bounds_and_miller_madow():
    net, (x, y) = _net(width=6), _data(n=120)
    df = information_plane(net, (x, y), ["1", "3"], bins=30)
    h_y = _entropy(y.tolist())
    assert (df.I_XT <= math.log2(len(x)) + 1e-12).all()
    assert (df.I_TY <= h_y + 1e-12).all() and (df.I_TY >= 0).all()
    assert (df.I_TY <= df.I_XT + 1e-12).all()
    mm = information_plane(net, (x, y), ["1"], bins=30, estimator="miller_madow").iloc[0]
    plug = df.iloc[0]
    assert mm.I_XT == pytest.approx(
        plug.I_XT + (plug.n_states - 1) / (2 * len(x) * math.log(2)), abs=1e-12
    )
    assert mm.estimator == "miller_madow"


def test_duplicate_inputs_keep_I_XT_the_binned_entropy():
    # T is a function of X: repeating every sample leaves H(T|X) = 0 and the plug-in pmf unchanged
    net, (x, y) = _net(), _data(n=80)
    once = information_plane(net, (x, y), ["1"]).iloc[0]
    twice = information_plane(net, (torch.cat([x, x]), torch.cat([y, y])), ["1"]).iloc[0]
    assert twice.I_XT == pytest.approx(once.I_XT, abs=1e-12) and twice.samples == 160
    assert twice.I_TY == pytest.approx(once.I_TY, abs=1e-12)


def test_merge_of_two_halves_equals_the_whole():
    net, (x, y) = _net(), _data(n=257)
    net.eval()
    limits = {"1": (-1.0, 1.0), "3": (0.0, 1.0)}
    whole = count_info_plane(net, [(x, y)], limits, bins=13)
    a = count_info_plane(net, [(x[:100], y[:100])], limits, bins=13)
    b = count_info_plane(net, [(x[100:200], y[100:200]), (x[200:], y[200:])], limits, bins=13)
    for path in limits:
        merged = InfoPlaneCounts.merged([pickle.loads(pickle.dumps(b[path].state())), a[path]])
        assert merged.result() == whole[path].result()  # every field, bit for bit
        assert merged.n_samples == 257
        roundtrip = InfoPlaneCounts.from_state(whole[path].state())
        assert roundtrip.result("miller_madow") == whole[path].result("miller_madow")
    with pytest.raises(InfolensError, match="cannot merge"):
        InfoPlaneCounts("1", 12, (-1, 1)).merge(a["1"])


def test_one_to_one_layer_gives_I_XY_on_a_discrete_task():
    # X: 3-bit patterns; a one-to-one layer with fine bins keeps every pattern distinct, so
    # T̃ is a relabelling of X and I(T;Y) = I(X;Y), I(X;T) = H(X).
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 2, (500, 3), generator=g).float()
    noise = torch.rand(500, generator=g) < 0.2
    y = (x.sum(dim=1) >= 2).long() ^ noise.long()
    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.copy_(2 * torch.eye(3))
        lin.bias.zero_()
    net = nn.Sequential(lin, nn.Tanh())
    row = information_plane(net, (x, y), ["1"], bins=30).iloc[0]
    xs = [tuple(r) for r in x.int().tolist()]
    h_x, h_y, h_xy = _entropy(xs), _entropy(y.tolist()), _entropy(list(zip(xs, y.tolist())))
    assert row.I_TY == pytest.approx(h_x + h_y - h_xy, abs=1e-12)
    assert row.I_XT == pytest.approx(h_x, abs=1e-12) and row.n_states == len(set(xs))


def test_limits_defaults_blocks_and_inference():
    block = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.1))
    assert activation_limits(block) == (-1.0, 1.0)
    assert activation_limits(nn.Sigmoid()) == (0.0, 1.0)
    assert activation_limits(nn.ReLU()) is None and activation_limits(nn.Linear(2, 2)) is None
    q = quantize(nn.Sequential(nn.Linear(3, 2), nn.Tanh()), {"1": QuantSpec(4)})
    assert activation_limits(q[1]) == (-1.0, 1.0)

    class Zoo(nn.Sequential):
        def __init__(self):
            super().__init__(OrderedDict(
                layer_1=nn.Sequential(nn.Linear(3, 4), nn.Tanh()),
                layer_2=nn.Sequential(nn.Linear(4, 2), nn.ReLU()),
                head=nn.Linear(2, 3),
            ))
            self.measurement_points = ["layer_1", "layer_2"]

    torch.manual_seed(0)
    zoo, (x, y) = Zoo(), _data()
    with pytest.warns(InfolensWarning, match=r"layer_2.*inferred"):
        df = information_plane(zoo, (x, y))
    assert list(df.layer) == ["layer_1", "layer_2"] and df.limits[0] == (-1.0, 1.0)
    with torch.no_grad():
        a2 = zoo.layer_2(zoo.layer_1(x))
    assert df.limits[1] == (float(a2.min()), float(a2.max()))
    # explicit limits (per layer) need no pass over the data; values outside are clipped
    df2 = information_plane(zoo, (x, y), limits={"layer_2": (0.0, 0.01)}, bins=4)
    assert df2.limits[1] == (0.0, 0.01) and df2.clipped[1] > 0 and df2.clipped[0] == 0


def test_bad_input():
    net, (x, y) = _net(), _data(n=20)
    with pytest.raises(InfolensError, match="valid paths: '0', '1'"):
        information_plane(net, (x, y), ["7"])
    with pytest.raises(InfolensError, match="measurement_points"):
        information_plane(net, (x, y))
    bad = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(InfolensError, match=r"layer '0'.*non-finite"):
        information_plane(bad, (x, y), ["0"], limits=(-1, 1))
    with pytest.raises(InfolensError, match="negative"):
        information_plane(net, (x, y - 1), ["1"])
    with pytest.raises(InfolensError, match="integer codes"):
        information_plane(net, (x, y.float() + 0.5), ["1"])
    with pytest.raises(InfolensError, match="mismatched lengths"):
        information_plane(net, (x, y[:-1]), ["1"])
    with pytest.raises(InfolensError, match="bins must be an integer >= 2"):
        information_plane(net, (x, y), ["1"], bins=1)
    with pytest.raises(InfolensError, match="estimator"):
        information_plane(net, (x, y), ["1"], estimator="nsb")
    with pytest.raises(InfolensError, match="no samples"):
        information_plane(net, [], ["1"])
    with pytest.raises(InfolensError, match="twice"):
        information_plane(net, (x, y), ["1", net[1]])
