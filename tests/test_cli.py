"""The ``infolens`` command line: help, flag validation, and tiny end-to-end runs."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from infolens.cli import build_parser, main
from infolens.runs.metrics import KEY, read_metrics

SUBCOMMANDS = ("train", "measure", "plot", "sweep", "demo", "causal-plane")
TINY = ["-m", "MLP", "-d", "SZT", "-w", "4", "3", "-nl", "Tanh", "-b", "512", "-lr", "0.01",
        "--no-compile", "--no-progress"]


def _no_duplicates(table: pd.DataFrame) -> None:
    assert not table[list(KEY)].astype(str).duplicated().any()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_of_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: infolens {command}" in out


def test_python_m_infolens_help():
    done = subprocess.run([sys.executable, "-m", "infolens", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert "infolens train" in done.stdout and all(c in done.stdout for c in SUBCOMMANDS)


@pytest.mark.parametrize(("flags", "message"), [
    (["-m", "Transformer"], "unknown model 'Transformer'; choose one of MLP, NNInfoMLP"),
    (["-d", "ImageNet"], "unknown dataset 'ImageNet'; choose one of SZT"),
    (["--track", "nc1,entropy"], "unknown measure 'entropy'; choose from ei, weight_ei, pid"),
    (["-nl", "Swoosh"], "unknown nonlinearity 'Swoosh'"),
    (["-opt", "Lion"], "unknown optimiser 'Lion'"),
    (["--schedule", "sometimes"], "cannot parse schedule"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--every", "2", "--schedule", "log:3"], "not allowed with argument"),
    (["-p", "fp8"], "invalid choice: 'fp8'"),
])
def test_bad_flags_fail_early_with_clear_errors(flags, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "-m", "MLP", "-d", "SZT", "--out", str(tmp_path), *flags])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_pid_needs_a_bounded_nonlinearity(capsys, tmp_path):
    code = main(["train", *TINY[:6], "-nl", "ReLU", "--epochs", "1", "--track", "pid", "--out", str(tmp_path),
                 "--no-plots", "--no-progress"])
    assert code == 1 and "bounded" in capsys.readouterr().err


def test_demo_defaults_track_every_family():
    args = build_parser().parse_args(["demo"])
    from infolens.cli import config_from_args

    cfg = config_from_args(args)
    assert cfg.model == "MLP" and cfg.dataset == "SZT" and cfg.nonlinearity == "Tanh"
    assert set(cfg.track) == {"ei", "weight_ei", "pid", "nc1", "vinfo", "info_plane"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = main(["train", *TINY, "--epochs", "2", "--track", "nc1,info_plane,weight_ei", "--out", str(out)])
    assert code == 0
    (run,) = list(out.iterdir())
    return run


def test_train_writes_the_run_directory(tiny_run):
    doc = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert doc["args"]["model"] == "MLP" and doc["args"]["widths"] == [4, 3]
    assert doc["resolved"]["precision"] == "32-true" and doc["resolved"]["compile"] is False
    assert doc["resolved"]["model"]["name"] == "MLP" and doc["resolved"]["dataset"]["train"] == 3277
    ckpts = sorted(p.name for p in (tiny_run / "checkpoints").iterdir())
    assert ckpts == ["epoch=0000.ckpt", "epoch=0001.ckpt", "epoch=0002.ckpt", "last.ckpt"]
    table = read_metrics(tiny_run)
    pd.testing.assert_frame_equal(table, read_metrics(tiny_run / "metrics.csv"))
    _no_duplicates(table)
    assert sorted(table["epoch"].unique()) == [0, 1, 2]
    assert {"loss", "acc", "nc1", "nc1_trace", "I_XT", "I_TY", "weight_ei"} <= set(table["measure"])
    assert (table["run"] == tiny_run.name).all() and (table["seed"] == 0).all()
    plots = {p.name for p in (tiny_run / "plots").iterdir()}
    for name in ("loss_accuracy", "nc1", "info_plane", "weight_ei"):
        assert {f"{name}.png", f"{name}.pdf"} <= plots
    assert "complexity.png" not in plots  # not tracked, skipped silently


def test_measure_after_the_fact_matches_tracking_and_never_duplicates(tiny_run, capsys):
    before = read_metrics(tiny_run)
    assert main(["measure", str(tiny_run), "--measure", "nc1", "--no-plots", "--no-progress"]) == 0
    after = read_metrics(tiny_run)
    _no_duplicates(after)
    assert len(after) == len(before)  # re-measured NC1 replaced the tracked rows ...
    nc1 = ["epoch", "split", "layer", "measure"]
    a = before[before["measure"] == "nc1"].sort_values(nc1)["value"].to_numpy()
    b = after[after["measure"] == "nc1"].sort_values(nc1)["value"].to_numpy()
    assert b == pytest.approx(a, rel=1e-9)  # ... with the same values: same weights, same epochs
    ckpt = tiny_run / "checkpoints" / "epoch=0001.ckpt"
    assert main(["measure", str(ckpt), "--measure", "pid", "--no-plots", "--no-progress"]) == 0
    pid = read_metrics(tiny_run)
    assert set(pid.loc[pid["measure"] == "pid_C", "epoch"]) == {1}
    assert "measured" in capsys.readouterr().out


def test_resume_extends_a_run_without_duplicates(tiny_run):
    assert main(["train", "--resume", str(tiny_run), "--epochs", "3", "--no-plots", "--no-progress"]) == 0
    table = read_metrics(tiny_run)
    _no_duplicates(table)
    assert sorted(table["epoch"].unique()) == [0, 1, 2, 3]
    assert (tiny_run / "checkpoints" / "epoch=0003.ckpt").is_file()
    assert set(table.loc[table["measure"] == "pid_C", "epoch"]) == {1}  # post-hoc rows were kept
    doc = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert doc["args"]["epochs"] == 3 and doc["resumed"][0]["from_epochs"] == 2


def test_resume_refuses_other_settings(tiny_run, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(tiny_run), "--track", "ei"])
    assert "only --epochs" in capsys.readouterr().err


def test_plot_several_runs(tiny_run, tmp_path, capsys):
    other = tmp_path / "copy"
    other.mkdir()
    table = read_metrics(tiny_run)
    from infolens.runs.metrics import write_metrics

    write_metrics(other, table.assign(seed=1, value=table["value"] * 1.1))
    (other / "config.yaml").write_text("job: copy\n")
    assert main(["plot", str(tiny_run), str(other), "--out", str(tmp_path / "both")]) == 0
    assert (tmp_path / "both" / "nc1.pdf").is_file()
    assert "skipped" in capsys.readouterr().out


def test_sweep_sequential_and_subprocess_give_the_same_results(tmp_path):
    flags = [*TINY, "--epochs", "1", "--track", "nc1", "--no-plots"]
    assert main(["sweep", "--seeds", "0", "1", "--backend", "sequential", *flags, "--out", str(tmp_path / "a")]) == 0
    assert main(["sweep", "--seeds", "1", "--backend", "subprocess", *flags, "--out", str(tmp_path / "b")]) == 0
    (sweep_a,) = list((tmp_path / "a").iterdir())
    (sweep_b,) = list((tmp_path / "b").iterdir())
    doc = yaml.safe_load((sweep_a / "sweep.yaml").read_text())
    assert doc["backend"] == "sequential" and doc["seeds"] == [0, 1] and len(doc["runs"]) == 2
    from infolens.runs.sweep import expand_runs

    runs_a, (run_b,) = expand_runs([sweep_a]), expand_runs([sweep_b])
    assert [r.name.endswith(f"seed{s}") for r, s in zip(runs_a, (0, 1))] == [True, True]
    a, b = read_metrics(runs_a[1]), read_metrics(run_b)
    assert (a["seed"] == 1).all() and (b["seed"] == 1).all()
    pd.testing.assert_frame_equal(a.drop(columns="run"), b.drop(columns="run"))
    s0 = read_metrics(runs_a[0])
    assert not s0["value"].equals(a["value"])  # different seeds, different runs


def test_sweep_with_ray_gives_the_same_results(tmp_path):
    pytest.importorskip("ray")
    flags = [*TINY, "--epochs", "1", "--track", "nc1", "--no-plots"]
    assert main(["sweep", "--seeds", "0", "1", "--backend", "ray", "--jobs", "2", *flags,
                 "--out", str(tmp_path / "ray")]) == 0
    assert main(["sweep", "--seeds", "1", "--backend", "sequential", *flags, "--out", str(tmp_path / "seq")]) == 0
    (sweep,) = list((tmp_path / "ray").iterdir())
    assert yaml.safe_load((sweep / "sweep.yaml").read_text())["backend"] == "ray"
    from infolens.runs.sweep import expand_runs

    ray_runs, (seq_run,) = expand_runs([sweep]), expand_runs(list((tmp_path / "seq").iterdir()))
    a, b = read_metrics(ray_runs[1]), read_metrics(seq_run)
    pd.testing.assert_frame_equal(a.drop(columns="run"), b.drop(columns="run"))
