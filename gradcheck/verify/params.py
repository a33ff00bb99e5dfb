"""The public checks of any loss: check_params, check_grad, assert_gradients.

Validation happens here, once, before any loss call; :func:`gradcheck.verify.core.run_check`
and the numerical engines below it assume validated input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np

from .._validation import check_grads_mapping, check_params_mapping, describe
from ..errors import GradientMismatch, InvalidArgument
from ..numerical.engine import DEFAULT_MEMORY_BUDGET, LossEngine
from ..numerical.progress import Progress
from ..report.model import CheckReport
from .core import run_check
from .diagnose import diagnose_report
from .options import CheckOptions
from .tolerance import Tolerance

__all__ = ["check_params", "check_grad", "assert_gradients"]


def check_params(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                 grads: Mapping[str, Any], *, method: str = "auto", rtol: float = Tolerance.rtol,
                 atol: float = Tolerance.atol, safety: float = Tolerance.safety, seed: int | None = 0,
                 n_directions: int = 4, grad_rounding: Mapping[str, Any] | None = None,
                 progress: Progress | None = None, title: str = "gradient check",
                 executor: Executor | None = None, vectorized: bool = False,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 typical_scale: float | Mapping[str, float] | None = None) -> CheckReport:
    """Check analytic gradients of any loss against numerical derivatives.

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar``; receives a dict with the keys and shapes of
        ``params`` (float64 arrays, complex128 for the complex step).
    params : mapping of str to array_like
        Where to check (never modified).
    grads : mapping of str to array_like
        The analytic gradient: same keys and shapes as ``params``.
    method : {'auto', 'forward', 'backward', 'central', 'central4', 'richardson', 'complex', \
'scipy-fprime', 'scipy-differentiate', 'directional'}
        Numerical method (see :mod:`gradcheck.numerical.rules`).  ``'auto'`` uses the
        complex step where the loss carries it faithfully and Richardson
        extrapolation elsewhere, and re-measures flagged complex-step entries
        with Richardson extrapolation.  ``'directional'`` compares ⟨g, v⟩ with a
        directional derivative for ``n_directions`` random v per group: cheap,
        but it cannot say which entry is wrong.
    rtol, atol, safety : float
        Tolerance model parameters (see :mod:`gradcheck.verify.tolerance`).
    seed : int or None
        Seed for random probe and check directions (a non-negative integer).
    n_directions : int
        Directions per group for ``method='directional'``.
    grad_rounding : mapping of str to array_like, optional
        A known bound on the absolute rounding error of the analytic
        gradient per entry (s_i in the tolerance model, same keys and shapes
        as ``params``); :func:`check_network` computes it for DenseNet.
    progress : callable, optional
        ``progress(done, total)`` as entries are measured.  When entries
        that a first pass cannot clear are re-measured (see ``method``),
        ``total`` grows by their number and ``done`` continues up to it.
    title : str
        Name of the check in the report.
    executor : concurrent.futures.Executor, optional
        Evaluates blocks of entries concurrently (threads, processes, or
        ``dask.distributed.Client(...).get_executor()``), each block on its own
        copy of the parameters; the report does not depend on it.  The loss
        must be thread-safe for threads and picklable for processes.
        Default: the calling thread, since an arbitrary loss may be neither.
    vectorized : bool
        The loss accepts parameter sets stacked along a leading axis: every
        array of the dict it receives has shape (B,) + shape, and it returns
        shape (B,); many perturbations are then evaluated per call (see
        :func:`gradcheck.numerical.gradient.numerical_gradient`).
    memory_budget : int
        Bytes of extra memory for stacked parameter copies (default 256 MB).
    typical_scale : float or mapping of str to float, optional
        The scale the parameters vary on, for all groups or per group name (default 1): the
        difference rules step by ε^e·max(typical_scale, |θ|), the complex-step probe and the noise
        measurement likewise.  Give it for parameters that matter on scales far below 1 (a width of
        1e-8: the default step of ~6e-6 would step over everything the loss does).

    Returns
    -------
    CheckReport

    Raises
    ------
    InvalidArgument
        Bad arguments: missing or extra keys, shape mismatch, non-numeric
        arrays, a loss that does not return a scalar, unknown method.
    LossEvaluationError
        The loss raised; the original exception is chained.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> loss = lambda p: np.sum(p["w"] ** 2)
    >>> check_params(loss, params, {"w": 2 * params["w"]}).passed
    True
    >>> check_params(loss, params, {"w": np.array([2.0, -4.00001])}).failed_groups
    ['w']
    """
    if not callable(loss):
        raise InvalidArgument(f"loss: expected a callable loss(params) -> scalar, got {describe(loss)}")
    options = CheckOptions.build(method=method, rtol=rtol, atol=atol, safety=safety, seed=seed,
                                 n_directions=n_directions, progress=progress, title=title, executor=executor,
                                 vectorized=vectorized, memory_budget=memory_budget, typical_scale=typical_scale)
    params = check_params_mapping(params)
    scales = options.scales(list(params))
    grads = check_grads_mapping(grads, params)
    rounding = {} if grad_rounding is None else \
        {k: np.abs(v) for k, v in check_grads_mapping(grad_rounding, params, "grad_rounding").items()}
    report = run_check(loss, params, grads, options, grad_rounding=rounding,
                       engine=LossEngine(loss, params, options.run, lazy_truncation=True,
                                         typical_scale=scales)).report
    # check_network diagnoses its own report (per layer); only here is this one kept.
    report.diagnoses = diagnose_report(report, params)
    return report


def check_grad(f: Callable[[np.ndarray], Any], grad: Callable[[np.ndarray], Any] | Any, x0: Any,
               **options: Any) -> CheckReport:
    """Check the gradient of a function of one flat vector (SciPy-like).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` for ``x`` of shape (n,).
    grad : callable or array_like of shape (n,)
        ``grad(x) -> ndarray of shape (n,)``, or its value at ``x0``.
    x0 : array_like of shape (n,)
    **options
        As for :func:`check_params`.

    Returns
    -------
    CheckReport
        One group, named ``"x"``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import rosen, rosen_der
    >>> x0 = np.array([1.3, 0.7, 0.8])
    >>> check_grad(rosen, rosen_der, x0).passed
    True
    """
    x = check_params_mapping({"x": x0}, "x0")["x"]
    if x.ndim != 1:
        raise InvalidArgument(f"x0: expected a 1-D array of shape (n,), got shape {x.shape}; flatten it "
                              "or use check_params for arrays of other shapes")
    if not callable(f):
        raise InvalidArgument(f"f: expected a callable f(x) -> scalar, got {describe(f)}")
    g = grad(x.copy()) if callable(grad) else grad
    options.setdefault("title", "check_grad")
    return check_params(lambda p: f(p["x"]), {"x": x}, {"x": g}, **options)


def assert_gradients(loss: Callable[[Mapping[str, np.ndarray]], Any], params: Mapping[str, Any],
                     grads: Mapping[str, Any], **options: Any) -> CheckReport:
    """Like :func:`check_params`, but raise when a group fails.

    Returns
    -------
    CheckReport
        When every group passed.

    Raises
    ------
    GradientMismatch
        An ``AssertionError`` whose message is the failure table; the report
        is attached as ``.report``.

    Examples
    --------
    >>> import numpy as np
    >>> p = {"w": np.array([3.0])}
    >>> assert_gradients(lambda q: q["w"][0] ** 2, p, {"w": np.array([6.0])}).passed
    True
    """
    __tracebackhide__ = True
    report = check_params(loss, params, grads, **options)
    if not report.passed:
        raise GradientMismatch(report.failure_message(), report)
    return report
