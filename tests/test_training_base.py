"""The measure-callback base: schedules, checkpointed state, epoch semantics under Lightning."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from infolens._validation import InfolensError
from infolens.training.callbacks._base import (
    Dist,
    MeasureCallback,
    Schedule,
    as_split_map,
    iter_batches,
    log_spaced_epochs,
)
from infolens.training.records import COLUMNS, record


def test_log_spaced_matches_nninfo_chapter_counts():
    # spec pid §8: c = 30 over 10^3 epochs gives 29 checkpoints, c = 50 over 10^5 gives 49.
    tishby = log_spaced_epochs(1000, 30)
    assert len(tishby) == 29 and tishby[:4] == [0, 1, 2, 3] and tishby[-1] == 1000
    assert len(log_spaced_epochs(100_000, 50)) == 49


def test_schedule_membership_and_parse():
    s = Schedule(every_n_epochs=5)
    assert [e for e in range(12) if e in s] == [0, 5, 10]
    assert 0 not in Schedule(every_n_epochs=5, at_start=False)
    assert Schedule.parse("every:3") == Schedule(every_n_epochs=3)
    assert Schedule.parse("0,2,7").epochs == (0, 2, 7)
    assert Schedule.parse("log:30", max_epochs=1000).epochs == tuple(log_spaced_epochs(1000, 30))
    with pytest.raises(InfolensError, match="every_n_epochs"):
        Schedule(every_n_epochs=0)
    with pytest.raises(InfolensError, match="cannot parse schedule"):
        Schedule.parse("sometimes")
    with pytest.raises(InfolensError, match="max_epochs"):
        Schedule.parse("log:5")


def test_record_has_the_standard_columns():
    row = record(epoch=3, step=30, measure="nc1", value=0.5, unit="1", split="train", layer="layer_1")
    assert tuple(row)[: len(COLUMNS)] == COLUMNS and row["value"] == 0.5
    with pytest.raises(ValueError, match="clashes"):
        record(epoch=0, step=0, measure="m", value=1, unit="1", value2=1, epoch2=2, layer2=3,
               **{"run": "x"})


def test_single_process_dist_is_identity_and_shards_cover():
    d = Dist()
    t = torch.arange(3.0)
    assert torch.equal(d.all_reduce_sum(t), t) and d.all_gather_object(5) == [5]
    parts = [list(range(10))[Dist(r, 3).shard(10)] for r in range(3)]
    assert sorted(i for part in parts for i in part) == list(range(10))
    X, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    got = torch.cat([b[1] for b in iter_batches(X, y, 3, Dist(1, 2))])
    assert got.tolist() == [1, 3, 5, 7, 9]


def test_as_split_map_forms():
    X, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    assert list(as_split_map((X, y))) == ["train"]
    assert list(as_split_map({"train": (X, y), "test": (X, y)})) == ["train", "test"]
    with pytest.raises(InfolensError, match="split 'train'"):
        as_split_map(42)


class _CountingCallback(MeasureCallback):
    family = "count"

    def measure(self, model, *, epoch, step, dist):
        self.calls.append(epoch)
        w = next(model.parameters()).detach().double().sum().item()
        return [record(epoch=epoch, step=step, measure="wsum", value=w, unit="1")]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = []


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(2, 2))

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(tmp_path, epochs, callbacks):
    return pl.Trainer(
        max_epochs=epochs, callbacks=callbacks, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        accelerator="cpu", devices=1,
    )


def test_callback_measures_scheduled_epochs_and_restores_state(tmp_path):
    torch.manual_seed(0)
    X, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=8)
    cb = _CountingCallback(schedule=2)
    module = _Tiny()
    _trainer(tmp_path, 5, [cb]).fit(module, loader)
    assert cb.calls == [0, 2, 4] and cb.measured_epochs == [0, 2, 4]
    assert [r["step"] for r in cb.records] == [0, 4, 8]
    # the records track the weights of that moment
    final = next(module.model.parameters()).detach().double().sum().item()
    assert cb.records[-1]["value"] != final  # epoch 5 trained after the epoch-4 measurement
    restored = _CountingCallback(schedule=2)
    restored.load_state_dict(cb.state_dict())
    assert restored.measured_epochs == [0, 2, 4] and restored.records == cb.records
    # a restored callback does not measure an epoch again
    restored.measure_now(module.model, epoch=6)
    assert restored.calls == [6] and restored.measured_epochs == [0, 2, 4, 6]


def test_measure_now_restores_mode_and_leaves_rng_untouched():
    model = nn.Sequential(nn.Linear(2, 2)).train()

    class _Noisy(MeasureCallback):
        def measure(self, model, *, epoch, step, dist):
            assert not model.training
            torch.rand(100)
            return []

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    _Noisy().measure_now(model, epoch=0)
    assert torch.equal(torch.rand(3), expected) and model.training
