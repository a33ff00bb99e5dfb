"""Per-layer verification of a DenseNet's backpropagation, link by link: check_network.

For every layer l = 1 … L, :func:`check_network` measures δ_l = ∂L/∂z_l
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
through it (|W|ᵀ and |a| weighted), and with a bound on the analytic values'
own rounding error from :func:`backprop_rounding_bound`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

import numpy as np

from .._validation import describe
from ..errors import InvalidArgument
from ..model.backprop import Backprop, Backward
from ..model.network import DenseNet, ForwardCache
from ..numerical.directions import NetworkDirections
from ..numerical.engine import DEFAULT_MEMORY_BUDGET, FULL_METHODS, Engine, LossEngine
from ..numerical.kinks import kink_label
from ..numerical.progress import Progress, ProgressShares
from ..numerical.structured import StructuredEngine
from ..report.model import LayerResult, NetworkReport
from ..report.records import GroupResult
from .convergence import step_sweep, taylor_test
from .core import Measured, run_check
from .delta_blocks import SampleSums, by_samples, column_sum, rows_of, sample_product, sample_sums
from .diagnose import diagnose_network
from .kinks import KinkRegistry
from .layout import IN_OUT, Notation
from .options import CheckOptions
from .rounding_bound import backprop_rounding_bound
from .streaming import RowChunks, compare_in_budget, whole
from .tolerance import Tolerance, dtype_eps_grad

__all__ = ["check_network", "backprop_rounding_bound"]

#: The tolerance's s_i is this multiple of :func:`backprop_rounding_bound`: the
#: bound is first order in ε and is itself computed in rounded arithmetic, so
#: it gets the same margin as the default safety factor on error estimates.
ROUNDING_MARGIN = 4.0

DeltaEngine = Callable[[int, np.ndarray, Callable], Engine]


def check_network(net: DenseNet, X: Any, y: Any, method: str = "auto", deltas: bool = True, *,
                  backward: Backward | None = None, rtol: float = Tolerance.rtol, atol: float = Tolerance.atol,
                  safety: float = Tolerance.safety, seed: int | None = 0, n_directions: int = 4,
                  progress: Progress | None = None, title: str | None = None, diagnostics: bool = True,
                  engine: str = "structured", executor: Executor | None = None,
                  memory_budget: int = DEFAULT_MEMORY_BUDGET,
                  typical_scale: float | Mapping[str, float] | None = None) -> NetworkReport:
    """Check a DenseNet's backpropagation on data ``(X, y)``, layer by layer.

    Parameters
    ----------
    net : DenseNet
    X : array_like of shape (N, n_0)
    y : array_like of shape (N, n_L), or (N,) for one output
    method : str
        As for :func:`gradcheck.check_params`; the delta checks use ``'auto'``
        when it is ``'directional'``.
    deltas : bool
        Also verify every layer's δ_l against a numerical ∂L/∂z_l, the
        recurrence δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l) and the weight and bias
        formulas (see the module docstring); False checks parameters only.
    backward : Backward, optional
        The analytic pass under test, a :class:`~gradcheck.model.backprop.Backward`
        record (default: ``net.backward(X, y)``), which lets a deliberately
        wrong backward pass be verified.
    rtol, atol, safety, seed, n_directions, progress
        As for :func:`gradcheck.check_params`.
    title : str, optional
        Name of the check in the report (default: the network's sizes).
    diagnostics : bool
        Add the Taylor remainder test, the step-size sweep and error heatmaps
        to the report.
    engine : {'structured', 'generic'}
        ``'structured'`` measures every entry with
        :mod:`gradcheck.numerical.structured`, which exploits the network's
        layers and equals the ``'generic'`` engine (the loss closure called
        once per stencil point, as :func:`gradcheck.check_params` does) up to
        rounding.
    executor : concurrent.futures.Executor, optional
        Where the engine's chunks run (default: the calling thread).
    memory_budget : int
        Bytes of extra memory the chunks may use (default 256 MB).
    typical_scale : float or mapping of str to float, optional
        As for :func:`gradcheck.check_params`: the scale the parameters vary on, one number for
        every group or per group name (``{"W1": 1e-8}``); the weight and bias checks step by
        ε^e·max(typical_scale, |θ|).  The delta checks keep steps of scale 1 (z_l is not a
        parameter).  Entries a real-difference rule cannot pass are re-measured at smaller steps
        either way (:mod:`gradcheck.verify.step_guard`).

    Returns
    -------
    NetworkReport
        A CheckReport with ``.layers``.

    Raises
    ------
    InvalidArgument
        ``net`` is not a DenseNet, the data do not fit it, or an option is bad.

    Examples
    --------
    >>> import gradcheck as gc
    >>> net = gc.DenseNet([5, 7, 3, 2], seed=0)
    >>> X = np.linspace(-1, 1, 20).reshape(4, 5); y = np.zeros((4, 2))
    >>> report = gc.check_network(net, X, y, diagnostics=False)
    >>> report.passed, [layer.passed for layer in report.layers]
    (True, [True, True, True])
    """
    if not isinstance(net, DenseNet):
        raise InvalidArgument(f"net: expected a gradcheck.DenseNet, got {describe(net)}; "
                              "for other models use check_params(loss, params, grads)")
    options = CheckOptions.build(method=method, rtol=rtol, atol=atol, safety=safety, seed=seed,
                                 n_directions=n_directions, progress=progress,
                                 title=f"DenseNet {'-'.join(map(str, net.sizes))}" if title is None else title,
                                 executor=executor, memory_budget=memory_budget, engine=engine, deltas=deltas,
                                 diagnostics=diagnostics, typical_scale=typical_scale)
    X, y = net.checked_data(X, y, copy=True)
    reference = Backprop(net, net.forward_cache(X), y).run()
    analytic = reference if backward is None else backward
    if not isinstance(analytic, Backward):
        raise InvalidArgument(f"backward: expected a gradcheck.model.backprop.Backward record, "
                              f"got {describe(analytic)}")
    if backward is not None:
        _check_backward(net, reference, backward)
    return verify_layers(net, X, y, reference, analytic.deltas, analytic.gradients, options)


def _check_backward(net: DenseNet, reference: Backward, backward: Backward) -> None:
    """A caller's Backward record has the correct record's deltas and gradients, by count, key and shape."""
    deltas, grads = backward.deltas, backward.gradients
    if not isinstance(deltas, (list, tuple)) or len(deltas) != len(reference.deltas):
        raise InvalidArgument(f"backward.deltas: expected a list of {len(reference.deltas)} arrays (δ_1 … δ_L), "
                              f"got {describe(deltas)}")
    for l, (d, ref) in enumerate(zip(deltas, reference.deltas, strict=True), 1):
        if np.shape(d) != ref.shape:
            raise InvalidArgument(f"backward.deltas[{l - 1}] (δ{l}): expected shape {ref.shape}, got "
                                  f"{np.shape(d)}; give one row per sample and one column per unit of layer {l}")
    if not isinstance(grads, Mapping) or set(grads) != set(net.params):
        keys = sorted(grads) if isinstance(grads, Mapping) else describe(grads)
        raise InvalidArgument(f"backward.gradients: expected the keys {list(net.params)} of net.params, got {keys}")
    for name, p in net.params.items():
        if np.shape(grads[name]) != p.shape:
            raise InvalidArgument(f"backward.gradients[{name!r}]: expected the shape {p.shape} of "
                                  f"net.params[{name!r}], got {np.shape(grads[name])}")


def verify_layers(net: DenseNet, X: np.ndarray, y: np.ndarray, reference: Backward,
                  deltas: list[np.ndarray] | None, grads: dict[str, np.ndarray] | None,
                  options: CheckOptions, notation: Notation = IN_OUT,
                  caller: dict[str, Any] | None = None) -> NetworkReport:
    """The per-layer report of an analytic backward pass, given as deltas, gradients or both.

    Parameters
    ----------
    net : DenseNet
    X : ndarray of shape (N, n_0)
    y : ndarray of shape (N, n_L)
        Validated data (see :meth:`DenseNet.checked_data`), the check's own copies: the loss closure reads them.
    reference : Backward
        The correct backward pass at the data (for rounding bounds, and for
        measuring the numerical values that the formula rows need when the
        analytic values are not given).
    deltas : list of ndarray or None
        The δ_l under test, ``deltas[l - 1]`` of shape (N, n_l); None: no delta rows.
    grads : dict of str to ndarray or None
        The ∂L/∂θ under test, keyed like ``net.params``; None: no parameter rows.
    options : CheckOptions
    notation : Notation
        How the formula rows are written (the caller's orientation).
    caller : dict, optional
        How the caller's own values were given (layout, sign, …), recorded
        in the report's ``config["network"]["backprop"]``.

    Returns
    -------
    NetworkReport
    """
    if net.criterion.name == "cross_entropy" and not np.isfinite(reference.loss):
        raise InvalidArgument(f"loss: the cross-entropy is {reference.loss} at these weights and data (log 0: the "
                              "logits overflow); scale the weights or inputs down")
    start = time.perf_counter()
    kinks = (KinkRegistry(net, X, y, reference, memory_budget=options.run.memory_budget)
             if net.kinked and options.method != "directional" else None)
    blocked = options.deltas and by_samples(net, reference.cache, options, kinks is not None)
    bounds, d_bound = backprop_rounding_bound(net, reference, y, options.run.memory_budget, by_rows=blocked)
    p_bound = {k: _scaled(v, ROUNDING_MARGIN) for k, v in bounds.items()}
    n_params = sum(v.size for v in net.params.values())
    diagnose = options.diagnostics and grads is not None
    # The Taylor test and the step sweep come after the measurements; the bar covers them too, each
    # with a share as large as the parameter check's (they cost a few hundred loss calls per group).
    shares = ProgressShares(options.progress, n_params * (3 if diagnose else 1)
                            + (sum(z.size for z in reference.cache.zs) if options.deltas else 0))
    # Absent analytic values are stood in for by the correct ones: the
    # numerical values they bring are what the formula rows need; their own
    # rows are dropped below, so they can never pass anything off.
    measured_grads = {k: np.asarray((reference.gradients if grads is None else grads)[k]) for k in net.params}
    loss = net.loss_closure(X, y, copy=False)  # X, y: the check's own validated copies (8 bytes per entry)
    param_engine, delta_engine = _engines(net, X, y, loss, options, kinks, reference.cache, blocked)
    if kinks is not None:
        param_engine = kinks.params_engine(param_engine, loss, measured_grads)
    network: dict[str, Any] = {"sizes": net.sizes, "activation": net.activation_spec, "loss": net.criterion.name,
                               "reduction": net.criterion.reduction, "bias": net.bias, "samples": int(X.shape[0]),
                               "dtype": str(net.dtype), "weight_decay": net.weight_decay}
    if caller is not None:
        network["backprop"] = caller
    measured = run_check(loss, dict(net.params), measured_grads, replace(options, progress=shares),
                         engine=param_engine, grad_rounding=p_bound,
                         network=network)
    shares.next_share(n_params)
    base = measured.report
    if options.deltas:
        subs = _delta_checks(net, y, reference, reference.deltas if deltas is None else deltas, d_bound, options,
                             delta_engine, shares, kinks)
        for l, sub in enumerate(subs, start=1):
            base.n_evaluations += sub.report.n_evaluations
            base.notes += [f"δ{l}: {n}" for n in sub.report.notes]
        # A quarter of the budget for the formula rows' comparisons, as for the delta checks' (see _delta_checks).
        layers = _layer_rows(net, y, reference.cache, measured, subs, d_bound, options.tolerance, notation, kinks,
                             options.run.memory_budget // 4)
    else:
        layers = [LayerResult(l, base.group(f"W{l}"), base.group(f"b{l}") if net.bias else None)
                  for l in range(1, net.n_layers + 1)]
    for layer in layers:
        if grads is None:
            layer.weight = layer.bias = None
        if deltas is None:
            layer.delta = None
    if kinks is not None:
        _note_kinks(kinks, base, layers, grads is not None, deltas is not None and options.deltas)
        kinks.screen.release()  # every screen has run: its thresholds are not held through the diagnostics
    error_maps = {}
    if measured.values is not None and grads is not None:
        # The heatmaps show each entry against the tolerance that judged it.
        for l in range(1, net.n_layers + 1):
            r = base.group(f"W{l}")
            if r.analytic is not None and r.numerical is not None and r.tolerance is not None:
                error_maps[r.name] = (np.abs(r.analytic - r.numerical), r.tolerance)
        streamed = [g.name for g in base.groups if g.tolerance is None and g.name.startswith("W")]
        if streamed:
            base.notes.append(f"no error heatmap for {', '.join(streamed)}: compared in chunks within the memory "
                              "budget, without a per-entry tolerance map")
    report = NetworkReport(groups=base.groups if grads is not None else [], method=base.method,
                           config=base.config, elapsed=base.elapsed, n_evaluations=base.n_evaluations,
                           loss_value=base.loss_value, notes=base.notes, title=base.title, layers=layers,
                           error_maps=error_maps)
    if diagnose:
        assert grads is not None
        # The structured engine's diagnostics: every step of a group in stacked passes from its layer.
        along = NetworkDirections(net, X, y, options.run.memory_budget) if options.engine == "structured" else None
        if along is not None:
            along.after = _credit(shares, {k: v.size for k, v in net.params.items()}, requests=1)
        report.taylor = taylor_test(loss, net.params, grads, seed=options.seed, along=along)
        shares(n_params, n_params)
        shares.next_share(n_params)
        if along is not None:
            along.after = _credit(shares, {k: v.size for k, v in net.params.items()}, requests=2)  # real, complex
        report.sweep = step_sweep(loss, net.params, grads, seed=options.seed, along=along)
        shares(n_params, n_params)
    report.diagnoses = diagnose_network(
        report, net.params, X.shape[0], notation=notation,
        stale_check=None if grads is None else lambda: _stale_learning_rate(net, X, y, measured_grads),
        precision_check=None if grads is None else lambda: _rounded_precision(net, X, y, measured_grads))
    # Everything above, not only the parameter measurements that run_check timed.
    report.elapsed = time.perf_counter() - start
    return report


def _scaled(bound: np.ndarray | RowChunks, c: float) -> np.ndarray | RowChunks:
    """c times a bound, formed where it is used when the bound is."""
    if isinstance(bound, RowChunks):
        rows = bound.rows

        def scaled(r: slice) -> np.ndarray:
            return c * rows(r)

        return RowChunks(bound.shape, scaled)
    return c * bound


def _engines(net: DenseNet, X: np.ndarray, y: np.ndarray, loss: Callable,
             options: CheckOptions, kinks: KinkRegistry | None = None,
             cache: ForwardCache | None = None, blocked: bool = False) -> tuple[Engine, DeltaEngine]:
    """The sources of numerical derivatives: for the parameters, and per layer for δ_l = ∂L/∂z_l.

    ``cache`` is backprop's forward pass at rest, which the structured engines read (float64)
    instead of keeping forward passes of their own over every sample.  With kinks, the
    random-direction measurements (loss noise, complex probe) leave the entries near a kink at rest.
    ``blocked``: the structured delta engines measure their groups a block of samples at a time
    when read (:mod:`gradcheck.verify.delta_blocks`).
    """
    run = options.run
    still = None if kinks is None else kinks.still_params()
    scales = options.scales(list(net.params))  # InvalidArgument for a name that is not a group
    if options.engine == "structured":
        def structured_deltas(l: int, z: np.ndarray, z_loss: Callable) -> Engine:
            return StructuredEngine.for_deltas(net, l, z, y, z_loss, cache, executor=run.executor,
                                               memory_budget=run.memory_budget, by_rows=blocked,
                                               still=None if kinks is None else kinks.still_z(l))

        return (StructuredEngine.for_params(net, X, y, loss, cache, executor=run.executor,
                                            memory_budget=run.memory_budget, still=still, typical_scale=scales,
                                            by_rows=True),
                structured_deltas)

    def generic_deltas(l: int, z: np.ndarray, z_loss: Callable) -> Engine:
        return LossEngine(z_loss, {"z": z}, run, still=None if kinks is None else kinks.still_z(l))

    return LossEngine(loss, dict(net.params), run, still=still, typical_scale=scales), generic_deltas


def _z_loss(net: DenseNet, layer: int, y: np.ndarray) -> Callable[[dict[str, np.ndarray]], Any]:
    """L as a function of z_layer alone: the network run forward from that layer."""
    def loss(p: dict[str, np.ndarray]):
        # X is not read when the pass starts from z.  The weight-decay term does not depend on z: left out.
        return net.output_loss(net.forward_cache(None, start=layer, z=p["z"]), y)  # type: ignore[arg-type]

    return loss


def _credit(shares: ProgressShares, sizes: dict[str, int], requests: int) -> Callable[[str], None]:
    """A progress hook crediting a group's size over its ``requests`` requests to the diagnostics' passes."""
    total = sum(sizes.values())
    done = [0.0]

    def after(name: str) -> None:
        done[0] += sizes[name] / requests
        shares(min(total, int(done[0])), total)

    return after


def _stale_learning_rate(net: DenseNet, X: np.ndarray, y: np.ndarray, grads: dict[str, np.ndarray],
                         candidates: tuple[float, ...] = (1.0, 0.5, 0.1, 0.01, 0.001)) -> float | None:
    """A learning rate lr with ∇L(θ + lr·g) = g, i.e. g is the gradient before the last update."""
    for lr in candidates:
        before = net.like({k: net.params[k] + lr * np.asarray(grads[k], dtype=np.float64) for k in net.params})
        true = Backprop(before, before.forward_cache(X), y).run().gradients
        if all(np.allclose(true[k], grads[k], rtol=1e-6, atol=1e-12 * max(1.0, float(np.max(np.abs(true[k])))))
               for k in grads):
            return lr
    return None


def _rounded_precision(net: DenseNet, X: np.ndarray, y: np.ndarray, grads: dict[str, np.ndarray]) -> str | None:
    """'float16' or 'float32' when ``grads`` are what the network computes from θ, X and y in it, else None."""
    for label, dtype in (("float16", np.float16), ("float32", np.float32)):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            cast = [np.asarray(v).astype(dtype) for v in (X, y, *net.params.values())]
            if not all(np.isfinite(c).all() for c in cast):
                continue  # values beyond that precision's range: the network cannot have computed in it
            true = net.like({k: v.astype(dtype) for k, v in net.params.items()}).backward(
                X.astype(dtype), y.astype(dtype)).gradients
        if all(np.allclose(true[k], grads[k], rtol=1e-6, atol=1e-12 * max(1.0, float(np.max(np.abs(true[k])))))
               for k in grads):
            return label
    return None


def _note_kinks(kinks: KinkRegistry, base: Any, layers: list[LayerResult], grads: bool, deltas: bool) -> None:
    """Name the entries judged at a kink in their groups and in the report's notes."""
    total = 0
    for g in base.groups:
        n = kinks.annotate(g)
        total += n if grads else 0
    for layer in layers:
        if layer.delta is not None:
            n = kinks.annotate(layer.delta)
            total += n if deltas else 0
    if total:
        base.notes.insert(0, f"{total} entr{'y' if total == 1 else 'ies'} at a {kink_label(kinks.net)} kink, "
                             "checked one-sided (see the groups' notes); the Taylor test and the step sweep "
                             "cross kinks and are only indicative there")


def _delta_checks(net: DenseNet, y: np.ndarray, reference: Backward, analytic: list[np.ndarray],
                  d_bound: list[np.ndarray | RowChunks], options: CheckOptions, delta_engine: DeltaEngine,
                  shares: ProgressShares, kinks: KinkRegistry | None = None) -> list[Measured]:
    """Per layer, the analytic δ_l against a numerical ∂L/∂z_l at the correct z_l (one group ``"z"`` each)."""
    # The comparison gets a quarter of the budget (as the structured engine's sample blocks do): a delta group's
    # values, errors and steps, the analytic deltas, the forward pass and the bounds are already held for every
    # sample, and a whole comparison (about COMPARE_BYTES per entry) on top of them doubled the peak at large N.
    # A group over that share is compared in chunks, with the same verdict, worst entries and first failure.
    options = replace(options, method=options.method if options.method in FULL_METHODS else "auto",
                      progress=shares, run=replace(options.run, memory_budget=options.run.memory_budget // 4))
    subs = []
    for l in range(1, net.n_layers + 1):
        # Backprop's float64 z_l itself, read-only (the engines perturb working copies): a copy took 8 bytes
        # per delta entry on top of the loss-noise measurement's working copy, at the delta checks' peak.
        z = np.asarray(reference.cache.zs[l - 1], dtype=np.float64).view()
        z.flags.writeable = False
        z_loss = _z_loss(net, l, y)
        engine = delta_engine(l, z, z_loss)
        if kinks is not None:
            engine = kinks.delta_engine(l, engine, z_loss, z, analytic[l - 1])
        sub = run_check(z_loss, {"z": z}, {"z": np.asarray(analytic[l - 1])}, options,
                        engine=engine, grad_rounding={"z": _scaled(d_bound[l - 1], ROUNDING_MARGIN)})
        shares.next_share(z.size)
        sub.report.groups[0].name = f"δ{l}"
        subs.append(sub)
    return subs


def _layer_rows(net: DenseNet, y: np.ndarray, cache: ForwardCache, measured: Measured, subs: list[Measured],
                d_bound: list[np.ndarray | RowChunks], tol: Tolerance, notation: Notation,
                kinks: KinkRegistry | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> list[LayerResult]:
    """Every layer's rows: the parameter and delta checks, and the formulas on numerical values alone."""
    L = net.n_layers
    eps = dtype_eps_grad(net.params["W1"], np.dtype(np.float64))
    f0 = measured.report.loss_value
    num_d: list[np.ndarray | RowChunks] = []
    est_d: list[np.ndarray | RowChunks] = []
    for sub in subs:
        assert sub.values is not None and sub.errors is not None  # delta checks measure every entry
        num_d.append(sub.values["z"])  # RowChunks when blocked by samples (delta_blocks), else arrays
        est_d.append(sub.errors["z"])

    def row(name: str, predicted: np.ndarray | RowChunks, numerical: np.ndarray | RowChunks,
            error: np.ndarray | RowChunks,
            bound: np.ndarray | RowChunks, at: np.ndarray | None, group: str) -> GroupResult:
        if kinks is not None and kinks.entries(group):
            # At a kink any value between the one-sided derivatives is one the formula may give (the
            # entries patched into a row-blocked group, the others as they are).
            numerical, error = kinks.project(group, numerical, error, predicted)
        return compare_in_budget(name, predicted, numerical, error, memory_budget=memory_budget, eps_grad=eps,
                                 tol=tol, method="formula", params=at, loss_value=f0,
                                 grad_rounding=_scaled(bound, ROUNDING_MARGIN))

    a = cache.activations
    base = measured.report
    lam = net.weight_decay
    layers = []
    for l in range(1, L + 1):
        predicted: np.ndarray | RowChunks
        err: np.ndarray | RowChunks
        if l == L:
            predicted, link, fused = _output_link(net, a[L], y)
            err = est_d[l - 1]
            label = notation.output_delta(l, link, fused)
        else:
            predicted, err = _recurrence(net, l, a[l], num_d[l], est_d[l - 1], est_d[l])
            label = notation.recurrence(l)
        recurrence = row(label, predicted, num_d[l - 1], err, d_bound[l - 1], cache.zs[l - 1], f"δ{l}")
        w_formula = b_formula = None
        if measured.values is not None and measured.errors is not None:
            inputs = (a[l - 1], num_d[l - 1], est_d[l - 1], d_bound[l - 1])
            blocks = sample_sums(*inputs) if any(isinstance(x, RowChunks) for x in inputs) else None
            w_formula = row(notation.weight_formula(l, decay=bool(lam)),
                            *_weight_formula(*inputs, net.params[f"W{l}"], lam, measured.values[f"W{l}"],
                                             measured.errors[f"W{l}"], blocks),
                            net.params[f"W{l}"], f"W{l}")
            if net.bias:
                sums = blocks.columns if blocks is not None else tuple(column_sum(x) for x in inputs[1:])
                b_formula = row(notation.bias_formula(l), sums[0], whole(measured.values[f"b{l}"]),
                                whole(measured.errors[f"b{l}"]) + sums[1], sums[2], net.params[f"b{l}"], f"b{l}")
        layers.append(LayerResult(l, base.group(f"W{l}"), base.group(f"b{l}") if net.bias else None,
                                  subs[l - 1].report.groups[0], recurrence, w_formula, b_formula))
    return layers


def _recurrence(net: DenseNet, l: int, a: np.ndarray, num_next: np.ndarray | RowChunks, est: np.ndarray | RowChunks,
                est_next: np.ndarray | RowChunks) -> tuple[RowChunks, RowChunks]:
    """The recurrence row's prediction and error estimate for layer l < L, formed a block of samples at a time.

    Parameters
    ----------
    a : ndarray of shape (N, n_l)
        The activations a_l, from which f'(z_l) is formed.
    num_next, est_next : ndarray or RowChunks of shape (N, n_{l+1})
        The numerical δ_{l+1} and its error estimate.
    est : ndarray or RowChunks of shape (N, n_l)
        The numerical δ_l's error estimate.

    Returns
    -------
    (RowChunks, RowChunks) of shape (N, n_l)
        (δ_{l+1} W_{l+1}ᵀ) ⊙ f'(z_l), and est(δ_l) + (est(δ_{l+1}) |W_{l+1}|ᵀ) ⊙ |f'(z_l)|.  Each sample's row
        reads that sample's values only, so a block of rows is the whole product's rows (to the rounding of
        the matrix product's summation order), and f'(z_l) never exists for every sample at once.
    """
    W = net.params[f"W{l + 1}"]
    derivative = net.activations[l - 1].derivative
    shape = est.shape

    def predicted(r: slice) -> np.ndarray:
        return (rows_of(num_next, r) @ W.T) * derivative(a[r])

    def error(r: slice) -> np.ndarray:
        return rows_of(est, r) + (rows_of(est_next, r) @ np.abs(W).T) * np.abs(derivative(a[r]))

    return RowChunks(shape, predicted), RowChunks(shape, error)


def _weight_formula(a: np.ndarray, num_d: np.ndarray | RowChunks, est_d: np.ndarray | RowChunks,
                    d_bound: np.ndarray | RowChunks, W: np.ndarray, lam: float, values: np.ndarray | RowChunks,
                    errors: np.ndarray | RowChunks, sums: SampleSums | None = None
                    ) -> tuple[RowChunks, np.ndarray | RowChunks, RowChunks, RowChunks]:
    """The weight formula row's inputs, formed a block of rows of W_l (columns of a_{l−1}) at a time.

    Returns (prediction a_{l−1}ᵀ δ_l + λW_l, the measured ∂L/∂W_l, their combined error estimate
    errors + |a_{l−1}|ᵀ est(δ_l), the analytic side's rounding bound |a_{l−1}|ᵀ bound(δ_l)).  With
    ``sums`` (deltas blocked by samples: :func:`~gradcheck.verify.delta_blocks.sample_sums`) the
    three products are read from it instead of formed from every sample's deltas per block of rows.
    """
    shape = W.shape

    def predicted(r: slice) -> np.ndarray:
        out = sums.products[0][r].copy() if sums is not None else sample_product(a[:, r], num_d)
        if lam:
            out += lam * W[r]
        return out

    def error(r: slice) -> np.ndarray:
        return (errors.block(r) if isinstance(errors, RowChunks) else errors[r]) + (
            sums.products[1][r] if sums is not None else sample_product(a[:, r], est_d, absolute=True))

    def bound(r: slice) -> np.ndarray:
        return sums.products[2][r] if sums is not None else sample_product(a[:, r], d_bound, absolute=True)

    return RowChunks(shape, predicted), values, RowChunks(shape, error), RowChunks(shape, bound)


def _output_link(net: DenseNet, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, str, str | None]:
    """δ_L predicted from the output alone; its link ('jacobian' or 'elementwise') and fused form, if any."""
    crit, act = net.criterion, net.activations[-1]
    link = "elementwise" if act.elementwise else "jacobian"
    L = net.n_layers
    if crit.fused_delta is not None:
        # Cross-entropy: the link collapses to c·(a − y), the formula this row confirms.
        return crit.fused_delta(out, y), link, f"a{L} − y" if crit.reduction == "sum" else f"(a{L} − y)/N"
    return act.backward(out, crit.derivative(out, y)), link, None
