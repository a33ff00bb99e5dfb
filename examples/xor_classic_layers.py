"""The classic numpy XOR network, checked layer by layer with its own deltas.

The same well-known 3-4-1 training program as ``xor_classic.py`` (``syn0``,
``syn1``, ``l1_delta``, ``l2_delta``, ``syn += l.T.dot(delta)``), but the
program's deltas go to :func:`gradcheck.check_backprop` as well as its weight
updates, so every link of its backpropagation is confirmed separately: δ2
against a numerical ∂L/∂z2, δ1 against a numerical ∂L/∂z1, the recurrence
l1_delta = l2_delta·syn1ᵀ ⊙ l1(1 − l1), and each weight update.

The classic deltas are built from ``y - l2``, and the program *adds*
``l.T.dot(delta)`` to its weights: its values are −∂L/∂θ of the loss
½Σ(l2 − y)², which ``sign="descent"`` says.  The arrays are in the row-per-
sample layout (``layout="in_out"``: X is 4×3, syn0 is 3×4), which gradcheck
finds by itself.

Checked at the first step and after training (saturated sigmoids)::

    python examples/xor_classic_layers.py 60000

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

reports = []

np.random.seed(1)
syn0 = 2 * np.random.random((3, 4)) - 1
syn1 = 2 * np.random.random((4, 1)) - 1
for j in range(iterations):
    l0 = X
    l1 = 1 / (1 + np.exp(-(np.dot(l0, syn0))))
    l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
    l2_delta = (y - l2) * (l2 * (1 - l2))
    l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
    if j in (0, iterations - 1):
        report = gc.check_backprop([syn0, syn1], X, y, deltas=[l1_delta, l2_delta],
                                   grads=[l0.T.dot(l1_delta), l1.T.dot(l2_delta)], sign="descent",
                                   title=f"XOR 3-4-1 at step {j}", diagnostics=False)
        print(report)
        reports.append(report)
    syn1 += l1.T.dot(l2_delta)
    syn0 += l0.T.dot(l1_delta)

print("Output After Training:")
print(l2)
sys.exit(0 if all(r.passed for r in reports) else 1)
