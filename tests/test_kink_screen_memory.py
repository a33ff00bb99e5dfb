"""The kink screen's weight candidates: the moves' max over samples taken by blocks, the same entries, bounded memory.

A weight W_l[i, j] moves z_l[n, j] by |a_{l−1}[n, i]|·|ΔW|; the screen needs, per
entry, the largest such move relative to the threshold over all samples.
Formed at once that is N·n_{l−1}·n_l floats (164 MB at 10⁴ samples of a
64-32 layer); by blocks of samples, at most SCREEN_ELEMENTS floats per array.
A max is exact, so the candidates are the same entries.
"""

from __future__ import annotations

import numpy as np
from _memory import peak_bytes

import gradcheck as gc
from gradcheck.numerical import kinks
from gradcheck.numerical.kinks import SCREEN_ELEMENTS, KinkScreen


def _screen(n_samples: int) -> tuple[gc.DenseNet, KinkScreen]:
    rng = np.random.default_rng(0)
    net = gc.DenseNet([32, 64, 32, 8], activation=["relu", "relu", "sigmoid"], seed=0)
    X = rng.standard_normal((n_samples, 32))
    return net, KinkScreen(net, net.forward_cache(X))


def test_weight_candidates_by_blocks_equal_all_samples_at_once(monkeypatch):
    net, screen = _screen(300)
    reach = {l: 10.0 ** rng for l, rng in ((1, -3), (2, -2), (3, -2))}
    whole = {l: screen.candidates(f"W{l}", l, np.full(net.params[f"W{l}"].size, reach[l])) for l in reach}
    monkeypatch.setattr(kinks, "SCREEN_ELEMENTS", 64 * 32 * 7)  # blocks of 7 samples at W2, a last one of 6
    for l in reach:
        blocked = screen.candidates(f"W{l}", l, np.full(net.params[f"W{l}"].size, reach[l]))
        np.testing.assert_array_equal(blocked, whole[l])
    assert 0 < whole[2].size < net.params["W2"].size  # some entries screened in, not all


def test_weight_candidates_hold_one_block_of_moves():
    net, screen = _screen(2000)
    screen.threshold(2)  # the screen's kept thresholds (8 bytes per unit and sample) are formed before
    reach = np.full(net.params["W2"].size, 1e-2)
    peak = peak_bytes(lambda: screen.candidates("W2", 2, reach))
    # One block: |a| rows, the product and np.where's result (floats), the a > 0 mask (bytes); the
    # (n_1, n_2) max, its comparison and the flat indices; 1/threshold, like the kept thresholds 8 bytes
    # per unit and sample.  All samples at once: 2000·64·32·17 bytes = 70 MB.
    block = SCREEN_ELEMENTS * (3 * 8 + 1)
    inverse = 8 * 2000 * net.sizes[2]
    assert peak <= block + inverse + 4 * 8 * reach.size, peak / block
