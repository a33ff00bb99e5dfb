"""Progress reporting: ``progress(done, total)`` callbacks fed by one tracker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Progress", "ProgressShares", "ProgressTracker"]

#: ``progress(done, total)``: entries measured so far, of ``total``.
Progress = Callable[[int, int], None]


class ProgressTracker:
    """Counts measured entries and reports them as growing integers.

    Work may finish in fractions of entries (the structured engine's chunks
    cover parts of groups); the callback sees whole entries, never more than
    ``total``, at most about a hundred times, and always the final count.

    Parameters
    ----------
    total : int
        Entries to measure.
    progress : callable or None
        ``progress(done, total)``; None: count only.
    """

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.progress = total, progress
        self.done = 0.0
        self._reported = -1
        self._next = 0  # reports stop short of this count, except the total

    def advance(self, amount: float = 1) -> None:
        """Record ``amount`` more entries measured."""
        self.done += amount
        # The slack lets fractions that add up to a whole entry count as one.
        now = min(self.total, int(self.done + 1e-6))
        if self.progress is not None and now > self._reported and (now >= self._next or now == self.total):
            self._reported, self._next = now, now + max(1, self.total // 100)
            self.progress(now, self.total)

    def finish(self) -> None:
        """Report the total (the last fractions may fall short of it by rounding)."""
        self.advance(self.total - self.done)


@dataclass
class ProgressShares:
    """One progress bar over several sub-checks, each within its own share of the total."""

    progress: Progress | None
    total: int
    offset: int = 0
    _sizes: dict[int, int] = field(default_factory=dict)

    def __call__(self, done: int, sub_total: int) -> None:
        # A sub-check's total grows when it re-measures flagged entries; the
        # bar stays within the sub-check's own share instead of running ahead.
        if self.progress is not None:
            size = self._sizes.setdefault(self.offset, sub_total)
            self.progress(self.offset + min(done, size), self.total)

    def next_share(self, n: int) -> None:
        """The next sub-check starts ``n`` entries further on."""
        self.offset += n
