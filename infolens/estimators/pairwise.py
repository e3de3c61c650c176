"""The pairwise-MI engine: joint histograms of many (input, output) pairs at once.

:class:`PairwiseCounts` accumulates, for every pair ``(A, B)`` of a support, the
``in_bins × out_bins`` contingency table of the binned codes ``(x_A, y_B)``. Counts are
integers and accumulate over any number of :meth:`PairwiseCounts.update` calls, so samples
can be streamed in chunks and more can be added later without recomputing anything.

Backends:

- ``"numba"`` (CPU): a parallel counting kernel that buckets samples by input code.
- ``"onehot"`` (the GPU path; also runs on the CPU): the joint tables of all pairs are the
  matrix product ``onehot(X)ᵀ · onehot(Y)``. Products of 0/1 values accumulated in float32
  are exact while every cell holds fewer than 2²⁴ counts, so samples are processed in
  chunks of at most 2²⁴ rows and each chunk's product is added to int64/int32 counts.
- ``"auto"``: ``"onehot"`` on CUDA tensors, ``"numba"`` otherwise.
"""

from __future__ import annotations

import math

import torch

from infolens._validation import InfolensError, check_choice
from infolens.estimators.entropy import mutual_information_from_joint

BACKENDS = ("auto", "numba", "onehot")
_FP32_EXACT = 2**24
_INT32_SAFE = 2**31 - 1


