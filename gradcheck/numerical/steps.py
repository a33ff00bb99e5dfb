"""Step sizes for finite differences, from the working precision.

A difference rule of order p balances its truncation error (∝ h^p) against
round-off (∝ ε/h); the balance puts the best relative step at ε^(1/(p+1)):
ε^(1/2) for one-sided differences (p = 1), ε^(1/3) for central differences
(p = 2) and ε^(1/5) for the 5-point stencil (p = 4).  The step is scaled by
max(1, |θ|) so that it stays meaningful for large parameters (max(t, |θ|) for a
typical scale t the caller gives, for parameters that vary on a scale far from 1), and rounded to
a power of two so that θ ± h and θ ± 2h are exact in binary floating point
for ordinary θ; the step actually used is recomputed as (θ + h) − θ.
Reference: Press et al., Numerical Recipes, 3rd ed., §5.7; SciPy's
``scipy.optimize._numdiff`` uses the same exponents.
"""

from __future__ import annotations

import numpy as np

from .rules import COMPLEX_STEP, RULES

__all__ = ["relative_step", "step_sizes", "rule_steps"]


def relative_step(method: str, dtype: np.dtype | type = np.float64) -> float:
    """The relative step ε^(exponent) for a difference rule (its ``Rule.exponent``).

    Parameters
    ----------
    method : {'forward', 'backward', 'central', 'central4', 'richardson'}
    dtype : numpy floating dtype
        The precision the loss is evaluated in.

    Returns
    -------
    float

    Examples
    --------
    >>> round(relative_step("central", "float64"), 9)
    6.055e-06
    """
    exponent = RULES[method].exponent
    assert exponent is not None, "the complex step's step is fixed"
    return float(np.finfo(np.dtype(dtype)).eps ** exponent)


def step_sizes(x: np.ndarray, method: str, dtype: np.dtype | type = np.float64,
               scale: float | np.ndarray = 1.0) -> np.ndarray:
    """Steps actually taken for every entry of ``x``.

    Parameters
    ----------
    x : ndarray of float64, any shape
        The parameter values.
    method : {'forward', 'backward', 'central', 'central4', 'richardson'}
    dtype : numpy floating dtype
        The precision the loss is evaluated in (sets ε).
    scale : float or ndarray of the shape of ``x``
        The typical scale t of the parameters (the 1 of max(1, |x|)), or one per entry.

    Returns
    -------
    ndarray of float64, the shape of ``x``
        ``(x + h) − x`` for ``h = 2^round(log2(ε^e · max(t, |x|)))``; always > 0.

    Examples
    --------
    >>> step_sizes(np.array([0.5, 3.0]), "central").tolist()
    [7.62939453125e-06, 1.52587890625e-05]
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite θ: NaN steps, reported downstream
        raw = relative_step(method, dtype) * np.maximum(scale, np.abs(x))
        h = np.exp2(np.round(np.log2(raw)))
        return (x + h) - x


def rule_steps(method: str, x: np.ndarray, eps: float, scale: float | np.ndarray = 1.0) -> np.ndarray:
    """The step of a rule for every entry of ``x``, for a loss evaluated at precision ``eps``.

    Parameters
    ----------
    method : {'forward', 'backward', 'central', 'central4', 'richardson', 'complex'}
    x : ndarray of float64, any shape
    eps : float
        Machine epsilon of float64 or float32.
    scale : float or ndarray of the shape of ``x``
        The typical scale of ``x`` (see :func:`step_sizes`).

    Returns
    -------
    ndarray of float64, the shape of ``x``
        :func:`step_sizes`, or ``COMPLEX_STEP`` everywhere for the complex step.
    """
    if RULES[method].exponent is None:
        return np.full(np.shape(x), COMPLEX_STEP)
    return step_sizes(x, method, np.float64 if eps <= np.finfo(np.float64).eps else np.float32, scale)
