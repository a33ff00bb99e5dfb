"""Per-layer verification of a DenseNet's backpropagation, link by link.

For every layer l = 1 … L, :func:`check_layers` measures δ_l = ∂L/∂z_l
numerically by perturbing the pre-activations z_l and running the network
forward from layer l (no backprop code involved), and checks:

``delta``
    the analytic δ_l (from the backward pass under test) against it;
``recurrence``
    the formula itself, from numbers alone: numerical δ_L against
    ∂L/∂a_L ⊙ f'(z_L), and numerical δ_l against (numerical δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l);
``weight``, ``bias``
    the analytic ∂L/∂W_l, ∂L/∂b_l against numerical derivatives;
``weight_formula``, ``bias_formula``
    numerical ∂L/∂W_l against a_{l−1}ᵀ δ_l(numerical), numerical ∂L/∂b_l
    against Σ_samples δ_l(numerical).

A formula row that fails while the numbers around it are consistent would
mean the textbook formula does not hold for this network (a wrong
activation derivative, say); a delta or weight row that fails while its
formula rows pass locates a bug in the backward pass under test.

The tolerance of each row is the model of :mod:`gradcheck.verify.tolerance`, with the
error estimates of the numerical values that enter a formula propagated
through it (|W|ᵀ and |a| weighted), and with the analytic values' own
rounding scale from :func:`rounding_scale`.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable

import numpy as np

from .._validation import describe
from ..model.backprop import Backward
from .params import Measured, _eps_grad, _tolerance, run_check
from .tolerance import GroupResult, Tolerance, compare_group
from .diagnose import diagnose_network
from ..errors import InvalidArgument
from ..model.network import DenseNet
from ..numerical.numeric import DEFAULT_MEMORY_BUDGET, FULL_METHODS, Engine, LossEngine, Progress, run_options
from ..report.model import LayerResult, NetworkReport
from ..numerical.structured import StructuredEngine
from .convergence import step_sweep, taylor_test

__all__ = ["check_layers", "rounding_scale"]


def rounding_scale(net: DenseNet, reference: Backward, y: np.ndarray) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """First-order bound on the rounding error of backprop's gradients and deltas.

    A running error bound in the style of Higham, *Accuracy and Stability of
    Numerical Algorithms* (2002), §3: every product and sum contributes ε times
    the magnitude of its terms, and the derivative f'(z) written from the
    output (a(1 − a) for sigmoid) has an *absolute* error of about ε, which is
    why saturated layers have gradients that are tiny and only absolutely
    accurate.  Magnitudes use |W| and |a| so that cancellation cannot hide
    rounding.

    Parameters
    ----------
    net : DenseNet
    reference : Backward
        A correct backward pass at the data (its forward cache and deltas).
    y : ndarray of shape (N, n_L)

    Returns
    -------
    params_scale : dict of str to ndarray
        Same keys and shapes as ``net.params``.
    delta_scale : list of ndarray
        ``delta_scale[l - 1]`` has the shape of δ_l.
    """
    eps = float(np.finfo(net.dtype).eps)
    a = [np.abs(x) for x in reference.cache.activations]
    fp = [np.abs(net.activation.derivative(x)) for x in reference.cache.activations]
    L = net.n_layers
    N = a[0].shape[0]
    out = reference.cache.activations[L]
    dL_da = np.abs(net.loss_spec.derivative(out, y))
    dL_da_scale = np.abs(net.loss_spec.derivative(np.abs(out) + np.abs(y), np.zeros_like(y)))
    E = eps * (dL_da * (1 + fp[L]) + dL_da_scale * fp[L])
    params_scale: dict[str, np.ndarray] = {}
    delta_scale: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    for l in range(L, 0, -1):
        d = np.abs(reference.deltas[l - 1])
        delta_scale[l - 1] = E
        params_scale[f"W{l}"] = a[l - 1].T @ E + eps * N * (a[l - 1].T @ d)
        if net.bias:
            params_scale[f"b{l}"] = E.sum(axis=0) + eps * N * d.sum(axis=0)
        if l > 1:
            absW = np.abs(net.params[f"W{l}"])
            up = d @ absW.T
            E = (E @ absW.T + eps * net.sizes[l] * up) * fp[l - 1] + eps * up * (1 + fp[l - 1])
    return {k: params_scale[k] for k in net.params}, delta_scale


def _z_loss(net: DenseNet, layer: int, y: np.ndarray) -> Callable[[dict[str, np.ndarray]], Any]:
    """L as a function of z_layer alone: the network run forward from that layer."""
    value = net.loss_spec.value

    def loss(p: dict[str, np.ndarray]):
        return value(net.forward_cache(None, start=layer, z=p["z"]).output, y)  # type: ignore[arg-type]

    return loss


def check_layers(net: DenseNet, X: Any, y: Any, *, method: str = "auto", deltas: bool = True,
                 backward: Backward | None = None, rtol: float = 1e-10, atol: float = 0.0,
                 safety: float = 4.0, seed: int | None = 0, n_directions: int = 4,
                 progress: Progress | None = None, title: str | None = None,
                 diagnostics: bool = True, engine: str = "structured", executor: Executor | None = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET) -> NetworkReport:
    """Check a DenseNet's gradients and, per layer, the delta formulas.

    See :func:`gradcheck.check_network` for the parameters; ``backward`` is the
    analytic pass under test (default: ``net.backward(X, y)``), which lets a
    deliberately wrong backward pass be verified; ``diagnostics`` adds the
    Taylor remainder test and the step-size sweep per parameter group;
    ``engine`` is ``'structured'`` (:mod:`gradcheck.numerical.structured`, for the
    per-entry methods and 'auto') or ``'generic'`` (the loss closure called
    once per stencil point, as :func:`gradcheck.check_params` does).
    """
    if not isinstance(net, DenseNet):
        raise InvalidArgument(f"net: expected a gradcheck.DenseNet, got {describe(net)}; "
                              "for other models use check_params(loss, params, grads)")
    if method not in FULL_METHODS + ("directional",):
        raise InvalidArgument(f"method: expected one of {list(FULL_METHODS) + ['directional']}, got {method!r}")
    if engine not in ("structured", "generic"):
        raise InvalidArgument(f"engine: expected 'structured' or 'generic', got {engine!r}")
    opts = run_options(executor, False, memory_budget)
    tol = _tolerance(rtol, atol, safety)
    X, y = net._data(X, y, copy=True)
    reference = net._backward(X, y)
    analytic = reference if backward is None else backward
    if not isinstance(analytic, Backward):
        raise InvalidArgument(f"backward: expected a gradcheck.model.backprop.Backward record, got {describe(analytic)}")
    p_scale, d_scale = rounding_scale(net, reference, y)
    p_noise = {k: 4 * v for k, v in p_scale.items()}

    total = sum(v.size for v in net.params.values()) + (sum(z.size for z in reference.cache.zs) if deltas else 0)
    offset = [0]

    sizes: dict[int, int] = {}

    def sub_progress(done: int, sub_total: int) -> None:
        # A sub-check's total grows when it re-measures flagged entries; the
        # bar stays within the sub-check's own share instead of running ahead.
        if progress is not None:
            size = sizes.setdefault(offset[0], sub_total)
            progress(offset[0] + min(done, size), total)

    options = {"executor": opts.executor, "memory_budget": opts.memory_budget}
    grads = {k: np.asarray(analytic.gradients[k]) for k in net.params}
    loss = net.loss_function(X, y)
    if engine == "structured":
        param_engine: Engine = StructuredEngine.for_params(net, X, y, loss, **options)
        delta_engine = lambda l, z, z_loss: StructuredEngine.for_deltas(net, l, z, y, z_loss, **options)  # noqa: E731
    else:
        param_engine = LossEngine(loss, dict(net.params), opts)
        delta_engine = lambda l, z, z_loss: LossEngine(z_loss, {"z": z}, opts)  # noqa: E731
    measured = run_check(loss, dict(net.params), grads, method=method, tol=tol, seed=seed,
                         noise=p_noise, n_directions=n_directions, progress=sub_progress,
                         title=title or f"DenseNet {'-'.join(map(str, net.sizes))}", engine=param_engine)
    offset[0] += sum(v.size for v in net.params.values())
    base = measured.report
    base.config["engine"] = engine
    layers = _layer_rows(net, y, reference, analytic, measured, d_scale, tol, method, seed,
                         sub_progress, offset, delta_engine) if deltas else \
        [LayerResult(l, base.group(f"W{l}"), base.group(f"b{l}") if net.bias else None)
         for l in range(1, net.n_layers + 1)]
    error_maps = {}
    if measured.values is not None:
        # The heatmaps show each entry against the tolerance that judged it.
        for l in range(1, net.n_layers + 1):
            r = base.group(f"W{l}")
            error_maps[r.name] = (np.abs(r.analytic - r.numerical), r.tolerance)
    base.config["deltas"] = bool(deltas)
    base.config["network"] = {"sizes": net.sizes, "activation": net.activation.name,
                              "loss": net.loss_spec.name, "reduction": net.loss_spec.reduction,
                              "bias": net.bias, "samples": int(X.shape[0]), "dtype": str(net.dtype)}
    report = NetworkReport(groups=base.groups, method=base.method, config=base.config, elapsed=base.elapsed,
                           n_evaluations=base.n_evaluations, loss_value=base.loss_value, notes=base.notes,
                           title=base.title, layers=layers, error_maps=error_maps)
    if diagnostics:
        report.taylor = taylor_test(loss, net.params, grads, seed=seed)
        report.sweep = step_sweep(loss, net.params, grads, seed=seed)
        report.config["diagnostics"] = True
    report.diagnoses = diagnose_network(report, net.params, X.shape[0],
                                        stale_check=lambda: _stale_learning_rate(net, X, y, grads))
    return report


def _stale_learning_rate(net: DenseNet, X: np.ndarray, y: np.ndarray, grads: dict[str, np.ndarray],
                         candidates: tuple[float, ...] = (1.0, 0.5, 0.1, 0.01, 0.001)) -> float | None:
    """A learning rate lr with ∇L(θ + lr·g) = g, i.e. g is the gradient before the last update."""
    for lr in candidates:
        before = DenseNet.from_params({k: net.params[k] + lr * np.asarray(grads[k], dtype=np.float64)
                                       for k in net.params},
                                      activation=net.activation.name, reduction=net.loss_spec.reduction)
        true = before._backward(X, y).gradients
        if all(np.allclose(true[k], grads[k], rtol=1e-6, atol=1e-12 * max(1.0, float(np.max(np.abs(true[k])))))
               for k in grads):
            return lr
    return None


def _layer_rows(net: DenseNet, y: np.ndarray, reference: Backward, analytic: Backward,
                measured: Measured, d_scale: list[np.ndarray], tol: Tolerance, method: str,
                seed: int | None, progress: Callable[[int, int], None], offset: list[int],
                delta_engine: Callable[[int, np.ndarray, Callable], Engine]) -> list[LayerResult]:
    L = net.n_layers
    cache = reference.cache
    eps = _eps_grad(net.params["W1"], np.dtype(np.float64))
    f0 = measured.report.loss_value
    delta_method = method if method in FULL_METHODS else "auto"
    num_d, est_d, delta_rows = [], [], []
    for l in range(1, L + 1):
        z = np.array(cache.zs[l - 1], dtype=np.float64)
        z_loss = _z_loss(net, l, y)
        sub = run_check(z_loss, {"z": z}, {"z": np.asarray(analytic.deltas[l - 1])}, method=delta_method,
                        tol=tol, seed=seed, noise={"z": 4 * d_scale[l - 1]},
                        progress=progress, engine=delta_engine(l, z, z_loss))
        offset[0] += z.size
        row = sub.report.groups[0]
        row.name = f"δ{l}"
        delta_rows.append(row)
        num_d.append(sub.values["z"])  # type: ignore[index]
        est_d.append(sub.errors["z"])  # type: ignore[index]
        measured.report.n_evaluations += sub.report.n_evaluations
        measured.report.notes += [f"δ{l}: {n}" for n in sub.report.notes]

    def row(name: str, predicted: np.ndarray, numerical: np.ndarray, error: np.ndarray,
            noise: np.ndarray, at: np.ndarray | None) -> GroupResult:
        return compare_group(name, predicted, numerical, error, eps_grad=eps, tol=tol, method="formula",
                             params=at, loss_value=f0, noise=noise)

    a = cache.activations
    fp = [net.activation.derivative(x) for x in a]
    layers = []
    for l in range(1, L + 1):
        if l == L:
            predicted = net.loss_spec.derivative(a[L], y) * fp[L]
            err = est_d[l - 1]
            label = f"δ{l} = ∂L/∂a{l} ⊙ f'(z{l})"
        else:
            W = net.params[f"W{l + 1}"]
            predicted = (num_d[l] @ W.T) * fp[l]
            err = est_d[l - 1] + (est_d[l] @ np.abs(W).T) * np.abs(fp[l])
            label = f"δ{l} = (δ{l + 1} W{l + 1}ᵀ) ⊙ f'(z{l})"
        recurrence = row(label, predicted, num_d[l - 1], err, 4 * d_scale[l - 1], cache.zs[l - 1])
        w_formula = b_formula = None
        if measured.values is not None:
            absA = np.abs(a[l - 1])
            w_formula = row(f"∂L/∂W{l} = a{l - 1}ᵀ δ{l}", a[l - 1].T @ num_d[l - 1], measured.values[f"W{l}"],
                            measured.errors[f"W{l}"] + absA.T @ est_d[l - 1],  # type: ignore[index]
                            4 * (absA.T @ d_scale[l - 1]), net.params[f"W{l}"])
            if net.bias:
                b_formula = row(f"∂L/∂b{l} = Σ δ{l}", num_d[l - 1].sum(axis=0), measured.values[f"b{l}"],
                                measured.errors[f"b{l}"] + est_d[l - 1].sum(axis=0),  # type: ignore[index]
                                4 * d_scale[l - 1].sum(axis=0), net.params[f"b{l}"])
        base = measured.report
        layers.append(LayerResult(l, base.group(f"W{l}"), base.group(f"b{l}") if net.bias else None,
                                  delta_rows[l - 1], recurrence, w_formula, b_formula))
    return layers
