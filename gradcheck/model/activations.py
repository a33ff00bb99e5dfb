"""Element-wise activation functions, each value beside its derivative.

The derivative is written from the activation's *output* ``a = f(z)``, as the
delta formulas of backpropagation use it (sigmoid: ``σ'(z) = a(1 − a)``).
Every function accepts real or complex arrays: complex input is what the
complex-step derivative feeds through a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..errors import InvalidArgument

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "sigmoid", "tanh", "identity"]


@dataclass(frozen=True)
class Activation:
    """An activation function and its derivative.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"sigmoid"``.
    value : callable
        ``value(z) -> a``, element-wise, any shape, real or complex.
    derivative : callable
        ``derivative(a) -> f'(z)`` written from the output ``a = value(z)``.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    if not np.iscomplexobj(z):
        # expit neither overflows nor warns at |z| = 1000.
        return expit(z)
    # Complex input (complex step): choose the form whose exponential has a
    # non-positive real part, so exp never overflows.
    out = np.empty_like(z)
    pos = z.real >= 0
    e = np.exp(-z[pos])
    out[pos] = 1.0 / (1.0 + e)
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _sigmoid_prime(a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def _tanh_prime(a: np.ndarray) -> np.ndarray:
    return 1.0 - a * a


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z)


def _identity_prime(a: np.ndarray) -> np.ndarray:
    return np.ones_like(a)


sigmoid = Activation("sigmoid", _sigmoid, _sigmoid_prime)
tanh = Activation("tanh", np.tanh, _tanh_prime)
identity = Activation("identity", _identity, _identity_prime)

ACTIVATIONS: dict[str, Activation] = {f.name: f for f in (sigmoid, tanh, identity)}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name.

    Parameters
    ----------
    name : {'sigmoid', 'tanh', 'identity'} or Activation

    Returns
    -------
    Activation

    Raises
    ------
    InvalidArgument
        If the name is unknown.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}; "
            "pass one of those names"
        ) from None
