"""numba kernels for the CPU hot loops (counting joint histograms of many pairs).

These are implementation details of :mod:`infolens.estimators.pairwise`; they are tested
against brute-force references in ``tests/test_pairwise.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def count_pairs(xcT, ycT, indptr, indices, counts):  # pragma: no cover - compiled
    """Add the joint histograms of the pairs in a CSR support to ``counts``.

    ``xcT``: (n_in, N) int8/int16 input codes, ``ycT``: (n_out, N) output codes, code -1 =
    dropped. Pair ``j`` joins input ``A`` (``indptr[A] <= j < indptr[A+1]``) with output
    ``indices[j]``; ``counts[j, a, b]`` gains one per sample with codes ``(a, b)``.

    Samples are first bucketed by the input code (a counting sort per input), so each
    output's histogram row for one input code stays in L1 while it is filled; four outputs
    are filled per pass over a bucket.
    """
    n_in, n_samples = xcT.shape
    bx = counts.shape[1]
    for A in prange(n_in):
        j0 = indptr[A]
        j1 = indptr[A + 1]
        if j0 == j1:
            continue
        start = np.zeros(bx + 1, np.int64)
        xrow = xcT[A]
        for s in range(n_samples):
            a = np.intp(xrow[s])
            if a >= 0:
                start[a + 1] += 1
        for a in range(bx):
            start[a + 1] += start[a]
        order = np.empty(start[bx], np.int32)
        pos = start[:bx].copy()
        for s in range(n_samples):
            a = np.intp(xrow[s])
            if a >= 0:
                order[pos[a]] = s
                pos[a] += 1
        j = j0
        while j + 4 <= j1:
            y0 = ycT[indices[j]]
            y1 = ycT[indices[j + 1]]
            y2 = ycT[indices[j + 2]]
            y3 = ycT[indices[j + 3]]
            c0 = counts[j]
            c1 = counts[j + 1]
            c2 = counts[j + 2]
            c3 = counts[j + 3]
            for a in range(bx):
                for k in range(start[a], start[a + 1]):
                    s = order[k]
                    b = np.intp(y0[s])
                    if b >= 0:
                        c0[a, b] += 1
                    b = np.intp(y1[s])
                    if b >= 0:
                        c1[a, b] += 1
                    b = np.intp(y2[s])
                    if b >= 0:
                        c2[a, b] += 1
                    b = np.intp(y3[s])
                    if b >= 0:
                        c3[a, b] += 1
            j += 4
        while j < j1:
            yrow = ycT[indices[j]]
            cj = counts[j]
            for a in range(bx):
                for k in range(start[a], start[a + 1]):
                    b = np.intp(yrow[order[k]])
                    if b >= 0:
                        cj[a, b] += 1
            j += 1


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def bin_transposed(x, lo, hi, bins, clip, closed, out, oor):  # pragma: no cover - compiled
    """Equal-width codes of ``x`` (N, k), written transposed into ``out`` (k, N) int8/int16.

    The same rule as :func:`infolens.estimators.binning.bin_codes`, in float64:
    ``floor((v - lo_j) · (bins / (hi_j - lo_j)))``, in range when ``lo_j <= v < hi_j`` (or
    ``v == hi_j`` when ``closed``); out-of-range values get -1 unless ``clip``; NaN is -1.
    ``oor`` (n_blocks, k) receives per-block counts of out-of-range values; its first
    dimension sets the number of sample blocks worked on in parallel.
    """
    n_samples, k = x.shape
    n_blocks = oor.shape[0]
    block = (n_samples + n_blocks - 1) // n_blocks
    scale = np.empty(k, np.float64)
    for j in range(k):
        scale[j] = bins / (hi[j] - lo[j])
    top = np.float64(bins - 1)
    for blk in prange(n_blocks):
        s0 = min(blk * block, n_samples)
        s1 = min(s0 + block, n_samples)
        cnt = np.zeros(k, np.int64)
        for s in range(s0, s1):
            row = x[s]
            for j in range(k):
                v = np.float64(row[j])
                low = lo[j]
                high = hi[j]
                t = np.floor((v - low) * scale[j])
                t = min(max(t, 0.0), top)
                inside = v >= low and (v < high or (closed and v == high))
                code = np.int64(t)
                if not inside:
                    cnt[j] += 1
                    if not clip or v != v:
                        code = -1
                out[j, s] = code
        for j in range(k):
            oor[blk, j] = cnt[j]


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def mi_from_counts(counts, miller_madow, out, n_out):  # pragma: no cover - compiled
    """Plug-in (or Miller–Madow) mutual information in nats of each ``counts[p]`` table.

    Skips empty cells, so sparse tables cost little. ``n_out[p]`` receives the table's
    total; plug-in values are clipped at 0. Same definition as
    :func:`infolens.estimators.entropy.mutual_information_from_joint`.
    """
    n_pairs, bx, by = counts.shape
    for p in prange(n_pairs):
        rows = np.zeros(bx, np.float64)
        cols = np.zeros(by, np.float64)
        sxy = 0.0
        kxy = 0
        for a in range(bx):
            for b in range(by):
                c = counts[p, a, b]
                if c > 0:
                    fc = np.float64(c)
                    rows[a] += fc
                    cols[b] += fc
                    sxy += fc * np.log(fc)
                    kxy += 1
        n = 0.0
        sx = 0.0
        kx = 0
        for a in range(bx):
            if rows[a] > 0:
                n += rows[a]
                sx += rows[a] * np.log(rows[a])
                kx += 1
        sy = 0.0
        ky = 0
        for b in range(by):
            if cols[b] > 0:
                sy += cols[b] * np.log(cols[b])
                ky += 1
        n_out[p] = np.int64(n)
        if n == 0:
            out[p] = 0.0
            continue
        logn = np.log(n)
        mi = (logn - sx / n) + (logn - sy / n) - (logn - sxy / n)
        if miller_madow:
            mi += ((kx - 1) + (ky - 1) - (kxy - 1)) / (2.0 * n)
        elif mi < 0.0:
            mi = 0.0
        out[p] = mi
