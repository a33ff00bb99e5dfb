"""auto's confirmation of the complex step: when Richardson's real differences leave its value standing.

Under ``method="auto"`` the complex step measures every entry, and the entries
it flags are measured again by Richardson extrapolation in real arithmetic.
Richardson is there because the complex step is exact to rounding: it also
"resolves" the analytic gradient's own rounding (a(1 − a) near saturation,
residuals near an exact fit), which is no bug.  Where the tolerance knows
nothing of that rounding (:func:`gradcheck.check_params` without
``grad_rounding``) Richardson's value, with its coarser estimate, decides.

Richardson's resolution is its own rounding: on the structured engine about
ε·|ℓ| per difference at steps of ε^⅕, 1e-13 absolute on XOR's 3-4-4-1 net (its
W1 entries are 8e-4, so 2.6e-10 relative, measured), and an upper bound on
that error times the safety factor 4 cannot flag errors below ~1e-9.  When the
caller supplies an honest bound s_i on the analytic gradient's rounding
(:func:`gradcheck.check_network` and :func:`gradcheck.check_backprop`
propagate one through the network), the complex step's tolerance already
allows for that rounding, and Richardson's job is only to confirm the complex
step's value in real arithmetic: an entry whose Richardson value agrees with
the complex step's within their combined estimates, |r − c| ≤
safety·(est_r + est_c), keeps the complex step's value and estimate, and the
complex step decides it.  An entry where the two disagree takes Richardson's
value, as before.
"""

from __future__ import annotations

import numpy as np

__all__ = ["complex_confirmed"]


def complex_confirmed(complex_values: np.ndarray, complex_errors: np.ndarray, richardson_values: np.ndarray,
                      richardson_errors: np.ndarray, safety: float) -> np.ndarray:
    """Entries whose Richardson measurement agrees with the complex step's within their combined estimates.

    Parameters
    ----------
    complex_values, complex_errors : ndarray of shape (k,)
        The complex step's values and error estimates of the flagged entries.
    richardson_values, richardson_errors : ndarray of shape (k,)
        Richardson's re-measurement of the same entries.
    safety : float
        The tolerance's safety factor on error estimates.

    Returns
    -------
    ndarray of bool, shape (k,)
        False also where either value or estimate is not finite.

    Examples
    --------
    >>> complex_confirmed(np.array([1.0, 1.0]), np.zeros(2), np.array([1.0 + 1e-12, 1.1]), np.full(2, 1e-11), 4.0)
    array([ True, False])
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(np.abs(richardson_values - complex_values)
                          <= safety * (np.asarray(richardson_errors) + np.asarray(complex_errors)))
