"""Activation functions, each value beside its derivative.

The derivative is written from the activation's *output* ``a = f(z)``, as the
delta formulas of backpropagation use it (sigmoid: ``σ'(z) = a(1 − a)``;
ReLU: 1 where a > 0, else 0).  Every function accepts real or complex
arrays: complex input is what the complex-step derivative feeds through a
network (ReLU and leaky ReLU pick their branch by the real part).

======================= ================================ ==================================
name                    value a = f(z)                   derivative, from a
======================= ================================ ==================================
sigmoid                 1 / (1 + e^(−z))                 a(1 − a)
tanh                    tanh z                           1 − a²
identity                z                                1
relu                    max(z, 0)                        1 if a > 0 else 0   (kink at z = 0)
leaky_relu[:s]          z if z > 0 else s·z (s = 0.01)   1 if a > 0 else s   (kink at z = 0)
softmax                 e^(z_k) / Σ_j e^(z_j), per row   Jacobian diag(a) − a aᵀ (output only)
======================= ================================ ==================================

At a kink the derivative written from a is one of the two one-sided
derivatives (0 for ReLU at z = 0), a valid subgradient.  Softmax is not
element-wise: :meth:`Activation.backward` applies its Jacobian, and its
``derivative`` is only the Jacobian's diagonal a(1 − a).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgument

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "activation_list", "sigmoid", "tanh", "identity",
           "relu", "leaky_relu", "softmax", "LEAKY_SLOPE"]

#: The default slope of ``"leaky_relu"`` for z < 0 (``"leaky_relu:0.2"`` sets another).
LEAKY_SLOPE = 0.01


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
        ``derivative(a) -> f'(z)`` written from the output ``a = value(z)``
        (softmax: the diagonal of its Jacobian).
    kinks : tuple of float
        The z where the derivative jumps (ReLU: ``(0.0,)``); empty for a smooth function.
    lipschitz : float
        A bound on |f(z) − f(z')| / |z − z'| (1/4 for sigmoid): how far a change
        of z can move a.
    elementwise : bool
        False for softmax, whose every output depends on the whole row of z.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    kinks: tuple[float, ...] = ()
    lipschitz: float = 1.0
    elementwise: bool = True

    def backward(self, a: np.ndarray, upstream: np.ndarray) -> np.ndarray:
        """∂L/∂z from ∂L/∂a: f'(z) ⊙ upstream, or softmax's Jacobian product.

        Parameters
        ----------
        a : ndarray of shape (N, n)
            The output a = f(z).
        upstream : ndarray of shape (N, n)
            ∂L/∂a.

        Returns
        -------
        ndarray of shape (N, n)
            ∂L/∂z; for softmax, per row, (diag(a) − a aᵀ)·g = a ⊙ (g − ⟨a, g⟩).
        """
        if self.elementwise:
            return upstream * self.derivative(a)
        return a * (upstream - np.sum(a * upstream, axis=-1, keepdims=True))


#: Elements per block of the sigmoid's arithmetic: its temporaries stay in cache and are reused from the
#: allocator instead of being fresh pages for every call (which measured twice the time on large arrays).
_BLOCK = 16384


def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    if z.size <= _BLOCK:
        return _sigmoid_block(z)
    flat = z.reshape(-1)
    out = np.empty(flat.shape, np.result_type(z, np.float16))
    for s in range(0, flat.size, _BLOCK):
        out[s:s + _BLOCK] = _sigmoid_block(flat[s:s + _BLOCK])
    return out.reshape(z.shape)


def _sigmoid_block(z: np.ndarray) -> np.ndarray:
    if not np.iscomplexobj(z):
        # e^(−z) overflows to inf only where σ(z) is below the smallest normal number (z < −709 in
        # float64), and 1/(1 + inf) = 0 there; 3.5× faster than scipy.special.expit, which also
        # costs its import.
        with np.errstate(over="ignore", under="ignore"):
            e = np.exp(np.negative(z))
        e += 1.0
        return np.reciprocal(e, out=e) if isinstance(e, np.ndarray) else 1.0 / e
    with np.errstate(under="ignore"):
        return _sigmoid_complex(z)


def _sigmoid_complex(z: np.ndarray) -> np.ndarray:
    """σ(x + iy) in real arithmetic, from r = e^(−|x|) ≤ 1, so nothing overflows.

    With p = r·cos y and q = r·sin y, σ = ((1 + p) + iq)/D for x ≥ 0 (σ = 1/(1 + e^(−z)))
    and ((p + r²) + iq)/D for x < 0 (σ = e^z/(1 + e^z)), D = (1 + p)² + q².  A complex
    step's imaginary parts are tiny: below |y| = 10⁻⁸, cos y and sin y/y round to 1
    and q² to nothing beside (1 + p)², so σ = d or r·d with d = 1/(1 + r), plus
    i·y·r·d² (the derivative σ'(x) = r/(1 + r)², accurate in both tails); below
    |y| = 10⁻², cos and sin are their Taylor series (numpy's cos and sin cost 16 ns
    an element here, against 1 ns for an arithmetic pass).
    """
    x, y = z.real, z.imag
    r = np.abs(x)
    np.negative(r, out=r)
    np.exp(r, out=r)
    out = np.empty(z.shape, z.dtype)
    if not z.size or float(np.max(np.abs(y))) <= 1e-8:
        d = r + 1.0
        np.reciprocal(d, out=d)
        re = r * d
        np.copyto(re, d, where=x >= 0)
        out.real = re
        d *= d
        d *= r
        d *= y
        out.imag = d
        return out
    if float(np.max(np.abs(y))) <= 1e-2:
        # Series to y⁶ and y⁷: the next terms, y⁸/8! and y⁹/9! (relative), are below rounding.
        y2 = y * y
        c = 1.0 - y2 * (0.5 - y2 * (1.0 / 24.0 - y2 / 720.0))
        s = y * (1.0 - y2 * (1.0 / 6.0 - y2 * (1.0 / 120.0 - y2 / 5040.0)))
    else:
        c, s = np.cos(y), np.sin(y)
    p = r * c
    q = r * s
    re = 1.0 + p
    D = re * re
    D += q * q
    r *= r
    r += p
    np.copyto(r, re, where=x >= 0)
    r /= D
    q /= D
    out.real, out.imag = r, q
    return out


def _sigmoid_prime(a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def _tanh_prime(a: np.ndarray) -> np.ndarray:
    return 1.0 - a * a


def _identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z)


def _identity_prime(a: np.ndarray) -> np.ndarray:
    return np.ones_like(a)


def _relu(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    # The branch is chosen by the real part, so a complex step follows the piece z lies on.
    return np.where(z.real > 0, z, np.zeros((), z.dtype))


def _step(a: np.ndarray, below: float) -> np.ndarray:
    a = np.asarray(a)
    return np.where(a.real > 0, np.ones((), a.real.dtype), np.asarray(below, a.real.dtype))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    # Shifting by the row's largest real part changes nothing mathematically and
    # keeps exp from overflowing; a complex step leaves the shift unchanged.
    e = np.exp(z - np.max(z.real, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


sigmoid = Activation("sigmoid", _sigmoid, _sigmoid_prime, lipschitz=0.25)
tanh = Activation("tanh", np.tanh, _tanh_prime)
identity = Activation("identity", _identity, _identity_prime)
relu = Activation("relu", _relu, lambda a: _step(a, 0.0), kinks=(0.0,))
softmax = Activation("softmax", _softmax, _sigmoid_prime, elementwise=False)


def leaky_relu(slope: float = LEAKY_SLOPE) -> Activation:
    """Leaky ReLU with ``slope`` for z < 0: f(z) = z if z > 0 else slope·z.

    Parameters
    ----------
    slope : float, >= 0
        The slope below the kink.  A non-negative slope keeps the sign of a
        equal to that of z, which is what lets the derivative be written from a.

    Returns
    -------
    Activation
        Named ``"leaky_relu"`` for the default slope, ``"leaky_relu:<slope>"`` otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> f = leaky_relu(0.2)
    >>> f.name, f.value(np.array([-1.0, 2.0])).tolist(), f.derivative(np.array([-0.2, 2.0])).tolist()
    ('leaky_relu:0.2', [-0.2, 2.0], [0.2, 1.0])
    """
    if isinstance(slope, bool) or not isinstance(slope, (int, float, np.integer, np.floating)) \
            or not math.isfinite(slope) or slope < 0:
        raise InvalidArgument(f"slope: expected a finite number >= 0 for leaky_relu, got {slope!r}; "
                              f"the default is {LEAKY_SLOPE}")
    s = float(slope)

    def value(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z)
        return np.where(z.real > 0, z, s * z)

    name = "leaky_relu" if s == LEAKY_SLOPE else f"leaky_relu:{s!r}"
    return Activation(name, value, lambda a: _step(a, s), kinks=(0.0,), lipschitz=max(1.0, s))


ACTIVATIONS: dict[str, Activation] = {f.name: f for f in (sigmoid, tanh, identity, relu, leaky_relu(), softmax)}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name.

    Parameters
    ----------
    name : {'sigmoid', 'tanh', 'identity', 'relu', 'leaky_relu', 'leaky_relu:<slope>', 'softmax'} or Activation

    Returns
    -------
    Activation

    Raises
    ------
    InvalidArgument
        If the name is unknown.

    Examples
    --------
    >>> get_activation("leaky_relu:0.1").name
    'leaky_relu:0.1'
    """
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name.startswith("leaky_relu:"):
        try:
            slope = float(name.split(":", 1)[1])
        except ValueError:
            raise InvalidArgument(f"activation: expected 'leaky_relu:<slope>' with a number, got {name!r}; "
                                  "e.g. 'leaky_relu:0.2'") from None
        return leaky_relu(slope)
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"activation: expected one of {sorted(ACTIVATIONS)} (or 'leaky_relu:<slope>'), got {name!r}; "
            "pass one of those names"
        ) from None


