"""Joint ("vector") counting of whole binned vectors.

Each sample's tuple of codes is packed into int64 words (``⌊63 / bits⌋`` codes per word,
``bits = ⌈log2 radix⌉``); distinct states are then counted with ``torch.unique`` on the
tensor's device. There is no per-sample Python loop. Counts of distinct states accumulate
over chunks, so memory grows with the number of distinct states, not with the samples.
"""

from __future__ import annotations

import math

import torch

from infolens._validation import InfolensError
from infolens.estimators.entropy import entropy_from_counts


class JointCounts:
    """Streaming counts of the distinct rows of an ``(N, n_vars)`` integer code matrix.

    ``radix`` bounds the codes to ``[0, radix)`` so they can be packed densely. Codes outside
    that range (deep-ei's vector binning keeps values below the range as negative bins) are
    still counted exactly: the counter then switches to one word per variable.
    """

    def __init__(self, n_vars: int, radix: int, *, device: torch.device | str = "cpu") -> None:
        if n_vars < 1:
            raise InfolensError("a joint variable needs at least one component.")
        self.n_vars = int(n_vars)
        self.radix = int(radix)
        self.device = torch.device(device)
        self.bits = max(1, math.ceil(math.log2(max(self.radix, 2))))
        self.per_word = max(1, 63 // self.bits)
        self.raw = False
        self.keys = torch.empty((0, self._width()), dtype=torch.int64, device=self.device)
        self.counts = torch.empty(0, dtype=torch.int64, device=self.device)
        self.n_samples = 0

    def _width(self) -> int:
        return self.n_vars if self.raw else math.ceil(self.n_vars / self.per_word)

    def _pack(self, codes: torch.Tensor) -> torch.Tensor:
        if self.raw:
            return codes
        words = []
        for start in range(0, self.n_vars, self.per_word):
            group = codes[:, start : start + self.per_word]
            shifts = torch.arange(group.shape[1], device=codes.device, dtype=torch.int64) * self.bits
            words.append((group << shifts).sum(dim=1))
        return torch.stack(words, dim=1)

    def _unpack(self, keys: torch.Tensor) -> torch.Tensor:
        cols = []
        mask = (1 << self.bits) - 1
        for w in range(keys.shape[1]):
            n_here = min(self.per_word, self.n_vars - w * self.per_word)
            for i in range(n_here):
                cols.append((keys[:, w] >> (i * self.bits)) & mask)
        return torch.stack(cols, dim=1) if cols else keys

    def update(
        self,
        codes: torch.Tensor,
        valid: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> None:
        """Count the rows of ``codes`` (N, n_vars); rows where ``valid`` is False are skipped.

        ``weights`` (N,) int64 counts each row that many times (default 1)."""
        if codes.dim() != 2 or codes.shape[1] != self.n_vars:
            raise InfolensError(
                f"codes must have shape (N, {self.n_vars}), got {tuple(codes.shape)}."
            )
        codes = codes.to(device=self.device, dtype=torch.int64)
        if valid is not None:
            keep = valid.to(self.device)
            codes = codes[keep]
            weights = weights[keep] if weights is not None else None
        if codes.shape[0] == 0:
            return
        if not self.raw and bool(((codes < 0) | (codes >= self.radix)).any()):
            self.keys = self._unpack(self.keys)
            self.raw = True
        keys = self._pack(codes)
        if keys.shape[1] == 1:
            uniq, inv, cnt = torch.unique(keys[:, 0], return_inverse=True, return_counts=True)
            uniq = uniq[:, None]
        else:
            uniq, inv, cnt = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
        if weights is not None:
            cnt = torch.zeros(uniq.shape[0], dtype=torch.int64, device=self.device)
            cnt.scatter_add_(0, inv, weights.to(device=self.device, dtype=torch.int64))
        self._merge(uniq, cnt)
        self.n_samples += int(cnt.sum())

    def _merge(self, keys: torch.Tensor, counts: torch.Tensor) -> None:
        if self.keys.shape[0] == 0:
            self.keys, self.counts = keys, counts
            return
        allk = torch.cat([self.keys, keys])
        allc = torch.cat([self.counts, counts])
        if allk.shape[1] == 1:
            uniq, inv = torch.unique(allk[:, 0], return_inverse=True)
            uniq = uniq[:, None]
        else:
            uniq, inv = torch.unique(allk, dim=0, return_inverse=True)
        merged = torch.zeros(uniq.shape[0], dtype=torch.int64, device=self.device)
        merged.scatter_add_(0, inv, allc)
        self.keys, self.counts = uniq, merged

    def states(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The distinct rows seen, decoded to ``(n_states, n_vars)`` int64 codes, and their counts."""
        if self.raw or self.keys.shape[0] == 0:
            return self.keys.reshape(-1, self.n_vars).clone(), self.counts.clone()
        return self._unpack(self.keys), self.counts.clone()

    @property
    def n_states(self) -> int:
        """Number of distinct states seen."""
        return int(self.counts.numel())

    def entropy(self, *, estimator: str = "plugin", base: float = 2.0) -> float:
        """Entropy of the counted states (bits by default); 0 when nothing was counted."""
        if self.counts.numel() == 0:
            return 0.0
        return float(entropy_from_counts(self.counts, -1, estimator=estimator, base=base))


class VectorMI:
    """Streaming estimate of ``I(X;Y) = H(X) + H(Y) - H(X,Y)`` of two whole code vectors.

    When both vectors pack into one 63-bit key, only the joint states are counted (one
    ``unique`` per chunk) and the marginals are read off the distinct joint keys. Otherwise
    (wide vectors, or codes outside ``[0, radix)``) X, Y and (X, Y) are counted separately.
    """

    def __init__(self, n_x: int, n_y: int, radix_x: int, radix_y: int, *, device="cpu") -> None:
        self.n_x, self.n_y = int(n_x), int(n_y)
        self.radix_x, self.radix_y = int(radix_x), int(radix_y)
        self.device = torch.device(device)
        self.x = JointCounts(n_x, radix_x, device=device)
        self.y = JointCounts(n_y, radix_y, device=device)
        self.bits_y = self.y.bits * self.n_y
        self.combined = self.x.bits * self.n_x + self.bits_y <= 63
        if self.combined:
            self.xy = JointCounts(1, 2**63 - 1, device=device)
            self.xy.raw = True  # keys are packed here, one word per state
        else:
            self.xy = JointCounts(n_x + n_y, max(radix_x, radix_y), device=device)

    def update(self, x_codes: torch.Tensor, y_codes: torch.Tensor, valid=None) -> None:
        """Add samples: ``x_codes`` (N, n_x), ``y_codes`` (N, n_y), optional ``valid`` mask."""
        x_codes = x_codes.to(device=self.device, dtype=torch.int64)
        y_codes = y_codes.to(device=self.device, dtype=torch.int64)
        if self.combined and bool(
            ((x_codes < 0) | (x_codes >= self.radix_x)).any()
            | ((y_codes < 0) | (y_codes >= self.radix_y)).any()
        ):
            self._split()
        if self.combined:
            keys = (self.x._pack(x_codes)[:, 0] << self.bits_y) | self.y._pack(y_codes)[:, 0]
            self.xy.update(keys[:, None], valid)
            return
        self.x.update(x_codes, valid)
        self.y.update(y_codes, valid)
        self.xy.update(torch.cat([x_codes, y_codes], dim=1), valid)

    def _split(self) -> None:
        """Leave combined mode: recount the distinct joint states into three counters."""
        keys, counts = self.xy.keys[:, 0], self.xy.counts
        x_codes = self.x._unpack((keys >> self.bits_y)[:, None])
        y_codes = self.y._unpack((keys & ((1 << self.bits_y) - 1))[:, None])
        self.combined = False
        self.xy = JointCounts(self.n_x + self.n_y, max(self.radix_x, self.radix_y), device=self.device)
        if keys.numel():
            self.x.update(x_codes, weights=counts)
            self.y.update(y_codes, weights=counts)
            self.xy.update(torch.cat([x_codes, y_codes], dim=1), weights=counts)

    @property
    def n_samples(self) -> int:
        """Samples counted (after dropping invalid rows)."""
        return self.xy.n_samples

    def _marginal_entropy(self, keys: torch.Tensor, **kw) -> float:
        _, inv = torch.unique(keys, return_inverse=True)
        counts = torch.zeros(int(inv.max()) + 1, dtype=torch.int64, device=self.device)
        counts.scatter_add_(0, inv, self.xy.counts)
        return float(entropy_from_counts(counts, -1, **kw))

    def mutual_information(self, *, estimator: str = "plugin", base: float = 2.0) -> float:
        """Mutual information of the counted samples (bits by default)."""
        kw = {"estimator": estimator, "base": base}
        if self.combined:
            if self.xy.counts.numel() == 0:
                return 0.0
            keys = self.xy.keys[:, 0]
            hx = self._marginal_entropy(keys >> self.bits_y, **kw)
            hy = self._marginal_entropy(keys & ((1 << self.bits_y) - 1), **kw)
            return hx + hy - self.xy.entropy(**kw)
        return self.x.entropy(**kw) + self.y.entropy(**kw) - self.xy.entropy(**kw)
