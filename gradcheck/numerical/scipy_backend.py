"""Numerical gradients from SciPy's public differentiation routines.

Two independent references beside gradcheck's own rules:

``"scipy-fprime"``
    :func:`scipy.optimize.approx_fprime` (forward differences, absolute step
    √ε).  It reports no error, so it is called twice, at steps h and 2h; the
    difference of the two is the truncation estimate of the first, as for
    gradcheck's own forward rule, plus round-off κε·|L|/h.
``"scipy-differentiate"``
    :func:`scipy.differentiate.derivative` (adaptive central differences of
    order 8 with Richardson-like step refinement), one entry per abscissa; its
    own ``error`` estimate is used.  Entries it could not converge are
    reported through the note list and keep SciPy's error estimate.

Only SciPy's public API is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .evaluator import LossEvaluator
from .progress import Progress
from .rules import LOSS_NOISE_FACTOR, ROUNDOFF_FACTOR

__all__ = ["SCIPY_METHODS", "scipy_gradient"]

SCIPY_METHODS = ("scipy-fprime", "scipy-differentiate")


def _flat_loss(ev: LossEvaluator) -> tuple[Callable[[np.ndarray], float], np.ndarray, list[tuple[str, slice]]]:
    """A loss of one flat vector over all groups, writing into the evaluator's copy.

    Every call overwrites every entry, so the copy is restored once, by the
    caller, rather than after each call.
    """
    layout, start = [], 0
    for name, flat in ev.flat.items():
        layout.append((name, slice(start, start + flat.size)))
        start += flat.size
    x0 = np.concatenate([ev.flat[name] for name, _ in layout]) if layout else np.empty(0)

    def f(x: np.ndarray) -> float:
        for name, sl in layout:
            ev.flat[name][...] = x[sl]
        return float(np.real(ev()))

    return f, x0, layout


def scipy_gradient(method: str, ev: LossEvaluator, f0: float, eps: float,
                   progress: Progress | None = None, *, loss_noise: float = 0.0
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Values, error estimates and steps per group from a SciPy routine.

    Parameters
    ----------
    method : {'scipy-fprime', 'scipy-differentiate'}
    ev : LossEvaluator
        Evaluator over a float64 copy of the parameters.
    f0 : float
        The loss at the unperturbed parameters.
    eps : float
        Precision the loss is evaluated in.
    progress : callable, optional
        ``progress(done, total)``.
    loss_noise : float
        σ, the measured rounding noise of the loss (raises the round-off term).

    Returns
    -------
    values, errors, steps : dict of str to ndarray
    """
    # Imported here: SciPy's import time is paid only by checks that use it.
    import scipy.differentiate
    import scipy.optimize

    f, x0, layout = _flat_loss(ev)
    n = x0.size
    floor = max(ROUNDOFF_FACTOR * eps * abs(f0), LOSS_NOISE_FACTOR * loss_noise)
    if method == "scipy-fprime":
        h = float(np.sqrt(eps))
        ev.context = "inside scipy.optimize.approx_fprime"
        try:
            g1 = scipy.optimize.approx_fprime(x0, f, h)
            if progress:
                progress(n // 2, n)
            g2 = scipy.optimize.approx_fprime(x0, f, 2 * h)
        finally:
            for name, sl in layout:
                ev.flat[name][...] = x0[sl]
        if progress:
            progress(n, n)
        err = np.abs(g2 - g1) + floor / h
        steps = np.full(n, h)
        vals = g1
    else:
        ev.context = "inside scipy.differentiate.derivative"
        done = [0]
        owner = [(name, j) for name, sl in layout for j in range(sl.stop - sl.start)]

        def elementwise(xi: np.ndarray, idx: np.ndarray) -> np.ndarray:
            # derivative() hands us abscissae for many entries at once; each
            # value belongs to the entry named by the broadcast index array.
            xi, idx = np.broadcast_arrays(xi, idx)
            out = np.empty(xi.shape)
            for pos in np.ndindex(xi.shape):
                name, j = owner[int(idx[pos])]
                out[pos] = np.real(ev.at(name, j, float(xi[pos])))
            return out

        def callback(res) -> None:
            done[0] += 1
            if progress:
                progress(min(n, done[0] * n // 10), n)

        initial = 1e-2 * np.maximum(1.0, np.abs(x0))
        res = scipy.differentiate.derivative(
            elementwise, x0, args=(np.arange(n),), initial_step=initial,
            tolerances={"atol": 0.0, "rtol": float(eps ** 0.75)}, maxiter=10, callback=callback)
        vals = np.asarray(res.df, dtype=np.float64)
        err = np.asarray(res.error, dtype=np.float64)
        # Without convergence SciPy still returns its best estimate and error.
        err = np.where(np.isfinite(err), err, np.inf)
        # SciPy's estimate compares successive extrapolations and can be 0 for
        # polynomials; the round-off at its last step is a floor under it.
        steps = initial / 2.0 ** np.asarray(res.nit, dtype=np.float64)
        err = err + floor / steps
        if progress:
            progress(n, n)
    values = {name: vals[sl].reshape(ev.work[name].shape) for name, sl in layout}
    errors = {name: err[sl].reshape(ev.work[name].shape) for name, sl in layout}
    step_d = {name: steps[sl].reshape(ev.work[name].shape) for name, sl in layout}
    return values, errors, step_d
