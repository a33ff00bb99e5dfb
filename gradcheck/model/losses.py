"""Loss functions, each value beside its derivative with respect to the prediction.

Mean squared error comes with an explicit reduction, because the factor it
puts in front of the gradient is the most common source of "almost right"
backprop code:

======== ======================= ===========================
name     value                    derivative ∂L/∂a
======== ======================= ===========================
half_sum ½ Σ (a − y)²             a − y
sum      Σ (a − y)²               2 (a − y)
mean     (1/(N·m)) Σ (a − y)²     2 (a − y) / (N·m)
======== ======================= ===========================

with the sums over all ``N`` samples and ``m`` outputs.  ``half_sum`` is the
classic convention of the textbook XOR programs.  The expressions use no
``abs`` or conjugate, so they carry a complex-step perturbation faithfully.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["Loss", "REDUCTIONS", "get_loss"]

REDUCTIONS = ("half_sum", "sum", "mean")


@dataclass(frozen=True)
class Loss:
    """A loss and its derivative with respect to the network output.

    Attributes
    ----------
    name : str
        ``"mse"``.
    reduction : {'half_sum', 'sum', 'mean'}
    value : callable
        ``value(a, y) -> scalar`` for ``a`` and ``y`` of shape (N, m).
    derivative : callable
        ``derivative(a, y) -> ndarray of shape (N, m)``, ∂L/∂a.
    scale : callable
        ``scale(size) -> c`` with L = c·Σ(a − y)² for an output of ``size``
        entries (½, 1 or 1/size).
    """

    name: str
    reduction: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scale: Callable[[int], float]


def _mse(reduction: str) -> Loss:
    if reduction == "half_sum":
        return Loss("mse", reduction,
                    lambda a, y: 0.5 * np.sum((a - y) ** 2),
                    lambda a, y: a - y,
                    lambda size: 0.5)
    if reduction == "sum":
        return Loss("mse", reduction,
                    lambda a, y: np.sum((a - y) ** 2),
                    lambda a, y: 2.0 * (a - y),
                    lambda size: 1.0)
    return Loss("mse", reduction,
                lambda a, y: np.sum((a - y) ** 2) / np.size(a),
                lambda a, y: 2.0 * (a - y) / np.size(a),
                lambda size: 1.0 / size)


def get_loss(name: str = "mse", reduction: str = "half_sum") -> Loss:
    """Look up a loss by name and reduction.

    Parameters
    ----------
    name : {'mse'}
    reduction : {'half_sum', 'sum', 'mean'}

    Returns
    -------
    Loss

    Raises
    ------
    InvalidArgument
        If the name or the reduction is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> loss = get_loss("mse", "half_sum")
    >>> float(loss.value(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])))
    2.5
    """
    if name != "mse":
        raise InvalidArgument(f"loss: expected 'mse', got {name!r}; gradcheck's networks use mean squared error")
    if reduction not in REDUCTIONS:
        raise InvalidArgument(
            f"reduction: expected one of {list(REDUCTIONS)}, got {reduction!r}; "
            "'half_sum' is ½Σ(a−y)², the classic convention"
        )
    return _mse(reduction)
