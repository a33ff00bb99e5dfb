"""A delta group's numerical values measured a block of samples at a time, when they are read.

The structured engine's delta group is z_l, of shape (N, n_l), and the difference of entry (n, j)
is ψ_{l,n,j}, sample n's unit response alone (:mod:`gradcheck.numerical.structured`).  So rows
``r`` of the group's values, error estimates and steps are formed from samples ``r`` only, with
the whole group's context (the loss at rest f0, its noise σ and the precision), and they are the
same numbers as the rows of the whole measurement (to the rounding of the batched products).

:func:`delta_rows` returns them as :class:`~gradcheck.numerical.chunked.RowChunks`: a check
whose delta groups take more than their share of the memory budget compares them in chunks
(:mod:`gradcheck.verify.streaming`), and every pass over a group measures its rows again.  The
last block measured is kept, at least one of the engine's blocks of samples: the values and
estimates of the rows a pass reads in order (a comparison's chunks, one after another) are then
measured once per pass, a block at a time; the steps are formed from z alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .chunked import RowChunks
from .forming import form_values
from .progress import ProgressTracker
from .rules import RULES
from .sample_blocks import units_bytes
from .steps import rule_steps

if TYPE_CHECKING:  # the engine imports this module
    from .structured import StructuredEngine

__all__ = ["delta_rows", "unit_differences"]


def unit_differences(engine: StructuredEngine, layer: int, rows: slice, h: np.ndarray, offsets: np.ndarray,
                     tracker: ProgressTracker, size: float) -> np.ndarray:
    """ψ_{layer,n,j}(o·h) of every unit of the samples ``rows``; shape ((rows.stop − rows.start)·n_l, len(offsets)).

    ``h``: the steps of those entries, flat (sample-major); ``size``: the progress they count for.
    """
    n_l = engine.rs.cache.z(layer).shape[1]
    un, uj = np.divmod(np.arange((rows.stop - rows.start) * n_l), n_l)
    return engine._units(engine._part(rows), layer, un, uj, h, offsets, engine.executor, tracker, size)


def delta_rows(engine: StructuredEngine, method: str, f0: float, eps: float,
               loss_noise: float) -> tuple[RowChunks, RowChunks, RowChunks]:
    """The delta group's (values, error estimates, steps), each a RowChunks of z's shape (N, n_l).

    Parameters
    ----------
    engine : StructuredEngine
        Built by :meth:`StructuredEngine.for_deltas`.
    method : str
        A local rule (``'complex'`` for auto).
    f0, eps, loss_noise : float
        The whole group's loss at rest, precision and loss noise σ, which every block's rule uses.

    Returns
    -------
    (RowChunks, RowChunks, RowChunks)
        Rows ``r`` measured on request from samples ``r``, in blocks of samples within the engine's
        budget (see :meth:`StructuredEngine._sample_blocks`).
    """
    layer = engine.groups["z"][0]
    z = engine.params["z"]
    shape = tuple(z.shape)
    n_l = shape[1]
    offsets = np.asarray(RULES[method].offsets)
    per_block = engine._sample_blocks(units_bytes(engine.rs, layer, len(offsets)))[0]
    step = max(1, per_block.stop - per_block.start)
    held: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # the last block measured: (start, stop, v, e)
    quiet = ProgressTracker(1, None)  # progress counted when the engine hands the group over

    def measure(start: int, stop: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        h = rule_steps(method, z[start:stop].reshape(-1), eps, engine.scales["z"])
        D = np.concatenate([
            unit_differences(engine, layer, rows, h[(rows.start - start) * n_l:(rows.stop - start) * n_l],
                             offsets, quiet, 0.0)
            for rows in (slice(s, min(stop, s + step)) for s in range(start, stop, step))
        ]) if stop > start else np.empty((0, len(offsets)))
        rounding = np.asarray(engine.difference_rounding("z", np.arange(start * n_l, stop * n_l), eps, method),
                              dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v, e = form_values(method, D, f0, h, eps, loss_noise, rounding, engine._chunk_bytes())
        return start, stop, v.reshape(-1, n_l), e.reshape(-1, n_l)

    def measured(r: slice) -> tuple[np.ndarray, np.ndarray]:
        start, stop, _ = r.indices(shape[0])
        if not held or not held[0][0] <= start <= stop <= held[0][1]:
            # At least one engine block of samples at once: a comparison reads chunks of a quarter of
            # its own share, in order, and each would otherwise pay the engine's fixed cost per block.
            held[:] = [measure(start, max(stop, min(shape[0], start + step)))]
        first, _, v, e = held[0]
        return v[start - first:stop - first], e[start - first:stop - first]

    def steps(r: slice) -> np.ndarray:  # no measurement: a report's step summary reads them all
        return rule_steps(method, z[r], eps, engine.scales["z"])

    def values(r: slice) -> np.ndarray:
        return measured(r)[0]

    def errors(r: slice) -> np.ndarray:
        return measured(r)[1]

    return RowChunks(shape, values), RowChunks(shape, errors), RowChunks(shape, steps)
