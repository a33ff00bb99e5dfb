"""Shared test cases: a planted-bug network and a report reduced to comparable fields."""

from __future__ import annotations

import dataclasses

import numpy as np

import gradcheck as gc


def report_fields(report: gc.CheckReport) -> dict:
    """Every group's fields (arrays as dtype, shape and bytes), the notes and the loss calls; no timing."""
    out: dict = {"notes": list(report.notes), "n_evaluations": report.n_evaluations}
    for g in report.groups:
        out[g.name] = {k: (v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else repr(v)
                       for k, v in vars(g).items()}
    return out


def wrong_derivative_net() -> gc.DenseNet:
    """The 32-64-32-8 net with layer 1's f' off by 10 %: backprop, its deltas and the recurrence row use it."""
    net = gc.DenseNet([32, 64, 32, 8], seed=0)
    act = net.activations[0]
    right = act.derivative
    net.activations[0] = dataclasses.replace(act, derivative=lambda a: 1.1 * right(a))
    return net
