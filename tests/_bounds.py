"""Error models shared by the numerical tests: how far two correct evaluations of a rule may differ.

Two computations of the same rule at the same steps differ only by the
rounding of the loss values they combine.  The rule's own round-off term
r = c·κε·max(|L|, 2σ/κ)/h (c its ``roundoff``, κ = ``ROUNDOFF_FACTOR``, σ the
measured loss noise) bounds the rounding of one computation, so two of them
agree within 2r.  The complex step has no such term (its estimate is κε·|value|,
blind to cancellation in a sum), so its scale is κε·max|value| over the group
per layer the complex perturbation passes through, each of which rounds it once.
"""

from __future__ import annotations

import numpy as np

from gradcheck.numerical.rules import LOSS_NOISE_FACTOR, ROUNDOFF_FACTOR, RULES

EPS = float(np.finfo(np.float64).eps)
KAPPA = ROUNDOFF_FACTOR * EPS


def roundoff(g, name, depth=1):
    """The round-off term r of every entry of group ``name`` of a NumericalGradient (value units)."""
    method = g.methods[name]
    if RULES[method].exponent is None:
        return depth * KAPPA * np.max(np.abs(g.values[name])) + 1e-300
    return RULES[method].roundoff * KAPPA * max(abs(g.loss_value), LOSS_NOISE_FACTOR * g.loss_noise / KAPPA) \
        / g.steps[name]


def amplification(method):
    """Σ|c_k| of the rule's value Σ c_k·D_k/h: how far rounding of the differences D_k moves it, times h."""
    k = len(RULES[method].offsets)
    return float(np.sum(np.abs(RULES[method].combine(np.eye(k), np.ones(k))[0])))


def gamma(n):
    """γ_n = nε/(1 − nε): the relative error bound of n rounded operations (Higham, 2002, §3.1)."""
    return n * EPS / (1 - n * EPS)


def _layer_inputs(net, params, X, widen):
    """Per layer: |W_l| and |b_l|, each widened by ``widen.get(name, 0)`` (a perturbation's magnitude)."""
    out = []
    for l in range(1, net.n_layers + 1):
        W = np.abs(params[f"W{l}"]) + widen.get(f"W{l}", 0.0)
        b = np.abs(params[f"b{l}"]) + widen.get(f"b{l}", 0.0) if net.bias else 0.0
        out.append((W, b))
    return out


def loss_rounding(net, params, X, y, widen=None):
    """A running bound on the rounding error of one evaluation of the loss at ``params`` (Higham, 2002, §3).

    Every product-sum of n terms is off by γ_{n+3}·Σ|terms| (the +3 also covers
    a perturbed parameter θ + t·v or z + t·Δz rounded before use, which is why
    ``widen`` adds |t|·|v| to the magnitudes of the perturbed group); an
    activation adds ε|a| and passes the error below through its Lipschitz bound
    (softmax through the row's largest error); the loss adds the rounding of
    its own sum.  Valid for both ways of evaluating L(θ + t·v) that the
    diagnostics compare, whichever rounds where.
    """
    widen = widen or {}
    cache = net.forward_cache(np.asarray(X, np.float64), {k: np.asarray(v, np.float64) for k, v in params.items()})
    a_abs = np.abs(np.asarray(X, np.float64))
    E = np.zeros_like(a_abs)
    Ez = None
    for l, ((W, b), f) in enumerate(zip(_layer_inputs(net, params, X, widen), net.activations, strict=True), 1):
        Ez = gamma(W.shape[0] + 3) * (a_abs @ W + b) + E @ W
        a = cache.a(l)
        if f.elementwise:
            E = EPS * np.abs(a) + f.lipschitz * Ez
        else:
            E = EPS * np.abs(a) + np.max(Ez, axis=1, keepdims=True)
        a_abs = np.abs(a)
    crit = net.criterion
    N, m = a_abs.shape
    if crit.from_logits is not None:
        zL = cache.z(net.n_layers)
        c = crit.scale(N)
        terms = np.abs(np.logaddexp(0, zL)) + np.abs(y * zL) + np.abs(zL)
        bound = c * np.sum(Ez * (1 + np.abs(y))) + c * gamma(N * m + m + 4) * np.sum(terms)
    else:
        r = np.abs(cache.output - y)
        c = crit.scale(cache.output.size)
        E = E + EPS * r
        bound = c * np.sum(2 * r * E + E * E) + c * gamma(N * m + 2) * np.sum(r * r)
    if net.weight_decay:
        W2 = sum(np.sum((np.abs(params[f"W{l}"]) + widen.get(f"W{l}", 0.0)) ** 2) for l in range(1, net.n_layers + 1))
        bound += gamma(sum(p.size for p in params.values()) + 2) * net.weight_decay * W2
    return float(bound)


