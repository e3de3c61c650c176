"""NC1: dense reference, streaming, merging (DDP), state, model helper, bad input."""

from __future__ import annotations

import itertools
import math
import threading
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from infolens._validation import InfolensError
from infolens.measures import nc1 as nc1_module
from infolens.measures.nc1 import NC1, measure_nc1, nc1
from infolens.nn.capture import capture, record


def dense_nc1(h: torch.Tensor, y: torch.Tensor, rel_eig_tol: float = 1e-5) -> tuple[float, float]:
    """Direct dense computation: Σ_W and Σ_B formed explicitly, pinv with a relative cutoff."""
    h = h.reshape(h.shape[0], -1).double()
    classes = torch.unique(y)
    c = len(classes)
    n = h.shape[0]
    mu_g = h.mean(0)
    means = torch.stack([h[y == k].mean(0) for k in classes])
    index = torch.searchsorted(classes, y)
    dev = h - means[index]
    sigma_w = dev.T @ dev / n
    m = (means - mu_g).T
    sigma_b = m @ m.T / c
    pinv = torch.linalg.pinv(sigma_b, rtol=rel_eig_tol, hermitian=True)
    trace = float(torch.trace(sigma_w @ pinv))
    return trace / c, trace


def make_data(n: int, d: int, c: int, seed: int, *, unbalanced: bool = True, spread: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    if unbalanced:
        probs = torch.arange(1, c + 1, dtype=torch.float64)
        y = torch.multinomial(probs / probs.sum(), n, replacement=True, generator=g)
        y[:c] = torch.arange(c)  # every class present
    else:
        y = torch.arange(n) % c
    centres = spread * torch.randn(c, d, generator=g, dtype=torch.float64)
    h = centres[y] + torch.randn(n, d, generator=g, dtype=torch.float64)
    return h, y


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


CASES = [
    # (n, d, c): D < C-1, D > N, D >> C, C == 2, general
    (80, 2, 6),
    (30, 50, 4),
    (120, 200, 3),
    (40, 5, 2),
    (200, 16, 10),
]


@pytest.mark.parametrize(("n", "d", "c"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_dense_pinv_both_scales(n, d, c, seed):
    h, y = make_data(n, d, c, seed)
    ref_papyan, ref_trace = dense_nc1(h, y)
    assert rel_err(nc1(h, y, scale="papyan"), ref_papyan) < 1e-9
    assert rel_err(nc1(h, y, scale="trace"), ref_trace) < 1e-9
    # the default is Papyan's normalisation, and trace = C * papyan
    assert nc1(h, y) == nc1(h, y, scale="papyan")
    assert nc1(h, y, scale="trace") == pytest.approx(c * nc1(h, y), rel=1e-12)


def test_float32_features_and_conv_shapes_are_flattened():
    h, y = make_data(60, 12, 3, seed=3)
    h4 = h.float().reshape(60, 3, 2, 2)
    ref, _ = dense_nc1(h4.double(), y)
    assert rel_err(nc1(h4, y), ref) < 1e-6


def test_eigenvalue_cutoff_is_a_parameter():
    # Two class-mean directions of very different size: a coarse cutoff drops the small one.
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [5.0, 0.01]], dtype=torch.float64)
    h = centres[y] + 0.5 * torch.randn(300, 2, generator=g, dtype=torch.float64)
    for tol in (1e-8, 1e-3):
        assert rel_err(nc1(h, y, rel_eig_tol=tol), dense_nc1(h, y, tol)[0]) < 1e-6
    assert nc1(h, y, rel_eig_tol=1e-3) < nc1(h, y, rel_eig_tol=1e-8)


def test_collapsed_features_give_zero_and_spread_increases_it():
    y = torch.arange(30) % 3
    centres = torch.eye(3, 5, dtype=torch.float64)
    assert nc1(centres[y], y) == pytest.approx(0.0, abs=1e-20)
    h_tight, _ = make_data(300, 5, 3, seed=0, unbalanced=False, spread=10.0)
    h_loose, _ = make_data(300, 5, 3, seed=0, unbalanced=False, spread=1.0)
    y = torch.arange(300) % 3
    assert nc1(h_tight, y) < nc1(h_loose, y)


def run_stream(h, y, splits, c, layers=None):
    """Feed the data in the batches delimited by ``splits``, both passes."""
    metric = NC1(num_classes=c)
    bounds = [0, *sorted(set(splits)), len(y)]
    for _ in range(2):
        for a, b in itertools.pairwise(bounds):
            if a == b:
                continue
            feats = h[a:b] if layers is None else {k: v[a:b] for k, v in layers.items()}
            metric.update(feats, y[a:b])
        if metric.phase == "first":
            metric.finish_first_pass()
    return metric.compute()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(8, 60),
    d=st.integers(1, 12),
    c=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_streaming_equals_one_shot_for_any_batch_split(n, d, c, seed, data):
    h, y = make_data(n, d, c, seed)
    splits = data.draw(st.lists(st.integers(0, n), max_size=8))
    res = run_stream(h, y, splits, c)
    one_shot = nc1(h, y)
    assert res["nc1"] == pytest.approx(one_shot, rel=1e-10, abs=1e-12)
    assert res["nc1_trace"] == pytest.approx(c * one_shot, rel=1e-10, abs=1e-12)
    assert res["n"] == n and res["num_classes"] == c


@pytest.mark.parametrize("batch", [1, 7, 200])
def test_batch_size_invariance(batch):
    h, y = make_data(200, 9, 4, seed=5)
    res = run_stream(h, y, list(range(batch, 200, batch)), 4)
    assert rel_err(res["nc1"], dense_nc1(h, y)[0]) < 1e-9


def test_several_layers_at_once_match_functional():
    h1, y = make_data(90, 6, 3, seed=1)
    h2, _ = make_data(90, 40, 3, seed=2)
    layers = {"fc1": h1, "block.2": h2}
    res = run_stream(None, y, [10, 50], 3, layers=layers)
    funct = nc1(layers, y)
    assert set(res) == {"fc1", "block.2"}
    for name, h in layers.items():
        assert rel_err(res[name]["nc1"], dense_nc1(h, y)[0]) < 1e-9
        assert rel_err(funct[name], dense_nc1(h, y)[0]) < 1e-9
        assert res[name]["rank"] == 2


def split_metrics(h, y, c, cut):
    """Two accumulators over two halves of the data (pass 1)."""
    a, b = NC1(num_classes=c), NC1(num_classes=c)
    a.update(h[:cut], y[:cut])
    b.update(h[cut:], y[cut:])
    return a, b


def test_merging_two_accumulators_equals_one_over_union():
    h, y = make_data(100, 7, 4, seed=11)
    a, b = split_metrics(h, y, 4, 37)
    a.merge(b)
    a.finish_first_pass()
    # pass 2 on two accumulators sharing the reduced pass-1 state, then merged
    other = NC1(num_classes=4)
    other.load_state_dict(a.state_dict())
    a.update(h[:60], y[:60])
    other.update(h[60:], y[60:])
    merged = a.merge(other).compute()
    assert rel_err(merged["nc1"], nc1(h, y)) < 1e-10
    # merging is a sum of states: identical to one accumulator over the union
    single = run_stream(h, y, [], 4)
    assert rel_err(merged["nc1"], single["nc1"]) < 1e-12


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(6, 50),
    c=st.integers(2, 4),
    seed=st.integers(0, 2**16),
    cut1=st.floats(0, 1),
    cut2=st.floats(0, 1),
)
def test_merging_equals_the_union_for_any_split_of_the_data(n, c, seed, cut1, cut2):
    h, y = make_data(n, 4, c, seed)
    a, b = split_metrics(h, y, c, round(cut1 * n))
    a.merge(b).finish_first_pass()
    other = NC1(num_classes=c)
    other.load_state_dict(a.state_dict())
    k = round(cut2 * n)
    a.update(h[:k], y[:k])
    other.update(h[k:], y[k:])
    merged = a.merge(other).compute()
    assert merged["nc1"] == pytest.approx(nc1(h, y), rel=1e-10, abs=1e-12)
    assert merged["n"] == n


