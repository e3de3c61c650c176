"""The scripted examples (examples/*.py) run end to end with ``--quick`` and write their outputs.

Each example runs in a subprocess, as a user would run it, into a temporary ``--out`` folder; the
test checks the run folder it creates: the merged long table (parquet + CSV) holding the measures
the example is about, one run directory per seed, the summary table and the figures. The
findings themselves need the full runs (minutes); ``--quick`` only proves the plumbing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infolens.runs.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# script -> (measures the long table must hold, figures under plots/)
CASES = {
    "deep_ei_iris.py": (
        {"ei_parts", "sensitivity", "degeneracy", "x_prime", "y_prime", "loss", "acc"},
        ["causal_plane.png", "causal_plane.pdf", "ei_epochs.png", "loss_accuracy.png"],
    ),
    "nninfo_tishby.py": (
        {"pid_I", "pid_C", "pid_Pi_1", "pid_Pi_4", "loss", "acc"},
        ["complexity_and_I.png", "complexity.png", "loss_accuracy.png"],
    ),
    "thesis_digits_nc1.py": (
        {"nc1", "nc1_trace", "loss", "acc"},
        ["nc1.png", "nc1.pdf", "loss_accuracy.png"],
    ),
}


def run_example(script: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_example_quick_run_writes_tables_and_figures(tmp_path, script):
    measures, figures = CASES[script]
    figure_copy = tmp_path / "docs" / "figure.png"
    proc = run_example(script, tmp_path / "runs", "--figure", str(figure_copy))
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    run = runs[0]
    assert run.name.endswith(script[:-3])
    for name in ("config.yaml", "metrics.parquet", "metrics.csv", "summary.csv"):
        assert (run / name).is_file(), name
    seeds = sorted(p for p in run.iterdir() if p.is_dir() and p.name.startswith("seed"))
    assert seeds, "no per-seed run directories"
    for seed_dir in seeds:
        assert (seed_dir / "config.yaml").is_file()
        assert (seed_dir / "metrics.parquet").is_file()
        assert (seed_dir / "checkpoints" / "last.ckpt").is_file()

    table = read_metrics(run)
    assert measures <= set(table["measure"]), measures - set(table["measure"])
    assert table["epoch"].min() == 0 and table["epoch"].max() > 0  # initial network and later
    assert set(table["seed"].dropna().astype(int)) == {int(p.name[4:]) for p in seeds}
    assert len(table) == len(read_metrics(seeds))  # the merged table is every seed's rows

    for fig in figures:
        path = run / "plots" / fig
        assert path.is_file() and path.stat().st_size > 1000, fig
    assert figure_copy.is_file() and figure_copy.stat().st_size > 1000
    assert "total time" in proc.stdout