def dense_support(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR ``(indptr, indices)`` of all ``n_in × n_out`` pairs, row-major."""
    indptr = torch.arange(0, (n_in + 1) * n_out, n_out, dtype=torch.int64)
    indices = torch.arange(n_out, dtype=torch.int64).repeat(n_in)
    return indptr, indices


def support_from_mask(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR ``(indptr, indices)`` of the True entries of an ``(n_in, n_out)`` boolean mask."""
    mask = mask.to(device="cpu", dtype=torch.bool)
    per_row = mask.sum(dim=1)
    indptr = torch.zeros(mask.shape[0] + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(per_row, 0)
    indices = mask.nonzero()[:, 1].contiguous()
    return indptr, indices


def counts_nbytes(n_pairs: int, in_bins: int, out_bins: int, dtype_bytes: int = 4) -> int:
    """Bytes of the count table of ``n_pairs`` pairs."""
    return n_pairs * in_bins * out_bins * dtype_bytes


def _codes_array(codes: torch.Tensor):
    """A C-contiguous int8/int16 numpy view (or copy) of CPU codes for the kernels."""
    if codes.dtype not in (torch.int8, torch.int16):
        codes = codes.to(torch.int16)
    return codes.contiguous().numpy()


class PairwiseCounts:
    """Streaming joint histograms of the pairs ``(x_A, y_B)`` in a support.

    Parameters
    ----------
    n_in, n_out:
        Number of input and output variables.
    in_bins, out_bins:
        Number of bins of the codes (codes are in ``[0, bins)``; ``-1`` = dropped).
    support:
        ``None`` for all ``n_in · n_out`` pairs, or CSR ``(indptr, indices)`` over inputs
        (see :func:`support_from_mask`). Pairs are ordered row-major by input.
    device:
        Where the counts live (the codes passed to :meth:`update` must be there too).
    backend:
        ``"auto"``, ``"numba"`` or ``"onehot"`` (see the module docstring).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        in_bins: int,
        out_bins: int,
        *,
        support: tuple[torch.Tensor, torch.Tensor] | None = None,
        device: torch.device | str = "cpu",
        backend: str = "auto",
    ) -> None:
        check_choice("backend", backend, BACKENDS)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.in_bins, self.out_bins = int(in_bins), int(out_bins)
        self.device = torch.device(device)
        if backend == "auto":
            backend = "onehot" if self.device.type == "cuda" else "numba"
        if backend == "numba" and self.device.type != "cpu":
            raise InfolensError("backend='numba' runs on the CPU only; use backend='onehot'.")
        self.backend = backend
        indptr, indices = support if support is not None else dense_support(n_in, n_out)
        if indptr.numel() != self.n_in + 1:
            raise InfolensError(
                f"support indptr has {indptr.numel()} entries; expected n_in + 1 = {self.n_in + 1}."
            )
        self.indptr = indptr.to(device="cpu", dtype=torch.int64).contiguous()
        self.indices = indices.to(device="cpu", dtype=torch.int64).contiguous()
        self.dense = support is None
        self.n_pairs = int(self.indices.numel())
        self.n_samples = 0
        self.counts = torch.zeros(
            (self.n_pairs, self.in_bins, self.out_bins), dtype=torch.int32, device=self.device
        )

    @property
    def pair_inputs(self) -> torch.Tensor:
        """Input index ``A`` of every pair (CPU int64)."""
        return torch.repeat_interleave(
            torch.arange(self.n_in, dtype=torch.int64), self.indptr.diff()
        )

    def update(self, x_codes: torch.Tensor, y_codes: torch.Tensor) -> None:
        """Add a chunk of samples: ``x_codes`` (N, n_in) and ``y_codes`` (N, n_out), int16."""
        if x_codes.shape[0] != y_codes.shape[0]:
            raise InfolensError(
                f"x_codes has {x_codes.shape[0]} samples but y_codes has {y_codes.shape[0]}."
            )
        if x_codes.shape[1:] != (self.n_in,) or y_codes.shape[1:] != (self.n_out,):
            raise InfolensError(
                f"codes of shape {tuple(x_codes.shape)} and {tuple(y_codes.shape)} do not match "
                f"the engine's ({self.n_in} inputs, {self.n_out} outputs)."
            )
        n = int(x_codes.shape[0])
        if n == 0 or self.n_pairs == 0:
            self.n_samples += n
            return
        if self.n_samples + n > _INT32_SAFE and self.counts.dtype == torch.int32:
            self.counts = self.counts.to(torch.int64)
        if self.backend == "numba":
            self._update_numba(x_codes, y_codes)
        else:
            for start in range(0, n, _FP32_EXACT - 1):
                stop = start + _FP32_EXACT - 1
                self._update_onehot(x_codes[start:stop], y_codes[start:stop])
        self.n_samples += n

    def update_transposed(self, xcT: torch.Tensor, ycT: torch.Tensor) -> None:
        """:meth:`update` with codes given transposed: ``xcT`` (n_in, N), ``ycT`` (n_out, N)."""
        if self.backend != "numba":
            self.update(xcT.T, ycT.T)
            return
        if xcT.shape[0] != self.n_in or ycT.shape[0] != self.n_out or xcT.shape[1] != ycT.shape[1]:
            raise InfolensError(
                f"transposed codes of shape {tuple(xcT.shape)} and {tuple(ycT.shape)} do not "
                f"match the engine's ({self.n_in} inputs, {self.n_out} outputs)."
            )
        n = int(xcT.shape[1])
        if self.n_samples + n > _INT32_SAFE and self.counts.dtype == torch.int32:
            self.counts = self.counts.to(torch.int64)
        if n and self.n_pairs:
            from infolens.estimators._kernels import count_pairs

            count_pairs(
                _codes_array(xcT), _codes_array(ycT),
                self.indptr.numpy(), self.indices.numpy(), self.counts.numpy(),
            )
        self.n_samples += n

    def update_input(self, a: int, x_codes: torch.Tensor, ycT: torch.Tensor) -> None:
        """Add samples for the pairs of input ``a`` only: ``x_codes`` (N,) and output codes
        given transposed, ``ycT`` (n_out, N). Used when every input has its own samples
        (sensitivity); ``n_samples`` is left to the caller."""
        j0, j1 = int(self.indptr[a]), int(self.indptr[a + 1])
        if j1 == j0:
            return
        if x_codes.shape[0] > _INT32_SAFE and self.counts.dtype == torch.int32:
            self.counts = self.counts.to(torch.int64)
        indptr = torch.tensor([0, j1 - j0], dtype=torch.int64)
        indices = self.indices[j0:j1]
        counts = self.counts[j0:j1]
        if self.backend == "numba":
            from infolens.estimators._kernels import count_pairs

            count_pairs(
                _codes_array(x_codes[None, :]), _codes_array(ycT),
                indptr.numpy(), indices.numpy(), counts.numpy(),
            )
        else:
            sub = PairwiseCounts(
                1, self.n_out, self.in_bins, self.out_bins,
                support=(indptr, indices), device=self.device, backend=self.backend,
            )
            sub.counts = counts
            sub.update(x_codes[:, None], ycT.T)

    def _update_numba(self, x_codes: torch.Tensor, y_codes: torch.Tensor) -> None:
        self._count_numba(x_codes, y_codes, self.indptr, self.indices, self.counts)

    @staticmethod
    def _count_numba(x_codes, y_codes, indptr, indices, counts) -> None:
        from infolens.estimators._kernels import count_pairs

        count_pairs(
            _codes_array(x_codes.T), _codes_array(y_codes.T),
            indptr.numpy(), indices.numpy(), counts.numpy(),
        )

    def _update_onehot(self, x_codes: torch.Tensor, y_codes: torch.Tensor) -> None:
        dtype = torch.float32
        # code -1 (dropped) becomes an all-zero row: one-hot over bins+1 classes, first dropped
        ox = torch.nn.functional.one_hot(x_codes.long() + 1, self.in_bins + 1)[..., 1:]
        oy = torch.nn.functional.one_hot(y_codes.long() + 1, self.out_bins + 1)[..., 1:]
        ox = ox.to(dtype).reshape(x_codes.shape[0], -1)
        oy = oy.to(dtype).reshape(y_codes.shape[0], -1)
        full = (ox.T @ oy).reshape(self.n_in, self.in_bins, self.n_out, self.out_bins)
        full = full.permute(0, 2, 1, 3)
        if self.dense:
            add = full.reshape(self.n_pairs, self.in_bins, self.out_bins)
        else:
            rows = self.pair_inputs.to(self.device)
            cols = self.indices.to(self.device)
            add = full[rows, cols]
        self.counts += add.round().to(self.counts.dtype)

    def mutual_information(self, *, estimator: str = "plugin", base: float = 2.0) -> torch.Tensor:
        """Mutual information of every pair, shape ``(n_pairs,)``, float64 (bits by default).

        On the CPU a compiled kernel that skips empty cells computes the same definition as
        :func:`~infolens.estimators.entropy.mutual_information_from_joint`."""
        check_choice("estimator", estimator, ("plugin", "miller_madow"))
        if self.backend != "numba":
            return mutual_information_from_joint(self.counts, estimator=estimator, base=base)
        return self._mi_and_totals(estimator == "miller_madow")[0] / math.log(base)

    def mutual_information_and_totals(
        self, *, estimator: str = "plugin", base: float = 2.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pair MI (bits by default) and per-pair in-range sample totals, in one pass
        without temporaries the size of the count table on the CPU."""
        check_choice("estimator", estimator, ("plugin", "miller_madow"))
        if self.backend != "numba":
            mi = mutual_information_from_joint(self.counts, estimator=estimator, base=base)
            return mi, self.in_range_counts()
        mi, totals = self._mi_and_totals(estimator == "miller_madow")
        return mi / math.log(base), totals

    def _mi_and_totals(self, miller_madow: bool) -> tuple[torch.Tensor, torch.Tensor]:
        from infolens.estimators._kernels import mi_from_counts

        out = torch.empty(self.n_pairs, dtype=torch.float64)
        totals = torch.empty(self.n_pairs, dtype=torch.int64)
        if self.n_pairs:
            mi_from_counts(self.counts.numpy(), miller_madow, out.numpy(), totals.numpy())
        return out, totals

    def in_range_counts(self) -> torch.Tensor:
        """Number of samples that landed in range for every pair, shape ``(n_pairs,)``."""
        # in slices, so no int64 copy of the whole table is made
        parts = [t.sum(dim=(1, 2), dtype=torch.int64) for t in self.counts.split(4096)]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)

    def to_matrix(self, values: torch.Tensor) -> torch.Tensor:
        """Scatter per-pair ``values`` into an ``(n_in, n_out)`` matrix (0 off the support)."""
        out = torch.zeros((self.n_in, self.n_out), dtype=values.dtype, device=values.device)
        out[self.pair_inputs.to(values.device), self.indices.to(values.device)] = values
        return out