def test_merge_refuses_mismatched_pass1_states_and_phases():
    h, y = make_data(50, 3, 2, seed=0)
    a, b = split_metrics(h, y, 2, 25)
    a.finish_first_pass()
    with pytest.raises(InfolensError, match="pass"):
        a.merge(b)  # different phases
    b.finish_first_pass()
    with pytest.raises(InfolensError, match="pass-1"):
        a.merge(b)  # pass 2, but unreduced, different pass-1 sums


class FakeGroup:
    """In-process stand-in for ``torch.distributed.all_reduce`` across threads (sum)."""

    def __init__(self, world: int) -> None:
        self.world = world
        self.barrier = threading.Barrier(world)
        self.slots: dict[tuple[int, int], torch.Tensor] = {}

    def all_reduce_for(self, rank: int):
        calls = itertools.count()

        def all_reduce(t: torch.Tensor) -> None:
            k = next(calls)
            self.slots[(k, rank)] = t.clone()
            self.barrier.wait()
            total = sum(self.slots[(k, r)] for r in range(self.world))
            self.barrier.wait()
            t.copy_(total)

        return all_reduce


def test_ddp_style_all_reduce_gives_the_global_result():
    h, y = make_data(90, 5, 3, seed=4)
    shards = [torch.arange(r, 90, 3) for r in range(3)]
    group = FakeGroup(3)
    results: dict[int, dict] = {}

    def rank_main(rank: int) -> None:
        reduce = group.all_reduce_for(rank)
        metric = NC1(num_classes=3)
        idx = shards[rank]
        metric.update(h[idx], y[idx])
        metric.finish_first_pass(all_reduce=reduce)
        metric.update(h[idx], y[idx])
        results[rank] = metric.compute(all_reduce=reduce)
        # compute() reduced copies: calling it again gives the same answer
        assert metric.compute(all_reduce=reduce) == results[rank]

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = nc1(h, y)
    for rank in range(3):
        assert rel_err(results[rank]["nc1"], expected) < 1e-10
        assert results[rank]["n"] == 90


