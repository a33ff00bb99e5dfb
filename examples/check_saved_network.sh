#!/bin/sh
# Check a saved network from the command line.
#
# Shows how to save a network's weights and data with numpy.savez, under the
# names gradcheck check reads (W1, b1, W2, b2, ... and X, y), and how to verify
# backpropagation at exactly those weights with
#
#     gradcheck check --weights weights.npz --data data.npz
#
# Here a 2-8-1 sigmoid network is first trained on a small two-moons-like set
# (so the weights are those of a trained net, some units near saturation).
#
# Usage: sh examples/check_saved_network.sh [WORKDIR]
#   WORKDIR        where the .npz files and reports go (default: a new temporary folder)
#   TRAIN_STEPS    environment variable, training steps before saving (default 5000)
#   PYTHON         the Python with gradcheck installed (default python3)
# The exit status is gradcheck's: 0 passed, 1 a check failed, 2 bad usage.
set -eu

PYTHON=${PYTHON:-python3}
WORKDIR=${1:-$(mktemp -d)}
mkdir -p "$WORKDIR"

"$PYTHON" - "$WORKDIR" "${TRAIN_STEPS:-5000}" <<'PY'
import sys

import numpy as np

import gradcheck as gc

workdir, steps = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
angle = rng.uniform(0, np.pi, 40)
upper = rng.random(40) < 0.5
X = np.where(upper[:, None], np.c_[np.cos(angle), np.sin(angle)], np.c_[1 - np.cos(angle), 0.5 - np.sin(angle)])
y = upper.astype(float)[:, None]

net = gc.DenseNet([2, 8, 1], seed=0)
net.train(X, y, iterations=steps, learning_rate=0.5)
print(f"trained {net!r} for {steps} steps, loss {net.loss(X, y):.4g}")

# Any dict of arrays named W1, b1, W2, b2, ... will do: W_l has shape (n_(l-1), n_l), b_l shape (n_l,).
np.savez(f"{workdir}/weights.npz", **net.params)
np.savez(f"{workdir}/data.npz", X=X, y=y)
PY

gradcheck check --weights "$WORKDIR/weights.npz" --data "$WORKDIR/data.npz" --out "$WORKDIR/reports" --name saved-net
