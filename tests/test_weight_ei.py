"""Weight-graph EI: connectivity, normalisers, foresight compatibility, conventions, bad input."""

from __future__ import annotations

import copy
import itertools
import math
import warnings

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from torch import nn

from infolens._validation import InfolensError
from infolens.compat import foresight as fs
from infolens.measures.weight_ei import entropy, lin_norm, sig_norm, soft_norm, weight_ei
from infolens.nn.connectivity import (
    connectivity,
    get_shapes,
    layer_graph,
    register_connectivity,
)

# ----------------------------------------------------------------------------- references


def oracle_matrix(module: nn.Module, in_shape) -> torch.Tensor:
    """Dense Jacobian of a bias-free module: push every one-hot input through it."""
    n = math.prod(in_shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)
    module = copy.deepcopy(module).double()
    if getattr(module, "bias", None) is not None:
        module.bias = None  # connectivity ignores bias
    with torch.no_grad():
        return module(basis).reshape(n, -1)


def loop_conv_matrix(conv: nn.Conv2d, in_shape) -> torch.Tensor:
    """foresight-style dense construction with explicit loops (small layers only)."""
    c_in, h, w = in_shape
    c_out, c_in_g, kh, kw = conv.weight.shape
    g = conv.groups
    sh, sw = conv.stride
    dh, dw = conv.dilation
    if conv.padding == "same":
        pt, pl = dh * (kh - 1) // 2, dw * (kw - 1) // 2
        pb, pr = dh * (kh - 1) - pt, dw * (kw - 1) - pl
    else:
        (pt, pl) = (pb, pr) = (0, 0) if conv.padding == "valid" else conv.padding
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    m = torch.zeros(c_in * h * w, c_out * ho * wo, dtype=torch.float64)
    for co in range(c_out):
        grp = co // (c_out // g)
        for oi in range(ho):
            for oj in range(wo):
                for cl in range(c_in_g):
                    ci = grp * c_in_g + cl
                    for a in range(kh):
                        for b in range(kw):
                            hi, wi = oi * sh - pt + a * dh, oj * sw - pl + b * dw
                            if 0 <= hi < h and 0 <= wi < w:
                                m[ci * h * w + hi * w + wi, co * ho * wo + oi * wo + oj] += float(
                                    conv.weight[co, cl, a, b])
    return m


def dense_foresight(matrices, norm):
    """foresight's aggregate from dense matrices: (noise over all rows, effect, ei)."""
    h_sum, n_rows, cols = 0.0, 0, []
    for m in matrices:
        p = norm(m.double())
        h_sum += float(-torch.special.xlogy(p, p).sum() / math.log(2))
        n_rows += m.shape[0]
        cols.append(p.sum(0))
    v = torch.cat(cols)
    v = v / v.sum()
    effect = float(-torch.special.xlogy(v, v).sum() / math.log(2))
    return h_sum / n_rows, effect, effect - h_sum / n_rows


def ref_lin(m):
    mp = m.clamp_min(0)
    s = mp.sum(1, keepdim=True)
    return torch.where(s > 0, mp / torch.where(s > 0, s, 1), 0)


def ref_soft(m):
    e = torch.exp(m - m.max(1, keepdim=True).values)
    return e / e.sum(1, keepdim=True)


def ref_sig(m):
    s = 1 / (1 + torch.exp(-m))
    return s / s.sum(1, keepdim=True)


REFS = {"lin": ref_lin, "soft": ref_soft, "sig": ref_sig}


def ones_conv(*args, **kw):
    conv = nn.Conv2d(*args, bias=False, **kw)
    nn.init.ones_(conv.weight)
    return conv


def windows(m: torch.Tensor) -> list[set[int]]:
    return [set(torch.nonzero(m[:, j]).flatten().tolist()) for j in range(m.shape[1])]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# ----------------------------------------------------------------------------- foresight vectors


