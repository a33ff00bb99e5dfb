"""A loss written for ``check_params(..., vectorized=True)``: many parameter sets per call.

    python examples/vectorized_loss.py

With ``vectorized=True`` the loss receives every group with a leading axis of
S parameter sets and returns S values.  In each call one group differs
between the sets (its entries perturbed one per set); every other group is
the same array in every set, passed as a broadcast view (stride 0 along the
set axis).  A fast loss uses both facts:

* one matmul per layer over all the sets (``a @ W`` broadcasts over the set
  axis), never a Python loop per set;
* the layers below the first group that differs are the same for every set:
  computed once, on 2-d arrays, and only the layers from that group up carry
  the set axis.  A perturbation of the last layer then costs one small matmul
  per set instead of a whole forward pass.

The program checks a 32-64-32-8 sigmoid network's gradient with such a loss,
and prints whether its numerical derivatives equal those of the plain loss
(one parameter set per call) entry for entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

import gradcheck as gc


def common(w: np.ndarray) -> np.ndarray | None:
    """The one array every set shares (a broadcast view, or a batch of one), else None.

    Parameters
    ----------
    w : ndarray of shape (S, ...)

    Returns
    -------
    ndarray of shape (...) or None
    """
    return w[0] if w.shape[0] == 1 or w.strides[0] == 0 else None


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1/(1 + e^(−z)), in place on ``z`` (a fresh array the caller owns)."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def stacked_loss(X: np.ndarray, y: np.ndarray, n_layers: int) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """½Σ(a_L − y)² of a sigmoid network with biases, for S parameter sets at once.

    Parameters
    ----------
    X : ndarray of shape (N, n_0)
    y : ndarray of shape (N, n_L)
    n_layers : int
        L; the parameters are ``W1``, ``b1``, …, ``WL``, ``bL``.

    Returns
    -------
    callable
        ``loss(p)`` with ``p[f"W{l}"]`` of shape (S, n_{l−1}, n_l) and ``p[f"b{l}"]``
        of shape (S, n_l), returning an ndarray of shape (S,).
    """

    def loss(p: Mapping[str, np.ndarray]) -> np.ndarray:
        S = p["W1"].shape[0]
        a = X  # (N, n_0): the same for every set until a layer whose parameters differ
        for l in range(1, n_layers + 1):
            W, b = p[f"W{l}"], p[f"b{l}"]
            W0, b0 = common(W), common(b)
            if a.ndim == 2 and W0 is not None and b0 is not None:
                z = a @ W0  # (N, n_l), once for all the sets
                z += b0
            else:
                z = a @ W  # (S, N, n_l): one matmul broadcast over the sets
                z += b[:, None, :]
            a = sigmoid(z)
        a = a - y
        a *= a
        return np.broadcast_to(0.5 * np.sum(a, axis=(-2, -1)), (S,))

    return loss


def main() -> None:
    net = gc.DenseNet([32, 64, 32, 8], seed=0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((64, 32)), rng.random((64, 8))
    grads = net.gradients(X, y)
    batched = gc.check_params(stacked_loss(X, y, net.n_layers), net.params, grads, method="central",
                              vectorized=True)
    plain = gc.check_params(net.loss_closure(X, y), net.params, grads, method="central")
    print(f"vectorized loss: {batched.verdict.upper()} ({batched.n_evaluations} evaluations)")
    worst = max(float(np.max(np.abs(a.numerical - b.numerical)))
                for a, b in zip(batched.groups, plain.groups, strict=True))
    print(f"largest difference from the plain loss's derivatives: {worst:.1e}")


if __name__ == "__main__":
    main()
