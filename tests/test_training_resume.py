"""Kill a training subprocess mid-epoch and resume it: no measured epoch lost or repeated.

This file is also the training script the test runs (``python tests/test_training_resume.py
RUN_DIR OUT_JSON [STALL_EPOCH]``): it trains a small MLP with a checkpoint every epoch and two
scheduled measure callbacks, resuming from ``RUN_DIR/checkpoints/last.ckpt`` if it exists. With
``STALL_EPOCH`` it writes ``RUN_DIR/stalled`` in the middle of that (0-based) training epoch,
after the previous epoch's checkpoint, and sleeps there until it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

MAX_EPOCHS = 5
SCHEDULES = {"loss_acc": "every:1", "nc1": "0,2,3,5"}
STALL_EPOCH = 2  # killed during the third training epoch, after epoch=0002.ckpt


def _train(run_dir: Path, out_json: Path, stall_epoch: int | None) -> None:
    import lightning.pytorch as pl
    import torch

    from infolens.models import MLP
    from infolens.training import ClassifierModule, LossAccuracyCallback, NC1Callback, fit

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(96, 6, generator=g)
    y = ((X[:, 0] > 0).long() + (X[:, 1] > 0.3).long()) % 3
    Xt = torch.randn(40, 6, generator=g)
    yt = ((Xt[:, 0] > 0).long() + (Xt[:, 1] > 0.3).long()) % 3
    data = {"train": (X, y), "test": (Xt, yt)}
    calls: dict[str, list[int]] = {"loss_acc": [], "nc1": []}

    class Counted(LossAccuracyCallback):
        def measure(self, model, *, epoch, step, dist):
            calls["loss_acc"].append(epoch)
            return super().measure(model, epoch=epoch, step=step, dist=dist)

    class CountedNC1(NC1Callback):
        def measure(self, model, *, epoch, step, dist):
            calls["nc1"].append(epoch)
            return super().measure(model, epoch=epoch, step=step, dist=dist)

    class Stall(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.current_epoch == stall_epoch and batch_idx == 1:
                (run_dir / "stalled").write_text(str(trainer.global_step))
                time.sleep(300)  # until killed

    callbacks = [
        Counted(data, schedule=SCHEDULES["loss_acc"], name="loss_acc"),
        CountedNC1(data=data, num_classes=3, schedule=SCHEDULES["nc1"], name="nc1"),
    ]
    torch.manual_seed(0)
    model = MLP((6,), 3, widths=(8, 5), nonlinearity="Tanh")
    module = ClassifierModule(model, lr=0.05)
    extra = [Stall()] if stall_epoch is not None else []
    fit(module, data["train"], data["test"], run_dir=run_dir, max_epochs=MAX_EPOCHS,
        batch_size=24, callbacks=[*callbacks, *extra], resume="auto", progress=False, seed=0)
    out = {
        "calls": calls,
        "states": {cb.name: cb.state_dict() for cb in callbacks},
        "weights": [p.detach().flatten().tolist() for p in model.parameters()],
    }
    out_json.write_text(json.dumps(out))


def _script(*args: object) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), *map(str, args)]


@pytest.mark.slow
def test_killed_run_resumes_without_losing_or_repeating_measured_epochs(tmp_path):
    import torch

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ref_dir, run_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    # the uninterrupted reference and the run to be killed start side by side
    reference = subprocess.Popen(_script(ref_dir, tmp_path / "ref.json"), env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    victim = subprocess.Popen(_script(run_dir, tmp_path / "victim.json", STALL_EPOCH), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "stalled").exists():
            assert victim.poll() is None, victim.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the training subprocess never reached epoch 3"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL and not (tmp_path / "victim.json").exists()
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert ckpts == ["epoch=0001.ckpt", "epoch=0002.ckpt", "last.ckpt"]
    # the killed run had trained part of epoch 3 (lost); its last checkpoint holds epochs 0-2
    assert int((run_dir / "stalled").read_text()) > 2 * 4
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    before = {key.split("[")[1].rstrip("]"): state for key, state in last["callbacks"].items()
              if "[" in key}
    assert before["loss_acc"]["measured_epochs"] == [0, 1, 2]
    assert before["nc1"]["measured_epochs"] == [0, 2]

    resumed = subprocess.run(_script(run_dir, tmp_path / "resumed.json"), env=env,
                             capture_output=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
    assert reference.wait(timeout=240) == 0, reference.stderr.read().decode()[-3000:]
    ref = json.loads((tmp_path / "ref.json").read_text())
    got = json.loads((tmp_path / "resumed.json").read_text())

    # the resumed process measured only the epochs after the checkpoint ...
    assert got["calls"] == {"loss_acc": [3, 4, 5], "nc1": [3, 5]}
    assert ref["calls"] == {"loss_acc": [0, 1, 2, 3, 4, 5], "nc1": [0, 2, 3, 5]}
    for name, state in got["states"].items():
        # ... every scheduled epoch is measured exactly once ...
        scheduled = [e for e in range(MAX_EPOCHS + 1) if e in _schedule(name)]
        assert state["measured_epochs"] == scheduled
        keys = Counter((r["epoch"], r["split"], r["layer"], r["measure"]) for r in state["records"])
        assert set(keys.values()) == {1} and {k[0] for k in keys} == set(scheduled)
        # ... the restored part equals the checkpointed state of the killed run ...
        restored = [r for r in state["records"] if r["epoch"] <= 2]
        assert restored == before[name]["records"]
        # ... and the whole record equals the uninterrupted run's, value for value
        assert state["records"] == ref["states"][name]["records"]
    assert got["weights"] == ref["weights"]


def _schedule(name: str):
    from infolens.training import Schedule

    return Schedule.parse(SCHEDULES[name])


if __name__ == "__main__":
    _train(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
