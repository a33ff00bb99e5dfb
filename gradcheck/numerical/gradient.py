"""The public front end of the numerical engines: :func:`numerical_gradient`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np

from .._validation import check_params_mapping
from ..errors import InvalidArgument
from .engine import DEFAULT_MEMORY_BUDGET, FULL_METHODS, LossEngine, NumericalGradient, run_options
from .progress import Progress

__all__ = ["numerical_gradient", "NumericalGradient"]


def numerical_gradient(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                       method: str = "auto", *, seed: int | None = 0,
                       progress: Progress | None = None, executor: Executor | None = None,
                       vectorized: bool = False, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> NumericalGradient:
    """Numerical gradient of a scalar loss with an error estimate per entry.

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar`` taking a dict shaped like ``params``; with
        ``vectorized=True``, ``loss(stacked) -> ndarray of shape (B,)`` where
        every array of ``stacked`` has a leading axis of length B.
    params : mapping of str to array_like
        The point to differentiate at (never modified).
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex', \
'scipy-fprime', 'scipy-differentiate'}
        The rule (see :mod:`gradcheck.numerical.rules`), ``'auto'`` (the complex step where the loss
        carries it, else Richardson extrapolation) or a SciPy routine (:mod:`gradcheck.numerical.scipy_backend`).
    seed : int or None
        Seed of the random directions of the complex-step probe.
    progress : callable, optional
        ``progress(done, total)``, called as entries are measured.
    executor : concurrent.futures.Executor, optional
        Evaluates blocks of entries concurrently, each block on its own copy
        of the parameters; the results do not depend on it.  The loss (and
        for process-based executors, its closure) must then be thread-safe
        (picklable).  Default: the calling thread.
    vectorized : bool
        The loss accepts parameter sets stacked along a leading axis (every
        group of shape (B,) + shape, the perturbed group with one entry changed
        per set, the others read-only broadcast views) and returns shape (B,):
        many perturbations per call.
    memory_budget : int
        Bytes the stacked copies of ``vectorized=True`` (and the parameter
        copies of concurrent blocks) may use; default 256 MB.

    Returns
    -------
    NumericalGradient

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda p: (p["x"] ** 3).sum(), {"x": np.array([1.0, 2.0])})
    >>> np.round(g.values["x"], 10).tolist(), g.methods
    ([3.0, 12.0], {'x': 'complex'})
    >>> cubes = lambda p: (p["x"] ** 3).sum(axis=-1)     # one value per stacked set
    >>> g = numerical_gradient(cubes, {"x": np.array([1.0, 2.0])}, "richardson", vectorized=True)
    >>> np.round(g.values["x"], 8).tolist()
    [3.0, 12.0]
    """
    if method not in FULL_METHODS:
        hint = ("; 'directional' compares projections and is run by gradcheck.check_params"
                if method == "directional" else "")
        raise InvalidArgument(f"method: expected one of {list(FULL_METHODS)}, got {method!r}{hint}")
    opts = run_options(executor, vectorized, memory_budget)
    return LossEngine(loss, check_params_mapping(params), opts).gradient(method, seed=seed, progress=progress)
