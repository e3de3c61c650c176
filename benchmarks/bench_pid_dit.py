"""I^sx PID: infolens against dit 2.3's ``PID_SX``, side by side, for 3 and 4 sources.

dit is an optional reference (slow, so small pmfs only). Install it somewhere and put it
on the path, e.g.::

    .venv/bin/pip install --target /tmp/ditpkgs dit==2.3
    PYTHONPATH=/tmp/ditpkgs .venv/bin/python benchmarks/bench_pid_dit.py        # n = 3
    PYTHONPATH=/tmp/ditpkgs .venv/bin/python benchmarks/bench_pid_dit.py --n4   # also n = 4 (dit: > 6 min)

Workload: n binary-ish sources with ``levels`` values and a target with 4 values, a random
explicit pmf over all joint states (seeded). Prints both times, the ratio and the largest
atom difference.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def random_pmf(n: int, levels: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    states = np.array(list(itertools.product(range(levels), repeat=n)))
    rows = [(s, t) for s in states for t in range(classes)]
    src = np.array([r[0] for r in rows])
    tgt = np.array([r[1] for r in rows])
    w = rng.dirichlet(np.ones(len(rows)))
    return src, tgt, w


def main() -> None:
    import dit
    from dit.pid import PID_SX

    from infolens.pid import isx

    print(f"{'n':>2}{'states':>8}{'dit s':>10}{'infolens s':>12}{'ratio':>10}{'max |Δatom|':>13}")
    cases = [(3, 2)] + ([(4, 2)] if "--n4" in sys.argv else [])
    for n, levels in cases:
        src, tgt, w = random_pmf(n, levels, 4, seed=n * 10 + levels)
        outcomes = ["".join(map(str, s)) + str(t) for s, t in zip(src.tolist(), tgt.tolist())]
        d = dit.Distribution(outcomes, w.tolist())
        t0 = time.perf_counter()
        ref = PID_SX(d, [[i] for i in range(n)], [n])
        t_dit = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = isx(src, tgt, weights=w)
        t_ours = time.perf_counter() - t0
        diff = max(
            abs(ours[tuple(sorted(tuple(sorted(a)) for a in node))].average - float(ref.get_pi(node)))
            for node in ref._lattice
        )
        print(f"{n:>2}{len(w):>8}{t_dit:>10.3f}{t_ours:>12.4f}{t_dit / t_ours:>10.0f}{diff:>13.1e}")


if __name__ == "__main__":
    main()
