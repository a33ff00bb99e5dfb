"""Exceptions raised by gradcheck.

``InvalidArgument`` is raised at the boundary, before any work is done, when
an argument cannot be used; its message names the argument, what was
expected, what was received and how to fix it.  ``GradientMismatch`` is
raised by :func:`gradcheck.assert_gradients` when a check fails; it is an
``AssertionError`` so that test runners report it as a failed assertion.
``GradcheckWarning`` says that a check ran with reduced power.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report.model import CheckReport

__all__ = ["InvalidArgument", "GradientMismatch", "LossEvaluationError", "GradcheckWarning"]


class InvalidArgument(ValueError):
    """An argument has the wrong type, shape, value or name."""


class GradientMismatch(AssertionError):
    """Analytic gradients disagree with numerical derivatives.

    Attributes
    ----------
    report : CheckReport
        The full report of the failed check.
    """

    def __init__(self, message: str, report: CheckReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class LossEvaluationError(RuntimeError):
    """The user's loss function raised while gradcheck evaluated it.

    The original exception is chained as ``__cause__``; the message says where
    the parameters were perturbed when it happened.
    """


class GradcheckWarning(UserWarning):
    """A check ran, but with reduced power (e.g. the loss evaluates in float32)."""
