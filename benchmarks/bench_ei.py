"""EI family: infolens against deep-ei 0.7.0, side by side in one run.

Setup for every case (issue 2): ``nn.Linear(bias=False)`` built after ``torch.manual_seed(0)``,
sigmoid, ranges (0, 1), batch 1000, CPU, one thread (torch and numba). Ratios are taken on
CPU seconds (``time.process_time`` of the measure call; every run is single-threaded, so
this is the time the call computed, robust to other load on the machine); wall seconds are
printed too. ``--threads 2`` gives numba two threads (infolens only) for a second table. Each case and each
implementation runs in its own subprocess, so peak RSS is per case. infolens runs through
``infolens.compat.deep_ei`` (the same values as deep-ei, checked here) and through the native
API with the shuffle null off.

    bash benchmarks/setup_reference_env.sh      # once: deep-ei's own venv
    .venv/bin/python benchmarks/bench_ei.py     # all cases
    .venv/bin/python benchmarks/bench_ei.py a e # some cases
    .venv/bin/python benchmarks/bench_ei.py --threads 2   # numba on both cores
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THREADS = 1

CASES = {
    "a": {"function": "ei_parts", "n_in": 20, "n_out": 10, "samples": 100_000, "in_bins": 64, "out_bins": 64},
    "b": {"function": "ei_parts_matrix", "n_in": 100, "n_out": 50, "samples": 100_000, "in_bins": 64, "out_bins": 64},
    "c": {"function": "ei_parts", "n_in": 784, "n_out": 100, "samples": 100_000, "in_bins": 64, "out_bins": 64},
    "d": {"function": "sensitivity", "n_in": 20, "n_out": 10, "samples": 100_000, "in_bins": 64, "out_bins": 64},
    "e": {"function": "ei", "n_in": 5, "n_out": 5, "samples": 100_000, "in_bins": 8, "out_bins": 8},
    "f": {"function": "ei_parts", "n_in": 20, "n_out": 10, "threshold": 0.05, "in_bins": 64, "out_bins": 64},
}


def _run_ours(case: dict, api: str) -> dict:
    import numba
    import torch
    from torch import nn

    torch.set_num_threads(1)
    numba.set_num_threads(THREADS)
    import infolens
    import infolens.compat.deep_ei as compat

    # warm the numba kernel's cache outside the timing (compiled once per install)
    warm = nn.Linear(2, 2)
    compat.ei_parts(warm, compat.topology_of(warm, torch.zeros(1, 2)), samples=10, in_range=(0, 1))

    torch.manual_seed(0)
    layer = nn.Linear(case["n_in"], case["n_out"], bias=False)
    kw = dict(batch_size=1000, in_range=(0, 1), out_range=(0, 1), activation=nn.Sigmoid(),
              in_bins=case["in_bins"], out_bins=case["out_bins"])
    if "samples" in case:
        kw["samples"] = case["samples"]
    else:
        kw["threshold"] = case["threshold"]
    if api == "compat":
        top = compat.topology_of(layer, torch.zeros(1, case["n_in"]))
        fn = getattr(compat, case["function"])
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn(layer, top, device="cpu", **kw)
    else:
        top = infolens.topology_of(layer, torch.zeros(1, case["n_in"]))
        fn = getattr(infolens, case["function"])
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn(layer, top, null=False, **kw).value
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if hasattr(value, "sum"):
        value = float(value.sum())
    return {"value": float(value), "seconds": seconds, "cpu_seconds": cpu,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _subprocess(case_key: str, api: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", case_key, api, str(THREADS)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(keys: list[str]) -> None:
    from benchmarks.reference import reference_available, run_deep_ei

    have_ref = reference_available()
    rows = []
    print(f"numba threads for infolens: {THREADS}; ratios on CPU seconds (wall in brackets)")
    print(f"{'case':<5}{'function':<16}{'layer':>8}{'deep-ei s':>18}{'compat s':>16}"
          f"{'native s':>16}{'ratio':>7}{'ratio nat':>10}{'|Δvalue|':>10}{'ours MiB':>9}"
          f"{'deep-ei MiB':>12}")
    for key in keys:
        case = CASES[key]
        ref = run_deep_ei({**case, "threads": 1}, timeout=3600) if have_ref else None
        comp = _subprocess(key, "compat")
        nat = _subprocess(key, "native")
        layer = f"{case['n_in']}x{case['n_out']}"
        nan = float("nan")
        ref_c, ref_w = (ref["cpu_seconds"], ref["seconds"]) if ref else (nan, nan)
        ref_v = ref["value"] if ref else nan
        ref_mem = ref["peak_rss_mib"] if ref else nan
        ratio = ref_c / comp["cpu_seconds"]
        ratio_n = ref_c / nat["cpu_seconds"]
        diff = abs(ref_v - comp["value"])
        mem = max(comp["peak_rss_mib"], nat["peak_rss_mib"])
        print(f"{key:<5}{case['function']:<16}{layer:>8}"
              f"{ref_c:>9.3f} ({ref_w:>6.2f}){comp['cpu_seconds']:>8.3f} ({comp['seconds']:>5.2f})"
              f"{nat['cpu_seconds']:>8.3f} ({nat['seconds']:>5.2f}){ratio:>7.1f}{ratio_n:>10.1f}"
              f"{diff:>10.1e}{mem:>9.0f}{ref_mem:>12.0f}", flush=True)
        rows.append({"case": key, **case, "threads": THREADS, "deep_ei": ref, "compat": comp,
                     "native": nat})
    out = Path(__file__).with_name(f"bench_ei_results_{THREADS}thread.json")
    previous = json.loads(out.read_text()) if out.exists() else []
    merged = {r["case"]: r for r in previous} | {r["case"]: r for r in rows}
    out.write_text(json.dumps([merged[k] for k in sorted(merged)], indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        THREADS = int(sys.argv[4])
        print(json.dumps(_run_ours(CASES[sys.argv[2]], sys.argv[3])))
    else:
        args = sys.argv[1:]
        if "--threads" in args:
            i = args.index("--threads")
            THREADS = int(args[i + 1])
            del args[i : i + 2]
        main(args or list(CASES))
