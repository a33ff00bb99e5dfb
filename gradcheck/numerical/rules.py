"""The difference rules: one registry, each rule's whole definition in one entry.

A rule turns the loss differences D = f(θ + o·h) − f(θ), one column per
offset o, into a derivative and an estimate of its own absolute error.  With
ε the precision the loss is evaluated in, κ = ``ROUNDOFF_FACTOR`` and F the
loss values the rule uses:

============ ================================ ===================================== =====================
rule         value                            error estimate                        loss calls per entry
============ ================================ ===================================== =====================
forward      D₊(h) = (f(θ+h) − f(θ))/h        |D₊(2h) − D₊(h)| + κε·max|F|/h        2
backward     D₋(h) = (f(θ) − f(θ−h))/h        |D₋(2h) − D₋(h)| + κε·max|F|/h        2
central      D(h) = (f(θ+h) − f(θ−h))/2h      |D(2h) − D(h)|/3 + κε·max|F|/h        4
central4     C(h) = (4D(h) − D(2h))/3         (16/15)·|C(h) − C(h/2)|               6
             (5-point)                        + 1.5κε·max|F|/h
richardson   two Richardson levels over       |R₂ − R₁| + 2κε·max|F|/(h/4)          6
             D(h), D(h/2), D(h/4)
complex      Im f(θ + i·h)/h, h = 1e-20       max(κε, 2σ/|f(θ)|)·|value|            1
============ ================================ ===================================== =====================

where κε·max|F| is raised to 2σ when the measured noise σ of the loss values
(:func:`gradcheck.numerical.evaluator.estimate_loss_noise`) is larger.  The
truncation error of a rule of order p is estimated from the same rule at two
steps: D(h) − D(2h) ≈ (1 − 2^p)·c·h^p.  Richardson extrapolation removes the h²
and h⁴ terms of central differences (Richardson 1911; Press et al., Numerical
Recipes, 3rd ed., §5.7); the complex step has no subtractive cancellation
(Squire & Trapp, SIAM Review 40, 1998).

A rule of order p takes the relative step ε^(1/(p+1)) (:mod:`gradcheck.numerical.steps`).
Adding a rule means adding one :class:`Rule` to :data:`RULES`: the generic
engine, the structured engine, the step helper and the method lists read it
from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Rule", "RULES", "LOCAL_METHODS", "ROUNDOFF_FACTOR", "LOSS_NOISE_FACTOR", "COMPLEX_STEP",
           "CENTRAL_FIRST", "CENTRAL_SECOND", "apply_rule", "central_first_pass"]

#: Round-off of one loss evaluation in units of ε·|L|: a loss is a long sum of
#: rounded terms, and the two evaluations of a difference round independently.
ROUNDOFF_FACTOR = 8.0

#: Multiplier on the measured noise σ of the loss in the round-off term.
LOSS_NOISE_FACTOR = 2.0

#: Complex step: no subtraction, so the step can be tiny; 1e-20 makes the
#: O(h²) truncation term vanish below any working precision.
COMPLEX_STEP = 1e-20

#: (values, truncation estimate) of a rule from D of shape (n, len(offsets)) and h of shape (n,).
Combination = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Rule:
    """One difference rule.

    Attributes
    ----------
    name : str
    offsets : tuple of float or complex
        The o of the loss values f(θ + o·h) the rule uses, in the column order
        of the differences :attr:`combine` takes (the complex step's is i).
    exponent : float or None
        The relative step is ε^exponent; None: the fixed step ``COMPLEX_STEP``.
    combine : callable
        ``combine(D, h) -> (values, truncation)``, each of shape (n,).
    roundoff : float
        The error estimate's round-off term in units of κε·max|F|/h (of
        κε·|value| for a rule without subtraction, ``exponent`` None).
    uses_f0 : bool
        f(θ) itself enters the value (one-sided rules), so it counts in max|F|.
    nodes : int or None
        Chebyshev points per unit response of the structured engine (odd: ψ(0) = 0
        is the middle one), 2K − 1 for a response K points do not resolve; None:
        the rule needs one response value per unit and is never interpolated.
    """

    name: str
    offsets: tuple[float | complex, ...]
    exponent: float | None
    combine: Combination
    roundoff: float
    uses_f0: bool = False
    nodes: int | None = None


def _one_sided(sign: float) -> Combination:
    def combine(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d1 = sign * D[:, 0] / h
        d2 = sign * D[:, 1] / (2 * h)
        return d1, np.abs(d2 - d1)
    return combine


def _central_pair(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """D(h), D(2h) from columns (+1, −1, +2, −2)."""
    return (D[:, 0] - D[:, 1]) / (2 * h), (D[:, 2] - D[:, 3]) / (4 * h)


def _central(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d1, d2 = _central_pair(D, h)
    return d1, np.abs(d2 - d1) / 3


def _central4(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d1, d2 = _central_pair(D, h)
    d_half = (D[:, 4] - D[:, 5]) / h
    # The value is the 5-point stencil at h, (8(f₁ − f₋₁) − (f₂ − f₋₂))/12h; the
    # same stencil at h/2 measures its h⁴ term: C(h) − C(h/2) = (15/16)·c·h⁴.  The
    # third step is inside the stencil rather than at 4h: where h is too large
    # for the loss (a term varying on the scale of h) a wider step would see a
    # different function, and its estimate was up to 70x too small.
    value = (4 * d1 - d2) / 3
    return value, np.abs(value - (4 * d_half - d1) / 3) * (16 / 15)


def _richardson(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    D0 = (D[:, 0] - D[:, 1]) / (2 * h)
    D1 = (D[:, 2] - D[:, 3]) / h
    D2 = (D[:, 4] - D[:, 5]) / (0.5 * h)
    R10 = (4 * D1 - D0) / 3
    R11 = (4 * D2 - D1) / 3
    R2 = (16 * R11 - R10) / 15
    return R2, np.abs(R2 - R11)


def _complex(D: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.imag(D[:, 0]) / h, np.zeros(len(h))


#: Every local rule by name.  The structured engine's interpolation interval is
#: (largest offset)·(step)·max|a|: ~1e-8 relative for one-sided rules, ~1e-5
#: for central differences, ~1e-3 for the ε^(1/5) steps; ``nodes`` grows with it.  Five points resolve
#: central differences' responses on the nets of benchmarks/WHOLE_RESULTS.md (their last two Chebyshev
#: coefficients, ~T³ and ~T⁴, at rounding level); the others are refined.
RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("forward", (1.0, 2.0), 1 / 2, _one_sided(1.0), roundoff=1.0, uses_f0=True, nodes=5),
    Rule("backward", (-1.0, -2.0), 1 / 2, _one_sided(-1.0), roundoff=1.0, uses_f0=True, nodes=5),
    Rule("central", (1.0, -1.0, 2.0, -2.0), 1 / 3, _central, roundoff=1.0, nodes=5),
    # central4's f(θ ± h/2) serve its truncation estimate only.
    Rule("central4", (1.0, -1.0, 2.0, -2.0, 0.5, -0.5), 1 / 5, _central4, roundoff=1.5, nodes=9),
    # Richardson extrapolates central differences at h, h/2 and h/4 to sixth
    # order; a base step of ε^(1/5) keeps the smallest step's round-off below
    # the first-level truncation error.  Round-off: 2κε·max|F| at step h/4.
    Rule("richardson", (1.0, -1.0, 0.5, -0.5, 0.25, -0.25), 1 / 5, _richardson, roundoff=8.0, nodes=9),
    Rule("complex", (1j,), None, _complex, roundoff=1.0),
)}

#: The rules, as method names.
LOCAL_METHODS = tuple(RULES)


def _magnitude(D: np.ndarray, f0: float, kappa: float, loss_noise: float) -> np.ndarray:
    """max |F| per row, raised to the measured noise level: the scale of the round-off term."""
    return np.maximum(np.abs(f0 + D).max(axis=1), LOSS_NOISE_FACTOR * loss_noise / kappa)


def apply_rule(method: str, D: np.ndarray, f0: float, h: np.ndarray, eps: float,
               loss_noise: float = 0.0, rounding: float | np.ndarray = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Values and error estimates of a difference rule, from its loss differences.

    Parameters
    ----------
    method : {'forward', 'backward', 'central', 'central4', 'richardson', 'complex'}
    D : ndarray of shape (n, len(RULES[method].offsets))
        f(θ + o·h) − f(θ) for every entry and offset o (complex for
        ``'complex'``).  The generic engine subtracts two loss values; the
        structured engine forms the difference from the changed terms of the
        loss only.
    f0 : float
        f(θ).
    h : ndarray of shape (n,)
        The steps.
    eps : float
        Precision the loss is evaluated in.
    loss_noise : float
        σ, the measured rounding noise of the loss values.
    rounding : float or ndarray of shape (n,)
        A bound on the rounding of one difference formed from the changed terms
        (the structured engine's running bound): such a difference rounds at the
        scale of the terms it changes, ε·|a|·|a − y| per sample for MSE, which
        exceeds ε·|L| near a fit.  The round-off term takes the larger of the two.
        For the complex step, a bound on the rounding of Im f(θ + i·h) (h times
        :func:`~gradcheck.numerical.complex_rounding.complex_entry_rounding`), added
        to its relative term.

    Returns
    -------
    values, errors : ndarray of shape (n,)
        See the table in the module docstring.

    Examples
    --------
    >>> h = np.array([0.5])
    >>> D = np.array([[1.25, -0.75, 3.0, -1.0]])  # f(θ) = θ² at θ = 1: f(1 ± h) − 1, f(1 ± 2h) − 1
    >>> values, errors = apply_rule("central", D, 1.0, h, 2.0**-52)
    >>> values.tolist()                          # exact for a quadratic
    [2.0]
    """
    rule = RULES[method]
    kappa = ROUNDOFF_FACTOR * eps
    values, truncation = rule.combine(D, h)
    if rule.exponent is None:
        # No subtraction: the value is as accurate as the loss, relatively;
        # noise σ in the loss (relative σ/|L|) carries into it the same way.
        relative = max(kappa, LOSS_NOISE_FACTOR * loss_noise / abs(f0)) if f0 != 0 and np.isfinite(f0) else kappa
        # ``rounding`` (the structured engine's bound on the rounding a − y carries into Im f,
        # :mod:`gradcheck.numerical.complex_rounding`) is absolute: near a fit it exceeds κε·|value|.
        return values, truncation + rule.roundoff * relative * np.abs(values) + np.abs(rounding) / h
    big = _magnitude(D, f0, kappa, loss_noise)
    if rule.uses_f0:
        big = np.maximum(big, abs(f0))
    return values, truncation + rule.roundoff * np.maximum(kappa * big, ROUNDOFF_FACTOR * rounding) / h


#: Offsets of the first pass of a check's central differences, and of the
#: second pass that completes the 4-call rule for the entries it flags.
CENTRAL_FIRST, CENTRAL_SECOND = RULES["central"].offsets[:2], RULES["central"].offsets[2:]


def central_first_pass(D: np.ndarray, f0: float, h: np.ndarray, eps: float,
                       loss_noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Central differences from f(θ ± h) alone, with the round-off part of the estimate.

    Parameters
    ----------
    D : ndarray of shape (n, 2)
        f(θ + o·h) − f(θ) for o in ``CENTRAL_FIRST`` (+1, −1).
    f0, h, eps, loss_noise
        As in :func:`apply_rule`.

    Returns
    -------
    values, errors : ndarray of shape (n,)
        The values of the 'central' rule, and a lower bound of its error
        estimate (the truncation part |D(2h) − D(h)|/3 is missing).
    """
    kappa = ROUNDOFF_FACTOR * eps
    return (D[:, 0] - D[:, 1]) / (2 * h), RULES["central"].roundoff * kappa * _magnitude(D, f0, kappa, loss_noise) / h
