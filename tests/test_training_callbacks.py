"""The EI, weight-graph EI, complexity and information-plane callbacks.

Each callback's records equal the direct measure on the same model; records carry unit,
estimator, bins and samples; state round-trips; two simulated DDP ranks (threads exchanging
objects through a barrier) give the single-process records exactly; bad input is rejected; and
all four run inside a short Lightning fit.
"""

from __future__ import annotations

import contextlib
import copy
import math
import pickle
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import nn

from infolens._validation import InfolensError, InfolensWarning
from infolens.measures.causal_plane import causal_plane
from infolens.measures.complexity import representational_complexity
from infolens.measures.info_plane import information_plane
from infolens.measures.weight_ei import weight_ei
from infolens.nn.quantization import QuantSpec, quantize
from infolens.training.callbacks._base import Dist
from infolens.training.callbacks.complexity import ComplexityCallback
from infolens.training.callbacks.ei import EICallback
from infolens.training.callbacks.info_plane import InfoPlaneCallback
from infolens.training.callbacks.weight_ei import WeightEICallback
from infolens.training.records import COLUMNS

# --------------------------------------------------------------------------------------------
# Fixtures: a zoo-like model (top-level blocks layer_k, a head, measurement_points) and data
# --------------------------------------------------------------------------------------------


class Zoo(nn.Sequential):
    """Like the model zoo: layer_k = Sequential(Linear, NL), a head, ``measurement_points``."""

    def __init__(self, widths=(5, 3), n_in=6, act=nn.Tanh):
        blocks, prev = OrderedDict(), n_in
        for k, w in enumerate(widths, start=1):
            blocks[f"layer_{k}"] = nn.Sequential(nn.Linear(prev, w), act())
            prev = w
        blocks["head"] = nn.Linear(prev, 2)
        super().__init__(blocks)
        self.measurement_points = [f"layer_{k}" for k in range(1, len(widths) + 1)]


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return Zoo(**kw).eval()


def _data(n=203, seed=1, n_in=6):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 2, (n, n_in), generator=g).float()
    y = ((X[:, :3].sum(dim=1) >= 2) ^ (torch.rand(n, generator=g) < 0.1)).long()
    return X, y


def _by(rows, measure, layer, split=None):
    hit = [r for r in rows if r["measure"] == measure and r["layer"] == layer
           and (split is None or r["split"] == split)]
    assert len(hit) == 1, (measure, layer, split, hit)
    return hit[0]


def _values(rows):
    """Comparable record contents (NaN, e.g. C of a layer with I = 0, equals NaN here)."""
    return [(r["split"], r["layer"], r["measure"], "nan" if math.isnan(r["value"]) else r["value"],
             r["samples"], r["bins"]) for r in rows]


