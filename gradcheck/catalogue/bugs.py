"""A catalogue of classic backpropagation mistakes, each as a wrong backward pass.

Every entry of :data:`CATALOGUE` is the textbook backward pass of
:class:`gradcheck.model.backprop.Backprop` with exactly one step overridden by a
mistake, the kind people make when writing backprop by hand.  They exist to
prove that the checker catches and locates each mistake (``gradcheck bugs``)
and to show a learner what a broken layer looks like (``gradcheck check --bug
NAME``).

The groups a mistake affects are not typed by hand: :meth:`Bug.affected_groups`
compares the wrong backward pass with the correct one on the given network
and data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..model.backprop import Backprop, Backward
from ..model.network import DenseNet

__all__ = ["Bug", "CATALOGUE"]

Array = np.ndarray


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
    steps : subclass of Backprop
        The textbook backward pass with the mistake in one overridden step.
    applies : callable
        ``applies(net, X) -> bool``: whether the mistake can be made on this
        architecture (a missing transpose needs a square weight matrix).
    models : {'classic', 'layers'}
        Planted in the sigmoid/MSE architectures, or in those with ReLU,
        softmax, cross-entropy and weight decay (see
        :mod:`gradcheck.catalogue.detection`).
    """

    name: str
    description: str
    cause: str
    steps: type[Backprop]
    applies: Callable[[DenseNet, Array], bool] = field(default=lambda net, X: True)
    models: str = "classic"

    def backward(self, net: DenseNet, X: Array, y: Array) -> Backward:
        """The wrong backward pass on this network and data."""
        return net.backward(X, y, steps=self.steps)

    def affected_groups(self, net: DenseNet, X: Array, y: Array, wrong: Backward | None = None) -> list[str]:
        """Parameter groups whose gradient the mistake changes, by comparison with the correct pass.

        ``wrong`` is this bug's :meth:`backward` on ``(net, X, y)`` when the caller already has it.
        """
        right = net.backward(X, y).gradients
        mistaken = (wrong if wrong is not None else self.backward(net, X, y)).gradients
        out = []
        for k in net.params:
            scale = float(np.max(np.abs(right[k]), initial=0.0))
            diff = float(np.max(np.abs(np.asarray(mistaken[k], dtype=np.float64) - right[k]), initial=0.0))
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


# -- the mistakes: each overrides one step of Backprop --------------------------

class _OutputDerivativeMissing(Backprop):
    def output_delta(self) -> Array:
        return self.output_error()


class _HiddenDerivativeMissing(Backprop):
    def hidden_delta(self, l: int, upper: Array) -> Array:
        if l == self.net.n_layers - 1:
            return self.propagate(l, upper)
        return super().hidden_delta(l, upper)


class _SigmaPrimeFromZ(Backprop):
    # The sigmoid's derivative formula applied to the wrong variable: z(1 − z) instead of a(1 − a).
    def derivative(self, l: int) -> Array:
        z = self.cache.z(l)
        return z * (1 - z)


class _SigmaPrimeWrongLayer(Backprop):
    def hidden_delta(self, l: int, upper: Array) -> Array:
        if l in _square_hidden(self.net):
            return self.propagate(l, upper) * self.derivative(l + 1)
        return super().hidden_delta(l, upper)


class _SignError(Backprop):
    def output_error(self) -> Array:
        return -super().output_error()


class _FactorTwo(Backprop):
    # The derivative of (a − y)² used with the ½Σ(a − y)² loss.
    def output_error(self) -> Array:
        return 2 * super().output_error()


class _MeanWeights(Backprop):
    def weight_gradient(self, l: int, deltas: list[Array]) -> Array:
        return super().weight_gradient(l, deltas) / self.cache.a(0).shape[0]


class _MeanBiases(Backprop):
    def bias_gradient(self, l: int, deltas: list[Array]) -> Array:
        return deltas[l - 1].mean(axis=0)


class _BiasNextDelta(Backprop):
    def bias_gradient(self, l: int, deltas: list[Array]) -> Array:
        if l in _square_hidden(self.net):
            return super().bias_gradient(l + 1, deltas)
        return super().bias_gradient(l, deltas)


class _MissingTranspose(Backprop):
    def propagate(self, l: int, upper: Array) -> Array:
        if l in _square_hidden(self.net):
            return upper @ self.net.params[f"W{l + 1}"]
        return super().propagate(l, upper)


class _ActivationForInput(Backprop):
    def weight_gradient(self, l: int, deltas: list[Array]) -> Array:
        if l in _square_weights(self.net):
            return self.cache.a(l).T @ deltas[l - 1]
        return super().weight_gradient(l, deltas)


class _FirstSampleOnly(Backprop):
    def weight_gradient(self, l: int, deltas: list[Array]) -> Array:
        return self.cache.a(l - 1)[:1].T @ deltas[l - 1][:1]

    def bias_gradient(self, l: int, deltas: list[Array]) -> Array:
        return deltas[l - 1][0].copy()


