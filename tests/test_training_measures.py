"""Loss/accuracy, NC1 and V-information callbacks against the measures they wrap; checkpoints."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infolens._validation import InfolensError
from infolens.measures import measure_nc1
from infolens.measures.vinfo import decodable_information, split_points
from infolens.models import MLP
from infolens.training import (
    ClassifierModule,
    LossAccuracyCallback,
    NC1Callback,
    VInformationCallback,
    checkpoint_path,
    fit,
    make_trainer,
)
from infolens.training.callbacks import vinfo as vinfo_callback_module

C = 3


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 6, generator=g)
    y = ((X[:, 0] > 0).long() + (X[:, 1] > 0.3).long()) % C
    return X, y


TRAIN, TEST = _data(90, 0), _data(45, 1)
DATA = {"train": TRAIN, "test": TEST}


def _model(seed=0):
    torch.manual_seed(seed)
    return MLP((6,), C, widths=(8, 5), nonlinearity="Tanh")


def _rel_equal(a, b, tol=1e-10):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def test_nc1_callback_equals_measure_nc1_over_training(tmp_path):
    model = _model()
    initial = copy.deepcopy(model)
    cb = NC1Callback(data=DATA, num_classes=C, schedule="0,2", batch_size=16)
    fit(ClassifierModule(model, lr=0.05), TRAIN, run_dir=tmp_path, max_epochs=2, batch_size=30,
        callbacks=[cb], progress=False, seed=0)
    assert cb.measured_epochs == [0, 2]
    for epoch, net in ((0, initial), (2, model)):
        for split, (X, y) in DATA.items():
            loader = [(X[i:i + 16], y[i:i + 16]) for i in range(0, len(X), 16)]
            expected = measure_nc1(net, loader, ["layer_1", "layer_2"], C)
            for layer, res in expected.items():
                got = {r["measure"]: r for r in cb.records
                       if (r["epoch"], r["split"], r["layer"]) == (epoch, split, layer)}
                assert set(got) == {"nc1", "nc1_trace"}
                assert _rel_equal(got["nc1"]["value"], res["nc1"])
                assert _rel_equal(got["nc1_trace"]["value"], res["nc1_trace"])
                assert got["nc1"]["samples"] == len(X) and got["nc1"]["unit"] == "1"
    # the two epochs measured different networks
    assert {r["value"] for r in cb.records if r["epoch"] == 0}.isdisjoint(
        {r["value"] for r in cb.records if r["epoch"] == 2})


def test_nc1_callback_layers_and_errors():
    model = _model()
    named = NC1Callback(data=TRAIN, num_classes=C, layers={"hidden": "layer_2"})
    rows = named.measure_now(model, epoch=0)
    assert {(r["layer"], r["split"]) for r in rows} == {("hidden", "train")}
    by_path = NC1Callback(data=TRAIN, num_classes=C, layers=["layer_2"], cache_memory=None)
    assert by_path.measure_now(model, epoch=0)[0]["value"] == pytest.approx(rows[0]["value"], rel=1e-12)
    plain = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, C))
    with pytest.raises(InfolensError, match="measurement_points"):
        NC1Callback(data=TRAIN, num_classes=C).measure_now(plain, epoch=0)

    class _Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(6, C), nn.Linear(6, C)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(InfolensError, match="did not run"):
        NC1Callback(data=TRAIN, num_classes=C, layers=["unused"]).measure_now(_Skips(), epoch=0)


def test_loss_accuracy_callback_is_the_exact_split_mean():
    model = _model()
    cb = LossAccuracyCallback(DATA, batch_size=7)
    rows = cb.measure_now(model, epoch=0)
    with torch.no_grad():
        for split, (X, y) in DATA.items():
            out = model(X).double()
            loss = {r["measure"]: r for r in rows if r["split"] == split}
            assert _rel_equal(loss["loss"]["value"], float(F.cross_entropy(out, y)), 1e-6)
            assert loss["acc"]["value"] == float((out.argmax(1) == y).double().mean())
            assert (loss["loss"]["unit"], loss["acc"]["unit"]) == ("nats", "1")
            assert loss["loss"]["samples"] == len(X)


def _vinfo_callback(**kw):
    return VInformationCallback(data=DATA, num_classes=C, epochs=2, dib_epochs=3, batch_size=30,
                                lr=0.01, seed=3, **kw)


def test_vinfo_callback_equals_decodable_information_and_reuses_the_input(monkeypatch):
    model = _model()
    calls = []

    def spy(model, points, *args, **kwargs):
        calls.append(list(points))
        return decodable_information(model, points, *args, **kwargs)

    monkeypatch.setattr(vinfo_callback_module, "decodable_information", spy)
    cb = _vinfo_callback()
    first = cb.measure_now(model, epoch=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    second = cb.measure_now(model, epoch=1, step=7)
    assert calls == [["input"], ["layer_1", "layer_2"], ["layer_1", "layer_2"]]

    expected = decodable_information(
        model, split_points(model), TRAIN, eval_data=DATA, num_classes=C, epochs=2,
        minimality_epochs=3, batch_size=30, lr=0.01, seed=3, head_factory=model.head_factory,
    )
    kinds = {"sufficiency": "vsuff", "minimality": "vmin"}
    assert len(second) == len(expected) == 3 * 2 * 2
    for row, exp in zip(second, expected.itertuples()):
        assert (row["layer"], row["measure"], row["split"]) == (exp.split_at, kinds[exp.kind], exp.eval_split)
        assert row["value"] == exp.value and row["unit"] == "bits"
        assert (row["epoch"], row["step"], row["samples"]) == (1, 7, len(DATA[exp.eval_split][1]))
        assert row["estimator"] == "dib fit=train sum perm=0"
    # split point "input" does not depend on the weights: the same values at both epochs
    inputs = [(r["measure"], r["split"], r["value"]) for r in first if r["layer"] == "input"]
    assert inputs == [(r["measure"], r["split"], r["value"]) for r in second if r["layer"] == "input"]
    # ... and it is restored from the checkpointed state, not recomputed
    restored = _vinfo_callback()
    restored.load_state_dict(cb.state_dict())
    calls.clear()
    restored.measure_now(model, epoch=2)
    assert calls == [["layer_1", "layer_2"]] and restored.measured_epochs == [0, 1, 2]


def test_vinfo_callback_options_and_errors():
    with pytest.raises(InfolensError, match="fit_split"):
        VInformationCallback(data=DATA, num_classes=C, fit_split="val")
    cb = _vinfo_callback(split_points=["layer_2"], digit_reduction="mean")
    rows = cb.measure_now(_model(), epoch=0)
    assert {r["layer"] for r in rows} == {"layer_2"} and cb.input_results is None
    assert rows[0]["estimator"] == "dib fit=train mean perm=0"


def test_checkpoint_of_an_epoch_holds_that_epochs_measurements(tmp_path):
    """Checkpoint callbacks run after the measure callbacks at the end of each epoch."""
    cb = LossAccuracyCallback(DATA, schedule=1)
    trainer = make_trainer(tmp_path, max_epochs=3, callbacks=[cb], progress=False, seed=0)
    assert type(trainer.callbacks[-1]).__name__ == "EpochCheckpoint"  # Lightning moves it last
    module = ClassifierModule(_model(), lr=0.05)
    fit(module, TRAIN, TEST, run_dir=tmp_path, batch_size=30, trainer=trainer)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["epoch=0001.ckpt", "epoch=0002.ckpt", "epoch=0003.ckpt", "last.ckpt"]
    for epoch in (1, 2, 3):
        ckpt = torch.load(checkpoint_path(tmp_path, epoch), weights_only=False)
        state = ckpt["callbacks"][cb.state_key]
        assert state["measured_epochs"] == list(range(epoch + 1))
        assert state["records"] == [r for r in cb.records if r["epoch"] <= epoch]
        assert ckpt["global_step"] == 3 * epoch and "RNGStateCallback" in ckpt["callbacks"]
    last = torch.load(checkpoint_path(tmp_path), weights_only=False)
    assert last["callbacks"][cb.state_key]["measured_epochs"] == [0, 1, 2, 3]
    # the epoch-3 weights in the checkpoint are the ones measured at epoch 3
    net = _model()
    net.load_state_dict({k[len("model."):]: v for k, v in last["state_dict"].items()})
    again = LossAccuracyCallback(DATA).measure_now(net, epoch=3, step=9)
    assert again == [r for r in cb.records if r["epoch"] == 3]


def test_resume_in_process_equals_an_uninterrupted_run(tmp_path):
    def run(run_dir, max_epochs, resume):
        cbs = [LossAccuracyCallback(DATA, schedule=1), NC1Callback(data=DATA, num_classes=C,
                                                                   schedule="0,1,3")]
        torch.manual_seed(0)
        module = ClassifierModule(_model(), lr=0.05)
        fit(module, TRAIN, TEST, run_dir=run_dir, max_epochs=max_epochs, batch_size=30,
            callbacks=cbs, resume=resume, progress=False, seed=0)
        return cbs, module

    full, full_module = run(tmp_path / "full", 4, False)
    run(tmp_path / "cut", 2, False)
    resumed, resumed_module = run(tmp_path / "cut", 4, True)
    for a, b in zip(full, resumed):
        assert b.measured_epochs == a.measured_epochs
        assert b.records == a.records
    assert full[1].measured_epochs == [0, 1, 3]
    assert all(torch.equal(p, q) for p, q in zip(full_module.parameters(), resumed_module.parameters()))
    with pytest.raises(InfolensError, match="make_trainer instead"):
        fit(ClassifierModule(_model()), TRAIN, run_dir=tmp_path / "x", max_epochs=1,
            trainer=make_trainer(tmp_path / "x", max_epochs=1))
    assert any(type(cb).__name__ in ("RichProgressBar", "TQDMProgressBar")
               for cb in make_trainer(tmp_path / "bar", max_epochs=1).callbacks)
    with pytest.raises(InfolensError, match="does not exist"):
        fit(ClassifierModule(_model()), TRAIN, run_dir=tmp_path / "none", max_epochs=1, resume=True)
    only_last = make_trainer(tmp_path / "keep", max_epochs=2, progress=False, keep_checkpoints="last")
    fit(ClassifierModule(_model()), TRAIN, run_dir=tmp_path / "keep", trainer=only_last)
    assert sorted(p.name for p in (tmp_path / "keep" / "checkpoints").iterdir()) == [
        "epoch=0002.ckpt", "last.ckpt"]
