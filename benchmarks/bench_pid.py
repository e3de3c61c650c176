"""Benchmark of the I^sx PID against a naive O(R^2) implementation (SxPID's approach).

Workload (spec §5): y uniform over 10 classes; class means m_y ~ N(0, 1)^n drawn once;
activations tanh(m_y + 0.6 eps); 8-level quantization over (-1, 1); 60,000 samples.

    .venv/bin/python benchmarks/bench_pid.py          # n = 5 lattice, n = 5 union (< 1 min)
    .venv/bin/python benchmarks/bench_pid.py --n6     # also exact C for n = 6 (about 1 min)
    .venv/bin/python benchmarks/bench_pid.py --only-n6  # exact C for n = 6 alone

The naive baseline scans every realization for every antichain; it is timed on a few
realizations and extrapolated to all of them (reported as extrapolated).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time

import numpy as np
import torch

from infolens.estimators.pid import isx, redundancy_lattice, representational_complexity


def workload(n: int, samples: int = 60_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Quantized tanh activations of n neurons and a 10-class label (spec recipe)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, samples)
    means = rng.standard_normal((10, n))
    act = np.tanh(means[y] + 0.6 * rng.standard_normal((samples, n)))
    levels = np.round((act + 1) / (2 / 7)).astype(np.int64)  # nearest of 8 levels over (-1, 1)
    return np.clip(levels, 0, 7), y


def naive_pointwise(sources: np.ndarray, target: np.ndarray, prob: np.ndarray,
                    antichains, row: int) -> tuple[np.ndarray, np.ndarray]:
    """i+ and i- of one realization for every antichain, scanning all realizations."""
    agree = sources == sources[row]
    same_t = target == target[row]
    p_t = prob[same_t].sum()
    plus = np.empty(len(antichains))
    minus = np.empty(len(antichains))
    for k, alpha in enumerate(antichains):
        event = np.zeros(len(prob), dtype=bool)
        for a in alpha:
            event |= agree[:, list(a)].all(axis=1)
        plus[k] = -math.log2(prob[event].sum())
        minus[k] = -math.log2(prob[event & same_t].sum() / p_t)
    return plus, minus


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n6", action="store_true", help="also time exact C for 6 sources")
    parser.add_argument("--only-n6", action="store_true", help="time exact C for 6 sources only")
    parser.add_argument("--naive-rows", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()} (wall times on a busy machine are noisy; "
          "CPU seconds are also shown)")

    if args.only_n6:
        bench_n6()
        return
    s, y = workload(5)
    table, counts = np.unique(np.c_[s, y], axis=0, return_counts=True)
    print(f"n=5 workload: {len(y)} samples, R={len(table)} distinct realizations")

    t0 = time.perf_counter()
    lat = redundancy_lattice(5)
    _ = lat.mobius, lat.ubar
    t_lat = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = isx(s, y)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    print(f"lattice build (cached per n): {t_lat:.2f} s")
    print(f"fast isx, all 7579 atoms x 3 parts: {t_fast:.2f} s wall, {c_fast:.2f} s CPU "
          f"(+ lattice {t_lat:.2f} s), "
          f"C = {res.complexity:.6f}, I = {res.mutual_information:.6f} bits, "
          f"peak RSS so far {peak_rss_gb():.2f} GB")

    t0, c0 = time.perf_counter(), time.process_time()
    uni = representational_complexity(s, y, method="union")
    t_union, c_union = time.perf_counter() - t0, time.process_time() - c0
    print(f"union shortcut (C, Pi_m): {t_union:.2f} s wall, {c_union:.2f} s CPU, C = {uni.complexity:.6f} "
          f"(|diff vs lattice| = {abs(uni.complexity - res.complexity):.1e})")

    prob = counts / counts.sum()
    rows = np.random.default_rng(1).choice(len(table), args.naive_rows, replace=False)
    t0 = time.perf_counter()
    for r in rows:
        naive_pointwise(table[:, :5], table[:, 5], prob, lat.antichains, int(r))
    per_row = (time.perf_counter() - t0) / len(rows)
    t_naive = per_row * len(table)
    print(f"naive O(R^2): {per_row:.2f} s per realization -> {t_naive / 3600:.2f} h for all "
          f"{len(table)} (extrapolated from {len(rows)})")
    print(f"ratio naive / fast (incl. lattice build): {t_naive / (t_fast + t_lat):,.0f}x; "
          f"naive / union: {t_naive / t_union:,.0f}x")

    if args.n6:
        bench_n6()
    sys.stdout.flush()


def bench_n6() -> None:
    """Exact C and Pi_m of 6 sources by the union shortcut (1,114,235 redundancies)."""
    s6, y6 = workload(6)
    r6 = len(np.unique(np.c_[s6, y6], axis=0))
    t0, c0 = time.perf_counter(), time.process_time()
    c6 = representational_complexity(s6, y6, method="union")
    t6, cpu6 = time.perf_counter() - t0, time.process_time() - c0
    print(f"n=6 union shortcut, R={r6}: {t6:.1f} s wall, {cpu6:.1f} s CPU, C = {c6.complexity:.6f}, "
          f"Pi_m = {np.round(c6.degree_atoms, 6).tolist()}, peak RSS {peak_rss_gb():.2f} GB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
