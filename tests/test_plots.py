"""Plots from synthetic long tables: every plot writes PNG and PDF; missing measures are skipped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from infolens.plots._common import MissingMeasures, band_stats, looks_log_spaced, with_replicate
from infolens.plots.causal_plane import causal_plane_points, plot_causal_plane
from infolens.plots.run import PLOTS_BY_NAME, plot_run
from infolens.runs.metrics import records_to_table, write_metrics
from infolens.training.records import record

EPOCHS = (0, 1, 2, 3, 5, 9, 16, 28, 50)
LAYERS = ("layer_1", "layer_2", "layer_3")


def synthetic(seed: int = 0) -> pd.DataFrame:
    """A long table with every plotted measure family, for one seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for e in EPOCHS:
        common = {"epoch": e, "step": 10 * e}
        f = np.log1p(e)
        for split in ("train", "test"):
            rows.append(record(measure="loss", value=1 / (1 + f) + rng.normal(0, 0.02), unit="nats",
                               split=split, **common))
            rows.append(record(measure="acc", value=1 - 0.5 / (1 + f), unit="1", split=split, **common))
        rows.append(record(measure="weight_ei", value=2 + f, unit="bits", **common))
        for k, layer in enumerate(LAYERS):
            rows.append(record(measure="ei_parts", value=1 + f * k, unit="bits", layer=layer, **common))
            rows.append(record(measure="sensitivity", value=2 + f, unit="bits", layer=layer, **common))
            rows.append(record(measure="I_XT", value=5 - k + f, unit="bits", layer=layer,
                               split="train", bins=30, **common))
            rows.append(record(measure="I_TY", value=0.2 * f / (1 + k), unit="bits", layer=layer,
                               split="train", bins=30, **common))
            rows.append(record(measure="pid_C", value=2.5 - 0.1 * f - 0.3 * k + rng.normal(0, 0.05),
                               unit="1", layer=layer, split="train", **common))
            for m in (1, 2, 3):
                rows.append(record(measure=f"pid_Pi_{m}", value=0.3 / m * f, unit="bits", layer=layer,
                                   split="train", **common))
            for split in ("train", "test"):
                rows.append(record(measure="nc1", value=np.exp(-f * (k + 1)), unit="1", layer=layer,
                                   split=split, **common))
                rows.append(record(measure="vmin", value=3 - 0.3 * f * k, unit="bits", layer=layer,
                                   split=split, **common))
                rows.append(record(measure="vsuff", value=0.5 + 0.1 * f, unit="bits", layer=layer,
                                   split=split, **common))
    return records_to_table(rows, run=f"run{seed}", seed=seed)


def _files(report):
    return sorted(p.name for paths in report.written.values() for p in paths)


def test_every_plot_from_a_multi_seed_table(tmp_path):
    table = pd.concat([synthetic(0), synthetic(1)])
    report = plot_run(table, tmp_path)
    assert set(report.written) == set(PLOTS_BY_NAME) and not report.skipped
    for name in PLOTS_BY_NAME:
        for ext in ("png", "pdf"):
            path = tmp_path / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000
    assert (tmp_path / "nc1.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "nc1.pdf").read_bytes()[:4] == b"%PDF"
    assert not list(tmp_path.glob("*.tmp"))


def test_plot_run_on_run_dirs_skips_absent_measures(tmp_path):
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"run{seed}"
        t = synthetic(seed)
        write_metrics(run, t[t["measure"].isin(["loss", "acc", "nc1"])])
        runs.append(run)
    one = plot_run(runs[0])
    assert one.out_dir == runs[0] / "plots"
    assert set(one.written) == {"loss_accuracy", "nc1"}
    assert set(one.skipped) == {"causal_plane", "info_plane", "complexity", "vinfo_plane", "weight_ei"}
    assert "skipped" in str(one)
    both = plot_run(runs, only=["nc1", "weight_ei"])
    assert both.out_dir == tmp_path / "plots" and _files(both) == ["nc1.pdf", "nc1.png"]
    assert list(both.skipped) == ["weight_ei"]


def test_single_plots_raise_missing_measures():
    empty = synthetic(0).iloc[0:0]
    for fn in PLOTS_BY_NAME.values():
        with pytest.raises(MissingMeasures):
            fn(empty, None)


def test_seed_bands_and_log_epoch_detection():
    t = with_replicate(pd.concat([synthetic(0), synthetic(1), synthetic(2)]))
    loss = t[(t["measure"] == "loss") & (t["split"] == "train")]
    stats = band_stats(loss, ["split"])
    assert stats["count"].eq(3).all() and (stats["std"] > 0).any()
    assert stats["epoch"].tolist() == list(EPOCHS)
    assert looks_log_spaced(EPOCHS) and not looks_log_spaced(range(0, 50, 5))


def test_causal_plane_coordinates_derived_from_ei_and_sensitivity():
    pts = causal_plane_points(synthetic(0))
    wide = pts.pivot_table(index=["layer", "epoch"], columns="measure", values="value")
    ei = 1 + np.log1p(5) * 2
    s = 2 + np.log1p(5)
    assert wide.loc[("layer_3", 5), "x_prime"] == pytest.approx(ei / np.sqrt(2))
    assert wide.loc[("layer_3", 5), "y_prime"] == pytest.approx((2 * s - ei) / np.sqrt(2))


def test_causal_plane_of_a_measures_table_still_works(tmp_path):
    table = pd.DataFrame({"layer": ["a", "b"], "x_prime": [0.1, 0.2], "y_prime": [1.0, 0.5]})
    plot_causal_plane(table, tmp_path / "cp.png")
    assert (tmp_path / "cp.png").read_bytes()[:4] == b"\x89PNG"