def test_state_dict_round_trip_mid_pass_two_and_reset():
    h, y = make_data(80, 6, 3, seed=2)
    metric = NC1(num_classes=3)
    metric.update(h, y)
    metric.finish_first_pass()
    metric.update(h[:30], y[:30])
    state = metric.state_dict()
    assert all(
        isinstance(v, torch.Tensor) for v in [state["class_counts"], *state["class_sums"].values()]
    )
    resumed = NC1(num_classes=3)
    resumed.load_state_dict(state)
    resumed.update(h[30:], y[30:])
    assert rel_err(resumed.compute()["nc1"], nc1(h, y)) < 1e-12
    resumed.reset()
    assert resumed.phase == "first" and resumed.layers == []
    with pytest.raises(InfolensError, match="num_classes"):
        NC1(num_classes=4).load_state_dict(state)


def test_states_are_fixed_size():
    h, y = make_data(40, 6, 3, seed=0)
    metric = NC1(num_classes=5)
    metric.update(h, y)
    shapes = {k: tuple(v.shape) for k, v in metric.sum_states().items()}
    assert shapes == {"class_sums/features": (5, 6), "class_counts": (5,)}
    metric.update(h, y)
    assert {k: tuple(v.shape) for k, v in metric.sum_states().items()} == shapes


# ---------------------------------------------------------------- bad input


def test_absent_class_is_dropped_with_a_warning():
    h, y = make_data(60, 4, 3, seed=0)
    y4 = torch.where(y == 2, torch.tensor(3), y)  # classes 0, 1, 3 present of 4
    with pytest.warns(UserWarning, match=r"\[2\].*dropped"):
        value = nc1(h, y4, num_classes=4)
    assert rel_err(value, dense_nc1(h, y)[0]) < 1e-9
    metric = NC1(num_classes=4)
    metric.update(h, y4)
    with pytest.warns(UserWarning, match="dropped"):
        metric.finish_first_pass()
    metric.update(h, y4)
    assert metric.compute()["num_classes"] == 3
    # num_classes=None means "the classes present": no warning for the unused label 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rel_err(nc1(h, y4), dense_nc1(h, y)[0]) < 1e-9


