"""DDP on CPU (2 processes, gloo): measure-callback records equal the single-process values.

This file is also the DDP training script (``python tests/test_training_ddp.py OUT_DIR``; the
Lightning ``ddp`` launcher starts rank 1 by running it again). It trains a float64 MLP for two
epochs on 2 CPU processes with every callback of :func:`callbacks_under_test`, saves the weights
at every epoch it measured (rank 0) and each rank's callback states. The test then measures the
saved weights again in one process and requires the same records.

To put another callback whose states reduce across ranks (information plane, PID counts, ...)
under this test, add it to :func:`callbacks_under_test`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

NUM_CLASSES = 3
EPOCHS = 2


def make_data():
    """Odd split sizes, so the two ranks get shards of different sizes (38/37, 21/20)."""
    import torch

    g = torch.Generator().manual_seed(0)
    X, Xt = torch.randn(75, 6, generator=g), torch.randn(41, 6, generator=g)
    label = lambda x: ((x[:, 0] > 0).long() + (x[:, 1] > 0.3).long()) % NUM_CLASSES  # noqa: E731
    return {"train": (X, label(X)), "test": (Xt, label(Xt))}


def make_model():
    import torch

    from infolens.models import MLP

    torch.manual_seed(0)
    return MLP((6,), NUM_CLASSES, widths=(8, 5), nonlinearity="Tanh").double()


def callbacks_under_test(data) -> list:
    """The callbacks whose DDP records must equal single-process ones; each needs a unique name."""
    from infolens.training import LossAccuracyCallback, NC1Callback, VInformationCallback
    from infolens.training.callbacks import ComplexityCallback, EICallback, InfoPlaneCallback

    return [
        LossAccuracyCallback(data, schedule="every:1", batch_size=16, name="loss_acc"),
        NC1Callback(data=data, num_classes=NUM_CLASSES, schedule="0,2", batch_size=16, name="nc1"),
        VInformationCallback(data=data, num_classes=NUM_CLASSES, schedule="0,2", epochs=1,
                             dib_epochs=1, batch_size=25, lr=0.05, name="vinfo"),
        InfoPlaneCallback(data=data, bins=10, schedule="0,2", batch_size=16, name="info_plane"),
        ComplexityCallback(["layer_2"], data, levels=4, limits=(-1.0, 1.0),
                           sources=[[0, 1], [2, 3], [4]], schedule="0,2", batch_size=16, name="pid"),
        EICallback(input_range=(-3.0, 3.0), samples=2000, in_bins=8, out_bins=8, vector=False,
                   schedule="0,2", name="ei"),
    ]


def _train(out: Path) -> None:
    import lightning.pytorch as pl
    import torch

    from infolens.training import ClassifierModule, fit

    torch.set_num_threads(1)
    data = make_data()
    callbacks = callbacks_under_test(data)

    class SaveWeights(pl.Callback):
        """Rank 0 keeps the weights of every epoch a callback measured."""

        def _save(self, trainer, pl_module, epoch):
            if trainer.global_rank == 0:
                torch.save(pl_module.model.state_dict(), out / f"weights_{epoch}.pt")

        def on_fit_start(self, trainer, pl_module):
            self._save(trainer, pl_module, 0)

        def on_train_epoch_end(self, trainer, pl_module):
            self._save(trainer, pl_module, trainer.current_epoch + 1)

    module = ClassifierModule(make_model(), lr=0.05)
    trainer = fit(
        module, data["train"], data["test"], run_dir=out / "run", max_epochs=EPOCHS, batch_size=30,
        callbacks=[*callbacks, SaveWeights()], devices=2, strategy="ddp", accelerator="cpu",
        precision="64-true", progress=False, seed=0,
    )
    states = {cb.name: cb.state_dict() for cb in callbacks}
    (out / f"rank{trainer.global_rank}.json").write_text(
        json.dumps({"world_size": trainer.world_size, "states": states})
    )


@pytest.mark.slow
def test_ddp_records_equal_single_process(tmp_path):
    import torch

    from infolens.training.callbacks._base import Dist

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(tmp_path)], env=env,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["states"] == ranks[1]["states"]  # every rank holds the same records

    data = make_data()
    model = make_model()
    for cb in callbacks_under_test(data):
        state = ranks[0]["states"][cb.name]
        assert state["measured_epochs"] == [e for e in range(EPOCHS + 1) if e in cb.schedule]
        for epoch in state["measured_epochs"]:
            ddp_rows = [r for r in state["records"] if r["epoch"] == epoch]
            model.load_state_dict(torch.load(tmp_path / f"weights_{epoch}.pt"))
            single = cb.measure_now(model, epoch=epoch, step=ddp_rows[0]["step"], dist=Dist())
            assert len(single) == len(ddp_rows) > 0
            for a, b in zip(ddp_rows, single):
                assert {k: v for k, v in a.items() if k != "value"} == {
                    k: v for k, v in b.items() if k != "value"}
                assert math.isclose(a["value"], b["value"], rel_tol=1e-10, abs_tol=1e-12), (cb.name, a, b)
    for name in ("nc1", "info_plane"):
        samples = {r["split"]: r["samples"] for r in ranks[0]["states"][name]["records"]}
        assert samples == {"train": 75, "test": 41}  # full splits, nothing padded or dropped


if __name__ == "__main__":
    _train(Path(sys.argv[1]))
