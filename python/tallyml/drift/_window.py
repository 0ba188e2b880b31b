"""Sliding window of the last N samples as a ring of bucket histograms (bounded memory).

The window is cut into ``N / stride`` buckets of ``stride`` samples. Samples are counted into the
bucket being filled; when it is full it enters the ring and the oldest bucket leaves, and a running
sum of the ring's buckets is the window's histogram (integer adds: exact, O(bins) per bucket).
The window therefore always covers exactly the last N samples *up to the last bucket boundary*:
the statistic moves every ``stride`` samples, and is not available until N samples have arrived.
"""
from __future__ import annotations

import numpy as np

__all__: list[str] = []  # private module


def default_stride(window: int) -> int:
    """The window split in 10 buckets when it divides evenly, else in fewer (down to 1)."""
    for buckets in (10, 8, 5, 4, 2):
        if window % buckets == 0:
            return window // buckets
    return window


class Window:
    """Counts of the last ``window`` samples, ``size`` bins each (int64)."""

    def __init__(self, window: int, stride: int, size: int):
        if window % stride:
            raise ValueError(f"stride must divide window; got window={window}, stride={stride}")
        self.window = window
        self.stride = stride
        self.buckets = window // stride
        self.size = size
        self.reset()

    def reset(self) -> None:
        self.ring = np.zeros((self.buckets, self.size), dtype=np.int64)
        self.current = np.zeros(self.size, dtype=np.int64)
        self.total = np.zeros(self.size, dtype=np.int64)
        self.pos = 0  # ring slot the next completed bucket goes to (the oldest one)
        self.filled = 0  # samples in ``current``
        self.completed = 0  # buckets completed since the start
        self.seen = 0  # samples since the start

    @property
    def ready(self) -> bool:
        return self.completed >= self.buckets

    def _complete(self) -> None:
        self.total -= self.ring[self.pos]
        self.ring[self.pos] = self.current
        self.total += self.current
        self.pos = (self.pos + 1) % self.buckets
        self.completed += 1
        self.current[:] = 0
        self.filled = 0

    def add(self, n: int, count, validate) -> None:
        """Add a batch of ``n`` samples.

        ``count(start, stop, out, check)`` adds rows [start, stop) of the batch into ``out``
        (checking values when ``check``); ``validate()`` checks the whole batch. A batch that stays
        inside the current bucket is checked by the counting pass itself (nothing is changed on
        error); a longer one is validated first, then counted segment by segment."""
        if n == 0:
            return
        if self.filled + n < self.stride:
            count(0, n, self.current, True)
            self.filled += n
            self.seen += n
            return
        validate()
        start = 0
        # rows older than the window at the end of this batch would be counted and evicted
        # within the batch: skip them (and every bucket now held, which they push out)
        end_bucket = (self.seen + n) // self.stride
        first_needed = (end_bucket - self.buckets) * self.stride
        if first_needed > self.seen - self.filled:
            self.ring[:] = 0
            self.total[:] = 0
            self.current[:] = 0
            skipped_buckets = first_needed // self.stride - self.completed
            self.pos = (self.pos + skipped_buckets) % self.buckets
            self.completed += skipped_buckets
            self.filled = 0
            start = first_needed - self.seen
        while start < n:
            stop = min(n, start + self.stride - self.filled)
            count(start, stop, self.current, False)
            self.filled += stop - start
            start = stop
            if self.filled == self.stride:
                self._complete()
        self.seen += n

    def state(self) -> dict:
        return {"ring": self.ring.copy(), "current": self.current.copy(), "total": self.total.copy(),
                "pos": self.pos, "filled": self.filled, "completed": self.completed,
                "seen": self.seen}
