"""The loss-noise measurement's line θ + t·v, moved and restored a chunk at a time.

:func:`gradcheck.numerical.evaluator.estimate_loss_noise` evaluates the loss at
points θ + t·v of a seeded random direction v.  Kept whole, v, a copy of θ to
restore from and the temporaries of θ + t·v would take 8 bytes per parameter
each, four times the working copy on a large network.  Here v keeps only the
generator's state before each group's draw (as
:class:`~gradcheck.numerical.directions.SeededDirection` does) and is drawn
again, ``CHUNK`` entries at a time, whenever a point is written; θ is read back
from the arrays the working copy was made from (the caller's, never written),
so a point is written and θ restored exactly, with nothing kept per parameter.

The numbers are those of the whole-array form: numpy's generators give the same
draws in pieces as in one call, and every entry of θ + t·v is formed by the same
operations, (u·10⁻⁶)·s, masked to 0, times t, plus θ.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["NoiseDirection", "noise_direction", "write_point", "restore", "at_rest", "CHUNK"]

#: Entries drawn and written at a time: 512 kB of float64, a few such temporaries at once,
#: small beside any memory budget.
CHUNK = 2**16


class NoiseDirection:
    """The noise line's direction v: u·10⁻⁶·s per group (u uniform on [−1, 1)), 0 where a group is held still.

    Parameters
    ----------
    states : dict of str to dict
        ``PCG64().state`` just before each group's draw.
    shapes : dict of str to tuple of int
    scales : dict of str to float
        s per group, max(typical scale, max|θ|).
    still : mapping of str to ndarray of bool, optional
        Entries of a group (its shape) that the line leaves at rest.
    moving : list of str
        Groups with a nonzero entry of v.
    """

    def __init__(self, states: dict[str, Any], shapes: dict[str, tuple[int, ...]], scales: dict[str, float],
                 still: Mapping[str, np.ndarray] | None, moving: list[str]) -> None:
        self.states, self.shapes, self.scales = states, shapes, scales
        self.still = still or {}
        self.moving = moving

    def chunks(self, name: str) -> Iterator[tuple[slice, np.ndarray]]:
        """(flat slice, entries of v) of group ``name`` in order, ``CHUNK`` at a time."""
        bits = np.random.PCG64()
        bits.state = copy.deepcopy(self.states[name])
        gen = np.random.Generator(bits)
        size = int(np.prod(self.shapes[name], dtype=np.int64))
        mask = self.still.get(name)
        flat_mask = None if mask is None else np.asarray(mask).reshape(-1)
        for start in range(0, size, CHUNK):
            sl = slice(start, min(size, start + CHUNK))
            v = gen.uniform(-1.0, 1.0, sl.stop - sl.start) * 1e-6 * self.scales[name]
            if flat_mask is not None:
                v = np.where(flat_mask[sl], 0.0, v)
            yield sl, v


def noise_direction(source: Mapping[str, Any], seed: int | None, still: Mapping[str, np.ndarray] | None = None,
                    scales: Mapping[str, float] | None = None) -> NoiseDirection:
    """The direction of ``numpy.random.default_rng(seed).uniform(-1, 1, shape)`` per group, in order.

    Draws every group once (to know which groups move and to leave the
    generator where the next group starts), keeping nothing of the draws.

    Parameters
    ----------
    source : mapping of str to array
        θ, the arrays the working copy was made from.
    seed : int or None
        None means 0.
    still, scales
        As in :func:`~gradcheck.numerical.evaluator.estimate_loss_noise`.
    """
    rng = np.random.default_rng(0 if seed is None else seed)
    states, shapes, sizes = {}, {}, {}
    for k, v in source.items():
        arr = np.asarray(v)
        states[k] = copy.deepcopy(rng.bit_generator.state)
        shapes[k] = arr.shape
        # max|θ| a chunk at a time (np.abs of the whole group is 8 bytes per parameter);
        # np.maximum keeps a NaN, as np.max of the whole group does.
        top = 0.0
        for sl in _slices(arr.size):
            part = np.abs(np.asarray(arr.flat[sl], dtype=np.float64))
            top = float(np.maximum(top, np.max(part, initial=0.0)))
        sizes[k] = max((scales or {}).get(k, 1.0), top)
        for sl in _slices(arr.size):
            rng.uniform(-1.0, 1.0, sl.stop - sl.start)
    direction = NoiseDirection(states, shapes, sizes, still, [])
    direction.moving = [k for k in source if any(np.any(v) for _, v in direction.chunks(k))]
    return direction


def _slices(size: int) -> Iterator[slice]:
    for start in range(0, size, CHUNK):
        yield slice(start, min(size, start + CHUNK))


def write_point(flat: Mapping[str, np.ndarray], source: Mapping[str, Any], direction: NoiseDirection, t: float,
                groups: list[str]) -> None:
    """Set ``flat[k]`` (the working copy, flattened) to θ + t·v for every group in ``groups``.

    Other groups are left as they are (at rest).
    """
    for k in groups:
        out, src = flat[k], np.asarray(source[k])
        for sl, v in direction.chunks(k):
            np.multiply(v, t, out=v)
            np.add(np.asarray(src.flat[sl], dtype=out.dtype), v, out=out[sl])


def restore(flat: Mapping[str, np.ndarray], source: Mapping[str, Any], groups: list[str]) -> None:
    """Set ``flat[k]`` back to θ exactly, a chunk at a time."""
    for k in groups:
        out, src = flat[k], np.asarray(source[k])
        for sl in _slices(out.size):
            out[sl] = np.asarray(src.flat[sl], dtype=out.dtype)


def at_rest(flat: Mapping[str, np.ndarray], source: Mapping[str, Any]) -> bool:
    """Whether the working copy holds θ bit for bit (then θ can be read back from ``source``)."""
    for k, out in flat.items():
        if k not in source:
            return False
        src = np.asarray(source[k])
        if src.size != out.size:
            return False
        for sl in _slices(out.size):
            if np.asarray(src.flat[sl], dtype=out.dtype).tobytes() != out[sl].tobytes():
                return False
    return set(flat) == set(source)
