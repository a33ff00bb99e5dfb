"""A catalogue of classic backpropagation mistakes, each as a wrong backward pass.

Every entry of :data:`CATALOGUE` is the textbook delta recurrence of
:mod:`gradcheck.model.backprop` with exactly one mistake, the kind people make when
writing backprop by hand.  They exist to prove that the checker catches and
locates each mistake (``gradcheck bugs``) and to show a learner what a broken
layer looks like (``gradcheck check --bug NAME``).

The groups a mistake affects are not typed by hand: :meth:`Bug.affected_groups`
compares the wrong backward pass with the correct one on the given network
and data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..model.backprop import Backward
from ..model.network import DenseNet

__all__ = ["Bug", "CATALOGUE", "Hooks"]

Array = np.ndarray


def _correct_output(net: DenseNet, a: list[Array], z: list[Array], y: Array) -> Array:
    return net.loss_spec.derivative(a[-1], y) * net.activation.derivative(a[-1])


def _correct_hidden(net: DenseNet, l: int, upper: Array, a: list[Array], z: list[Array]) -> Array:
    return (upper @ net.params[f"W{l + 1}"].T) * net.activation.derivative(a[l])


def _correct_weight(net: DenseNet, l: int, deltas: list[Array], a: list[Array]) -> Array:
    return a[l - 1].T @ deltas[l - 1]


def _correct_bias(net: DenseNet, l: int, deltas: list[Array]) -> Array:
    return deltas[l - 1].sum(axis=0)


@dataclass(frozen=True)
class Hooks:
    """The pieces of a backward pass; a bug replaces one of them.

    ``output(net, a, z, y)`` → δ_L; ``hidden(net, l, δ_{l+1}, a, z)`` → δ_l;
    ``weight(net, l, deltas, a)`` → ∂L/∂W_l; ``bias(net, l, deltas)`` → ∂L/∂b_l;
    ``post(net, grads, X, y)`` edits the finished gradient dict.  ``a[l]`` and
    ``z[l]`` are layer l's activation and pre-activation (``a[0] = X``,
    ``z[0]`` unused).
    """

    output: Callable = _correct_output
    hidden: Callable = _correct_hidden
    weight: Callable = _correct_weight
    bias: Callable = _correct_bias
    post: Callable | None = None


def textbook_backward(net: DenseNet, X: Array, y: Array, hooks: Hooks = Hooks()) -> Backward:
    """The delta recurrence assembled from ``hooks`` (correct by default).

    Parameters
    ----------
    net : DenseNet
    X : ndarray of shape (N, n_0)
    y : ndarray of shape (N, n_L)
    hooks : Hooks

    Returns
    -------
    Backward
    """
    X, y = net._data(X, y)
    cache = net.forward_cache(X)
    a = cache.activations
    z = [None] + cache.zs
    L = net.n_layers
    deltas: list[Array] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = hooks.output(net, a, z, y)
    for l in range(L - 1, 0, -1):
        deltas[l - 1] = hooks.hidden(net, l, deltas[l], a, z)
    grads: dict[str, Array] = {}
    for l in range(1, L + 1):
        grads[f"W{l}"] = hooks.weight(net, l, deltas, a)
        if net.bias:
            grads[f"b{l}"] = hooks.bias(net, l, deltas)
    if hooks.post is not None:
        grads = hooks.post(net, dict(grads), X, y)
    loss = float(net.loss_spec.value(a[-1], y))
    return Backward(loss, deltas, {k: grads[k] for k in net.params}, cache)


@dataclass(frozen=True)
class Bug:
    """One deliberate mistake.

    Attributes
    ----------
    name : str
    description : str
        One line: what the code does wrong.
    cause : str
        The diagnosis that names this mistake (see :mod:`gradcheck.verify.diagnose`).
    hooks : Hooks
        The textbook backward pass with the mistake in one hook.
    applies : callable
        ``applies(net, X) -> bool``: whether the mistake can be made on this
        architecture (a missing transpose needs a square weight matrix).
    """

    name: str
    description: str
    cause: str
    hooks: Hooks
    applies: Callable[[DenseNet, Array], bool] = field(default=lambda net, X: True)

    def backward(self, net: DenseNet, X: Array, y: Array) -> Backward:
        """The wrong backward pass on this network and data."""
        return textbook_backward(net, X, y, self.hooks)

    def affected_groups(self, net: DenseNet, X: Array, y: Array, wrong: Backward | None = None) -> list[str]:
        """Parameter groups whose gradient the mistake changes, by comparison with the correct pass.

        ``wrong`` is this bug's :meth:`backward` on ``(net, X, y)`` when the caller already has it.
        """
        right = net.backward(X, y).gradients
        wrong = (wrong if wrong is not None else self.backward(net, X, y)).gradients
        out = []
        for k in net.params:
            scale = float(np.max(np.abs(right[k]), initial=0.0))
            diff = float(np.max(np.abs(np.asarray(wrong[k], dtype=np.float64) - right[k]), initial=0.0))
            # Changes at the level of re-associated floating-point sums are not mistakes.
            if diff > 1e-12 * scale and diff > 0:
                out.append(k)
        return out


# -- applicability -------------------------------------------------------------

def _square_hidden(net: DenseNet) -> list[int]:
    """Hidden layers l whose next weight W_{l+1} is square (n_l == n_{l+1})."""
    return [l for l in range(1, net.n_layers) if net.sizes[l] == net.sizes[l + 1]]


def _square_weights(net: DenseNet) -> list[int]:
    """Layers l with a square W_l (n_{l−1} == n_l)."""
    return [l for l in range(1, net.n_layers + 1) if net.sizes[l - 1] == net.sizes[l]]


def _same_shape_pair(net: DenseNet) -> tuple[int, int] | None:
    for i in range(1, net.n_layers + 1):
        for j in range(i + 1, net.n_layers + 1):
            if net.params[f"W{i}"].shape == net.params[f"W{j}"].shape:
                return i, j
    return None


# -- the mistakes ----------------------------------------------------------------

def _output_no_derivative(net, a, z, y):
    return net.loss_spec.derivative(a[-1], y)


def _hidden_no_derivative(net, l, upper, a, z):
    if l == net.n_layers - 1:
        return upper @ net.params[f"W{l + 1}"].T
    return _correct_hidden(net, l, upper, a, z)


# σ'(z) written as z(1 − z): the sigmoid's derivative formula applied to the wrong variable.
def _output_prime_from_z(net, a, z, y):
    return net.loss_spec.derivative(a[-1], y) * z[-1] * (1 - z[-1])


def _hidden_prime_from_z(net, l, upper, a, z):
    return (upper @ net.params[f"W{l + 1}"].T) * z[l] * (1 - z[l])


def _hidden_wrong_layer_derivative(net, l, upper, a, z):
    if l in _square_hidden(net):
        return (upper @ net.params[f"W{l + 1}"].T) * net.activation.derivative(a[l + 1])
    return _correct_hidden(net, l, upper, a, z)


def _output_sign(net, a, z, y):
    return -_correct_output(net, a, z, y)


def _output_factor_two(net, a, z, y):
    # The derivative of (a − y)² used with the ½Σ(a − y)² loss.
    return 2 * _correct_output(net, a, z, y)


def _weight_mean(net, l, deltas, a):
    return a[l - 1].T @ deltas[l - 1] / a[0].shape[0]


def _bias_mean(net, l, deltas):
    return deltas[l - 1].mean(axis=0)


def _bias_next_delta(net, l, deltas):
    if l in _square_hidden(net):
        return deltas[l].sum(axis=0)
    return _correct_bias(net, l, deltas)


def _hidden_no_transpose(net, l, upper, a, z):
    if l in _square_hidden(net):
        return (upper @ net.params[f"W{l + 1}"]) * net.activation.derivative(a[l])
    return _correct_hidden(net, l, upper, a, z)


def _weight_own_activation(net, l, deltas, a):
    if l in _square_weights(net):
        return a[l].T @ deltas[l - 1]
    return _correct_weight(net, l, deltas, a)


def _weight_first_sample(net, l, deltas, a):
    return a[l - 1][:1].T @ deltas[l - 1][:1]


def _bias_first_sample(net, l, deltas):
    return deltas[l - 1][0].copy()


def _post_swap(net, grads, X, y):
    i, j = _same_shape_pair(net)  # type: ignore[misc]
    grads[f"W{i}"], grads[f"W{j}"] = grads[f"W{j}"], grads[f"W{i}"]
    return grads


def _post_regulariser(net, grads, X, y):
    # Weight decay λ‖W‖²/2 differentiated into the gradient, but never added to the loss.
    for l in range(1, net.n_layers + 1):
        grads[f"W{l}"] = grads[f"W{l}"] + 1e-3 * net.params[f"W{l}"]
    return grads


def _post_corrupt(net, grads, X, y):
    g = grads["W1"].copy()
    g.flat[g.size // 2] += 1e-4 * max(float(np.max(np.abs(g))), 1e-12)
    grads["W1"] = g
    return grads


def _post_float16(net, grads, X, y):
    half = DenseNet.from_params({k: v.astype(np.float16) for k, v in net.params.items()},
                                activation=net.activation.name, reduction=net.loss_spec.reduction)
    g16 = half.backward(X.astype(np.float16), y.astype(np.float16)).gradients
    return {k: g16[k].astype(np.float64) for k in grads}


STALE_LEARNING_RATE = 0.5


def _post_stale(net, grads, X, y):
    # The training loop updated θ_prev → θ = θ_prev − lr·∇L(θ_prev) and then
    # reported ∇L(θ_prev).  θ_prev = θ + lr·∇L(θ_prev) is found by fixed-point
    # iteration, which contracts for these small networks.
    previous = DenseNet.from_params(net.params, activation=net.activation.name,
                                    reduction=net.loss_spec.reduction)
    g = grads
    for _ in range(200):
        for k in net.params:
            previous.params[k] = net.params[k] + STALE_LEARNING_RATE * g[k]
        new = previous.backward(X, y).gradients
        change = max(float(np.max(np.abs(new[k] - g[k]))) for k in g)
        g = new
        if change <= 1e-15:
            break
    return g


def _multi_sample(net: DenseNet, X: Array) -> bool:
    return X.shape[0] > 1


CATALOGUE: dict[str, Bug] = {b.name: b for b in [
    Bug("output-derivative-missing", "δ_L = ∂L/∂a_L without the factor σ'(z_L)", "output-delta",
        Hooks(output=_output_no_derivative)),
    Bug("hidden-derivative-missing", "δ_{L−1} = δ_L W_Lᵀ without the factor σ'(z_{L−1})", "recurrence",
        Hooks(hidden=_hidden_no_derivative), lambda net, X: net.n_layers >= 2),
    Bug("sigma-prime-from-z", "σ'(z) computed as z(1 − z) instead of a(1 − a)", "output-delta",
        Hooks(output=_output_prime_from_z, hidden=_hidden_prime_from_z),
        lambda net, X: net.activation.name == "sigmoid"),
    Bug("sigma-prime-wrong-layer", "δ_l uses σ' of layer l+1 instead of layer l", "recurrence",
        Hooks(hidden=_hidden_wrong_layer_derivative), lambda net, X: bool(_square_hidden(net))),
    Bug("sign-error", "δ_L = (y − a_L) ⊙ σ'(z_L): every gradient has the wrong sign", "sign",
        Hooks(output=_output_sign)),
    Bug("factor-two", "δ_L = 2(a_L − y) ⊙ σ': the derivative of Σ(a − y)² with the ½Σ(a − y)² loss",
        "factor-2", Hooks(output=_output_factor_two)),
    Bug("mean-weights", "∂L/∂W_l averaged over samples instead of summed", "mean-vs-sum",
        Hooks(weight=_weight_mean), lambda net, X: _multi_sample(net, X)),
    Bug("mean-biases", "∂L/∂b_l averaged over samples instead of summed", "mean-vs-sum",
        Hooks(bias=_bias_mean), lambda net, X: net.bias and _multi_sample(net, X)),
    Bug("bias-wrong-delta", "∂L/∂b_l = Σ δ_{l+1}: the next layer's delta", "bias-formula",
        Hooks(bias=_bias_next_delta), lambda net, X: net.bias and bool(_square_hidden(net))),
    Bug("missing-transpose", "δ_l = (δ_{l+1} W_{l+1}) ⊙ σ': W not transposed (runs when W is square)",
        "recurrence", Hooks(hidden=_hidden_no_transpose), lambda net, X: bool(_square_hidden(net))),
    Bug("activation-for-input", "∂L/∂W_l = a_lᵀ δ_l instead of a_{l−1}ᵀ δ_l (runs when W_l is square)",
        "weight-formula", Hooks(weight=_weight_own_activation), lambda net, X: bool(_square_weights(net))),
    Bug("first-sample-only", "gradients from the first sample only", "weight-formula",
        Hooks(weight=_weight_first_sample, bias=_bias_first_sample), lambda net, X: _multi_sample(net, X)),
    Bug("swapped-layers", "the gradients of two layers with equal shapes swapped", "swapped",
        Hooks(post=_post_swap), lambda net, X: _same_shape_pair(net) is not None),
    Bug("regulariser-not-in-loss", "weight decay 1e-3·W added to the gradient but not to the loss",
        "regulariser", Hooks(post=_post_regulariser)),
    Bug("float16", "the whole backward pass computed in float16", "precision",
        Hooks(post=_post_float16)),
    Bug("corrupted-entry", "one entry of ∂L/∂W1 off by 1e-4 of the largest gradient", "single-entry",
        Hooks(post=_post_corrupt)),
    Bug("stale-weights", f"gradients of the weights before the last update θ ← θ − {STALE_LEARNING_RATE}·g", "stale",
        Hooks(post=_post_stale)),
]}