def test_entropy_vectors():
    assert float(fs.H(torch.tensor([0.0, 1, 0, 0]))) == 0.0
    assert float(fs.H(torch.full((4,), 0.25))) == 2.0
    assert float(fs.H(torch.full((256,), 1 / 256))) == pytest.approx(8.0, abs=1e-12)
    assert float(fs.H(torch.zeros(4))) == 0.0
    q = torch.full((4, 4), 0.25)
    assert torch.equal(fs.H(q, dim=1), torch.full((4,), 2.0))
    assert torch.equal(fs.H(q), torch.full((4,), 2.0))  # foresight's default dim 0
    assert torch.equal(entropy(q), torch.full((4,), 2.0))
    assert torch.isnan(entropy(torch.tensor([0.5, float("nan")])))  # NaN propagates


def test_lin_norm_vectors():
    assert torch.equal(fs.lin_norm(torch.ones(4, 4)), torch.full((4, 4), 0.25))
    w = torch.ones(5, 5)
    w[:, 0] = -1
    out = fs.lin_norm(w)
    assert torch.equal(out[:, 0], torch.zeros(5))
    assert torch.equal(out[:, 1:], torch.full((5, 4), 0.25))
    z = fs.lin_norm(torch.zeros(4, 4))
    assert torch.equal(z, torch.zeros(4, 4)) and not torch.isnan(z).any()


def test_norms_match_definitions_and_sparse_input():
    w = torch.randn(6, 7, dtype=torch.float64)
    w[2] = -torch.rand(7)  # dead row under lin
    assert torch.allclose(lin_norm(w), ref_lin(w))
    assert torch.allclose(soft_norm(w), ref_soft(w))
    assert torch.allclose(sig_norm(w), ref_sig(w))
    sp = w.to_sparse()
    assert torch.allclose(lin_norm(sp).to_dense(), ref_lin(w))
    with pytest.warns(UserWarning, match="structural zero"):
        assert torch.allclose(soft_norm(sp), ref_soft(w))
    with pytest.warns(UserWarning, match="structural zero"):
        assert torch.allclose(sig_norm(sp), ref_sig(w))


CONV_WINDOWS = [
    (ones_conv(1, 2, 2), (1, 3, 3), (9, 8), [{0, 1, 3, 4}, {1, 2, 4, 5}, {3, 4, 6, 7}, {4, 5, 7, 8}] * 2),
    (ones_conv(1, 1, 2, stride=2), (1, 4, 4), (16, 4),
     [{0, 1, 4, 5}, {2, 3, 6, 7}, {8, 9, 12, 13}, {10, 11, 14, 15}]),
    (ones_conv(2, 1, 2), (2, 3, 3), (18, 4),
     [s | {i + 9 for i in s} for s in [{0, 1, 3, 4}, {1, 2, 4, 5}, {3, 4, 6, 7}, {4, 5, 7, 8}]]),
    (ones_conv(1, 1, 2, padding=1), (1, 3, 3), (9, 16),
     [{0}, {0, 1}, {1, 2}, {2}, {0, 3}, {0, 1, 3, 4}, {1, 2, 4, 5}, {2, 5}, {3, 6},
      {3, 4, 6, 7}, {4, 5, 7, 8}, {5, 8}, {6}, {6, 7}, {7, 8}, {8}]),
    (ones_conv(1, 1, 2, padding=1, stride=2), (1, 3, 3), (9, 4), [{0}, {1, 2}, {3, 6}, {4, 5, 7, 8}]),
    (ones_conv(1, 1, (1, 2), padding=1, stride=2), (1, 3, 3), (9, 6), [set(), set(), {3}, {4, 5}, set(), set()]),
]


@pytest.mark.parametrize("conv,in_shape,shape,expected", CONV_WINDOWS)
def test_conv_window_vectors(conv, in_shape, shape, expected):
    m = connectivity(conv, in_shape, layout="dense")
    assert tuple(m.shape) == shape
    assert windows(m) == expected
    assert torch.all((m == 0) | (m == 1))


