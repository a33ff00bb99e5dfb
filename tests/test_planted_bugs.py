"""Classic hand-written backprop mistakes: each must fail exactly the groups it changes.

Every bug below is a wrong backward pass written here, independently of
gradcheck.model.backprop, as a function ``(params, X, y, net) -> grads``.  The groups
a bug changes are found by comparing with ``net.gradients``; check_params must
fail exactly those groups and pass all others.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck as gc

# (sizes, bias, reduction): square hidden layers with bias; all-square without
# bias; non-square with bias.  Each has a pair of equal-shaped groups to swap.
ARCHITECTURES = {
    "3-4-4-1-bias-half_sum": ([3, 4, 4, 1], True, "half_sum"),
    "3-3-3-2-nobias-mean": ([3, 3, 3, 2], False, "mean"),
    "4-5-3-3-bias-sum": ([4, 5, 3, 3], True, "sum"),
}
N_SAMPLES = 5


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(a, z):
    return a * (1.0 - a)


def loss_derivative(a, y, reduction):
    """∂L/∂a for MSE: ½Σ(a−y)² → a−y; Σ(a−y)² → 2(a−y); mean → 2(a−y)/size."""
    if reduction == "half_sum":
        return a - y
    if reduction == "sum":
        return 2.0 * (a - y)
    return 2.0 * (a - y) / a.size


def backprop(params, X, y, net, *, dloss=None, out_prime=sigmoid_prime, hidden_prime=sigmoid_prime,
             weight_input=None, bias_delta=None, forward_bias=True, recurrence_params=None, dtype=np.float64):
    """Reference backpropagation with hooks where the classic mistakes go.

    dloss(a, y) is ∂L/∂a; out_prime / hidden_prime(a, z) are σ' at the output /
    hidden layers; weight_input(l, acts, zs) is the matrix that multiplies δ_l
    into ∂L/∂W_l (correct: a_{l−1}); bias_delta(l, deltas) is the δ summed into
    ∂L/∂b_l (correct: δ_l); forward_bias=False drops b_l from the cached forward
    pass; recurrence_params supplies the W_{l+1} of the delta recurrence.
    """
    L = net.n_layers
    P = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
    X, y = np.asarray(X, dtype=dtype), np.asarray(y, dtype=dtype)
    acts, zs = [X], []
    for l in range(1, L + 1):
        z = acts[-1] @ P[f"W{l}"]
        if net.bias and forward_bias:
            z = z + P[f"b{l}"]
        zs.append(z)
        acts.append(sigmoid(z))
    dloss = dloss or (lambda a, t: loss_derivative(a, t, net.criterion.reduction))
    R = P if recurrence_params is None else {k: np.asarray(v, dtype=dtype) for k, v in recurrence_params.items()}
    deltas = [None] * L
    deltas[L - 1] = dloss(acts[L], y) * out_prime(acts[L], zs[L - 1])
    for l in range(L - 1, 0, -1):
        deltas[l - 1] = (deltas[l] @ R[f"W{l + 1}"].T) * hidden_prime(acts[l], zs[l - 1])
    grads = {}
    for l in range(1, L + 1):
        inp = acts[l - 1] if weight_input is None else weight_input(l, acts, zs)
        grads[f"W{l}"] = inp.T @ deltas[l - 1]
        if net.bias:
            d = deltas[l - 1] if bias_delta is None else bias_delta(l, deltas)
            grads[f"b{l}"] = d.sum(axis=0)
    return {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}


def _ones(a, z):
    return np.ones_like(a)


def _fits(matrix, shape):
    return matrix is not None and matrix.shape == shape


# -- the catalogue -------------------------------------------------------------

def missing_output_sigma_prime(params, X, y, net):
    return backprop(params, X, y, net, out_prime=_ones)


def missing_hidden_sigma_prime(params, X, y, net):
    return backprop(params, X, y, net, hidden_prime=_ones)


def sigma_prime_from_z(params, X, y, net):
    # σ'(z) written as z(1 − z) instead of a(1 − a).
    def prime(a, z):
        return z * (1 - z)

    return backprop(params, X, y, net, out_prime=prime, hidden_prime=prime)


def tanh_derivative_for_sigmoid(params, X, y, net):
    def prime(a, z):
        return 1 - a * a

    return backprop(params, X, y, net, out_prime=prime, hidden_prime=prime)


def output_sigma_prime_twice(params, X, y, net):
    return backprop(params, X, y, net, out_prime=lambda a, z: (a * (1 - a)) ** 2)


def sign_error(params, X, y, net):
    # ∂L/∂a written as (y − a).
    reduction = net.criterion.reduction
    return backprop(params, X, y, net, dloss=lambda a, t: -loss_derivative(a, t, reduction))


def factor_two(params, X, y, net):
    # d/da of ½(a − y)² taken as 2(a − y) (and the like for the other reductions).
    reduction = net.criterion.reduction
    return backprop(params, X, y, net, dloss=lambda a, t: 2 * loss_derivative(a, t, reduction))


def mean_instead_of_sum(params, X, y, net):
    return {k: g / len(X) for k, g in backprop(params, X, y, net).items()}


def bias_mean_over_samples(params, X, y, net):
    n = len(X)
    return {k: g / n if k.startswith("b") else g for k, g in backprop(params, X, y, net).items()}


def bias_from_next_layers_delta(params, X, y, net):
    # ∂L/∂b_l summed from δ_{l+1} wherever the widths allow it.
    def pick(l, deltas):
        nxt = deltas[l] if l < len(deltas) else None
        return nxt if _fits(nxt, deltas[l - 1].shape) else deltas[l - 1]
    return backprop(params, X, y, net, bias_delta=pick)


def activation_of_same_layer(params, X, y, net):
    # ∂L/∂W_l = a_lᵀ δ_l instead of a_{l−1}ᵀ δ_l (only possible for square W_l).
    def pick(l, acts, zs):
        return acts[l] if acts[l].shape == acts[l - 1].shape else acts[l - 1]
    return backprop(params, X, y, net, weight_input=pick)


def pre_activation_as_input(params, X, y, net):
    # ∂L/∂W_l = z_{l−1}ᵀ δ_l: the cached pre-activation instead of the activation.
    return backprop(params, X, y, net, weight_input=lambda l, acts, zs: zs[l - 2] if l > 1 else acts[0])


def forgot_bias_in_forward(params, X, y, net):
    return backprop(params, X, y, net, forward_bias=False)


def only_first_sample(params, X, y, net):
    return backprop(params, X[:1], y[:1], net)


def swapped_layers(params, X, y, net):
    grads = backprop(params, X, y, net)
    names = list(grads)
    a, b = next((p, q) for i, p in enumerate(names) for q in names[i + 1:] if grads[p].shape == grads[q].shape)
    grads[a], grads[b] = grads[b], grads[a]
    return grads


def regulariser_in_gradient_only(params, X, y, net):
    # λW added to the gradient but the loss has no ½λ‖W‖² term.
    return {k: g + 1e-2 * params[k] if k.startswith("W") else g for k, g in backprop(params, X, y, net).items()}


def float16_computation(params, X, y, net):
    return backprop(params, X, y, net, dtype=np.float16)


def one_corrupted_entry(params, X, y, net):
    grads = backprop(params, X, y, net)
    g = grads["W1"]
    g[np.unravel_index(np.argmax(np.abs(g)), g.shape)] *= 1 + 1e-5
    return grads


def previous_step_weights(params, X, y, net):
    # Gradient taken at the weights before the last update W ← W − lr·∂L/∂W.
    grads = backprop(params, X, y, net)
    before = {k: params[k] + 0.5 * grads[k] for k in params}
    return backprop(before, X, y, net)


def stale_weights_in_recurrence(params, X, y, net):
    # δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ σ' with W_{l+1} from before a small update (the
    # forward pass used the new weights): only the layers below the output change.
    grads = backprop(params, X, y, net)
    stale = {k: params[k] + 0.05 * grads[k] for k in params}
    return backprop(params, X, y, net, recurrence_params=stale)


BUGS = [missing_output_sigma_prime, missing_hidden_sigma_prime, sigma_prime_from_z, tanh_derivative_for_sigmoid,
        output_sigma_prime_twice, sign_error, factor_two, mean_instead_of_sum, bias_mean_over_samples,
        bias_from_next_layers_delta, activation_of_same_layer, pre_activation_as_input, forgot_bias_in_forward,
        only_first_sample, swapped_layers, regulariser_in_gradient_only, float16_computation, one_corrupted_entry,
        previous_step_weights, stale_weights_in_recurrence]


def setup(arch, seed=0):
    sizes, bias, reduction = ARCHITECTURES[arch]
    rng = np.random.default_rng(seed + 11)
    net = gc.DenseNet(sizes, bias=bias, reduction=reduction, seed=seed)
    X = rng.standard_normal((N_SAMPLES, sizes[0]))
    y = rng.uniform(0, 1, (N_SAMPLES, sizes[-1]))
    return net, X, y


def changed_groups(net, X, y, bug):
    correct = net.gradients(X, y)
    wrong = bug(net.params, X, y, net)
    assert list(wrong) == list(correct) and all(wrong[k].shape == correct[k].shape for k in correct)
    return wrong, [k for k in correct if not np.allclose(wrong[k], correct[k], rtol=1e-12, atol=0)]


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_reference_backprop_is_correct(arch):
    net, X, y = setup(arch)
    mine = backprop(net.params, X, y, net)
    for k, g in net.gradients(X, y).items():
        np.testing.assert_allclose(mine[k], g, rtol=1e-12, atol=0)
    assert gc.check_params(net.loss_closure(X, y), net.params, mine).passed


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("bug", BUGS, ids=lambda f: f.__name__)
def test_bug_fails_exactly_the_groups_it_changes(bug, arch):
    net, X, y = setup(arch)
    wrong, changed = changed_groups(net, X, y, bug)
    report = gc.check_params(net.loss_closure(X, y), net.params, wrong)
    assert report.failed_groups == changed, str(report)


@pytest.mark.parametrize("bug", BUGS, ids=lambda f: f.__name__)
def test_every_bug_is_a_real_bug_somewhere(bug):
    assert any(changed_groups(*setup(arch), bug)[1] for arch in ARCHITECTURES)


def test_catalogue_covers_every_group_and_both_kinds():
    # Across the catalogue and architectures every group is hit at least once,
    # and some bugs hit only part of the network (so "exactly" is meaningful).
    for arch in ARCHITECTURES:
        net, X, y = setup(arch)
        hit = [changed_groups(net, X, y, bug)[1] for bug in BUGS]
        assert set().union(*hit) == set(net.params)
        assert any(0 < len(h) < len(net.params) for h in hit)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_corrupted_entry_is_located(arch):
    net, X, y = setup(arch)
    wrong = one_corrupted_entry(net.params, X, y, net)
    g = net.gradients(X, y)["W1"]
    expected = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(g)), g.shape))
    report = gc.check_params(net.loss_closure(X, y), net.params, wrong)
    assert report.group("W1").worst_index == expected
    assert report.group("W1").n_mismatched == 1


@pytest.mark.parametrize("method", ["central", "richardson", "complex", "directional"])
@pytest.mark.parametrize("bug", [missing_hidden_sigma_prime, sign_error, swapped_layers, regulariser_in_gradient_only],
                         ids=lambda f: f.__name__)
def test_other_methods_agree_on_gross_bugs(bug, method):
    net, X, y = setup("3-4-4-1-bias-half_sum")
    wrong, changed = changed_groups(net, X, y, bug)
    report = gc.check_params(net.loss_closure(X, y), net.params, wrong, method=method)
    assert report.failed_groups == changed