def test_fewer_than_two_classes_is_an_error():
    h = torch.randn(10, 3)
    with pytest.raises(InfolensError, match="at least 2 classes"):
        nc1(h, torch.zeros(10, dtype=torch.long))
    metric = NC1(num_classes=3)
    metric.update(h, torch.ones(10, dtype=torch.long))
    with pytest.raises(InfolensError, match="at least 2 classes"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric.finish_first_pass()


def test_non_finite_features_name_the_layer():
    h, y = make_data(20, 3, 2, seed=0)
    bad = h.clone()
    bad[3, 1] = math.nan
    with pytest.raises(InfolensError, match=r"'block\.2'"):
        nc1({"fc1": h, "block.2": bad}, y)
    metric = NC1(num_classes=2)
    bad[3, 1] = math.inf
    metric.update({"fc1": h, "conv3": h}, y)
    before = metric.state_dict()
    with pytest.raises(InfolensError, match=r"'conv3'.*non-finite"):
        metric.update({"fc1": h, "conv3": bad}, y)
    after = metric.state_dict()  # a failed update changes no state
    assert torch.equal(after["class_counts"], before["class_counts"])
    assert all(torch.equal(after["class_sums"][k], v) for k, v in before["class_sums"].items())
    metric.finish_first_pass()
    bad[3, 1] = -math.inf
    with pytest.raises(InfolensError, match=r"'conv3'.*non-finite"):
        metric.update({"fc1": h, "conv3": bad}, y)  # detected in pass 2 as well
    assert int(metric.class_counts_pass2.sum()) == 0


def test_pass_two_must_see_the_same_data():
    h, y = make_data(40, 3, 2, seed=0)
    metric = NC1(num_classes=2)
    with pytest.raises(InfolensError, match="both passes"):
        metric.update(h, y)
        metric.compute()
    metric.finish_first_pass()
    metric.update(h[:-1], y[:-1])
    with pytest.raises(InfolensError, match="identical data"):
        metric.compute()


def test_coinciding_class_means_give_nan_with_warning():
    y = torch.arange(20) % 2
    h = torch.ones(20, 3)
    with pytest.warns(RuntimeWarning, match="coincide"):
        assert math.isnan(nc1(h, y))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda h, y: nc1(h, y.float()), "integer"),
        (lambda h, y: nc1(h, y[:-1]), "one label per sample"),
        (lambda h, y: nc1(h, y, num_classes=2), r"\[0, num_classes=2\)"),
        (lambda h, y: nc1(h, y, scale="papan"), "'papyan', 'trace'"),
        (lambda h, y: nc1(h, y, rel_eig_tol=2.0), "rel_eig_tol"),
        (lambda h, y: nc1(h.long(), y), "floating-point"),
        (lambda h, y: NC1(num_classes=3).update(h, y.reshape(2, -1)), "1-D"),
    ],
)
def test_bad_arguments_are_named(call, match):
    h, y = make_data(30, 3, 3, seed=0)
    with pytest.raises(InfolensError, match=match):
        call(h, y)


def test_changing_layers_between_updates_is_an_error():
    h, y = make_data(20, 3, 2, seed=0)
    metric = NC1(num_classes=2)
    metric.update({"a": h}, y)
    with pytest.raises(InfolensError, match="same layers"):
        metric.update({"b": h}, y)
    with pytest.raises(InfolensError, match="features per sample"):
        metric.update({"a": h[:, :2]}, y)


# ---------------------------------------------------------------- measuring a model


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 4), nn.Tanh()
    )


def test_measure_model_runs_both_passes_frozen_in_eval_mode():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, 4, generator=g)
    y = torch.arange(64) % 3
    model = small_model()
    model.train()
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    res = measure_nc1(model, loader, ["2", model[5]], num_classes=3)
    assert model.training  # mode restored
    assert set(res) == {"2", "5"}
    model.eval()
    with torch.no_grad(), capture(model, ["2", "5"]) as feats:
        model(x)  # eval mode: dropout off, the same network in both passes
    for name in ("2", "5"):
        assert rel_err(res[name]["nc1"], dense_nc1(feats[name], y)[0]) < 1e-6
        assert res[name]["n"] == 64
    assert all(not p.requires_grad or p.grad is None for p in model.parameters())