@pytest.mark.parametrize("pool,in_shape,value,expected", [
    (nn.AvgPool2d(2), (1, 4, 4), 0.25, [{0, 1, 4, 5}, {2, 3, 6, 7}, {8, 9, 12, 13}, {10, 11, 14, 15}]),
    (nn.AvgPool2d(2, stride=1), (1, 3, 3), 0.25, [{0, 1, 3, 4}, {1, 2, 4, 5}, {3, 4, 6, 7}, {4, 5, 7, 8}]),
    (nn.AvgPool2d((1, 2), stride=1), (1, 3, 3), 0.5,
     [{0, 1}, {1, 2}, {3, 4}, {4, 5}, {6, 7}, {7, 8}]),
])
def test_pool_vectors(pool, in_shape, value, expected):
    m = connectivity(pool, in_shape, layout="dense")
    assert windows(m) == expected
    assert torch.all((m == 0) | (m == value))


def test_linear_ones_foresight_and_hoel():
    lin = nn.Linear(4, 4, bias=False)
    nn.init.ones_(lin.weight)
    x = torch.randn(1, 4)
    vals = (fs.determinism(lin, x), fs.degeneracy(lin, x), fs.ei(lin, x))
    assert all(type(v) is float for v in vals)
    assert vals == (2.0, 2.0, 0.0)
    res = weight_ei(lin, x, convention="hoel")
    assert (res.noise, res.effect, res.ei, res.N) == (2.0, 2.0, 0.0, 8)


# ----------------------------------------------------------------------------- sparse == dense

CONV_CASES = [
    dict(c_in=2, c_out=3, k=3),
    dict(c_in=2, c_out=3, k=3, stride=2, padding=1),
    dict(c_in=4, c_out=6, k=3, dilation=2, groups=2, padding=2),
    dict(c_in=4, c_out=4, k=3, groups=4, padding=1),  # depthwise
    dict(c_in=4, c_out=8, k=(2, 3), groups=4, stride=(2, 1), padding=(1, 2)),
    dict(c_in=3, c_out=2, k=(3, 2), stride=(1, 3), dilation=(2, 1)),
    dict(c_in=2, c_out=2, k=2, padding="same"),  # even kernel: asymmetric padding
    dict(c_in=2, c_out=4, k=(4, 3), padding="same", dilation=(1, 2), groups=2),
    dict(c_in=2, c_out=3, k=3, padding="valid", stride=3),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_sparse_equals_dense(case):
    torch.manual_seed(1)
    case = dict(case)
    c_in, c_out, k = case.pop("c_in"), case.pop("c_out"), case.pop("k")
    conv = nn.Conv2d(c_in, c_out, k, bias=False, **case)
    in_shape = (c_in, 7, 6)
    sparse = connectivity(conv, in_shape)
    assert sparse.is_sparse
    dense_ref = loop_conv_matrix(conv, in_shape)
    assert torch.equal(sparse.to_dense().double(), dense_ref)
    assert torch.equal(dense_ref, oracle_matrix(conv, in_shape))
    graph = layer_graph(conv, in_shape)
    assert graph.n_edges == sparse._nnz()  # one stored edge per multiply-accumulate


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), count_include_pad=False),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 0), ceil_mode=True, divisor_override=5),
    dict(kernel_size=2, stride=3, ceil_mode=True),
])
def test_pool_sparse_equals_dense(kw):
    pool = nn.AvgPool2d(**kw)
    in_shape = (2, 7, 6)
    sparse = connectivity(pool, in_shape)
    assert torch.allclose(sparse.to_dense().double(), oracle_matrix(pool, in_shape), rtol=0, atol=1e-7)


def test_linear_block_diagonal():
    lin = nn.Linear(5, 3, bias=False)
    m = connectivity(lin, (4, 5), layout="dense")
    assert torch.allclose(m.double(), oracle_matrix(lin, (4, 5)))
    assert torch.equal(connectivity(lin, (5,), layout="dense"), lin.weight.detach().T)


