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

    ``xcT``: (n_in, N) int16 input codes, ``ycT``: (n_out, N) int16 output codes, code -1 =
    dropped. Pair ``j`` joins input ``A`` (``indptr[A] <= j < indptr[A+1]``) with output
    ``indices[j]``; ``counts[j, a, b]`` gains one per sample with codes ``(a, b)``.

    Samples are first bucketed by the input code (a counting sort per input), so each
    output's histogram row for one input code stays in L1 while it is filled.
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
        for j in range(j0, j1):
            yrow = ycT[indices[j]]
            cj = counts[j]
            for a in range(bx):
                for k in range(start[a], start[a + 1]):
                    b = np.intp(yrow[order[k]])
                    if b >= 0:
                        cj[a, b] += 1