def test_measure_model_bad_path_lists_valid_paths_and_warns_on_batch_stat_bn():
    model = small_model()
    loader = DataLoader(TensorDataset(torch.randn(8, 8), torch.arange(8) % 2), batch_size=4)
    with pytest.raises(InfolensError, match="valid paths"):
        measure_nc1(model, loader, ["fc9"], num_classes=2)
    bn_model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.warns(UserWarning, match="batch statistics"):
        measure_nc1(bn_model, loader, ["1"], num_classes=2)


def test_capture_flattens_and_removes_hooks():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with capture(model, ["0"]) as feats:
        model(torch.zeros(5, 1, 6, 6))
        assert tuple(feats["0"].shape) == (5, 2 * 4 * 4)
    assert not model[0]._forward_hooks
    with pytest.raises(RuntimeError), capture(model, "1"):
        raise RuntimeError("boom")
    assert not model[1]._forward_hooks


@pytest.mark.parametrize("cache_memory", [None, "1MiB", 2**20 + 1])
def test_measure_model_feature_cache_gives_the_same_result(cache_memory):
    # 300 samples x (16 + 6) float32 features ~ 26 kB: "1MiB" caches, None runs two sweeps.
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 6))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 8, generator=g), torch.arange(300) % 4
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    res = measure_nc1(model, loader, ["0", "2"], num_classes=4, cache_memory=cache_memory)
    with torch.no_grad():
        pre = model[0](x)  # the Linear output, before the in-place ReLU overwrites it
        out = model[2](torch.relu(pre))
    assert rel_err(res["0"]["nc1"], dense_nc1(pre, y)[0]) < 1e-6
    assert rel_err(res["2"]["nc1"], dense_nc1(out, y)[0]) < 1e-6


def test_measure_model_runs_a_second_sweep_when_the_cache_overflows():
    calls = []
    model = nn.Sequential(nn.Linear(8, 4000))
    model.register_forward_hook(lambda *_: calls.append(1))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 8, generator=g), torch.arange(200) % 2
    loader = DataLoader(TensorDataset(x, y), batch_size=50)
    # the hooked features (4000 float32 per sample) exceed 1 MiB after ~66 samples
    small = measure_nc1(model, loader, ["0"], num_classes=2, cache_memory="1MiB")
    assert len(calls) == 8  # two sweeps of 4 batches
    calls.clear()
    measure_nc1(model, loader, ["0"], num_classes=2, cache_memory="64MiB")
    assert len(calls) == 4  # one sweep, pass 2 replayed from the cache
    with torch.no_grad():
        assert rel_err(small["0"]["nc1"], nc1(model(x), y)) < 1e-6  # D = 4000: no dense pinv


def test_measure_model_cache_spans_several_chunks_with_uneven_batches(monkeypatch):
    # Small chunks: batches of 13 (and a last one of 5) land in several cache buffers; the
    # result must equal the one-shot functional form on the same features.
    monkeypatch.setattr(nc1_module, "_CHUNK_BYTES", 40 * (16 + 6) * 8)  # 80 float32 rows per chunk
    monkeypatch.setattr(nc1_module, "_SMALL_BYTES", 40 * (16 + 6) * 8)  # a float64 first chunk
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 6))
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(200, 8, generator=g), torch.randint(0, 5, (200,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=13)
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    res = measure_nc1(model, loader, ["0", "2"], num_classes=5)
    assert len(calls) == len(loader)  # one sweep: pass 2 ran from the cache
    with torch.no_grad():
        pre = model[0](x)
        out = model[2](torch.relu(pre))
    assert rel_err(res["0"]["nc1"], nc1(pre, y)) < 1e-12
    assert rel_err(res["2"]["nc1"], nc1(out, y)) < 1e-12
    assert res["0"]["n"] == 200


def test_measure_model_cached_sweep_reports_bad_features_and_labels():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with torch.no_grad():
        model[1].bias.fill_(math.inf)
    x, y = torch.randn(40, 4), torch.arange(40) % 2
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    with pytest.raises(InfolensError, match=r"'1'.*non-finite"):
        measure_nc1(model, loader, ["0", "1"], num_classes=2)
    good = nn.Sequential(nn.Linear(4, 3))
    bad_labels = DataLoader(TensorDataset(x, torch.arange(40) % 3), batch_size=10)
    with pytest.raises(InfolensError, match=r"num_classes=2"):
        measure_nc1(good, bad_labels, ["0"], num_classes=2)


def test_capture_store_callback_replaces_the_clone():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True))
    buffer = torch.zeros(5, 4)

    def store(path, out):
        return buffer.copy_(out) if path == "0" else None

    with torch.no_grad(), capture(model, ["0"], store=store) as feats:
        x = torch.randn(5, 3)
        model(x)
        assert feats["0"] is buffer
        torch.testing.assert_close(buffer, model[0](x))  # the copy predates the in-place ReLU