def small_cnn(kind=nn.Conv2d):
    torch.manual_seed(0)
    return nn.Sequential(
        kind(3, 4, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.AvgPool2d(2, padding=1), nn.Flatten(), nn.Linear(54, 5),
    )


@pytest.mark.parametrize("norm", ["lin", "soft", "sig"])
@pytest.mark.parametrize("method", ["auto", "edges"])
def test_closed_forms_match_dense_foresight(norm, method):
    net = small_cnn()
    with torch.no_grad():  # explicit zero weights and an all-negative input channel
        net[0].weight[0, :, 1, 1] = 0
        net[0].weight[:, 2] = -net[0].weight[:, 2].abs()
    x = torch.randn(1, 3, 9, 9)
    mats = [oracle_matrix(net[i], s) for i, s in [(0, (3, 9, 9)), (2, (4, 9, 9)), (4, (6, 5, 5))]]
    mats.append(net[6].weight.detach().double().T)
    noise, effect, ei = dense_foresight(mats, REFS[norm])
    res = weight_ei(net, x, norm=norm, method=method, chunk_edges=97)
    assert res.noise == pytest.approx(noise, abs=1e-12)
    assert res.effect == pytest.approx(effect, abs=1e-12)
    assert res.ei == pytest.approx(ei, abs=1e-12)
    compat = fs.ei(net, x, norm={"lin": fs.lin_norm, "soft": fs.soft_norm, "sig": fs.sig_norm}[norm])
    assert compat == pytest.approx(ei, abs=1e-12)
    if norm != "lin":
        assert res.n_dead_rows == 0
    else:  # channel 2 of the input only has negative out-weights
        assert res.layers[0].dead_rows == 81


def test_big_softmax_weights_use_shift():
    lin = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[300.0, -1, 0], [299, 2, 0], [0, 0, 1], [5, 0, 0]]))
    res = weight_ei(lin, torch.randn(1, 3), norm="soft")
    noise, effect, _ = dense_foresight([lin.weight.detach().double().T], ref_soft)
    assert res.noise == pytest.approx(noise, abs=1e-12)
    assert res.effect == pytest.approx(effect, abs=1e-12)


# ----------------------------------------------------------------------------- conventions


def test_grouping_identities_kl_and_dead_rows():
    net = small_cnn()
    with torch.no_grad():
        net[2].weight[:, 0] = -1.0  # input channel 0 of layer 2 dead under lin
    x = torch.randn(1, 3, 9, 9)
    fsr = weight_ei(net, x)
    hoel = weight_ei(net, x, convention="hoel")
    assert fsr.n_dead_rows > 0
    pi = torch.tensor([lay.mass for lay in hoel.layers], dtype=torch.float64)
    grouped = float(entropy(pi)) + sum(lay.mass * lay.effect for lay in hoel.layers)
    assert hoel.effect == pytest.approx(grouped, abs=1e-12)
    assert hoel.noise == pytest.approx(sum(lay.mass * lay.noise_live for lay in hoel.layers), abs=1e-12)
    assert fsr.noise == pytest.approx(
        sum(lay.n_in / fsr.n_rows * lay.noise_all for lay in fsr.layers), abs=1e-12)
    assert hoel.ei == pytest.approx(float(entropy(pi)) + sum(lay.mass * lay.ei for lay in hoel.layers),
                                    abs=1e-12)
    # 6.4: dead rows change only the foresight value, by noise·(1 − N_out/|R|)
    assert fsr.effect == hoel.effect
    ratio = hoel.n_live_rows / hoel.n_rows
    assert fsr.noise == pytest.approx(hoel.noise * ratio, abs=1e-12)
    assert fsr.ei - hoel.ei == pytest.approx(hoel.noise * (1 - ratio), abs=1e-12)
    assert (fsr.ei_all_rows, fsr.ei_live_rows) == (hoel.ei_all_rows, hoel.ei_live_rows)
    assert hoel.determinism - hoel.degeneracy == pytest.approx(hoel.ei, abs=1e-12)
    assert 0 <= hoel.effectiveness <= 1
    table = fsr.table()
    assert list(table["name"]) == ["0", "2", "4", "6"]
    assert int(table["dead_rows"].sum()) == fsr.n_dead_rows


