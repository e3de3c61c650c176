"""ClassifierModule (losses, encodings, accuracy, optimisers, live lr) and the LR range test."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infolens._validation import InfolensError
from infolens.data.encodings import binary_code, binary_code_accuracy, one_hot
from infolens.training import (
    ClassificationLoss,
    ClassifierModule,
    LossAccuracyCallback,
    fit,
    lr_find,
)
from infolens.training.module import _binary_code, _one_hot, bits_for


def _mlp(n_in=4, n_out=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out))


def _data(n=60, n_in=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_in, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return X, y


def test_encodings_lsb_first_and_equal_to_infolens_data():
    assert _binary_code(torch.tensor([6, 9]), 4).tolist() == [[0, 1, 1, 0], [1, 0, 0, 1]]
    assert _one_hot(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    y = torch.arange(10)
    assert torch.equal(_binary_code(y, 4), binary_code(y, 4))
    assert torch.equal(_one_hot(y, 10), one_hot(y, 10))
    assert [bits_for(c) for c in (2, 3, 4, 5, 10, 16, 17)] == [1, 2, 2, 3, 4, 4, 5]


def test_ce_loss_and_accuracy():
    out = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0], [1.0, 0.5, 0.0]])
    y = torch.tensor([0, 1, 0])
    ce = ClassificationLoss("ce")
    assert torch.allclose(ce.objective(out, y), F.cross_entropy(out, y))
    assert torch.allclose(ce.per_sample(out, y), F.cross_entropy(out, y, reduction="none"))
    assert ce.correct(out, y).tolist() == [True, False, True]
    assert ce.unit == "nats"
    summed = ClassificationLoss("ce", reduction="sum")
    assert torch.allclose(summed.objective(out, y), F.cross_entropy(out, y, reduction="sum"))


def test_mse_one_hot_sum_and_binary():
    out = torch.tensor([[0.9, 0.2, 0.1], [0.3, 0.4, 0.8]])
    y = torch.tensor([0, 1])
    target = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    mse = ClassificationLoss("mse", reduction="sum")  # deep-ei's reduction
    assert torch.allclose(mse.objective(out, y), ((out - target) ** 2).sum())
    assert torch.allclose(ClassificationLoss("mse").objective(out, y), F.mse_loss(out, target))
    assert torch.allclose(mse.per_sample(out, y), ((out - target) ** 2).mean(1))
    assert mse.correct(out, y).tolist() == [True, False] and mse.unit == "1"
    # nninfo "MNIST binary": sigmoid outputs, MSE on the 4-bit code, all bits must be right
    binary = ClassificationLoss("mse", encoding="binary")
    probs = torch.tensor([[0.1, 0.8, 0.9, 0.2], [0.1, 0.8, 0.9, 0.7]])
    six = torch.tensor([6, 6])
    assert torch.allclose(binary.objective(probs, six), F.mse_loss(probs, binary_code(six, 4)))
    assert binary.correct(probs, six).tolist() == [True, False]
    assert binary.correct(probs, six).float().mean() == binary_code_accuracy(probs, six)
    # the same on bit logits (NNInfoMLP(output="binary_code")): the sigmoid is applied first
    on_logits = ClassificationLoss("mse", encoding="binary", sigmoid=True)
    logits = torch.logit(probs)
    assert torch.allclose(on_logits.objective(logits, six), binary.objective(probs, six))
    assert on_logits.correct(logits, six).tolist() == [True, False]


def test_bce_binary_code_all_bits_and_single_logit():
    bce = ClassificationLoss("bce")
    y = torch.tensor([6, 9, 9])
    logits = torch.tensor([[-2.0, 1.0, 3.0, -1.0], [2.0, -1.0, -3.0, 1.0], [2.0, -1.0, 3.0, 1.0]])
    code = binary_code(y, 4)
    assert torch.allclose(bce.objective(logits, y), F.binary_cross_entropy_with_logits(logits, code))
    assert bce.correct(logits, y).tolist() == [True, True, False]  # one wrong bit = wrong sample
    # two classes: a single logit, y itself is the bit
    single = torch.tensor([[1.5], [-0.5], [0.2]])
    y2 = torch.tensor([1, 0, 0])
    assert torch.allclose(
        bce.objective(single, y2), F.binary_cross_entropy_with_logits(single[:, 0], y2.float())
    )
    assert bce.correct(single, y2).tolist() == [True, True, False]
    # a model ending in a sigmoid
    probs = ClassificationLoss("bce", sigmoid=False)
    p = torch.sigmoid(logits)
    assert torch.allclose(probs.objective(p, y), bce.objective(logits, y), atol=1e-6)
    assert probs.correct(p, y).tolist() == [True, True, False]
    with pytest.raises(InfolensError, match="code at most 4 classes"):
        bce.objective(torch.zeros(1, 2), torch.tensor([4]))
    with pytest.raises(InfolensError, match="one output per class"):
        ClassificationLoss("mse").objective(torch.zeros(1, 3), torch.tensor([3]))
    with pytest.raises(InfolensError, match="loss="):
        ClassificationLoss("hinge")
    with pytest.raises(InfolensError, match="logits"):
        ClassificationLoss("ce", sigmoid=True)


@pytest.mark.parametrize(
    ("name", "cls", "defaults"),
    [
        ("adamw", torch.optim.AdamW, {"betas": (0.9, 0.999), "weight_decay": 1e-2}),
        ("adam", torch.optim.Adam, {"betas": (0.9, 0.999), "weight_decay": 0}),
        ("sgd", torch.optim.SGD, {"momentum": 0, "weight_decay": 0}),
    ],
)
def test_optimizers_fused_defaults_and_live_lr(name, cls, defaults):
    module = ClassifierModule(_mlp(), optimizer=name, lr=0.01)
    module.lr = 0.123  # the live attribute is what configure_optimizers reads
    opt = module.configure_optimizers()
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.123
    assert opt.defaults["fused"] is True  # CPU float32 has fused kernels in torch >= 2.4
    for key, value in defaults.items():
        assert opt.param_groups[0][key] == value
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in module.model.parameters()}
    assert module.hparams["optimizer"] == name
    with pytest.raises(InfolensError, match="optimizer"):
        ClassifierModule(_mlp(), optimizer="rmsprop")
    with pytest.raises(InfolensError, match="lr"):
        ClassifierModule(_mlp(), lr=-1.0)


@pytest.mark.parametrize(
    ("loss", "n_out", "classes"), [("ce", 3, 3), ("mse", 3, 3), ("bce", 2, 4), ("bce", 1, 2)]
)
def test_fit_logs_epoch_metrics_equal_to_exact_validation(tmp_path, loss, n_out, classes):
    X, y = _data(classes=classes)
    Xt, yt = _data(n=30, classes=classes, seed=1)
    module = ClassifierModule(_mlp(n_out=n_out), loss=loss, lr=0.05)
    exact = LossAccuracyCallback({"test": (Xt, yt)}, schedule="2")
    trainer = fit(module, (X, y), (Xt, yt), run_dir=tmp_path, max_epochs=2, batch_size=16,
                  callbacks=[exact], progress=False, seed=0)
    logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert set(logged) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr"}
    assert math.isclose(logged["lr"], 0.05, rel_tol=1e-7)
    # validation runs on the end-of-epoch weights, as the callback does: the same numbers
    rec = {r["measure"]: r for r in exact.records if r["epoch"] == 2}
    assert math.isclose(logged["val_loss"], rec["loss"]["value"], rel_tol=1e-5)
    assert math.isclose(logged["val_acc"], rec["acc"]["value"], rel_tol=1e-6)
    assert rec["loss"]["unit"] == ("1" if loss == "mse" else "nats")


def test_lr_find_applies_the_suggestion_and_keeps_the_weights(tmp_path):
    """Geometry spec §3: the suggestion reaches the optimiser; tuning leaves the weights alone."""
    X, y = _data(n=200)
    module = ClassifierModule(_mlp(), lr=1e-3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    rng = torch.get_rng_state()
    result = lr_find(module, (X, y), batch_size=20, num_training=40)
    assert result.suggestion is not None and result.previous == 1e-3
    assert module.lr == result.suggestion == result.applied
    assert module.hparams["lr"] == result.suggestion and len(result.lrs) == len(result.losses) > 0
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(torch.get_rng_state(), rng)

    seen = []

    class _FirstStep(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 0:
                seen.append(trainer.optimizers[0].param_groups[0]["lr"])
                seen.append({k: v.clone() for k, v in pl_module.state_dict().items()})

    fit(module, (X, y), run_dir=tmp_path, max_epochs=1, batch_size=100, callbacks=[_FirstStep()],
        progress=False)
    assert seen[0] == result.suggestion
    assert all(torch.equal(before[k], seen[1][k]) for k in before)


def test_lr_find_requires_the_attribute():
    class _NoLr(pl.LightningModule):
        pass

    with pytest.raises(InfolensError, match="attr_name"):
        lr_find(_NoLr(), _data())


def test_log_metrics_off_trains_the_same_weights_without_logging(tmp_path):
    X, y = _data()
    weights = {}
    for flag in (True, False):
        module = ClassifierModule(_mlp(), lr=0.05, log_metrics=flag)
        trainer = fit(module, (X, y), None, run_dir=tmp_path / str(flag), max_epochs=2,
                      batch_size=16, progress=False, seed=0)
        weights[flag] = [p.detach().clone() for p in module.model.parameters()]
        assert bool(trainer.callback_metrics) is flag
    assert all(torch.equal(a, b) for a, b in zip(weights[True], weights[False]))
