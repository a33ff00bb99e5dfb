"""The step guard: re-measure at smaller steps where a finite difference cannot be trusted.

A rule's step ε^e·max(1, |θ|) assumes the loss varies on a scale of about
max(1, |θ|).  A loss that varies on a much finer scale (exp(−((θ − 2e-8)/1e-8)²)
at θ = 1e-8) is stepped over: every stencil point lies in the flat tails, the
differences and their truncation estimate are all ≈ 0, and a correct gradient
"fails".  Nothing at that step can show it; only smaller steps can.

So every entry that the measurement cannot pass (beyond the tolerance, or only
within an estimate above the resolution bound: this includes every entry whose
truncation estimate is not small against the gradient), and every entry whose
truncation estimate exceeds ``TRUNCATION_SMALL`` (1e-6) of its own value and
16 times its round-off even though it passes (:func:`coarse_entries`), is re-measured by the
same rule at the steps h/16, h/16², … down to ε^(2/3)·max(1, |θ|) (:func:`levels`:
5 levels for central differences, 7 for the ε^(1/5) rules, 3 for one-sided ones; at
that floor round-off is still only 8ε^(1/3) ≈ 5e-5 of |L|/h-scale, so the smallest
step still resolves well within the resolution bound).  Truncation error falls
with the step and round-off grows, and each measurement's estimate states both,
so a measurement is **refuted** when it disagrees with a smaller-step one beyond
their combined estimates (|v_i − v_j| > safety·(e_i + e_j)).  Of the unrefuted
measurements the one with the smallest estimate is kept; the smallest step is
never refuted, so there is always one.  A correct measurement is consistent
with every smaller step and, having the smallest estimate, is kept: an error
the first step resolves stays resolved (the guard never widens a tolerance it
does not have to).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..numerical.rules import RULES

__all__ = ["SHRINK", "TRUNCATION_SMALL", "levels", "guard_steps", "coarse_entries"]

#: Each level's step is the previous one's divided by this (a power of 2, so θ ± h stays exact).
SHRINK = 16.0

#: An entry whose truncation estimate exceeds this fraction of its value is guarded even when it
#: passes: with the default safety factor 4 its tolerance would hide relative errors up to 4e-6, a
#: loss of sensitivity that a smaller step, whose truncation falls as h^p, can undo.
TRUNCATION_SMALL = 1e-6


def coarse_entries(values: np.ndarray, errors: np.ndarray, roundoff: np.ndarray | None) -> np.ndarray:
    """Flat indices of the entries whose truncation estimate is not small against their value.

    Parameters
    ----------
    values, errors : ndarray, of one group's shape
        The numerical derivative and its error estimate.
    roundoff : ndarray or None
        The round-off and noise part of ``errors`` (the rest is truncation); None: unknown, no entry.

    Returns
    -------
    ndarray of int, shape (k,)

    Examples
    --------
    >>> coarse_entries(np.array([1.0, 1.0]), np.array([1e-3, 1e-3]), np.array([1e-6, 1e-3]))
    array([0])
    """
    if roundoff is None:
        return np.zeros(0, dtype=np.intp)
    ro = np.asarray(roundoff, np.float64)
    truncation = np.asarray(errors, np.float64) - ro
    with np.errstate(invalid="ignore"):
        # Only where truncation dominates can a smaller step help: at h/16 the estimate is about
        # truncation/16^p + 16·round-off, below the first one only if truncation > 16·round-off.
        coarse = (truncation > TRUNCATION_SMALL * np.abs(values)) & (truncation > SHRINK * ro)
        return np.flatnonzero(coarse.ravel())


def levels(rule: str, eps: float) -> int:
    """Smaller steps the guard tries for ``rule``: from its relative step down to ε^(2/3).

    Examples
    --------
    >>> [levels(r, 2.0**-52) for r in ("forward", "central", "central4")]
    [3, 5, 7]
    """
    exponent = RULES[rule].exponent
    assert exponent is not None, "the complex step has no step to shrink"
    return max(1, math.ceil(math.log(eps ** exponent / eps ** (2 / 3), SHRINK)))


def guard_steps(engine: Any, rule: str, name: str, idx: np.ndarray, values: np.ndarray, errors: np.ndarray,
                steps: np.ndarray, *, f0: float, eps: float, loss_noise: float, safety: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The guarded measurement of the entries ``idx`` of one group.

    Parameters
    ----------
    engine : Engine
        Its ``remeasure(..., step_factor=)`` measures at the smaller steps (the generic engine calls the
        loss; the structured engine runs the network's partial forward rows).
    rule : str
        The local rule the entries were measured with (a real-difference rule).
    name : str
    idx : ndarray of int, shape (k,)
        Flat indices of the entries to guard.
    values, errors, steps : ndarray of shape (k,)
        Their first measurement.
    f0, eps, loss_noise
        As for :meth:`Engine.remeasure`.
    safety : float
        The tolerance's safety factor on error estimates.

    Returns
    -------
    values, errors, steps : ndarray of shape (k,)
        The kept measurement of every entry.
    n_evaluations : int
    """
    rows = [(values, errors, steps)]
    n_evals = 0
    for level in range(1, levels(rule, eps) + 1):
        v, e, h, n = engine.remeasure(rule, name, idx, f0=f0, eps=eps, loss_noise=loss_noise,
                                      step_factor=SHRINK ** -level)
        rows.append((v, e, h))
        n_evals += n
    # Each of shape (levels + 1, k), largest step first.
    V, E, H = (np.array([r[q] for r in rows]) for q in range(3))
    refuted = np.zeros(V.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for i in range(len(V) - 1):
            for j in range(i + 1, len(V)):
                refuted[i] |= ~(np.abs(V[i] - V[j]) <= safety * (E[i] + E[j]))
    score = np.where(refuted | ~np.isfinite(E), np.inf, E)
    score[-1] = np.where(np.isfinite(score[-1]), score[-1], np.finfo(np.float64).max)
    best = np.argmin(score, axis=0)
    cols = np.arange(V.shape[1])
    return V[best, cols], E[best, cols], H[best, cols], n_evals
