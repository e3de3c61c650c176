"""Exact (sampling-free) EI_parts against sampling, side by side in one run (issue 7).

Setup as in ``bench_ei.py`` and deep-ei's recorded reference: ``nn.Linear(bias=False)`` built
after ``torch.manual_seed(0)``, sigmoid, ranges (0, 1), 64 bins, CPU, two threads (the 2-core
target). For each case:

- ``estimator="exact"`` (δ = 0; best of 3 calls, the first call printed too) and
  ``compat.deep_ei.ei_parts(..., exact=True)`` (δ = 1e-6): wall and CPU seconds, and the peak
  RSS of the process after the first exact call (each case runs in its own subprocess;
  the RSS after imports and a warm-up call is printed as the baseline);
- our sampler (plug-in and Miller–Madow, δ = 0), doubling N from 10,000 until the estimate is
  within 1 % of the exact value or the case's sample cap / time budget is reached: the N it
  needed and the time of that run;
- deep-ei 0.7.0's own sampled value and time at N = 1e5 (recorded in
  ``specs/reference/deep_ei_0.7.0.json``, single thread on this CPU).

CPU seconds (``time.process_time``, summed over threads) are robust to other load on the
machine; wall seconds are printed too, with the load average.

    .venv/bin/python benchmarks/bench_exact_ei.py          # cases a b c
    .venv/bin/python benchmarks/bench_exact_ei.py a        # some cases
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = {
    "a": {"function": "ei_parts", "n_in": 20, "n_out": 10, "target_s": 0.1, "cap": 2**23, "budget_s": 120},
    "b": {"function": "ei_parts_matrix", "n_in": 100, "n_out": 50, "target_s": 1.0, "cap": 2**21, "budget_s": 150},
    "c": {"function": "ei_parts", "n_in": 784, "n_out": 100, "target_s": 10.0, "cap": 160_000, "budget_s": 200},
}
REF_KEYS = {"a": "ei_parts 20x10 N=1e5 64 bins", "b": "ei_parts_matrix 100x50 N=1e5 64 bins",
            "c": "ei_parts 784x100 N=1e5 64 bins"}
REF_PATH = Path(__file__).resolve().parents[2] / "shared" / "specs" / "reference" / "deep_ei_0.7.0.json"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def run_case(name: str) -> dict:
    import numba
    import torch
    from torch import nn

    torch.set_num_threads(2)
    numba.set_num_threads(2)
    import infolens
    import infolens.compat.deep_ei as compat

    case = CASES[name]
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=64, out_bins=64)
    # warm-up outside the timings: the compiled kernels load from numba's cache
    warm = nn.Sequential(nn.Linear(12, 2), nn.Sigmoid())
    wtop = infolens.topology_of(warm, torch.zeros(1, 12))
    infolens.ei_parts("0", wtop, estimator="exact", **kw)
    infolens.ei_parts("0", wtop, samples=2000, seed=0, null=False, **kw)
    base_rss = _rss_mib()

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(case["n_in"], case["n_out"], bias=False), nn.Sigmoid())
    top = infolens.topology_of(model, torch.zeros(1, case["n_in"]))
    fn = getattr(infolens, case["function"])
    res, first_wall, first_cpu = _timed(lambda: fn("0", top, estimator="exact", **kw))
    peak_rss = _rss_mib()
    reps = [_timed(lambda: fn("0", top, estimator="exact", **kw))[1:] for _ in range(3)]
    wall, cpu = min(reps)
    ctop = compat.topology_of(model, torch.zeros(1, case["n_in"]))
    cfn = getattr(compat, case["function"])
    cval, cwall, ccpu = _timed(lambda: cfn(model[0], ctop, exact=True, **kw))
    cval = float(cval.sum()) if hasattr(cval, "sum") else float(cval)
    out = {
        "case": name, **case, "exact": res.value, "exact_wall_s": wall, "exact_cpu_s": cpu,
        "exact_first_wall_s": first_wall, "exact_first_cpu_s": first_cpu,
        "exact_bound": res.exact.cdf_error_bound, "terms_mean": float(res.exact.terms.double().mean()),
        "exact_delta1e6": cval, "compat_exact_wall_s": cwall, "compat_exact_cpu_s": ccpu,
        "base_rss_mib": base_rss, "peak_rss_mib": peak_rss, "sampled": {},
    }
    extra = {"samples": None} if case["function"] == "ei_parts" else {}
    for est in ("plugin", "miller_madow"):
        n, spent, rows = 10_000, 0.0, []
        while True:
            ekw = dict(kw, estimator=est, seed=0, null=False, samples=n)
            r, sw, sc = _timed(lambda ekw=ekw: fn("0", top, **{**extra, **ekw}))
            spent += sw
            rel = (r.value - res.value) / res.value
            rows.append({"samples": n, "value": r.value, "rel_err": rel, "wall_s": sw, "cpu_s": sc})
            if abs(rel) <= 0.01 or n * 2 > case["cap"] or spent > case["budget_s"]:
                break
            n *= 2
        out["sampled"][est] = {"rows": rows, "reached": abs(rows[-1]["rel_err"]) <= 0.01}
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--case"]:
        print(json.dumps(run_case(argv[1])))
        return
    names = [a for a in argv if a in CASES] or list(CASES)
    ref = json.loads(REF_PATH.read_text()) if REF_PATH.exists() else None
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores); times in seconds")
    results = []
    for name in names:
        proc = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                              text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for r in results:
        c = r["case"]
        print(f"\n[{c}] {r['function']} {r['n_in']}->{r['n_out']} sigmoid, 64 bins")
        ok = "OK" if r["exact_cpu_s"] <= r["target_s"] or r["exact_wall_s"] <= r["target_s"] else "over"
        print(f"  exact (δ=0):      {r['exact']:.6f} bits  wall {r['exact_wall_s']:.3f}  cpu "
              f"{r['exact_cpu_s']:.3f}  target {r['target_s']} ({ok}); CDF bound "
              f"{r['exact_bound']:.1e}, mean Q {r['terms_mean']:.0f}")
        print(f"                    (best of 3 after a first call of wall {r['exact_first_wall_s']:.3f}"
              f"  cpu {r['exact_first_cpu_s']:.3f})")
        print(f"  exact (δ=1e-6):   {r['exact_delta1e6']:.6f} bits  wall {r['compat_exact_wall_s']:.3f}")
        print(f"  peak RSS {r['peak_rss_mib']:.0f} MiB (baseline after imports {r['base_rss_mib']:.0f} MiB, "
              f"exact adds ≤ {r['peak_rss_mib'] - r['base_rss_mib']:.0f} MiB)")
        for est, s in r["sampled"].items():
            last = s["rows"][-1]
            tag = "within 1%" if s["reached"] else "NOT within 1% (cap)"
            print(f"  ours {est:<12} N={last['samples']:>9,}  {last['value']:.4f} bits "
                  f"({last['rel_err']:+.2%}) {tag}; wall {last['wall_s']:.2f}  cpu {last['cpu_s']:.2f}"
                  f"  -> {last['wall_s'] / max(r['exact_wall_s'], 1e-9):.0f}x exact's wall")
            trail = ", ".join(f"{row['samples']:,}:{row['rel_err']:+.1%}" for row in s["rows"])
            print(f"      path {trail}")
        if ref is not None:
            t = ref["timings_seconds_deep_ei_single_thread_2core_cpu"].get(REF_KEYS[c])
            vals = [x["value"] for x in ref["cases"] if x["function"] == r["function"]
                    and x["n_in"] == r["n_in"]]
            if t is not None:
                v = f"{vals[0]:.4f} bits ({(vals[0] - r['exact_delta1e6']) / r['exact_delta1e6']:+.1%} vs exact δ=1e-6), " if vals else ""
                print(f"  deep-ei 0.7.0 N=1e5 (recorded): {v}{t} s -> {t / max(r['exact_wall_s'], 1e-9):.0f}x exact's wall")
    out = Path(__file__).with_name("bench_exact_ei_results.json")
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
