"""The classic numpy XOR network (3-4-1, sigmoid, no biases), with its gradients checked.

This is the well-known short training program, kept in its plain form:
``syn0`` and ``syn1`` are the two weight matrices, the third input column is a
constant 1 standing in for a bias, and every step adds ``l.T.dot(delta)`` to
the weights.  Two lines are added: at the first and the last step the
program's own deltas go to :func:`gradcheck.check_params`.

The classic update is ``syn += l.T.dot(delta)`` with ``delta`` built from
``y - l2``, so what the program adds is *minus* the gradient of the loss
½Σ(l2 − y)².  gradcheck confirms exactly that, entry by entry.

Run it with the number of training steps as an optional argument (default
60000, or the XOR_ITERATIONS environment variable)::

    python examples/xor_classic.py 10000

It exits with status 1 if a check fails.
"""

import os
import sys

import numpy as np

import gradcheck as gc

iterations = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("XOR_ITERATIONS", 60000))
if iterations < 1:
    sys.exit(f"iterations: expected at least 1 training step, got {iterations}")

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
y = np.array([[0, 1, 1, 0]]).T


def loss(p):
    """½Σ(l2 − y)², the loss whose negative gradient the classic program follows."""
    l1 = 1 / (1 + np.exp(-(np.dot(X, p["syn0"]))))
    l2 = 1 / (1 + np.exp(-(np.dot(l1, p["syn1"]))))
    return 0.5 * np.sum((l2 - y) ** 2)


reports = []


def check(step, syn0, syn1, update0, update1):
    """Check that the program's weight updates are minus the gradient of ``loss``."""
    report = gc.check_params(loss, {"syn0": syn0, "syn1": syn1}, {"syn0": -update0, "syn1": -update1},
                             title=f"XOR 3-4-1 at step {step}")
    print(report)
    reports.append(report)


np.random.seed(1)
syn0 = 2 * np.random.random((3, 4)) - 1
syn1 = 2 * np.random.random((4, 1)) - 1
for j in range(iterations):
    l1 = 1 / (1 + np.exp(-(np.dot(X, syn0))))
    l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
    l2_delta = (y - l2) * (l2 * (1 - l2))
    l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
    if j in (0, iterations - 1):
        check(j, syn0, syn1, X.T.dot(l1_delta), l1.T.dot(l2_delta))
    syn1 += l1.T.dot(l2_delta)
    syn0 += X.T.dot(l1_delta)

print("Output After Training:")
print(l2)
sys.exit(0 if all(r.passed for r in reports) else 1)
