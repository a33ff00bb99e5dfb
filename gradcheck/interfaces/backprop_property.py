"""Property-based verification of the caller's own backprop: verify_backprop, assert_backprop.

The caller's function gets networks drawn by hypothesis
(:func:`gradcheck.strategies.backprop_cases`: depths 1–4, non-square layers,
one sample, saturated weights, with and without biases) and returns its
deltas and gradients; :func:`gradcheck.check_backprop` verifies each net
layer by layer.  The first net that fails (or makes the function raise) is
shrunk to a minimal one: the fewest layers, samples and units that still
show the bug, which is usually enough to see which formula is wrong.

hypothesis is imported when :func:`verify_backprop` is called, so that
``import gradcheck`` does not need it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import describe
from ..errors import GradientMismatch, InvalidArgument
from ..report.text import plural, row_label
from ..verify.layout import LAYOUTS
from ..verify.user_backprop import SIGNS, check_backprop

if TYPE_CHECKING:
    from ..report.model import NetworkReport
    from .strategies import BackpropCase

__all__ = ["verify_backprop", "assert_backprop", "BackpropVerification"]

#: The networks drawn: up to 4 layers of up to 6 units, up to 8 samples, weights up to 5 (saturating).
_MAX_LAYERS, _MAX_WIDTH, _MAX_SAMPLES, _WEIGHT_SCALE = 4, 6, 8, (0.1, 5.0)

#: What ``fn`` returns, for error messages.
_RETURNS = "a dict {'deltas': [δ1, …, δL], 'grads': {'W1': …, 'b1': …, …}} (either key may be left out)"


@dataclass
class BackpropVerification:
    """The outcome of :func:`verify_backprop`.

    Attributes
    ----------
    passed : bool
        No drawn network made the check fail or the function raise, and the
        check could decide every one.
    examples : int
        Networks checked until the first failure (all of them when passed).
    shrinks : int
        Networks checked after that while shrinking the failure.
    counterexample : BackpropCase or None
        The minimal failing network: ``.sizes``, ``.n_samples``, ``.bias``,
        ``.seed``, ``.scale`` and the arrays ``.weights``, ``.biases``,
        ``.X``, ``.y`` in the caller's layout.
    report : NetworkReport or None
        The per-layer report of the minimal failing network (None when
        passed, or when the function raised on it).
    error : str or None
        ``"ExceptionType: message"`` when the function raised on the minimal network.
    layout, sign : str
        The conventions the function was checked under.
    drawn : str
        What kind of networks were drawn, in words.
    undecided : list of str
        The networks the check could not decide (no network failed), each
        with its first undecided row and the reason; the verdict is then
        ``"inconclusive"`` and ``passed`` is False.
    """

    passed: bool
    examples: int
    shrinks: int = 0
    counterexample: BackpropCase | None = None
    report: NetworkReport | None = None
    error: str | None = None
    layout: str = "in_out"
    sign: str = "gradient"
    drawn: str = ""
    undecided: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``"failed"`` when a network failed (or ``fn`` raised), else ``"inconclusive"`` when the check could
        not decide some network (see ``undecided``), else ``"passed"``."""
        if self.counterexample is not None:
            return "failed"
        return "inconclusive" if self.undecided else "passed"

    def __str__(self) -> str:
        head = f"verify_backprop ({self.layout} layout, sign {self.sign!r}): "
        if self.verdict == "inconclusive":
            return head + (f"INCONCLUSIVE — {plural(self.examples, 'network')} checked layer by layer, none failed, "
                           f"but {len(self.undecided)} could not be decided ({self.drawn}); first: "
                           f"{self.undecided[0]}")
        if self.passed:
            return head + f"PASSED — {plural(self.examples, 'network')} checked layer by layer, none failed " \
                          f"({self.drawn})"
        case = self.counterexample
        assert case is not None  # a failure always has its network
        lines = [head + f"FAILED — found after {plural(self.examples, 'network')}, shrunk in {self.shrinks} more",
                 f"minimal failing network: {case.describe()}"]
        if self.error is not None:
            lines.append(f"your function raised {self.error}")
        elif self.report is not None:
            lines.append(f"first failure: {_first_failure(self.report)}")
            lines += [f"probable cause ({d.cause}): {d.message}" for d in self.report.diagnoses[:2]] \
                or ["probable cause: unknown"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The verdict and the minimal network (without its arrays), JSON-serialisable."""
        case = self.counterexample
        first = None if self.report is None else self.report.first_failure
        return {"passed": self.passed, "verdict": self.verdict, "undecided": list(self.undecided),
                "examples": self.examples, "shrinks": self.shrinks,
                "layout": self.layout, "sign": self.sign, "error": self.error,
                "counterexample": None if case is None else {
                    "sizes": list(case.sizes), "n_samples": case.n_samples, "bias": case.bias,
                    "scale": case.scale, "seed": case.seed},
                "first_failure": None if first is None else {"layer": first[0], "check": first[1]},
                "diagnosis": None if self.report is None else [d.to_dict() for d in self.report.diagnoses]}


def _first_failure(report: NetworkReport) -> str:
    first = report.first_failure
    if first is None:
        return "none"
    layer, kind = first
    return f"layer {layer}, {row_label(kind, getattr(report.layers[layer - 1], kind), layer)[0]} (going down " \
           "from the output)"


def verify_backprop(fn: Callable[..., Any], *, layout: str = "in_out", bias: bool | None = None,
                    activation: str | Sequence[str] = "sigmoid", loss: str = "mse", reduction: str | None = None,
                    weight_decay: float = 0.0, sign: str = "gradient", max_examples: int = 100,
                    seed: int | None = None,
                    **options: Any) -> BackpropVerification:
    """Check a backprop function on many drawn networks and shrink any failure to a minimal network.

    Parameters
    ----------
    fn : callable
        ``fn(weights, biases, X, y)`` gets fresh copies of a network's arrays
        in ``layout`` — weights W_1 … W_L, biases b_1 … b_L (None when the
        network has none), inputs X and targets y — and returns
        ``{"deltas": [δ1, …, δL], "grads": {"W1": …, "b1": …, …}}``; either
        key may be left out, and grads may hold the weights' or the biases'
        gradients alone.
    layout : {'in_out', 'out_in'}
        ``'in_out'``: W_l (n_{l−1}, n_l), b_l (n_l,), X (N, n_0), y (N, n_L),
        δ_l (N, n_l).  ``'out_in'`` (textbook column vectors): W_l (n_l, n_{l−1}),
        b_l (n_l, 1), X (n_0, N), y (n_L, N), δ_l (n_l, N).
    bias : bool or None
        Networks with biases (True), without (False), or both (None).
    activation : str or sequence of str
        As for :func:`gradcheck.check_backprop`; a sequence (one per layer)
        fixes the depth (a softmax output needs one: softmax is for the
        output layer only).  The output activation sets the targets' range
        (softmax: rows summing to 1).
    loss, reduction, weight_decay, sign
        As for :func:`gradcheck.check_backprop`.
    max_examples : int, >= 1
        Networks to draw when none fails.
    seed : int or None
        Seed of the drawing, for a reproducible run; None draws afresh.
    **options
        Passed to :func:`gradcheck.check_backprop` (rtol, atol, method,
        per_sample_deltas, …).  The search runs without the Taylor test and
        the step-size sweep (``diagnostics=False``) unless asked; the report
        of the minimal network has them unless ``diagnostics=False``.

    Returns
    -------
    BackpropVerification
        ``.passed``, ``.examples``, ``.counterexample``, ``.report``, ``.error``;
        ``str()`` says it in a few lines.

    Raises
    ------
    InvalidArgument
        A bad option, hypothesis missing, or ``fn`` returning the wrong
        structure (not a dict, unknown keys, wrong count or shape of arrays).
        A wrong value, or an exception raised by ``fn``, is a finding instead.

    Examples
    --------
    >>> import numpy as np
    >>> def backprop(weights, biases, X, y):    # one row per sample, no biases used
    ...     a = [X]
    ...     for W in weights:
    ...         a.append(1 / (1 + np.exp(-a[-1] @ W)))
    ...     deltas = [(a[-1] - y) * a[-1] * (1 - a[-1])]
    ...     for W, act in zip(weights[:0:-1], a[-2:0:-1]):
    ...         deltas.insert(0, deltas[0] @ W.T * act * (1 - act))
    ...     return {"deltas": deltas}
    >>> verify_backprop(backprop, bias=False, max_examples=10, seed=0).passed
    True
    """
    if not callable(fn):
        raise InvalidArgument(f"fn: expected a function fn(weights, biases, X, y) returning {_RETURNS}, "
                              f"got {describe(fn)}")
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise InvalidArgument(f"layout: expected 'in_out' or 'out_in', got {layout!r}")
    if not isinstance(sign, str) or sign not in SIGNS:
        raise InvalidArgument(f"sign: expected 'gradient' or 'descent', got {sign!r}")
    if isinstance(max_examples, (bool, np.bool_)) or not isinstance(max_examples, (int, np.integer)) \
            or max_examples < 1:
        raise InvalidArgument(f"max_examples: expected a positive integer, got {describe(max_examples)}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise InvalidArgument(f"seed: expected an integer or None, got {describe(seed)}")
    try:
        import hypothesis
        from hypothesis.errors import NoSuchExample
    except ImportError:
        raise InvalidArgument("verify_backprop needs hypothesis: pip install hypothesis "
                              "(or pip install 'gradcheck[test]')") from None
    from .strategies import backprop_cases

    if isinstance(activation, str):
        output, depths = activation, (1, _MAX_LAYERS)
    elif isinstance(activation, Sequence) and activation:
        output, depths = activation[-1], (len(activation), len(activation))
    else:
        raise InvalidArgument(f"activation: expected a name or a list of names, one per layer, "
                              f"got {describe(activation)}")
    cases = backprop_cases(layout=layout, bias=bias, activation=output, min_layers=depths[0], max_layers=depths[1],
                           max_width=_MAX_WIDTH, max_samples=_MAX_SAMPLES, weight_scale=_WEIGHT_SCALE)
    drawn = (f"{'depth' if depths[0] == depths[1] else 'depths'} {'–'.join(map(str, dict.fromkeys(depths)))}, "
             f"widths 1–{_MAX_WIDTH}, "
             f"1–{_MAX_SAMPLES} samples, weight scale {_WEIGHT_SCALE[0]:g}–{_WEIGHT_SCALE[1]:g}, "
             f"{'with and without biases' if bias is None else 'with biases' if bias else 'without biases'}")
    check = {"activation": activation, "loss": loss, "reduction": reduction, "weight_decay": weight_decay,
             "sign": sign, **options}
    search = {"diagnostics": False, **check}
    failed: list[bool] = []  # per network checked, in order
    undecided: list[str] = []  # the networks the check could not decide, with the first reason

    def fails(case: BackpropCase) -> bool:
        error, report = _outcome(fn, case, search)
        failed.append(error is not None or report is None or report.verdict == "failed")
        if not failed[-1] and report is not None and report.verdict == "inconclusive":
            reasons = report.inconclusive_results
            undecided.append(f"{case.describe()}: {reasons[0].name}: {reasons[0].inconclusive_reason}")
        return failed[-1]

    # No explain phase: it re-runs the minimal network with other seeds to say which draws matter.
    settings = hypothesis.settings(max_examples=int(max_examples), database=None, deadline=None,
                                   phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
                                   report_multiple_bugs=False,
                                   suppress_health_check=[hypothesis.HealthCheck.too_slow])
    try:
        case = hypothesis.find(cases, fails, settings=settings,
                               random=None if seed is None else random.Random(int(seed)))
    except NoSuchExample:
        # Never passed when some network could not be decided.
        return BackpropVerification(not undecided, len(failed), layout=layout, sign=sign, drawn=drawn,
                                    undecided=undecided)
    except InvalidArgument as exc:  # a bad option or return structure, without hypothesis's notes on the example
        raise InvalidArgument(str(exc)) from None
    examples = failed.index(True) + 1
    title = f"{getattr(fn, '__name__', 'backprop')} on the minimal failing network: {case.describe()}"
    error, report = _outcome(fn, case, {"title": title, **check})
    return BackpropVerification(False, examples, len(failed) - examples, case, report, error, layout, sign, drawn)


def assert_backprop(fn: Callable[..., Any], **kwargs: Any) -> BackpropVerification:
    """:func:`verify_backprop`, raising when a network fails: for test suites.

    Parameters
    ----------
    fn : callable
        As for :func:`verify_backprop`.
    **kwargs
        The keyword arguments of :func:`verify_backprop`.

    Returns
    -------
    BackpropVerification
        The passed result.

    Raises
    ------
    GradientMismatch
        An AssertionError whose message is ``str(result)``; ``.report`` is the
        minimal failing network's report (None when ``fn`` raised).
    InvalidArgument
        As for :func:`verify_backprop`.
    """
    result = verify_backprop(fn, **kwargs)
    if not result.passed:
        raise GradientMismatch(str(result), result.report)
    return result


def _outcome(fn: Callable[..., Any], case: BackpropCase,
             check: Mapping[str, Any]) -> tuple[str | None, NetworkReport | None]:
    """``fn`` on fresh copies of the case, then its output checked: (what fn raised, or None; the report)."""
    try:
        out = fn(*case.fresh())
    except Exception as exc:  # the function under test failing is a finding, whatever it raises
        return f"{type(exc).__name__}: {exc}".splitlines()[0], None
    return None, check_backprop(case.weights, case.X, case.y, biases=case.biases, layout=case.layout,
                                **check, **_returned(out, case))


def _returned(out: Any, case: BackpropCase) -> dict[str, Any]:
    """``fn``'s output as check_backprop's ``deltas=``, ``grads=``, after checking its structure and shapes.

    A wrong structure is a usage error, not a finding: the message names the
    network and what was expected in the caller's layout.
    """
    where = f"fn(weights, biases, X, y) on the network {case.describe()} ({case.layout} layout)"
    if not isinstance(out, Mapping):
        raise InvalidArgument(f"{where} returned {describe(out)}; expected {_RETURNS}")
    unknown = sorted(str(k) for k in out if k not in ("deltas", "grads"))
    if unknown:
        raise InvalidArgument(f"{where} returned unknown keys {unknown}; expected {_RETURNS}")
    given = {k: out[k] for k in ("deltas", "grads") if out.get(k) is not None}
    if not given:
        raise InvalidArgument(f"{where} returned neither 'deltas' nor 'grads'; expected {_RETURNS}")
    L, N, n, columns = len(case.weights), case.n_samples, case.sizes, case.layout == "out_in"
    if "deltas" in given:
        shapes = [(n[l], N) if columns else (N, n[l]) for l in range(1, L + 1)]
        deltas = given["deltas"]
        if isinstance(deltas, (np.ndarray, str, Mapping)) or not isinstance(deltas, Sequence) or len(deltas) != L:
            raise InvalidArgument(f"{where}: 'deltas' is {describe(deltas)}; expected a list of {L} arrays "
                                  f"δ1 … δ{L} of shapes {', '.join(map(str, shapes))}")
        for l, d in enumerate(deltas, start=1):
            _expect_shape(where, f"deltas[{l - 1}] (δ{l})", d, [shapes[l - 1]])
    if "grads" in given:
        expected = {f"W{l}": [W.shape] for l, W in enumerate(case.weights, start=1)}
        for l, b in enumerate(case.biases or (), start=1):
            # check_backprop also takes a flat bias gradient (n_l,), and (1, n_l) in rows
            expected[f"b{l}"] = [b.shape, (b.size,), (b.size, 1) if columns else (1, b.size)]
        grads = given["grads"]
        if not isinstance(grads, Mapping):
            raise InvalidArgument(f"{where}: 'grads' is {describe(grads)}; expected a dict with keys "
                                  f"{list(expected)}")
        unknown = sorted(str(k) for k in grads if k not in expected)
        if unknown:
            raise InvalidArgument(f"{where}: 'grads' has unknown keys {unknown}; expected keys among {list(expected)}")
        for kind in "Wb":
            present = [k for k in expected if k[0] == kind and k in grads]
            if present and len(present) != L:
                raise InvalidArgument(f"{where}: 'grads' has {present} but not "
                                      f"{[k for k in expected if k[0] == kind and k not in grads]}; "
                                      "return every layer's gradient of a kind or none")
        for key, g in grads.items():
            _expect_shape(where, f"grads[{key!r}]", g, expected[key])
    return given


def _expect_shape(where: str, label: str, value: Any, shapes: list[tuple[int, ...]]) -> None:
    try:
        arr = np.asarray(value)
    except Exception:  # a ragged list and the like: reported below as not an array
        arr = np.asarray(None)
    if arr.dtype.kind not in "biuf" or arr.shape not in [tuple(s) for s in shapes]:
        raise InvalidArgument(f"{where}: {label} is {describe(value)}; expected a numeric array of shape "
                              f"{' or '.join(map(str, dict.fromkeys(shapes)))}")