# -- measure_nc1 fast path (children of an nn.Sequential run one by one) and cache layout ------


def force_hooks(model: nn.Module) -> nn.Module:
    """A no-op hook on the model itself: measure_nc1 must then use capture's hooks."""
    model.register_forward_hook(lambda *_: None)
    return model


def counting(module: nn.Module) -> list:
    calls: list = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def mlp_with_inplace_relu(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(8, 6), nn.ReLU(inplace=True), nn.Linear(6, 5), nn.Tanh(),
        nn.Linear(5, 3),
    )  # fmt: skip


@pytest.mark.parametrize("cache_memory", ["1GiB", None])
def test_sequential_fast_path_equals_hook_path_exactly(cache_memory):
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(150, 2, 4, generator=g), torch.randint(0, 4, (150,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    layers = ["1", "2", "4"]  # "1" is overwritten by the in-place ReLU right after it runs
    fast_model = mlp_with_inplace_relu(0)
    assert nc1_module._sequential_steps(fast_model, layers) is not None
    head_calls = counting(fast_model[5])
    fast = measure_nc1(fast_model, loader, layers, num_classes=4, cache_memory=cache_memory)
    assert head_calls == []  # the head is not needed for NC1: the fast path stops before it
    hooked_model = force_hooks(mlp_with_inplace_relu(0))
    assert nc1_module._sequential_steps(hooked_model, layers) is None
    hooked = measure_nc1(hooked_model, loader, layers, num_classes=4, cache_memory=cache_memory)
    assert fast == hooked  # the same features, the same arithmetic
    with torch.no_grad():
        pre = fast_model[1](x.flatten(1))  # before the in-place ReLU
        out4 = fast_model[4](fast_model[3](torch.relu(pre)))
    assert rel_err(fast["1"]["nc1"], dense_nc1(pre, y)[0]) < 1e-10
    assert rel_err(fast["2"]["nc1"], dense_nc1(torch.relu(pre), y)[0]) < 1e-10
    assert rel_err(fast["4"]["nc1"], dense_nc1(out4, y)[0]) < 1e-10


def test_zoo_model_takes_the_fast_path_with_the_same_result():
    from infolens.models import build_model

    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(120, 12, generator=g), torch.randint(0, 3, (120,), generator=g)
    batches = [(x[i : i + 25], y[i : i + 25]) for i in range(0, 120, 25)]
    torch.manual_seed(0)
    zoo = build_model("MLP", input_shape=(12,), num_classes=3)
    points = zoo.measurement_points
    assert nc1_module._sequential_steps(zoo, points) is not None
    fast = measure_nc1(zoo, batches, points, num_classes=3)
    hooked = measure_nc1(force_hooks(zoo), batches, points, num_classes=3)
    assert fast == hooked


def test_fast_path_is_not_used_when_hooks_would_see_something_else():
    torch.manual_seed(5)
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Linear(4, 6), relu, nn.Linear(6, 6), relu)  # "1" fires twice
    nested = nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.ReLU()), nn.Linear(6, 3))

    class Custom(nn.Sequential):
        def forward(self, x):
            return super().forward(2 * x)

    custom = Custom(nn.Linear(4, 3), nn.Tanh())
    assert nc1_module._sequential_steps(shared, ["1"]) is None
    assert nc1_module._sequential_steps(nested, ["0.1"]) is None
    assert nc1_module._sequential_steps(custom, ["1"]) is None
    assert nc1_module._sequential_steps(nested, ["0", "0"]) is None  # capture reports it
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(80, 4, generator=g), torch.arange(80) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with torch.no_grad():
        expected = {
            "shared": dense_nc1(shared(x), y)[0],  # the hook keeps the last output
            "nested": dense_nc1(nested[0](x), y)[0],
            "custom": dense_nc1(custom(x), y)[0],
        }
    got = {
        "shared": measure_nc1(shared, loader, ["1"], num_classes=3)["1"]["nc1"],
        "nested": measure_nc1(nested, loader, ["0.1"], num_classes=3)["0.1"]["nc1"],
        "custom": measure_nc1(custom, loader, ["1"], num_classes=3)["1"]["nc1"],
    }
    for name, value in got.items():
        assert rel_err(value, expected[name]) < 1e-10, name


