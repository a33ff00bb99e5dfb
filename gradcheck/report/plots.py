r"""Figures for check reports, returned as PNG bytes.

=================== ==========================================================
figure              shows
=================== ==========================================================
``sweep_figure``    error of forward, central and complex-step derivatives
                    against the step h, one panel per group: the V shape of
                    truncation (right) against round-off (left)
``taylor_figure``   the Taylor remainders r0 and r1 against ε, with slope-1
                    and slope-2 reference lines and the observed order
``heatmap_figure``  ``|analytic − numerical|`` per entry of a weight
                    matrix, on a log colour scale
=================== ==========================================================

matplotlib is an optional dependency (``pip install "gradcheck[plot]"``),
imported only when a figure is drawn.  Figures are built on
``matplotlib.figure.Figure`` directly, never through pyplot, so drawing
touches no global figure state and needs no GUI backend.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._validation import as_numeric_array, describe
from ..errors import InvalidArgument
from .records import SweepResult, TaylorResult

if TYPE_CHECKING:
    from matplotlib.artist import Artist

__all__ = ["plots_available", "sweep_figure", "taylor_figure", "heatmap_figure"]

#: Zero errors cannot sit on a log axis; they are drawn here, below float64 round-off.
ZERO_ERROR = 1e-17
_METHOD_COLOURS = {"forward": "tab:blue", "central": "tab:orange", "complex": "tab:green"}
_DPI = 100
# Panel geometry in inches.  Panels are laid out by hand: matplotlib's
# constrained layout would do it for us but doubles the drawing time.
_AXES_W, _AXES_H = 3.5, 2.9
_LEFT, _RIGHT, _TITLE = 0.75, 0.15, 0.35
_XLABEL, _LEGEND = 0.55, 1.05  # tick labels and axis label; up to six legend lines below them


def plots_available() -> bool:
    """Whether matplotlib can be imported, i.e. whether figures can be drawn.

    Returns
    -------
    bool

    Examples
    --------
    >>> plots_available() in (True, False)
    True
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float, layout: Literal["constrained"] | None = "constrained") -> Any:
    """A pyplot-free matplotlib Figure, or an ImportError that says how to get one."""
    try:
        # The top-level import comes first: it fails when matplotlib is absent
        # even if a submodule is still cached in sys.modules.
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('gradcheck plots need matplotlib, which is not installed; install it with '
                          'pip install "gradcheck[plot]"') from exc
    return Figure(figsize=(width, height), dpi=_DPI, layout=layout)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _panels(n: int) -> tuple[Any, list[Any]]:
    """A figure with ``n`` log-log panels, three per row, each with room for a legend below it."""
    ncols, nrows = min(3, n), math.ceil(n / min(3, n))
    width = ncols * (_LEFT + _AXES_W + _RIGHT)
    height = nrows * (_TITLE + _AXES_H + _XLABEL + _LEGEND)
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=_LEFT / width, right=1 - _RIGHT / width, top=1 - _TITLE / height,
                        bottom=(_XLABEL + _LEGEND) / height, wspace=(_LEFT + _RIGHT) / _AXES_W,
                        hspace=(_XLABEL + _LEGEND + _TITLE) / _AXES_H)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[:n]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Minor ticks over fifteen decades are hundreds of artists and most of the drawing time.
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
    return fig, list(axes[:n])


def _legend_below(ax: Any) -> None:
    # Below the panel: the curves fill the panel's corners, whatever their shape.
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -_XLABEL / _AXES_H), frameon=False)


def _results(results: Any, kind: type, label: str) -> list[Any]:
    items = list(results) if isinstance(results, (list, tuple)) else None
    if not items or not all(isinstance(r, kind) for r in items):
        raise InvalidArgument(f"results: expected a non-empty list of {kind.__name__} (from {label}), "
                              f"got {describe(results)}")
    return items