def test_kl_form_equals_effect_minus_noise():
    torch.manual_seed(3)
    w1, w2 = torch.randn(5, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(5, 3, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(w1)
        net[1].weight.copy_(w2)
    res = weight_ei(net, torch.randn(1, 4, dtype=torch.float64), convention="hoel")
    # rows as distributions over all 8 target neurons (block structure)
    rows = [torch.cat([p, torch.zeros(3, dtype=torch.float64)]) for p in ref_lin(w1.T)]
    rows += [torch.cat([torch.zeros(5, dtype=torch.float64), p]) for p in ref_lin(w2.T)]
    live = [r for r in rows if r.sum() > 0]
    mean = torch.stack(live).mean(0)
    kl = sum(float((torch.special.xlogy(r, r) - torch.special.xlogy(r, mean)).sum()) for r in live)
    assert res.ei == pytest.approx(kl / len(live) / math.log(2), abs=1e-12)
    assert res.N == 4 + 5 + 3


# ----------------------------------------------------------------------------- properties

@st.composite
def linear_chains(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    mats = []
    for a, b in itertools.pairwise(sizes):
        vals = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.25]) | st.floats(-3, 3, width=32),
                             min_size=a * b, max_size=a * b))
        mats.append(torch.tensor(vals, dtype=torch.float64).reshape(b, a))
    return mats


def chain(mats):
    net = nn.Sequential(*[nn.Linear(m.shape[1], m.shape[0], bias=False) for m in mats]).double()
    with torch.no_grad():
        for lin, m in zip(net, mats):
            lin.weight.copy_(m)
    return net


@settings(max_examples=40, deadline=None)
@given(linear_chains(), st.sampled_from(["lin", "soft", "sig"]), st.sampled_from(["foresight", "hoel"]))
def test_ei_bounds(mats, norm, convention):
    net = chain(mats)
    res = weight_ei(net, input_shape=(mats[0].shape[1],), norm=norm, convention=convention)
    if res.n_live_rows == 0:
        return
    n_targets = sum(m.shape[0] for m in mats)
    assert res.ei >= -1e-12
    assert res.ei <= math.log2(n_targets) + 1e-12
    assert res.ei_all_rows >= res.ei_live_rows - 1e-12


@settings(max_examples=40, deadline=None)
@given(linear_chains(), st.sampled_from(["lin", "soft", "sig"]), st.randoms(use_true_random=False))
def test_permutation_invariance(mats, norm, rnd):
    base = weight_ei(chain(mats), input_shape=(mats[0].shape[1],), norm=norm)
    # relabel the neurons of every layer: W_l -> P_{l+1} W_l P_lᵀ
    perms = [torch.tensor(rnd.sample(range(mats[0].shape[1]), mats[0].shape[1]))]
    perms += [torch.tensor(rnd.sample(range(m.shape[0]), m.shape[0])) for m in mats]
    permuted = [m[perms[i + 1]][:, perms[i]] for i, m in enumerate(mats)]
    res = weight_ei(chain(permuted), input_shape=(mats[0].shape[1],), norm=norm)
    for f in ("noise", "effect", "ei", "noise_live_rows", "ei_live_rows"):
        a, b = getattr(base, f), getattr(res, f)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def test_conv_channel_permutation_invariance():
    net = small_cnn()
    x = torch.randn(1, 3, 9, 9)
    base = weight_ei(net, x)
    # relabel conv0's output channels; conv1 (groups=2) then reads them swapped within each group
    perm = torch.tensor([1, 0, 3, 2])
    with torch.no_grad():
        net[0].weight.copy_(net[0].weight[perm])
        net[2].weight.copy_(net[2].weight[:, torch.tensor([1, 0])])
    res = weight_ei(net, x)
    assert res.ei == pytest.approx(base.ei, abs=1e-12)
    assert res.noise == pytest.approx(base.noise, abs=1e-12)