class ToBFloat16(nn.Module):
    def forward(self, x):
        return x.to(torch.bfloat16)


@pytest.mark.parametrize("force_index_add", [False, True])
@pytest.mark.parametrize("block_rows", [None, 7])
def test_cache_casts_to_float64_exactly_in_any_block_layout(
    monkeypatch, block_rows, force_index_add
):
    # The cache keeps each layer in its own dtype (float32, float64, bfloat16 here) and casts to
    # float64 block by block; blocks of 7 rows reuse the scratch buffer, and pass 1 sums classes
    # by a one-hot GEMM or by index_add_. All must equal the one-shot functional form.
    monkeypatch.setattr(nc1_module, "_SMALL_BYTES", 0)  # no float64 first chunk: cast in the passes
    if block_rows is not None:
        monkeypatch.setattr(nc1_module, "_BLOCK_BYTES", 8 * 16 * block_rows)
    if force_index_add:
        monkeypatch.setattr(nc1_module, "_ONEHOT_SIZE", 0)
    torch.manual_seed(6)
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 6).double(), ToBFloat16()
    )
    model[2].register_forward_pre_hook(lambda _m, args: (args[0].double(),))
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(90, 8, generator=g), torch.randint(0, 5, (90,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=20)
    res = measure_nc1(model, loader, ["0", "2", "3"], num_classes=5)
    with torch.no_grad():
        pre = model[0](x)
        out2 = model[2](torch.relu(pre).double())
    assert out2.dtype == torch.float64
    assert rel_err(res["0"]["nc1"], nc1(pre, y)) < 1e-12
    assert rel_err(res["2"]["nc1"], nc1(out2, y)) < 1e-12
    assert rel_err(res["3"]["nc1"], nc1(out2.to(torch.bfloat16), y)) < 1e-12
    monkeypatch.undo()  # the default: this small data set is cached in float64 from the start
    default = measure_nc1(model, loader, ["0", "2", "3"], num_classes=5)
    for name in res:
        assert rel_err(default[name]["nc1"], res[name]["nc1"]) < 1e-12


@pytest.mark.parametrize("float64_chunk", [True, False])
def test_cache_handles_a_layer_that_changes_dtype(monkeypatch, float64_chunk):
    if not float64_chunk:
        monkeypatch.setattr(nc1_module, "_SMALL_BYTES", 0)

    class Upcast(nn.Module):  # float32 for the first two batches, then float64 (same values)
        calls = 0

        def forward(self, x):
            self.calls += 1
            return x if self.calls <= 2 else x.double()

    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(8, 5), Upcast())
    calls = counting(model[0])
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(60, 8, generator=g), torch.arange(60) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    res = measure_nc1(model, loader, ["1"], num_classes=3)
    # a float64 first chunk takes both dtypes; float64 does not fit a float32 chunk: the
    # cache is dropped, the rest streamed, and pass 2 runs a second sweep
    assert len(calls) == (6 if float64_chunk else 12)
    with torch.no_grad():
        assert rel_err(res["1"]["nc1"], nc1(model[0](x), y)) < 1e-12


def test_record_is_what_the_hooks_store():
    out = torch.arange(24.0).reshape(2, 3, 4)
    kept = record((out, "aux"), "layer")
    assert kept.shape == (2, 12) and torch.equal(kept, out.reshape(2, 12))
    assert kept.data_ptr() != out.data_ptr()  # a copy (clone=True)
    assert record(out, "layer", clone=False, flatten=False) is not out  # detached view
    buffer = torch.zeros(2, 12)
    assert record(out, "layer", store=lambda _p, o: buffer.copy_(o)) is buffer
    with pytest.raises(InfolensError, match="not a tensor"):
        record("text", "layer")
