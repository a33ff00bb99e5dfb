"""check_network's sensitivity to one wrong entry, at the level benchmarks/sensitivity.py measures.

The planted entry is the median-magnitude one of every group of the catalogue's architectures
(the cases of benchmarks/sensitivity.py).  Bounds come from the tolerance each method applies
there.  Under ``auto`` the complex step flags an entry and Richardson extrapolation re-measures it;
check_network supplies a bound s_i on the analytic gradient's rounding, so a Richardson value that
agrees with the complex step's confirms it (:mod:`gradcheck.verify.confirm`) and the complex step's
tolerance decides: below 2e-10·|g| at these entries (measured worst flagged error 3e-10), for
``auto`` as for ``complex``.  (Richardson alone resolves only ~1e-9 here: its actual error at XOR's
median W1 entry is 2.6e-10 relative, and its tolerance is 4x an upper bound of that.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.catalogue.detection import ARCHITECTURES, build_case


def _cases():
    for label, sizes, bias, samples in ARCHITECTURES:
        net, X, y = build_case(sizes, bias, samples, 0)
        for name, g in net.gradients(X, y).items():
            if g.size >= 2:
                order = np.argsort(np.abs(g), axis=None)
                yield label, net, X, y, name, tuple(int(i) for i in np.unravel_index(int(order[g.size // 2]),
                                                                                       g.shape))


CASES = list(_cases())


def _check(net, X, y, name, index, rel, method):
    b = net.backward(X, y)
    g = {k: v.copy() for k, v in b.gradients.items()}
    g[name][index] *= 1 + rel
    return gc.check_network(net, X, y, method=method, backward=dataclasses.replace(b, gradients=g),
                            deltas=False, diagnostics=False)


@pytest.mark.parametrize("method,rel", [("auto", 1e-9), ("complex", 1e-9)])
def test_one_wrong_entry_is_caught_in_every_group(method, rel):
    # 1e-9 is 5x the complex step's largest tolerance here (2e-10), which decides under auto too.
    missed = []
    for label, net, X, y, name, index in CASES:
        report = _check(net, X, y, name, index, rel, method)
        if report.failed_groups != [name] or report.group(name).worst_index != index:
            missed.append((label, name, report.failed_groups))
    assert not missed


def test_correct_gradients_pass_with_the_same_settings():
    for _label, net, X, y, _name, _index in CASES[::4]:
        assert gc.check_network(net, X, y, deltas=False, diagnostics=False).passed


def test_the_complex_step_decides_only_where_the_analytic_rounding_is_bounded():
    """check_params keeps Richardson's verdict unless grad_rounding (s_i) is given (gradcheck.verify.confirm)."""
    from gradcheck.verify.network import backprop_rounding_bound
    from gradcheck.verify.streaming import whole

    # XOR's W1: Richardson resolves ~4e-8 of |g| there, the complex step 2e-10.
    _label, net, X, y, name, index = CASES[0]
    grads = {k: v.copy() for k, v in net.gradients(X, y).items()}
    grads[name][index] *= 1 + 1e-9
    loss, params = net.loss_closure(X, y), dict(net.params)
    plain = gc.check_params(loss, params, grads)
    assert plain.passed and any("Richardson" in n for n in plain.notes)
    bound, _ = backprop_rounding_bound(net, net.backward(X, y), y)
    bound = {k: whole(v) for k, v in bound.items()}  # formed a block of rows at a time; whole here
    bounded = gc.check_params(loss, params, grads, grad_rounding=bound)
    assert bounded.failed_groups == [name] and bounded.group(name).worst_index == index
