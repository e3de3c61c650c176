"""The EI family: reproducibility, exact equalities between code paths, edge cases, errors."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import infolens
from infolens._validation import InfolensError

KW = dict(in_range=(0.0, 1.0), in_bins=16, out_bins=16, batch_size=500)


def mlp(n_in=6, n_out=4, seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, n_out, bias=bias), nn.Sigmoid())


def test_same_seed_same_numbers_and_batch_size_does_not_matter():
    m = mlp()
    top = infolens.topology_of(m, torch.zeros(1, 6))
    a = infolens.ei_parts("0", top, samples=20_000, seed=3, **KW)
    b = infolens.ei_parts(m[0], top, samples=20_000, seed=3, **{**KW, "batch_size": 777})
    c = infolens.ei_parts("0", top, samples=20_000, seed=4, **KW)
    assert a.value == b.value and a.null == b.null
    assert a.value != c.value
    g = torch.Generator().manual_seed(3)
    d = infolens.ei_parts("0", top, samples=20_000, generator=g, **KW)
    assert d.value == a.value


def test_result_records_its_settings():
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    r = infolens.ei_parts("0", top, samples=5_000, seed=0, estimator="miller_madow", **KW)
    assert r.units == "bits" and r.estimator == "miller_madow" and r.samples == 5_000
    assert r.in_bins == 16 and r.out_range == (0.0, 1.0) and r.n_pairs == 24
    assert float(r) == r.value and r.to_dict()["layer"] == "0"


def test_matrix_sums_to_ei_parts_and_null_is_the_bias_floor():
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    r = infolens.ei_parts_matrix("0", top, samples=40_000, seed=1, **KW)
    p = infolens.ei_parts("0", top, samples=40_000, seed=1, **KW)
    assert r.matrix.shape == (6, 4)
    assert float(r.matrix.sum()) == pytest.approx(p.value, abs=1e-12)
    assert 0 < r.null < r.value


def test_shuffle_null_matches_the_plugin_bias_and_miller_madow_removes_it():
    # identity map: every output bin is occupied, so plug-in MI of the permuted (independent)
    # pairs is ≈ (Bx-1)(By-1)/(2N ln 2) per pair
    model = nn.Sequential(nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4))
    top = infolens.topology_of(model, torch.zeros(1, 4))
    kw = dict(samples=40_000, seed=1, in_range=(0, 1), out_range=(0, 1), in_bins=16, out_bins=16)
    r = infolens.ei_parts("0", top, **kw)
    expected = 4 * 15 * 15 / (2 * 40_000 * math.log(2))
    assert r.null == pytest.approx(expected, rel=0.25)
    assert r.value == pytest.approx(4 * 4.0 + 12 * expected, rel=0.05)  # 4 bits per diagonal pair
    mm = infolens.ei_parts("0", top, estimator="miller_madow", **kw)
    assert abs(mm.null) < 0.25 * r.null


def test_blocked_counting_under_a_small_memory_cap_equals_one_pass():
    top = infolens.topology_of(mlp(12, 9), torch.zeros(1, 12))
    one = infolens.ei_parts_matrix("0", top, samples=6_000, seed=2, **KW)
    capped = infolens.ei_parts_matrix("0", top, samples=6_000, seed=2, max_memory="1MiB", **KW)
    assert torch.equal(one.matrix, capped.matrix)
    assert one.null == capped.null


def test_onehot_backend_equals_numba_backend():
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    a = infolens.ei_parts_matrix("0", top, samples=5_000, seed=0, backend="numba", **KW)
    b = infolens.ei_parts_matrix("0", top, samples=5_000, seed=0, backend="onehot", **KW)
    # identical counts; MI from the compiled CPU kernel vs the torch formula (rounding only)
    assert torch.allclose(a.matrix, b.matrix, rtol=0, atol=1e-13)


def test_adaptive_mode_is_incremental_and_equals_fixed_samples():
    top = infolens.topology_of(mlp(4, 3), torch.zeros(1, 4))
    r = infolens.ei_parts("0", top, threshold=0.05, seed=5, null=False, **KW)
    assert r.history[0][0] == 10_000 and r.samples == r.history[-1][0]
    (n_prev, e_prev), (n_last, e_last) = r.history[-2], r.history[-1]
    assert n_last == 2 * n_prev and 2 * (e_prev - e_last) / e_last <= 0.05
    fixed = infolens.ei_parts("0", top, samples=r.samples, seed=5, null=False, **KW)
    assert fixed.value == pytest.approx(r.value, abs=1e-12)


def test_adaptive_mode_warns_at_the_sample_cap():
    top = infolens.topology_of(mlp(4, 3), torch.zeros(1, 4))
    with pytest.warns(UserWarning, match="max_samples"):
        r = infolens.ei_parts("0", top, threshold=1e-9, seed=0, max_samples=20_000, null=False, **KW)
    assert r.samples == 20_000


def test_constant_layer_gives_zero_cleanly_in_every_mode():
    m = mlp()
    with torch.no_grad():
        m[0].weight.zero_()
    top = infolens.topology_of(m, torch.zeros(1, 6))
    assert infolens.ei_parts("0", top, samples=2_000, seed=0, **KW).value == 0.0
    assert infolens.ei_parts("0", top, threshold=0.05, seed=0, **KW).value == 0.0
    assert infolens.sensitivity("0", top, samples=2_000, seed=0, **KW).value == 0.0
    assert infolens.ei("0", top, samples=2_000, seed=0, **KW).value == pytest.approx(0.0, abs=1e-12)


def test_pairs_with_no_in_range_samples_are_zero_with_a_warning():
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    with pytest.warns(UserWarning, match="no samples inside the ranges"):
        r = infolens.ei_parts("0", top, samples=1_000, seed=0, **{**KW, "out_range": (5.0, 6.0)})
    assert r.value == 0.0 and r.out_of_range_fraction == 1.0


def test_nan_activations_raise_naming_the_layer():
    m = mlp()
    with torch.no_grad():
        m[0].bias.fill_(float("nan"))
    top = infolens.topology_of(m, torch.zeros(1, 6))
    with pytest.raises(InfolensError, match=r"layer .0..*non-finite"):
        infolens.ei_parts("0", top, samples=1_000, seed=0, **KW)


@pytest.mark.parametrize("rng", [(1.0, 1.0), (2.0, 1.0), (0.0,), "ab"])
def test_empty_or_inverted_ranges_raise(rng):
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    with pytest.raises(InfolensError, match="in_range"):
        infolens.ei_parts("0", top, samples=100, in_range=rng)


def test_bad_layer_and_argument_errors_are_clear():
    m = mlp()
    top = infolens.topology_of(m, torch.zeros(1, 6))
    with pytest.raises(InfolensError, match="valid paths"):
        infolens.ei_parts("features.3", top, samples=100, **KW)
    with pytest.raises(InfolensError, match="estimator"):
        infolens.ei_parts("0", top, samples=100, estimator="ksg", **KW)
    with pytest.raises(InfolensError, match="seed or generator"):
        infolens.ei_parts("0", top, samples=100, seed=1, generator=torch.Generator(), **KW)
    with pytest.raises(InfolensError, match="topology_of"):
        infolens.ei_parts("0", m, samples=100, **KW)
    with pytest.raises(InfolensError, match="max_memory"):
        infolens.ei_parts("0", top, samples=100, max_memory="lots", **KW)


def test_shape_mismatch_in_topology_is_a_clear_error():
    with pytest.raises(InfolensError, match="failed on the example input"):
        infolens.topology_of(mlp(), torch.zeros(1, 7))


def test_relu_range_is_inferred_with_a_warning_never_silently_0_10():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 3), nn.ReLU())
    top = infolens.topology_of(m, torch.zeros(1, 5))
    with pytest.warns(UserWarning, match="out_range.*inferred"):
        r = infolens.ei_parts("0", top, samples=2_000, seed=0, **KW)
    assert r.out_range != (0.0, 10.0) and r.out_range[1] < 5.0
    given = infolens.ei_parts("0", top, samples=2_000, seed=0, out_range=(0, 2), **KW)
    assert given.out_range == (0.0, 2.0)


def test_functional_activations_and_flatten_are_seen():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.flat = nn.Flatten()
            self.drop = nn.Dropout(0.5)
            self.fc2 = nn.Linear(3, 2)

        def forward(self, x):
            h = self.drop(self.flat(torch.tanh(self.fc1(x))))
            return F.hardtanh(self.fc2(h), -0.5, 0.5)

    top = infolens.topology_of(Net().eval(), torch.zeros(2, 4))
    assert top["fc1"].out_activation.name == "tanh"
    assert top["fc2"].in_activation.range == (-1.0, 1.0)
    assert top["fc2"].out_activation.range == (-0.5, 0.5)
    r = infolens.ei_parts("fc2", top, samples=2_000, seed=0, in_bins=8, out_bins=8)
    assert r.in_range == (-1.0, 1.0) and r.out_range == (-0.5, 0.5)


def test_declared_activation_overrides():
    m = nn.Sequential(nn.Linear(3, 2))
    top = infolens.topology_of(m, torch.zeros(1, 3), activations={"0": nn.Sigmoid()})
    assert top["0"].out_activation.range == (0.0, 1.0)
    with pytest.raises(InfolensError, match="not a measurable layer"):
        infolens.topology_of(m, torch.zeros(1, 3), activations={"nope": nn.Sigmoid()})


def test_residual_block_is_measurable_and_in_layer_chains_work():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.sigmoid(x + self.fc(x))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), Block(), nn.Linear(4, 2), nn.Sigmoid())
    top = infolens.topology_of(model, torch.zeros(1, 4))
    r = infolens.ei_parts("2", top, samples=4_000, seed=0, in_range=(0, 1), out_range=(0, 1),
                          in_bins=8, out_bins=8)
    assert r.value > 0 and r.n_pairs == 16
    chain = infolens.ei_parts("3", top, in_layer="2", samples=4_000, seed=0, in_bins=8, out_bins=8)
    assert chain.in_range == (0.0, 1.0) and chain.n_pairs == 8 and chain.value > 0
    with pytest.raises(InfolensError, match="runs before in_layer"):
        infolens.ei_parts("0", top, in_layer="3", samples=100)


def test_conv_layer_equals_its_equivalent_dense_layer():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, kernel_size=3, stride=2, padding=1, dilation=1, groups=1).double()
    x_shape = (2, 5, 5)
    n_in = 2 * 5 * 5
    with torch.no_grad():
        eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *x_shape)
        w_dense = (conv(eye) - conv(torch.zeros(1, *x_shape, dtype=torch.float64))).reshape(n_in, -1).T
        dense = nn.Linear(n_in, w_dense.shape[0]).double()
        dense.weight.copy_(w_dense)
        dense.bias.copy_(conv(torch.zeros(1, *x_shape, dtype=torch.float64)).reshape(-1))
    conv_model = nn.Sequential(conv, nn.Sigmoid())
    dense_model = nn.Sequential(nn.Flatten(), dense, nn.Sigmoid())
    tc = infolens.topology_of(conv_model, torch.zeros(1, *x_shape, dtype=torch.float64))
    td = infolens.topology_of(dense_model, torch.zeros(1, *x_shape, dtype=torch.float64))
    kw = dict(samples=3_000, seed=0, in_range=(0, 1), in_bins=8, out_bins=8)
    rc = infolens.ei_parts_matrix("0", tc, **kw)
    rd = infolens.ei_parts_matrix("1", td, **kw)
    # receptive fields: far fewer pairs than n_in * n_out, and the same pairs as the dense layer
    assert rc.n_pairs == rd.n_pairs < n_in * w_dense.shape[0]
    assert torch.allclose(rc.matrix, rd.matrix, atol=1e-12)
    sc = infolens.sensitivity("0", tc, **kw)
    sd = infolens.sensitivity("1", td, **kw)
    assert sc.value == pytest.approx(sd.value, abs=1e-9)


@pytest.mark.parametrize(
    "pool", [nn.AvgPool2d(2), nn.AvgPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, stride=1, dilation=2)]
)
def test_pooling_uses_receptive_fields(pool):
    model = nn.Sequential(pool, nn.Sigmoid())
    top = infolens.topology_of(model, torch.zeros(1, 1, 6, 6))
    r = infolens.ei_parts_matrix("0", top, samples=2_000, seed=0, in_range=(0, 1), in_bins=4,
                                 out_bins=4, out_range=(0.5, 0.75))
    m = r.matrix
    out_per_in = (m != 0).sum()
    assert 0 < r.n_pairs < 36 * top["0"].n_out
    assert out_per_in <= r.n_pairs


def test_sensitivity_fast_affine_path_equals_the_generic_forward():
    torch.manual_seed(0)
    lin = nn.Linear(5, 3)
    direct = nn.Sequential(lin, nn.Sigmoid())
    wrapped = nn.Sequential(nn.Sequential(lin), nn.Sigmoid())  # a container: generic path
    t1 = infolens.topology_of(direct, torch.zeros(1, 5))
    t2 = infolens.topology_of(wrapped, torch.zeros(1, 5))
    kw = dict(samples=3_000, seed=0, in_range=(0, 1), in_bins=8, out_bins=8)
    a = infolens.sensitivity_matrix("0", t1, **kw)
    b = infolens.sensitivity_matrix("0", t2, **kw)
    assert torch.allclose(a.matrix, b.matrix, atol=1e-12)


def test_vector_ei_groups_and_joint_call_agree():
    top = infolens.topology_of(mlp(3, 2), torch.zeros(1, 3))
    kw = dict(samples=8_000, seed=0, in_range=(0, 1), in_bins=4, out_bins=4)
    v = infolens.ei("0", top, **kw)
    (g_all, g_one) = infolens.eis_between_groups("0", top, [((0, 1, 2), (0, 1)), ((0,), (1,))], **kw)
    assert g_all.value == pytest.approx(v.value, abs=1e-12)
    assert 0 <= g_one.value <= 2.0
    vv, pp = infolens.vector_and_pairwise_ei("0", top, **kw)
    assert vv.value == pytest.approx(v.value, abs=1e-12)
    assert pp.value == pytest.approx(infolens.ei_parts("0", top, **kw).value, abs=1e-12)
    with pytest.raises(InfolensError, match="out of range"):
        infolens.eis_between_groups("0", top, [((0, 5), (0,))], **kw)


def test_vector_ei_of_a_bijective_binned_map_is_the_input_entropy():
    # y = x exactly (identity), 4 bins each: I = H(bin x) = 2 bits per input dimension
    model = nn.Sequential(nn.Identity(), nn.Linear(2, 2, bias=False), nn.Sigmoid())
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    top = infolens.topology_of(model, torch.zeros(1, 2))
    r = infolens.ei("1", top, samples=50_000, seed=0, in_range=(0, 1), in_bins=4, out_bins=4,
                    activation=nn.Identity(), out_range=(0, 1))
    assert r.value == pytest.approx(4.0, abs=0.01)


def test_extrapolate_mode_returns_the_fitted_asymptote():
    top = infolens.topology_of(mlp(2, 1), torch.zeros(1, 2))
    r = infolens.ei_parts("0", top, extrapolate=True, seed=0, null=False, in_range=(0, 1),
                          in_bins=4, out_bins=4, batch_size=100_000)
    assert len(r.history) == 20 and r.samples == 2_000_000
    last = r.history[-1][1]
    assert 0 < r.value <= last + 1e-9


def test_causal_plane_table():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2), nn.Sigmoid())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = infolens.causal_plane(model, torch.rand(4, 4), samples=3_000, in_bins=8,
                                      out_bins=8, input_range=(0, 1), vector_bins=4)
    assert list(table["layer"]) == ["0", "2"]
    row = table.iloc[0]
    assert row["x_prime"] == pytest.approx(row["ei_parts"] / math.sqrt(2))
    assert row["degeneracy"] == pytest.approx(row["sensitivity"] - row["ei_parts"])
    assert row["y_prime"] == pytest.approx((2 * row["sensitivity"] - row["ei_parts"]) / math.sqrt(2))
    assert row["integration"] == pytest.approx(row["ei"] - row["ei_parts"])
    assert (table["units"] == "bits").all()


def test_eval_batchnorm_is_applied_after_the_layer_and_transparent_for_activations():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Sigmoid()).eval()
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(4.0)
    top = infolens.topology_of(model, torch.zeros(2, 3))
    info = top["0"]
    assert info.out_activation.name == "Sigmoid" and info.post[0] is model[1]
    r = infolens.ei_parts("0", top, samples=5_000, seed=0, in_range=(0, 1), in_bins=8, out_bins=8)
    assert r.out_range == (0.0, 1.0)
    # the measured map is sigmoid(bn(linear(x))): compare with a model where BN is folded
    folded = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    with torch.no_grad():
        scale = model[1].weight / torch.sqrt(model[1].running_var + model[1].eps)
        folded[0].weight.copy_(model[0].weight * scale[:, None])
        folded[0].bias.copy_((model[0].bias - model[1].running_mean) * scale + model[1].bias)
    tf = infolens.topology_of(folded, torch.zeros(1, 3))
    rf = infolens.ei_parts("0", tf, samples=5_000, seed=0, in_range=(0, 1), in_bins=8, out_bins=8)
    assert r.value == pytest.approx(rf.value, abs=0.02)


def test_progress_bar_runs_in_every_mode():
    top = infolens.topology_of(mlp(3, 2), torch.zeros(1, 3))
    kw = dict(seed=0, in_range=(0, 1), in_bins=4, out_bins=4, progress=True)
    assert infolens.ei_parts("0", top, threshold=0.05, **kw).value > 0
    assert infolens.sensitivity("0", top, samples=1_000, **kw).value > 0


def test_clip_policy_keeps_out_of_range_samples():
    top = infolens.topology_of(mlp(), torch.zeros(1, 6))
    kw = dict(samples=2_000, seed=0, in_range=(0, 1), in_bins=8, out_bins=8, out_range=(0.45, 0.55))
    drop = infolens.ei_parts("0", top, **kw)
    clip = infolens.ei_parts("0", top, out_of_range="clip", **kw)
    assert drop.out_of_range_fraction == clip.out_of_range_fraction > 0
    assert clip.value != drop.value
    with pytest.raises(InfolensError, match="out_of_range"):
        infolens.ei_parts("0", top, out_of_range="wrap", **kw)