def _on_log_axis(y: np.ndarray, zero: float) -> np.ndarray:
    """y with zeros raised to ``zero`` and non-finite values as gaps."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(y), np.maximum(y, zero), np.nan)


def sweep_figure(results: Sequence[SweepResult]) -> bytes:
    r"""Log-log error against step size, one panel per parameter group.

    Parameters
    ----------
    results : list of SweepResult
        From :func:`gradcheck.verify.convergence.step_sweep`.

    Returns
    -------
    bytes
        A PNG image.  Each method's best step is starred; zero errors are
        drawn at ``ZERO_ERROR``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    InvalidArgument
        ``results`` is not a non-empty list of SweepResult.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck.verify.convergence import step_sweep
    >>> p = {"w": np.array([0.5, -1.0])}
    >>> sweeps = step_sweep(lambda q: np.sum(np.sin(q["w"])), p, {"w": np.cos(p["w"])})
    >>> sweep_figure(sweeps)[:4] == b"\x89PNG"
    True
    """
    results = _results(results, SweepResult, "gradcheck.verify.convergence.step_sweep")
    fig, axes = _panels(len(results))
    for ax, r in zip(axes, results, strict=True):
        order = np.argsort(r.steps)
        for method, err in r.errors.items():
            colour = _METHOD_COLOURS.get(method)
            best_h, best_e = r.best_step[method], r.best_error[method]
            label = f"{method}: best h = {best_h:.0e}, error {best_e:.1e}" if math.isfinite(best_h) \
                else f"{method}: no finite error"
            ax.plot(r.steps[order], _on_log_axis(err[order], ZERO_ERROR), ".-", color=colour, lw=1.2,
                    ms=4, label=label)
            if math.isfinite(best_h):
                ax.plot([best_h], [max(best_e, ZERO_ERROR)], "*", color=colour, ms=12, mec="black", mew=0.6)
        ax.axhline(np.finfo(np.float64).eps, color="grey", ls=":", lw=1, label="float64 machine epsilon")
        ax.set_xlim(r.steps.min() / 2, r.steps.max() * 2)
        ax.set_title(f"{r.name}: step-size sweep")
        ax.set_xlabel("step h")
        ax.set_ylabel("relative error")
        _legend_below(ax)
    return _png(fig)


def taylor_figure(results: Sequence[TaylorResult]) -> bytes:
    r"""Taylor remainders against ε on log-log axes, one panel per parameter group.

    r1 = |L(θ + εv) − L(θ) − ε⟨g, v⟩| should run parallel to the slope-2
    line for a correct gradient; r0 = |L(θ + εv) − L(θ)| runs parallel to the
    slope-1 line.  The reference lines are drawn a decade above r1 where the
    order was fitted, so that a parallel r1 does not hide them.  The points
    the order was fitted over are filled, the round-off floor is dotted, and
    an r1 that is exactly 0 (a linear loss) is drawn three decades below the
    floor.

    Parameters
    ----------
    results : list of TaylorResult
        From :func:`gradcheck.verify.convergence.taylor_test`.

    Returns
    -------
    bytes
        A PNG image.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    InvalidArgument
        ``results`` is not a non-empty list of TaylorResult.

    Examples
    --------
    >>> import numpy as np
    >>> from gradcheck.verify.convergence import taylor_test
    >>> p = {"w": np.array([0.5, -1.0])}
    >>> tests = taylor_test(lambda q: np.sum(np.sin(q["w"])), p, {"w": np.cos(p["w"])})
    >>> taylor_figure(tests)[:4] == b"\x89PNG"
    True
    """
    results = _results(results, TaylorResult, "gradcheck.verify.convergence.taylor_test")
    fig, axes = _panels(len(results))
    for ax, r in zip(axes, results, strict=True):
        order = np.argsort(r.epsilons)
        eps = r.epsilons[order]
        floor = r.roundoff_floor[order]
        finite_floor = floor[np.isfinite(floor)]
        zero = float(finite_floor.min()) * 1e-3 if finite_floor.size else ZERO_ERROR
        r0 = _on_log_axis(r.remainder0[order], zero)
        r1 = _on_log_axis(r.remainder1[order], zero)
        used = r.used[order]
        ax.plot(eps, r0, "o-", color="tab:blue", ms=3, lw=1.2, label=r"$r_0 = |L(\theta+\epsilon v) - L(\theta)|$")
        order_text = f"order {r.order:.2f}" if math.isfinite(r.order) else "at round-off, no order"
        ax.plot(eps, r1, "s-", color="tab:red", ms=4, mfc="white", lw=1.2,
                label=r"$r_1 = |L(\theta+\epsilon v) - L(\theta) - \epsilon\langle g, v\rangle|$" + f": {order_text}")
        if used.any():
            ax.plot(eps[used], r1[used], "s", color="tab:red", ms=5, label="points the order is fitted over")
        ax.plot(eps, floor, ":", color="grey", lw=1, label="round-off floor")
        span, (e0, y0) = _reference(eps, r0, r1, used)
        for slope, style in ((1, "--"), (2, "-.")):
            ax.plot(span, 10 * y0 * (span / e0) ** slope, style, color="black", lw=0.8, alpha=0.7,
                    label=f"slope {slope} (reference)")
        ax.set_xlim(eps[0] / 2, eps[-1] * 2)
        ax.set_title(f"{r.name}: {'passed' if r.passed else 'FAILED'} (order 2 expected)")
        ax.set_xlabel(r"$\epsilon$")
        ax.set_ylabel("remainder")
        _legend_below(ax)
    return _png(fig)


def _reference(eps: np.ndarray, r0: np.ndarray, r1: np.ndarray,
               used: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """The ε range of the reference lines and a point they pass through.

    With a fit, they are anchored at r1 in the middle of the fitted points
    and extend a decade beyond them, so the eye compares slopes where the
    order was measured; without one, they are anchored at r0 at its largest ε.
    """
    if used.any():
        idx = np.flatnonzero(used)
        mid = idx[len(idx) // 2]
        lo, hi = eps[idx].min() / 10, eps[idx].max() * 10
        span = eps[(eps >= lo) & (eps <= hi)]
        return span, (float(eps[mid]), float(r1[mid]))
    finite = np.flatnonzero(np.isfinite(r0))
    k = finite[-1] if finite.size else len(eps) - 1
    return eps, (float(eps[k]), float(r0[k]) if finite.size else ZERO_ERROR)


def heatmap_figure(name: str, abs_error: Any, tolerance: Any = None) -> bytes:
    r"""``|analytic − numerical|`` per entry of one parameter array, on a log colour scale.

    Entries that are exactly 0 are grey (a log scale has no place for them),
    non-finite ones carry a black cross and, with ``tolerance``, entries whose
    error exceeds it are outlined in red.

    Parameters
    ----------
    name : str
        The parameter's name, used in the title (e.g. ``"W1"``).
    abs_error : array_like of shape (n_rows, n_cols) or (n,)
        The errors (their absolute value is drawn); a 1-D array (a bias) is
        drawn as one row, a scalar as one cell.
    tolerance : array_like broadcastable to the shape of ``abs_error``, optional
        Per-entry tolerance.

    Returns
    -------
    bytes
        A PNG image.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    InvalidArgument
        ``abs_error`` is not a non-empty real array of at most 2 dimensions,
        or ``tolerance`` does not broadcast to its shape.

    Examples
    --------
    >>> import numpy as np
    >>> err = np.array([[0.0, 1e-12, 3e-9], [2e-15, 5e-14, 1e-13]])
    >>> heatmap_figure("W1", err, tolerance=1e-10)[:4] == b"\x89PNG"
    True
    """
    if not isinstance(name, str):
        raise InvalidArgument(f"name: expected the parameter's name as a str, got {describe(name)}")
    err = np.abs(np.asarray(as_numeric_array("abs_error", abs_error), dtype=np.float64))
    if err.ndim > 2:
        raise InvalidArgument(f"abs_error: expected a 1-D or 2-D array (a bias or a weight matrix), got shape "
                              f"{err.shape}; reshape it to 2-D first")
    if err.size == 0:
        raise InvalidArgument(f"abs_error: expected at least one entry, got an empty array of shape {err.shape}")
    grid = err.reshape(1, -1) if err.ndim < 2 else err
    over = np.zeros(grid.shape, dtype=bool)
    if tolerance is not None:
        tol = np.asarray(as_numeric_array("tolerance", tolerance), dtype=np.float64)
        try:
            tol = np.broadcast_to(tol, err.shape).reshape(grid.shape)
        except ValueError:
            raise InvalidArgument(f"tolerance: expected a scalar or an array broadcastable to abs_error's shape "
                                  f"{err.shape}, got shape {tol.shape}") from None
        with np.errstate(invalid="ignore"):
            over = grid > tol
    positive = np.isfinite(grid) & (grid > 0)
    nonfinite = ~np.isfinite(grid)
    n_rows, n_cols = grid.shape
    width, height = min(max(2.0 + 0.45 * n_cols, 4.5), 12.0), min(max(1.4 + 0.45 * n_rows, 2.4), 10.0)
    fig = _figure(width, height)
    # Markers in points, sized to about 60 % of a cell (72 points per inch).
    marker = float(np.clip(0.6 * 72 * min((width - 2.0) / n_cols, (height - 1.4) / n_rows), 3, 10))
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    if positive.any():
        lo, hi = float(grid[positive].min()), float(grid[positive].max())
    else:
        lo = hi = ZERO_ERROR
    # LogNorm needs lo < hi; a constant map gets one decade.
    norm = LogNorm(vmin=lo if lo < hi else hi / 10, vmax=hi)
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_where(~positive, grid), norm=norm, cmap=cmap, interpolation="nearest",
                      aspect="auto")
    fig.colorbar(image, ax=ax, label="|analytic − numerical|")
    handles: list[Artist] = []
    if np.any(~positive & ~nonfinite):
        handles.append(Patch(color="lightgrey", label="exactly 0"))
    if nonfinite.any():
        rows, cols = np.nonzero(nonfinite)
        ax.plot(cols, rows, "x", color="black", ms=marker, mew=1.5, ls="none")
        handles.append(Line2D([], [], marker="x", color="black", ls="none", label="not finite"))
    if over.any():
        rows, cols = np.nonzero(over)
        ax.plot(cols, rows, "s", ms=marker, mfc="none", mec="red", mew=1.5, ls="none")
        handles.append(Line2D([], [], marker="s", mfc="none", mec="red", ls="none",
                              label=f"above tolerance ({int(over.sum())})"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="x-small",
                   frameon=False)
    shape = "×".join(map(str, err.shape)) or "scalar"
    ax.set_title(f"{name} ({shape}): |analytic − numerical| per entry")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    if err.ndim < 2:
        ax.set_yticks([])
        ax.set_xlabel("entry")
    else:
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    return _png(fig)