class _SwappedLayers(Backprop):
    def gradients(self, deltas: list[Array]) -> dict[str, Array]:
        grads = super().gradients(deltas)
        pair = _same_shape_pair(self.net)
        assert pair is not None, "applies() admits only networks with two equal-shaped weights"
        i, j = pair
        grads[f"W{i}"], grads[f"W{j}"] = grads[f"W{j}"], grads[f"W{i}"]
        return grads


class _RegulariserNotInLoss(Backprop):
    # Weight decay λ‖W‖²/2 differentiated into the gradient, but never added to the loss.
    def gradients(self, deltas: list[Array]) -> dict[str, Array]:
        grads = super().gradients(deltas)
        for l in range(1, self.net.n_layers + 1):
            grads[f"W{l}"] = grads[f"W{l}"] + 1e-3 * self.net.params[f"W{l}"]
        return grads


class _CorruptedEntry(Backprop):
    def gradients(self, deltas: list[Array]) -> dict[str, Array]:
        grads = super().gradients(deltas)
        g = grads["W1"].copy()
        g.flat[g.size // 2] += 1e-4 * max(float(np.max(np.abs(g))), 1e-12)
        grads["W1"] = g
        return grads


class _Float16(Backprop):
    def gradients(self, deltas: list[Array]) -> dict[str, Array]:
        half = self.net.like({k: v.astype(np.float16) for k, v in self.net.params.items()})
        X = self.cache.a(0)
        g16 = half.backward(X.astype(np.float16), self.y.astype(np.float16)).gradients
        return {k: g16[k].astype(np.float64) for k in self.net.params}


STALE_LEARNING_RATE = 0.5


class _StaleWeights(Backprop):
    # The training loop updated θ_prev → θ = θ_prev − lr·∇L(θ_prev) and then
    # reported ∇L(θ_prev).  θ_prev = θ + lr·∇L(θ_prev) is found by fixed-point
    # iteration, which contracts for these small networks.
    def gradients(self, deltas: list[Array]) -> dict[str, Array]:
        params = self.net.params
        previous = self.net.like(params)
        X = self.cache.a(0)
        g = super().gradients(deltas)
        for _ in range(200):
            for k in params:
                previous.params[k] = params[k] + STALE_LEARNING_RATE * g[k]
            new = previous.backward(X, self.y).gradients
            change = max(float(np.max(np.abs(new[k] - g[k]))) for k in g)
            g = new
            if change <= 1e-15:
                break
        return g


def _multi_sample(net: DenseNet, X: Array) -> bool:
    return X.shape[0] > 1


# -- mistakes of ReLU, softmax, cross-entropy and weight decay --------------------

def _hidden_named(net: DenseNet, prefix: str) -> list[int]:
    """Hidden layers whose activation's name starts with ``prefix``."""
    return [l for l in range(1, net.n_layers) if net.activations[l - 1].name.startswith(prefix)]


class _ReluDerivativeOne(Backprop):
    # ReLU'(z) taken as 1 everywhere: the identity's derivative, the negative side not masked.
    def derivative(self, l: int) -> Array:
        if l in _hidden_named(self.net, "relu"):
            return np.ones_like(self.cache.a(l))
        return super().derivative(l)


class _LeakyAsRelu(Backprop):
    # Leaky ReLU's derivative written from a with ReLU's rule (a > 0 → 1, else 0): the slope of the
    # negative side is lost.
    def derivative(self, l: int) -> Array:
        if l in _hidden_named(self.net, "leaky_relu"):
            return (self.cache.a(l) > 0).astype(self.cache.a(l).dtype)
        return super().derivative(l)


class _SigmaPrimeInCrossEntropy(Backprop):
    # The MSE habit: δ_L = (a − y) ⊙ σ'(z_L), although cross-entropy's σ' cancels.
    def output_delta(self) -> Array:
        return super().output_delta() * self.derivative(self.net.n_layers)


class _SoftmaxDiagonal(Backprop):
    # The softmax Jacobian diag(a) − a aᵀ treated as its diagonal a(1 − a), element-wise like a sigmoid.
    def output_delta(self) -> Array:
        return self.output_error() * self.derivative(self.net.n_layers)


class _DecayOnBiases(Backprop):
    def bias_gradient(self, l: int, deltas: list[Array]) -> Array:
        return super().bias_gradient(l, deltas) + self.net.weight_decay * self.net.params[f"b{l}"]


class _DecayNotDividedByN(Backprop):
    # Nielsen's convention (λ/2N)·Σ‖W‖² differentiated as λ·W: the decay term is N times too large.
    def decay(self, l: int) -> Array | float:
        return self.cache.a(0).shape[0] * super().decay(l)


def _output(net: DenseNet, name: str, loss: str | None = None) -> bool:
    return net.activations[-1].name == name and (loss is None or net.criterion.name == loss)


CATALOGUE: dict[str, Bug] = {b.name: b for b in [
    Bug("output-derivative-missing", "δ_L = ∂L/∂a_L without the factor σ'(z_L)", "output-delta",
        _OutputDerivativeMissing),
    Bug("hidden-derivative-missing", "δ_{L−1} = δ_L W_Lᵀ without the factor σ'(z_{L−1})", "recurrence",
        _HiddenDerivativeMissing, lambda net, X: net.n_layers >= 2),
    Bug("sigma-prime-from-z", "σ'(z) computed as z(1 − z) instead of a(1 − a)", "output-delta",
        _SigmaPrimeFromZ, lambda net, X: all(f.name == "sigmoid" for f in net.activations)),
    Bug("sigma-prime-wrong-layer", "δ_l uses σ' of layer l+1 instead of layer l", "recurrence",
        _SigmaPrimeWrongLayer, lambda net, X: bool(_square_hidden(net))),
    Bug("sign-error", "δ_L = (y − a_L) ⊙ σ'(z_L): every gradient has the wrong sign", "sign",
        _SignError),
    Bug("factor-two", "δ_L = 2(a_L − y) ⊙ σ': the derivative of Σ(a − y)² with the ½Σ(a − y)² loss",
        "factor-2", _FactorTwo),
    Bug("mean-weights", "∂L/∂W_l averaged over samples instead of summed", "mean-vs-sum",
        _MeanWeights, lambda net, X: _multi_sample(net, X)),
    Bug("mean-biases", "∂L/∂b_l averaged over samples instead of summed", "mean-vs-sum",
        _MeanBiases, lambda net, X: net.bias and _multi_sample(net, X)),
    Bug("bias-wrong-delta", "∂L/∂b_l = Σ δ_{l+1}: the next layer's delta", "bias-formula",
        _BiasNextDelta, lambda net, X: net.bias and bool(_square_hidden(net))),
    Bug("missing-transpose", "δ_l = (δ_{l+1} W_{l+1}) ⊙ σ': W not transposed (runs when W is square)",
        "recurrence", _MissingTranspose, lambda net, X: bool(_square_hidden(net))),
    Bug("activation-for-input", "∂L/∂W_l = a_lᵀ δ_l instead of a_{l−1}ᵀ δ_l (runs when W_l is square)",
        "weight-formula", _ActivationForInput, lambda net, X: bool(_square_weights(net))),
    Bug("first-sample-only", "gradients from the first sample only", "weight-formula",
        _FirstSampleOnly, lambda net, X: _multi_sample(net, X)),
    Bug("swapped-layers", "the gradients of two layers with equal shapes swapped", "swapped",
        _SwappedLayers, lambda net, X: _same_shape_pair(net) is not None),
    Bug("regulariser-not-in-loss", "weight decay 1e-3·W added to the gradient but not to the loss",
        "regulariser", _RegulariserNotInLoss),
    Bug("float16", "the whole backward pass computed in float16", "precision", _Float16),
    Bug("corrupted-entry", "one entry of ∂L/∂W1 off by 1e-4 of the largest gradient", "single-entry",
        _CorruptedEntry),
    Bug("stale-weights", f"gradients of the weights before the last update θ ← θ − {STALE_LEARNING_RATE}·g", "stale",
        _StaleWeights),
    Bug("relu-derivative-one", "ReLU'(z) taken as 1 everywhere: the negative side not masked", "recurrence",
        _ReluDerivativeOne, lambda net, X: bool(_hidden_named(net, "relu")), "layers"),
    Bug("leaky-relu-as-relu", "leaky ReLU' written from a with ReLU's rule: 0 instead of the slope below the kink",
        "recurrence", _LeakyAsRelu, lambda net, X: bool(_hidden_named(net, "leaky_relu")), "layers"),
    Bug("sigma-prime-in-cross-entropy", "δ_L = (a_L − y) ⊙ σ'(z_L) with cross-entropy, whose σ' cancels",
        "output-delta", _SigmaPrimeInCrossEntropy, lambda net, X: _output(net, "sigmoid", "cross_entropy"),
        "layers"),
    Bug("softmax-jacobian-diagonal", "the softmax Jacobian diag(a) − a aᵀ taken as its diagonal a(1 − a)",
        "output-delta", _SoftmaxDiagonal, lambda net, X: _output(net, "softmax"), "layers"),
    Bug("decay-on-biases", "weight decay λ·b added to the bias gradients too", "regulariser", _DecayOnBiases,
        lambda net, X: net.bias and net.weight_decay > 0, "layers"),
    Bug("decay-not-divided-by-n", "λ instead of λ/N: the (λ/2N)·Σ‖W‖² term differentiated as N·λ·W",
        "regulariser", _DecayNotDividedByN, lambda net, X: net.weight_decay > 0 and _multi_sample(net, X),
        "layers"),
]}
