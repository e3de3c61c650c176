"""numba kernel of the union-information shortcut: signed sums of log union masses.

For one m, the columns are all nonempty collections B of m-subsets of the sources. Instead of a
dense ``W @ Ubar`` product (every column costs 2^n multiply-adds per row), the collections are
visited depth first: adding member j to a collection B adds exactly the masses of the agreement
sets in ``↑{j} \\ ↑B``, so each column costs a copy plus a handful of additions per row
(``PU[r, B ∪ {j}] = PU[r, B] + sum_{m in ↑{j} \\ ↑B} W[r, m]``). Same-sign masses are multiplied
``group`` at a time before one logarithm. Tested equal to the full lattice in ``tests/test_pid.py``.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from ._lattice import upset_of_subset


@njit(cache=True, boundscheck=False)
def _plan(member_ups, max_new):  # pragma: no cover - compiled
    """Depth-first order of all nonempty collections of the given members.

    Returns, per visited collection: its size (stack depth), and the agreement-set masks that
    joining its last member adds to its parent's up-set (CSR: ``offsets``, ``masks``).
    """
    n_members = member_ups.shape[0]
    n_cols = (1 << n_members) - 1
    depth = np.empty(n_cols, np.int32)
    offsets = np.zeros(n_cols + 1, np.int64)
    masks = np.empty(n_cols * max_new, np.int32)
    nxt = np.zeros(n_members + 1, np.int64)
    ups = np.zeros(n_members + 1, np.uint64)
    d = 0
    c = 0
    pos = 0
    while d >= 0:
        j = nxt[d]
        if j >= n_members:
            d -= 1
            continue
        nxt[d] = j + 1
        new = member_ups[j] & ~ups[d]
        ups[d + 1] = ups[d] | member_ups[j]
        depth[c] = d + 1
        bit = 0
        while new != 0:
            if new & np.uint64(1):
                masks[pos] = bit
                pos += 1
            new >>= np.uint64(1)
            bit += 1
        c += 1
        offsets[c] = pos
        nxt[d + 1] = j + 1
        d += 1
    return depth, offsets, masks[:pos].copy()


@njit(parallel=True, cache=True, boundscheck=False, nogil=True)
def _signed_log_sum_kernel(w_t, prob, depth, offsets, masks, group, chunk):  # pragma: no cover
    """``sum_r prob_r sum_B (-1)^{|B|+1} log2 PU[r, B]`` with ``PU`` built depth first.

    ``w_t`` is ``(2^n, rows)``: exact-agreement masses, transposed so a row chunk is contiguous.
    Each task copies its row chunk of ``w_t`` (2^n x chunk) so the inner loops stay in cache;
    the per-row sums of logarithms are compensated (Neumaier), since they cancel heavily.
    """
    n_rows = w_t.shape[1]
    n_cols = depth.shape[0]
    max_depth = 0
    for c in range(n_cols):
        if depth[c] > max_depth:
            max_depth = depth[c]
    n_chunks = (n_rows + chunk - 1) // chunk
    out = np.zeros(n_chunks)
    for ci in prange(n_chunks):
        r0 = ci * chunk
        size = min(chunk, n_rows - r0)
        local = np.ascontiguousarray(w_t[:, r0 : r0 + size])
        stack = np.zeros((max_depth + 1, size))
        prods = np.ones((2, size))  # [0]: even |B| (sign -1), [1]: odd |B| (sign +1)
        acc = np.zeros(size)
        comp = np.zeros(size)
        count = np.zeros(2, np.int64)
        for c in range(n_cols):
            d = depth[c]
            k0 = offsets[c]
            k1 = offsets[c + 1]
            cur = stack[d]
            parent = stack[d - 1]
            if k1 == k0:
                for i in range(size):
                    cur[i] = parent[i]
            else:
                first = local[masks[k0]]
                for i in range(size):
                    cur[i] = parent[i] + first[i]
                for k in range(k0 + 1, k1):
                    src = local[masks[k]]
                    for i in range(size):
                        cur[i] += src[i]
            s = d & 1
            prod = prods[s]
            for i in range(size):
                prod[i] *= cur[i]
            count[s] += 1
            if count[s] == group:
                sign = 1.0 if s == 1 else -1.0
                for i in range(size):
                    x = sign * np.log2(prod[i])
                    t = acc[i] + x
                    if abs(acc[i]) >= abs(x):
                        comp[i] += (acc[i] - t) + x
                    else:
                        comp[i] += (x - t) + acc[i]
                    acc[i] = t
                    prod[i] = 1.0
                count[s] = 0
        total = 0.0
        for i in range(size):
            rest = np.log2(prods[1, i]) - np.log2(prods[0, i])
            total += prob[r0 + i] * ((acc[i] + rest) + comp[i])
        out[ci] = total
    return out.sum()


@functools.lru_cache(maxsize=16)
def union_plan(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached depth-first plan over all collections of m-subsets of ``[n]`` (see :func:`_plan`)."""
    members = [mask for mask in range(1, 1 << n) if bin(mask).count("1") == m]
    ups = np.array([upset_of_subset(mask, n) for mask in members], dtype=np.uint64)
    max_new = 1 << (n - m)  # |↑{a}| for |a| = m
    depth, offsets, masks = _plan(ups, max_new)
    for arr in (depth, offsets, masks):
        arr.setflags(write=False)
    return depth, offsets, masks


def signed_log_sum(
    w: np.ndarray, prob: np.ndarray, n: int, m: int, group: int, chunk: int = 256
) -> float:
    """``sum_B (-1)^{|B|+1} sum_r prob_r log2 (sum_{a in ↑B} w[r, a])`` over collections of m-sets.

    ``w`` is ``(rows, 2^n)`` exact-agreement masses (every row's own agreement set, the full
    mask, must carry positive mass so no logarithm sees 0); ``group`` same-sign masses are
    multiplied before each logarithm; ``chunk`` rows are processed per task.
    """
    depth, offsets, masks = union_plan(n, m)
    w_t = np.ascontiguousarray(w.T, dtype=np.float64)
    p = np.ascontiguousarray(prob, dtype=np.float64)
    return float(_signed_log_sum_kernel(w_t, p, depth, offsets, masks, int(group), int(chunk)))
