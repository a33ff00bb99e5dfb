"""gradcheck.report.plots: PNG bytes from sweeps, Taylor tests and error maps; a clear error without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.report import plots as plots
from gradcheck.verify.convergence import step_sweep, taylor_test

# A missing glyph or a log-scale problem shows up as a warning: treat it as a bug.
pytestmark = pytest.mark.filterwarnings("error")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def diagnostics():
    """Taylor tests (W2 planted wrong) and sweeps of the 3-4-1 XOR network, and a float() loss sweep."""
    net = gc.DenseNet([3, 4, 1], seed=0)
    X, y = gc.xor_data()
    loss, grads = net.loss_closure(X, y), net.gradients(X, y)
    taylor = taylor_test(loss, net.params, dict(grads, W2=grads["W2"] * 1.01))
    sweep = step_sweep(loss, net.params, grads)
    x = {"x": np.array([0.5, -0.25])}
    linear = taylor_test(lambda p: float(np.sum(p["x"])), x, {"x": np.ones(2)})
    real_only = step_sweep(lambda p: float(np.sum(p["x"] ** 2)), x, {"x": 2 * x["x"]})
    return {"taylor": taylor, "sweep": sweep, "linear": linear, "real_only": real_only}


class TestWithMatplotlib:
    @pytest.fixture(autouse=True)
    def _needs_matplotlib(self):
        pytest.importorskip("matplotlib")

    def test_plots_available(self):
        assert plots.plots_available()

    def test_sweep_figure(self, diagnostics):
        assert plots.sweep_figure(diagnostics["sweep"]).startswith(PNG)

    def test_sweep_figure_without_the_complex_curve(self, diagnostics):
        assert "complex" not in diagnostics["real_only"][0].errors
        assert plots.sweep_figure(diagnostics["real_only"]).startswith(PNG)

    def test_taylor_figure_with_a_failing_group(self, diagnostics):
        assert not all(r.passed for r in diagnostics["taylor"])
        assert plots.taylor_figure(diagnostics["taylor"]).startswith(PNG)

    def test_taylor_figure_when_r1_is_exactly_zero(self, diagnostics):
        [r] = diagnostics["linear"]
        assert np.isnan(r.order)
        assert plots.taylor_figure(diagnostics["linear"]).startswith(PNG)

    @pytest.mark.parametrize("err,tol", [
        (np.array([[0.0, 1e-12, 3e-9], [2e-15, np.nan, 1e-13]]), 1e-10),
        (np.zeros((3, 4)), None),
        (np.array([1e-15, 2e-14, 0.0]), np.full(3, 1e-14)),
        (np.zeros(5), np.zeros(5)),
        (np.full((2, 2), 1e-12), None),
        (3e-3, None),
    ], ids=["2-D with zero, NaN and tolerance", "all zero", "1-D", "1-D all zero", "constant", "scalar"])
    def test_heatmap_figure(self, err, tol):
        assert plots.heatmap_figure("W1", err, tol).startswith(PNG)

    @pytest.mark.parametrize("args,match", [
        (("W1", np.zeros((2, 2, 2))), r"^abs_error: expected a 1-D or 2-D array"),
        (("W1", np.zeros((0, 3))), r"^abs_error: expected at least one entry"),
        (("W1", np.zeros((2, 3)), np.zeros(2)), r"^tolerance: expected a scalar or an array broadcastable"),
        (("W1", "big"), r"^abs_error: expected a real numeric array"),
        ((1, np.zeros(2)), r"^name: expected the parameter's name"),
    ])
    def test_heatmap_bad_input(self, args, match):
        with pytest.raises(gc.InvalidArgument, match=match):
            plots.heatmap_figure(*args)

    @pytest.mark.parametrize("figure,key", [(plots.sweep_figure, "taylor"), (plots.taylor_figure, "sweep")])
    def test_results_of_the_wrong_kind(self, diagnostics, figure, key):
        with pytest.raises(gc.InvalidArgument, match=r"^results: expected a non-empty list of"):
            figure(diagnostics[key])
        with pytest.raises(gc.InvalidArgument, match=r"^results: expected a non-empty list of"):
            figure([])


class TestWithoutMatplotlib:
    @pytest.fixture(autouse=True)
    def _hide_matplotlib(self, monkeypatch):
        # None in sys.modules makes `import matplotlib` raise ImportError.
        monkeypatch.setitem(sys.modules, "matplotlib", None)

    def test_plots_available_is_false(self):
        assert plots.plots_available() is False

    @pytest.mark.parametrize("draw", [
        lambda d: plots.sweep_figure(d["sweep"]),
        lambda d: plots.taylor_figure(d["taylor"]),
        lambda d: plots.heatmap_figure("W1", np.zeros((2, 2))),
    ], ids=["sweep", "taylor", "heatmap"])
    def test_figures_raise_an_import_error_naming_the_extra(self, diagnostics, draw):
        with pytest.raises(ImportError, match=r'pip install "gradcheck\[plot\]"'):
            draw(diagnostics)