@contextlib.contextmanager
def _quiet():
    """Silence infolens warnings (plug-in bias, inferred limits) where they are not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfolensWarning)
        yield


# --------------------------------------------------------------------------------------------
# Two simulated DDP ranks: threads that exchange picklable objects through a barrier
# --------------------------------------------------------------------------------------------


class _Board:
    def __init__(self, world: int) -> None:
        self.barrier = threading.Barrier(world, timeout=60)
        self.slots: list[Any] = [None] * world

    def gather(self, rank: int, obj: Any) -> list[Any]:
        self.slots[rank] = pickle.loads(pickle.dumps(obj))  # as torch.distributed would ship it
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


@dataclass(frozen=True)
class ThreadDist(Dist):
    """A ``Dist`` whose collectives run between threads of this process."""

    board: Any = field(default=None, compare=False)

    def all_gather_object(self, obj: Any) -> list[Any]:
        return self.board.gather(self.rank, obj)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return sum(self.all_gather_object(tensor.detach().clone()))


def _run_ranks(make_callback, model, world=2, epoch=0):
    """Each rank measures its own copy of the model with its own callback; returns the records."""
    board = _Board(world)
    results: list[Any] = [None] * world
    errors: list[BaseException] = []

    def rank_main(rank):
        try:
            cb = make_callback()
            results[rank] = (cb, cb.measure_now(copy.deepcopy(model), epoch=epoch,
                                                dist=ThreadDist(rank, world, board)))
        except BaseException as err:  # surfaced in the main thread
            errors.append(err)
            board.barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# --------------------------------------------------------------------------------------------
# EI and the causal plane
# --------------------------------------------------------------------------------------------

EI_KW = dict(input_range=(0, 1), samples=1500, in_bins=8, out_bins=8, seed=3)


def test_ei_callback_equals_causal_plane():
    model = _model()
    cb = EICallback(**EI_KW)
    rows = cb.measure_now(model, epoch=2, step=7)
    assert tuple(rows[0])[: len(COLUMNS)] == COLUMNS
    # blocks are measured through their last affine layer, named by the measurement point
    df = causal_plane(model, cb.example_input(model), layers=["layer_1.0", "layer_2.0"],
                      samples=1500, in_bins=8, out_bins=8, input_range=(0, 1), seed=3)
    for point, (_, r) in zip(["layer_1", "layer_2"], df.iterrows()):
        for m in ("sensitivity", "ei_parts", "degeneracy", "x_prime", "y_prime", "ei"):
            rec = _by(rows, m, point)
            assert rec["value"] == r[m] and rec["unit"] == "bits" and rec["split"] == ""
            assert (rec["epoch"], rec["step"]) == (2, 7)
        assert _by(rows, "ei_null", point)["value"] == r["ei_null"]
        pair, vec = _by(rows, "ei_parts", point), _by(rows, "ei", point)
        assert pair["estimator"] == "exact" and pair["samples"] is None and pair["bins"] == "8x8"
        assert vec["estimator"] == "miller_madow" and vec["samples"] == 1500
        assert pair["value"] == pytest.approx(math.sqrt(2) * _by(rows, "x_prime", point)["value"])
    # re-measuring gives the same values (the noise seed is fixed, common across epochs)
    again = EICallback(**EI_KW).measure_now(model, epoch=3)
    assert [r["value"] for r in again] == [r["value"] for r in rows]
    # explicit module paths of a plain Sequential, sampled estimator, no vector/null
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    rows = EICallback(["0"], input_range=(0, 1), samples=500, in_bins=4, out_bins=4,
                      estimator="plugin", vector=False, null=False).measure_now(plain, epoch=0)
    assert {r["measure"] for r in rows} == {"sensitivity", "ei_parts", "degeneracy", "x_prime",
                                            "y_prime"}
    assert all(r["estimator"] == "plugin" and r["samples"] == 500 for r in rows)


def test_ei_callback_under_ddp_computes_on_rank0_and_shares():
    model = _model()
    single = EICallback(**EI_KW).measure_now(copy.deepcopy(model), epoch=0)
    calls = []

    class Spy(EICallback):
        def _records(self, model, epoch, step):
            calls.append(1)
            return super()._records(model, epoch, step)

    results = _run_ranks(lambda: Spy(**EI_KW), model)
    assert len(calls) == 1  # only rank 0 computed
    assert results[0][1] == results[1][1] == single
    # an error on rank 0 is raised on every rank instead of hanging the other one
    with pytest.raises(InfolensError, match="valid paths"):
        _run_ranks(lambda: EICallback(["nope"], **EI_KW), model)


# --------------------------------------------------------------------------------------------
# Weight-graph EI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["foresight", "hoel"])
def test_weight_ei_callback_equals_weight_ei(convention):
    model = _model(widths=(5, 4, 3))
    with torch.no_grad():  # a dead row (all outgoing weights <= 0) makes the conventions differ
        model.layer_2[0].weight[:, 0] = -1.0
    rows = WeightEICallback((6,), convention=convention).measure_now(model, epoch=1)
    whole = weight_ei(model, torch.zeros(1, 6), convention=convention)
    for m in ("ei", "determinism", "degeneracy"):
        assert _by(rows, f"weight_{m}", "")["value"] == getattr(whole, m)
    assert _by(rows, "weight_effectiveness", "")["value"] == whole.effectiveness
    assert _by(rows, "weight_effectiveness", "")["unit"] == "1"
    # each layer: its own bipartite graph measured alone, in the same convention
    for path, n_in in [("layer_1.0", 6), ("layer_2.0", 5), ("layer_3.0", 4), ("head", 3)]:
        alone = weight_ei(model.get_submodule(path), torch.zeros(1, n_in), convention=convention)
        for m in ("ei", "determinism", "degeneracy"):
            assert _by(rows, f"weight_{m}", path)["value"] == pytest.approx(getattr(alone, m),
                                                                            abs=1e-12)
    assert all(r["unit"] in ("bits", "1") and r["estimator"] == f"{convention}, norm=lin"
               and r["samples"] is None and r["bins"] is None for r in rows)
    dead = _by(rows, "weight_ei", "layer_2.0")["value"]
    foresight = weight_ei(model.layer_2[0], torch.zeros(1, 5), convention="foresight").ei
    assert (dead == pytest.approx(foresight)) == (convention == "foresight")


def test_weight_ei_callback_input_shape_from_the_model():
    model = _model()
    model.input_shape = (6,)
    a = WeightEICallback().measure_now(model, epoch=0)
    b = WeightEICallback((6,)).measure_now(model, epoch=0)
    assert _values(a) == _values(b)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh())
    with pytest.raises(InfolensError, match="input_shape="):
        WeightEICallback().measure_now(conv, epoch=0)
    with pytest.warns(InfolensWarning, match="sparsity"):
        rows = WeightEICallback((1, 5, 5), norm="sig", schedule=2).measure_now(conv, epoch=0)
    assert _by(rows, "weight_ei", "0")["estimator"] == "foresight, norm=sig"


# --------------------------------------------------------------------------------------------
# Representational complexity
# --------------------------------------------------------------------------------------------


def _complexity_records_match(rows, res, layer, split, levels):
    assert _by(rows, "pid_I", layer, split)["value"] == res.mutual_information
    c = _by(rows, "pid_C", layer, split)
    assert c["value"] == res.complexity or (math.isnan(c["value"]) and math.isnan(res.complexity))
    assert c["unit"] == "1" and c["estimator"] == "plugin" and c["samples"] == res.n_samples
    assert c["bins"] == f"{levels} levels on [-1, 1]"
    atoms = [_by(rows, f"pid_Pi_{m}", layer, split) for m in range(1, len(res.degree_atoms) + 1)]
    assert [a["value"] for a in atoms] == [float(v) for v in res.degree_atoms]
    assert all(a["unit"] == "bits" for a in atoms)
    assert _by(rows, "pid_N", layer, split)["value"] == res.n_samples
    assert _by(rows, "pid_R", layer, split)["value"] == res.n_states


def test_complexity_callback_equals_representational_complexity():
    model, (X, y) = _model(), _data()
    Xt, yt = _data(n=64, seed=5)
    with pytest.warns(InfolensWarning, match="possible joint states"):
        rows = ComplexityCallback(data={"train": (X, y), "test": (Xt, yt)}, levels=3,
                                  null=2, seed=4, batch_size=50).measure_now(model, epoch=0)
    for split, data in [("train", (X, y)), ("test", (Xt, yt))]:
        for layer in ("layer_1", "layer_2"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InfolensWarning)
                res = representational_complexity(model, data, layer, levels=3, limits=(-1, 1),
                                                  null=2, seed=4)
            _complexity_records_match(rows, res, layer, split, 3)
            assert _by(rows, "pid_I_null", layer, split)["value"] == np.mean(
                res.null.mutual_information)
    # subsampled sources record the spread of C over the subsets
    rows = ComplexityCallback(["layer_1"], (X, y), levels=2, sources=2, n_subsets=3,
                              subset_seed=9).measure_now(model, epoch=0)
    res = representational_complexity(model, (X, y), "layer_1", levels=2, limits=(-1, 1),
                                      sources=2, n_subsets=3, subset_seed=9)
    _complexity_records_match(rows, res, "layer_1", "train", 2)
    assert _by(rows, "pid_C_std", "layer_1")["value"] == res.estimate.complexity_std


def test_complexity_callback_uses_a_quantized_layers_own_levels():
    model, (X, y) = _model(), _data()
    quantize(model, {"layer_2": QuantSpec(levels=4, limits=(-1, 1))}, seed=0)
    with _quiet():
        rows = ComplexityCallback(data=(X, y), levels=2).measure_now(model, epoch=0)
    assert _by(rows, "pid_C", "layer_2")["bins"] == "4 levels on [-1, 1]"
    assert _by(rows, "pid_C", "layer_1")["bins"] == "2 levels on [-1, 1]"
    with _quiet():
        res = representational_complexity(model, (X, y), "layer_2")
    _complexity_records_match(rows, res, "layer_2", "train", 4)


# --------------------------------------------------------------------------------------------
# Information plane
# --------------------------------------------------------------------------------------------


def test_info_plane_callback_equals_information_plane():
    model, (X, y) = _model(), _data()
    cb = InfoPlaneCallback(data=(X, y.float()), bins=12, batch_size=40)  # BCE-style float labels
    rows = cb.measure_now(model, epoch=4, step=40)
    df = information_plane(model, (X, y), bins=12)
    for _, r in df.iterrows():
        for m in ("I_XT", "I_TY"):
            rec = _by(rows, m, r.layer, "train")
            assert rec["value"] == r[m] and rec["unit"] == "bits" and rec["estimator"] == "plugin"
            assert rec["samples"] == len(X) and rec["bins"] == "12 on [-1, 1]"
    # an unbounded layer is binned over its observed range, with one warning per layer
    relu = _model(act=nn.ReLU)
    cb = InfoPlaneCallback(data=(X, y), bins=5, estimator="miller_madow")
    with pytest.warns(InfolensWarning, match="observed range"):
        rows = cb.measure_now(relu, epoch=0)
    with pytest.warns(InfolensWarning, match="inferred"):
        df = information_plane(relu, (X, y), bins=5, estimator="miller_madow")
    assert [r["value"] for r in rows] == [v for pair in zip(df.I_XT, df.I_TY) for v in pair]
    lo, hi = df.limits[0]
    assert _by(rows, "I_XT", "layer_1")["bins"] == f"5 on [{lo:.6g}, {hi:.6g}]"


# --------------------------------------------------------------------------------------------
# Two simulated ranks equal one process (counts merged exactly)
# --------------------------------------------------------------------------------------------


def test_two_shards_equal_single_process_for_info_plane_and_complexity():
    relu = _model(act=nn.ReLU)  # also exercises the all-rank min/max of inferred limits
    X, y = _data(n=157)
    data = {"train": (X, y), "test": (X[:31], y[:31])}
    with _quiet():
        single = InfoPlaneCallback(data=data, bins=7).measure_now(copy.deepcopy(relu), epoch=0)
    with _quiet():
        ranks = _run_ranks(lambda: InfoPlaneCallback(data=data, bins=7), relu)
    assert _values(ranks[0][1]) == _values(ranks[1][1]) == _values(single)

    tanh = _model(widths=(4, 3))
    kw = dict(data=data, levels=3, null=1, seed=2)
    with _quiet():
        single = ComplexityCallback(**kw).measure_now(copy.deepcopy(tanh), epoch=0)
    with _quiet():
        ranks = _run_ranks(lambda: ComplexityCallback(**kw), tanh)
    assert _values(ranks[0][1]) == _values(ranks[1][1]) == _values(single)
    # more ranks than samples in a split: empty shards count nothing and merge cleanly
    tiny = {"train": (X[:2], y[:2])}
    with _quiet():
        ranks = _run_ranks(lambda: InfoPlaneCallback(data=tiny), tanh, world=3)
    assert _by(ranks[2][1], "I_XT", "layer_1")["samples"] == 2


# --------------------------------------------------------------------------------------------
# State, bad input
# --------------------------------------------------------------------------------------------


def test_state_round_trip():
    model, (X, y) = _model(), _data(n=40)
    for make in (lambda: InfoPlaneCallback(data=(X, y)),
                 lambda: WeightEICallback((6,)),
                 lambda: ComplexityCallback(data=(X, y), levels=2)):
        cb = make()
        with _quiet():
            cb.measure_now(model, epoch=0)
            cb.measure_now(model, epoch=3)
        state = pickle.loads(pickle.dumps(cb.state_dict()))
        fresh = make()
        fresh.load_state_dict(state)
        assert fresh.measured_epochs == [0, 3] and fresh.records == cb.records


def test_bad_input():
    model, (X, y) = _model(), _data(n=20)
    with pytest.raises(TypeError, match="data="):
        InfoPlaneCallback()
    with pytest.raises(TypeError, match="data="):
        ComplexityCallback(["layer_1"])
    with pytest.raises(InfolensError, match="bins must be an integer >= 2"):
        InfoPlaneCallback(data=(X, y), bins=1)
    with pytest.raises(InfolensError, match="estimator"):
        InfoPlaneCallback(data=(X, y), estimator="nsb")
    with pytest.raises(InfolensError, match="limits"):
        InfoPlaneCallback(data=(X, y), limits=(1, -1))
    with pytest.raises(InfolensError, match="levels must be an integer >= 2"):
        ComplexityCallback(data=(X, y), levels=1)
    with pytest.raises(InfolensError, match="null must be"):
        ComplexityCallback(data=(X, y), null=-1)
    with pytest.raises(InfolensError, match="input_range"):
        EICallback(input_range=(1, 0))
    with pytest.raises(TypeError):
        EICallback()  # input_range is required
    with pytest.raises(InfolensError, match="estimator"):
        EICallback(input_range=(0, 1), estimator="magic")
    with pytest.raises(InfolensError, match="norm"):
        WeightEICallback(norm="l2")
    with pytest.raises(InfolensError, match="convention"):
        WeightEICallback(convention="einet")
    plain = nn.Sequential(nn.Linear(6, 3), nn.Tanh())
    for cb in (InfoPlaneCallback(data=(X, y)), ComplexityCallback(data=(X, y)),
               EICallback(input_range=(0, 1))):
        with pytest.raises(InfolensError, match=r"measurement_points.*layers="):
            cb.measure_now(plain, epoch=0)
    with pytest.raises(InfolensError, match="valid paths"):
        InfoPlaneCallback(["layer_9"], data=(X, y)).measure_now(model, epoch=0)
    with pytest.raises(InfolensError, match="negative"):
        InfoPlaneCallback(data=(X, y - 1)).measure_now(model, epoch=0)
    with pytest.raises(InfolensError, match="integer codes"):
        ComplexityCallback(data=(X, y + 0.5)).measure_now(model, epoch=0)
    with pytest.raises(InfolensError, match="unbounded"):
        ComplexityCallback(data=(X, y)).measure_now(_model(act=nn.ReLU), epoch=0)
    bad = _model()
    with torch.no_grad():
        bad.layer_2[0].weight.fill_(float("nan"))
    with pytest.raises(InfolensError, match=r"layer 'layer_2'.*non-finite"):
        InfoPlaneCallback(data=(X, y)).measure_now(bad, epoch=0)


# --------------------------------------------------------------------------------------------
# Integration: a short Lightning fit with all four callbacks
# --------------------------------------------------------------------------------------------


class _Classifier(pl.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_all_four_callbacks_in_a_lightning_fit(tmp_path):
    model = _model(widths=(5, 4)).train()
    X, y = _data(n=96)
    callbacks = [
        EICallback(input_range=(0, 1), samples=800, in_bins=6, out_bins=6),
        WeightEICallback((6,)),
        ComplexityCallback(data={"train": (X, y), "test": (X[:32], y[:32])}, levels=2),
        InfoPlaneCallback(data=(X, y), bins=10),
    ]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    trainer = pl.Trainer(
        max_epochs=2, callbacks=callbacks, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        accelerator="cpu", devices=1,
    )
    with _quiet():  # plug-in bias warnings of the 32-sample test split
        trainer.fit(_Classifier(model), loader)
    for cb in callbacks:
        assert cb.measured_epochs == [0, 1, 2]
        assert {r["epoch"] for r in cb.records} == {0, 1, 2}
        assert next(r["step"] for r in cb.records if r["epoch"] == 2) == 6
    measures = {r["measure"] for cb in callbacks for r in cb.records}
    assert {"ei_parts", "x_prime", "weight_ei", "pid_C", "pid_Pi_2", "I_XT", "I_TY"} <= measures
    # the recorded final values are those of the trained network
    final_ixt = _by([r for r in callbacks[3].records if r["epoch"] == 2], "I_XT", "layer_2")
    assert final_ixt["value"] == information_plane(model, (X, y), bins=10).I_XT[1]
    first = next(r for r in callbacks[1].records if r["epoch"] == 0 and r["layer"] == "")
    last = next(r for r in callbacks[1].records if r["epoch"] == 2 and r["layer"] == "")
    assert first["value"] != last["value"]  # the weights moved
