"""Per-entry arrays formed a block of rows at a time, with re-measured entries patched in.

A :class:`RowChunks` stands for an array of a group's shape that is never held
whole: ``rows(r)`` forms rows ``r`` (a slice of the first axis) on request.
The structured engine returns a large group's values and error estimates this
way, and :mod:`gradcheck.verify.streaming` compares them chunk by chunk.  The
entries a check re-measures are kept sparsely (:meth:`RowChunks.patched`:
sorted flat indices and their new numbers) and written over every block that
holds them, so that re-measuring k entries costs 16 bytes per entry, not a
copy of the group.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["RowChunks", "take", "whole"]

#: Entries formed per block when picking scattered entries (:meth:`RowChunks.take`).
TAKE_ENTRIES = 1 << 16


@dataclass(frozen=True)
class RowChunks:
    """A per-entry array of ``shape`` formed a block of rows at a time.

    ``rows(r)`` returns rows ``r`` (a slice of the first axis) as an ndarray of
    shape (len(r), *shape[1:]); a 1-D array's rows are its entries.  ``patch``,
    if given, is (sorted flat indices, their values): those entries replace what
    ``rows`` forms.
    """

    shape: tuple[int, ...]
    rows: Callable[[slice], np.ndarray]
    patch: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def row_size(self) -> int:
        return math.prod(self.shape[1:])

    def block(self, r: slice) -> np.ndarray:
        """Rows ``r`` as float64, shape (len(r), *shape[1:]), with the patched entries written in."""
        out = np.asarray(self.rows(r), dtype=np.float64)
        if self.patch is None:
            return out
        k = max(1, self.row_size)
        idx, new = self.patch
        lo, hi = np.searchsorted(idx, [r.start * k, r.stop * k])
        if hi > lo:
            out = np.array(out)  # never write into what ``rows`` returned (it may be a view of the caller's)
            out.reshape(-1)[idx[lo:hi] - r.start * k] = new[lo:hi]
        return out

    def flat(self, sl: slice) -> np.ndarray:
        """Flat entries ``sl`` (start and stop within the array), from the rows that hold them."""
        k = max(1, self.row_size)
        first, last = sl.start // k, -(-sl.stop // k)
        block = self.block(slice(first, last)).reshape(-1)
        return block[sl.start - first * k: sl.stop - first * k]

    def full(self) -> np.ndarray:
        """The whole array (for a group small enough to compare in memory)."""
        return self.block(slice(0, self.shape[0] if self.shape else 1)).reshape(self.shape)

    def take(self, idx: np.ndarray) -> np.ndarray:
        """The flat entries ``idx`` (any order), forming only the blocks of rows that hold them."""
        idx = np.asarray(idx, dtype=np.intp).reshape(-1)
        out = np.empty(idx.size)
        if not idx.size:
            return out
        k = max(1, self.row_size)
        per = max(1, TAKE_ENTRIES // k)
        order = np.argsort(idx, kind="stable")
        rows = idx[order] // k
        n_rows = self.shape[0] if self.shape else 1
        i = 0
        while i < idx.size:
            first = int(rows[i])
            last = min(n_rows, first + per)
            j = int(np.searchsorted(rows, last))
            block = self.block(slice(first, last)).reshape(-1)
            out[order[i:j]] = block[idx[order[i:j]] - first * k]
            i = j
        return out

    def patched(self, idx: np.ndarray, new: np.ndarray) -> RowChunks:
        """This array with the flat entries ``idx`` set to ``new`` (later patches win)."""
        idx = np.asarray(idx, dtype=np.intp).reshape(-1)
        new = np.broadcast_to(np.asarray(new, dtype=np.float64), idx.shape)
        if self.patch is not None:
            idx, new = np.r_[self.patch[0], idx], np.r_[self.patch[1], new]
        # The last occurrence of each index: unique over the reversed arrays keeps the first of the reversal.
        keep, first = np.unique(idx[::-1], return_index=True)
        return dataclasses.replace(self, patch=(keep, np.array(new[::-1][first], dtype=np.float64)))


def take(x: np.ndarray | RowChunks, idx: np.ndarray) -> np.ndarray:
    """Flat entries ``idx`` of an array or a RowChunks (a new array)."""
    return x.take(idx) if isinstance(x, RowChunks) else np.asarray(x).reshape(-1)[idx]


def whole(x):
    """``x`` as an array: a RowChunks formed in full; anything else unchanged."""
    return x.full() if isinstance(x, RowChunks) else x