# ----------------------------------------------------------------------------- discovery


def test_get_shapes_restores_state_and_hooks():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    net.train()
    net[1].eval()
    before = net[1].running_mean.clone(), net[1].num_batches_tracked.clone()
    recs = get_shapes(net, torch.randn(3, 1, 4, 4))
    assert [(r.name, r.in_shape, r.out_shape) for r in recs] == [
        ("0", (1, 4, 4), (2, 2, 2)), ("3", (8,), (2,))]
    assert net.training and not net[1].training and net[0].training
    assert torch.equal(net[1].running_mean, before[0])
    assert torch.equal(net[1].num_batches_tracked, before[1])
    assert all(not m._forward_hooks for m in net.modules())
    assert [r.in_shape for r in get_shapes(net, input_shape=(1, 4, 4))] == [(1, 4, 4), (8,)]


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(self.lin(x))


def test_module_called_twice_gives_two_records():
    recs = get_shapes(Twice(), torch.randn(1, 3))
    assert [r.name for r in recs] == ["lin", "lin"]
    assert len(weight_ei(Twice(), torch.randn(1, 3)).layers) == 2
    assert len(fs.get_shapes(Twice(), torch.randn(2, 3))) == 1  # foresight's dict


def test_compat_get_shapes_and_exact_types():
    class MyConv(nn.Conv2d):
        pass

    net = small_cnn(MyConv)
    x = torch.randn(2, 3, 9, 9)
    shapes = fs.get_shapes(net, x)
    assert net[0] not in shapes  # foresight matched exact types
    assert shapes[net[2]] == (torch.Size([2, 4, 9, 9]), torch.Size([2, 6, 5, 5]))
    assert fs.ei(net, shapes=shapes) == fs.ei(net, x)
    assert len(weight_ei(net, x).layers) == 4  # ours dispatches by isinstance
    lin = nn.Linear(3, 2, bias=False)
    assert weight_ei(lin, torch.randn(1, 4, 3)).layers[0].n_in == 12  # block-diagonal
    assert fs.get_shapes(lin, torch.randn(1, 4, 3))[lin][0] == torch.Size([1, 4, 3])
    assert fs.ei(lin, torch.randn(1, 4, 3)) == fs.ei(lin, torch.randn(1, 3))  # plain weight.T


def test_compat_raw_and_callable_norm():
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, 0.25, 1.0], [0.5, 0.75, 2.0]]))
    x = torch.randn(1, 3)
    noise, _, ei = dense_foresight([lin.weight.detach().double().T], lambda m: m)
    assert fs.determinism(lin, x, norm=None) == pytest.approx(noise, abs=1e-12)
    assert fs.ei(lin, x, norm=None) == pytest.approx(ei, abs=1e-12)
    assert fs.ei(lin, x, norm=lambda m: ref_sig(m)) == pytest.approx(fs.ei(lin, x, norm=fs.sig_norm))


def test_register_connectivity_for_new_type():
    class Scale(nn.Module):
        def forward(self, x):
            return 2 * x

    from infolens.nn.connectivity import _REGISTRY, SparseMatrixGraph

    register_connectivity(Scale, lambda m, i, o: SparseMatrixGraph(2 * torch.eye(math.prod(i))))
    try:
        res = weight_ei(nn.Sequential(Scale()), torch.randn(1, 4), convention="hoel")
        assert res.ei == pytest.approx(2.0) and res.noise == 0.0
    finally:
        del _REGISTRY[Scale]


# ----------------------------------------------------------------------------- warnings / bad input


