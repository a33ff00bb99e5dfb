"""The resolution bound: when a check cannot decide, it says so instead of passing.

A numerical derivative is only as good as the loss values it is made of.  Its
error estimate (:mod:`gradcheck.numerical.rules`) grows with the loss's noise
σ, with the loss's precision ε·|L| relative to the gradient, and with
truncation the step cannot remove (a kink, a loss that varies on a scale finer
than the step).  Let it grow without limit and any gradient passes: the
tolerance of a loss of pure noise reached 10⁴ and a sign-flipped gradient
passed.

So the numerical side of the tolerance, safety·est_i, is capped at the
**resolution bound**

    B = RESOLUTION · S,    S = max over finite entries of max(|g_i|, |n_i| where |n_i| > safety·est_i)

(``RESOLUTION`` = 1e-2: a check must resolve 1 % of the group's gradient scale
S; numerical values count towards S only where they stand above their own
error estimate, so noise cannot inflate it).  An entry then

* passes when |g_i − n_i| is within the capped tolerance;
* fails when |g_i − n_i| exceeds even the uncapped tolerance (the numerical
  method's own error cannot explain it);
* is *undecided* otherwise: only an error estimate larger than B could
  explain the difference.

A group with a failed entry fails; otherwise a group with an undecided entry is
**inconclusive** (never passed), and the reason says what limits the
resolution, with numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RESOLUTION", "LossResolution", "gradient_scale", "resolution_bound", "undecided_reason"]

#: The fraction of a group's gradient scale a check must be able to resolve.
#: Sign, factor and missing-term errors are far larger; a numerical derivative
#: uncertain by more than 1 % of the gradient cannot tell a right gradient
#: from one a few per cent off, and a verdict built on it would mislead.
RESOLUTION = 1e-2


@dataclass(frozen=True)
class LossResolution:
    """What limits the numerical derivatives of one check, for the reason of an undecided group.

    Attributes
    ----------
    loss_value : float
        L at the unperturbed parameters.
    loss_noise : float
        σ, the measured noise of the loss values (0: not measured or none).
    precision : str
        The precision the loss computes in (``"float64"``, ``"float32"``, …).
    eps : float
        Its machine epsilon.
    nondeterministic : tuple of float or None
        Two loss values returned at the same parameters, when they differed.
    """

    loss_value: float
    loss_noise: float
    precision: str
    eps: float
    nondeterministic: tuple[float, float] | None = None

    def limit(self) -> str:
        """What limits the loss's resolution, in one clause with numbers."""
        L = abs(self.loss_value)
        rel = f" ({self.loss_noise / L:.2g} of |L|)" if L > 0 else ""
        if self.nondeterministic is not None:
            a, b = self.nondeterministic
            return (f"the loss is not deterministic: two calls at the same parameters returned {a!r} and {b!r} "
                    "(dropout, sampling or an unseeded random generator inside the loss? fix its randomness "
                    "for the check)")
        if self.loss_noise > 0 and self.loss_noise > 8 * self.eps * L:
            return f"the loss values are noisy: σ = {self.loss_noise:.2g}{rel} at the same and nearby parameters"
        if self.precision != "float64":
            return f"the loss computes in {self.precision} (ε = {self.eps:.2g}, |L| = {L:.3g})"
        return ""


def gradient_scale(analytic: np.ndarray, numerical: np.ndarray, error: np.ndarray, safety: float) -> float:
    """S: the largest finite |g_i|, or |n_i| where n_i stands above safety·est_i.

    Parameters
    ----------
    analytic, numerical, error : ndarray, all of one shape
        g, n and the numerical method's error estimate.
    safety : float
        The tolerance model's safety factor.

    Returns
    -------
    float
    """
    with np.errstate(invalid="ignore", over="ignore"):
        g = np.abs(analytic[np.isfinite(analytic)])
        resolved = np.isfinite(numerical) & np.isfinite(error) & (np.abs(numerical) > safety * error)
        n = np.abs(numerical[resolved])
    return float(max(np.max(g, initial=0.0), np.max(n, initial=0.0)))


def resolution_bound(analytic: Any, numerical: np.ndarray, error: np.ndarray, safety: float) -> float:
    """B = RESOLUTION · S (:func:`gradient_scale`): the error a group's numerical values may have and still decide it.

    Parameters
    ----------
    analytic : array_like
    numerical, error : ndarray, of the shape of ``analytic``
    safety : float
        The tolerance model's safety factor.
    """
    return RESOLUTION * gradient_scale(np.asarray(analytic, np.float64), numerical, error, safety)


def undecided_reason(n_undecided: int, n_entries: int, scale: float, bound: float, worst_error: float,
                     truncation: bool, method: str, context: LossResolution | None) -> str:
    """The reason of an inconclusive group, with numbers.

    Parameters
    ----------
    n_undecided, n_entries : int
        Undecided entries and entries of the group.
    scale, bound : float
        S and B.
    worst_error : float
        The largest safety·est_i among the undecided entries.
    truncation : bool
        The estimate of that entry is mostly truncation (the step, not the loss values, limits it).
    method : str
        The numerical method of the group.
    context : LossResolution or None
        What limits the loss values.

    Returns
    -------
    str
    """
    what = context.limit() if context is not None else ""
    if truncation and (context is None or context.nondeterministic is None):
        what = ("the numerical derivative has not converged at its step (the loss varies on a scale finer than "
                "the step, or has a kink there); pass typical_scale= with the scale θ varies on")
    elif not what:
        what = "the loss's rounding at |L| is coarse against this gradient"
    entries = "entry" if n_undecided == 1 else "entries"
    return (f"{what}: method {method!r} resolves the derivative only to ±{worst_error:.2g}, above the "
            f"resolution bound {bound:.2g} ({RESOLUTION:g} of the gradient scale {scale:.2g}); gradients below "
            f"{worst_error / RESOLUTION:.2g} cannot be checked this way, and {n_undecided} of {n_entries} "
            f"{entries} differ by more than the bound")