def tangent_magnitude(net, params, X, y, name, v):
    """|∂/∂t L(θ + t·v)| computed in magnitudes: Σ of |every term| the directional derivative adds up.

    The complex step along v computes this derivative's terms in its imaginary
    parts; their rounding is at most a few γ per layer times this sum.
    """
    cache = net.forward_cache(np.asarray(X, np.float64), {k: np.asarray(p, np.float64) for k, p in params.items()})
    layer, kind = int(name[1:]), name[0]
    T = np.abs(cache.a(layer - 1)) @ np.abs(v) if kind == "W" else np.broadcast_to(np.abs(v), cache.z(layer).shape)
    for l in range(layer, net.n_layers + 1):
        if l > layer:
            T = T @ np.abs(params[f"W{l}"])
        f = net.activations[l - 1]
        # f'(z) written from a is only absolutely accurate (a saturated unit's rounds to 0): + ε.
        fp = np.abs(f.derivative(cache.a(l))) + EPS if f.elementwise else 1.0
        Ta = T * fp if f.elementwise else np.max(T, axis=1, keepdims=True)
        if l < net.n_layers:
            T = Ta
    crit = net.criterion
    if crit.from_logits is not None:
        total = crit.scale(T.shape[0]) * np.sum(T * (1 + np.abs(y)))
    else:
        r = np.abs(cache.output - y)
        total = 2 * crit.scale(cache.output.size) * np.sum(r * Ta)
    if net.weight_decay and kind == "W":
        total += net.weight_decay * np.sum(np.abs(params[name]) * np.abs(v))
    return float(total)


def assert_only_backprop_rounding(net, X, y, report):
    """A failed check_params of a correct net may only be backprop's own σ' rounding, which check_network bounds.

    σ' written as a(1 − a) from a rounded a is off by up to ulp(1)/2 = ε/2 absolute (relative ε/(1 − a):
    2.6e-5 at z = 26 in float64; exactly 0 where a rounds to 1, from z ≈ 17 in float32 and 37 in float64),
    which the complex step resolves; check_params has no model of backprop's rounding.  Each sample and
    layer adds at most ε/2·|W δ|·|a_prev| with |a − y| ≤ 1 (sigmoid outputs, targets in [0, 1]),
    |a_prev| ≤ max(1, |X|), δ growing at most by max(1, ‖W‖∞) per layer down; twice that for "sum".
    """
    if report.passed:
        return
    import gradcheck as gc

    failing = [m for g in report.groups if not g.passed for m in g.worst]
    eps = float(np.finfo(net.dtype).eps)
    growth = np.prod([max(1.0, float(np.max(np.sum(np.abs(W), axis=1)))) for W in net.weights()])
    bound = eps * net.n_layers * len(X) * max(1.0, float(np.max(np.abs(X), initial=0.0))) * growth
    assert failing and all(m.abs_error <= bound for m in failing), (bound, str(report))
    assert gc.check_network(net, X, y, diagnostics=False).passed