def activation_list(spec: str | Activation | Sequence[str | Activation], n_layers: int) -> list[Activation]:
    """One activation per layer from one name (every layer) or a list of names (one per layer).

    Parameters
    ----------
    spec : str, Activation, or sequence of them of length ``n_layers``
    n_layers : int
        L, the number of weight layers.

    Returns
    -------
    list of Activation
        ``[f_1, …, f_L]``.

    Raises
    ------
    InvalidArgument
        An unknown name, a list of the wrong length, or softmax anywhere but
        the output layer.

    Examples
    --------
    >>> [f.name for f in activation_list(["relu", "softmax"], 2)]
    ['relu', 'softmax']
    """
    if isinstance(spec, (str, Activation)):
        acts = [get_activation(spec)] * n_layers
    elif isinstance(spec, Sequence) and not isinstance(spec, (bytes, np.ndarray)):
        if len(spec) != n_layers:
            raise InvalidArgument(f"activation: expected one name or a list of {n_layers} names (one per layer), "
                                  f"got a list of {len(spec)}")
        acts = [get_activation(s) for s in spec]
    else:
        raise InvalidArgument(f"activation: expected a name such as 'sigmoid' or a list of names, one per layer, "
                              f"got {spec!r}")
    for l, f in enumerate(acts[:-1], start=1):
        if not f.elementwise:
            raise InvalidArgument(f"activation: {f.name} is allowed on the output layer only, got it on layer {l} "
                                  f"of {n_layers}; use e.g. ['relu', …, '{f.name}']")
    return acts