def test_warnings_skipped_chain_and_strict():
    net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(4, 3), nn.MaxPool1d(3), nn.Linear(1, 2))
    x = torch.randn(1, 1, 4)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = weight_ei(net, x)
    msgs = [str(w.message) for w in rec]
    assert any("Conv1d" in m and "skipped" in m for m in msgs)
    assert any("chain is broken" in m for m in msgs)
    assert res.chain_breaks == ("4",)
    assert res.N == 4 + 3 + 1 + 2  # the broken layer's inputs count as nodes
    reasons = {s.name: s.reason for s in res.skipped}
    assert reasons == {"0": "unsupported (has parameters)", "1": "parameter-free", "3": "parameter-free"}
    with pytest.raises(InfolensError, match="Conv1d"):
        weight_ei(net, x, strict=True)


def test_soft_on_sparse_layer_warns():
    conv = nn.Conv2d(1, 1, 2)
    with pytest.warns(UserWarning, match="sparsity is lost"):
        weight_ei(conv, torch.randn(1, 1, 3, 3), norm="sig")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weight_ei(nn.Linear(3, 3), torch.randn(1, 3), norm="soft")  # dense layer: no warning


def test_no_supported_layers():
    with pytest.raises(InfolensError, match="no supported layers"):
        weight_ei(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)), torch.randn(1, 1, 4, 4))


def test_input_that_does_not_fit():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(InfolensError, match="Hint") as err:
        weight_ei(net, torch.randn(1, 1, 3, 3))
    assert isinstance(err.value.__cause__, RuntimeError)
    assert str(err.value.__cause__) in str(err.value)
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(InfolensError, match="exactly one"):
        weight_ei(net)


def test_bad_arguments():
    lin = nn.Linear(2, 2)
    x = torch.randn(1, 2)
    with pytest.raises(InfolensError, match="norm"):
        weight_ei(lin, x, norm="softmax")
    with pytest.raises(InfolensError, match="convention"):
        weight_ei(lin, x, convention="einet")
    with pytest.raises(InfolensError, match="chunk_edges"):
        weight_ei(lin, x, chunk_edges=0)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        weight_ei(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), torch.randn(1, 1, 4, 4))
    with pytest.raises(InfolensError, match="soft"):
        big = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            big.weight.copy_(torch.tensor([[1000.0, -1000.0], [0.0, 1.0]]))
        weight_ei(big, x, norm="soft")


def test_all_rows_dead():
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.fill_(-1.0)
    with pytest.warns(UserWarning, match="dead"):
        res = weight_ei(lin, torch.randn(1, 3), convention="hoel")
    assert math.isnan(res.ei) and res.n_dead_rows == 3
    assert weight_ei(lin, torch.randn(1, 3)).ei == 0.0  # foresight: 0 − 0


# ----------------------------------------------------------------------------- scale


def test_chunks_honoured_and_chunk_independent():
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=2)
    graph = layer_graph(conv, (8, 10, 10))
    sizes = [r.numel() for r, _, _ in graph.edges(chunk_edges=1000)]
    assert sum(sizes) == graph.n_edges and max(sizes) <= 1000
    x = torch.randn(1, 8, 10, 10)
    a = weight_ei(conv, x, norm="sig", chunk_edges=64)
    b = weight_ei(conv, x, norm="sig", chunk_edges=2**24, method="edges")
    assert a.ei == pytest.approx(b.ei, abs=1e-12)


def test_large_conv_without_dense_matrix():
    # a 64→64 conv on 32×32: the dense matrix would be 65536×65536 (16 GiB in float32)
    conv = nn.Conv2d(64, 64, 3, padding=1)
    res = weight_ei(conv, input_shape=(64, 32, 32), chunk_edges=2**20)
    assert res.layers[0].n_edges == 64 * 64 * (30 * 30 * 9 + 4 * 30 * 6 + 4 * 4)
    assert 0 < res.ei < math.log2(65536)
