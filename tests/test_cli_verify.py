"""``gradcheck verify FILE.py:FUNCTION``: verdicts, exit codes, written reports, one-line usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run

# The user's code, as a student would write it: the classic numpy program's style (deltas built from
# y − a, so every value is −∂L/∂θ), a textbook column-vector version, and a few broken ones.
HELPER = '''
import numpy as np


def nonlin(x, deriv=False):
    if deriv:
        return x * (1 - x)
    return 1 / (1 + np.exp(-x))
'''

USER = '''
import numpy as np

from helper import nonlin  # a module beside this file


def classic(weights, biases, X, y):
    layers = [X]
    for W in weights:
        layers.append(nonlin(layers[-1] @ W))
    delta = (y - layers[-1]) * nonlin(layers[-1], deriv=True)
    deltas = [delta]
    for W, layer in zip(weights[:0:-1], layers[-2:0:-1]):
        delta = delta @ W.T * nonlin(layer, deriv=True)
        deltas.insert(0, delta)
    return {"deltas": deltas, "grads": {f"W{l}": layers[l - 1].T @ d for l, d in enumerate(deltas, 1)}}


def columns(weights, biases, X, y):
    a = [X]
    for W, b in zip(weights, biases or [0] * len(weights)):
        a.append(nonlin(W @ a[-1] + b))
    delta = (a[-1] - y) * nonlin(a[-1], deriv=True)
    deltas = [delta]
    for W, act in zip(weights[:0:-1], a[-2:0:-1]):
        delta = (W.T @ delta) * nonlin(act, deriv=True)
        deltas.insert(0, delta)
    grads = {f"W{l}": d @ a[l - 1].T for l, d in enumerate(deltas, 1)}
    if biases is not None:
        grads.update({f"b{l}": d.sum(axis=1, keepdims=True) for l, d in enumerate(deltas, 1)})
    return {"deltas": deltas, "grads": grads}


def last_sample_only(weights, biases, X, y):
    out = classic(weights, biases, X, y)
    out["grads"]["W1"] = X[-1:].T @ out["deltas"][0][-1:]
    return out


def bare_list(weights, biases, X, y):
    return classic(weights, biases, X, y)["deltas"]


def one_layer_too_far(weights, biases, X, y):
    # A loop bound off by one: the code reads a weight matrix past the last layer.
    return {"grads": {f"W{k + 1}": weights[k + 1] for k in range(len(weights))}}


NOT_A_FUNCTION = 3
'''


@pytest.fixture(autouse=True)
def user_code(tmp_path, monkeypatch):
    """The user's files in their own folder, run from an empty one (the default --out lands there)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "helper.py").write_text(HELPER)
    (code / "user.py").write_text(USER)
    (code / "broken.py").write_text("import numpy as np\nraise ImportError('no module named torch')\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    monkeypatch.delitem(sys.modules, "helper", raising=False)
    return code




def target(code: Path, function: str) -> str:
    return f"{code / 'user.py'}:{function}"


QUICK = ["--examples", "10", "--format", "text,json"]


class TestVerdicts:
    def test_classic_program_passes_with_sign_descent(self, user_code, capsys):
        code, out, err = run(["verify", target(user_code, "classic"), "--sign", "descent", "--no-bias", *QUICK],
                             capsys)
        assert code == 0, out + err
        assert "PASSED — 10 networks" in out and "without biases" in out
        folder = Path("reports/verify-user-classic")
        assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.txt"]
        saved = json.loads((folder / "report.json").read_text())
        assert saved["passed"] is True and saved["command"].startswith("gradcheck verify ")
        assert "--sign descent --examples 10 --no-bias" in saved["command"]

    def test_classic_program_fails_as_a_gradient_and_names_the_sign(self, user_code, capsys):
        code, out, _ = run(["verify", target(user_code, "classic"), "--no-bias", *QUICK], capsys)
        assert code == 1
        assert "FAILED" in out and "minimal failing network: sizes [1, 1], 1 sample" in out
        assert "probable cause (sign)" in out and "sign='descent'" in out
        assert "Per layer, minimal failing network:" in out and "δ1 = ∂L/∂z1" in out
        folder = Path("reports/verify-user-classic")
        assert sorted(p.name for p in folder.iterdir()) == ["counterexample.npz", "report.json", "report.txt"]
        report = json.loads((folder / "report.json").read_text())
        assert report["first_failure"] == {"layer": 1, "check": "delta"}
        assert report["config"]["command"].startswith("gradcheck verify ")
        with np.load(folder / "counterexample.npz") as arrays:
            assert sorted(arrays.files) == ["W1", "X", "y"]
            assert arrays["W1"].shape == (1, 1) and arrays["X"].shape == (1, 1)

    def test_column_vectors_with_biases(self, user_code, capsys):
        code, out, err = run(["verify", target(user_code, "columns"), "--layout", "out_in", "--bias", "--out", "-",
                              "--examples", "10"], capsys)
        assert code == 0, out + err
        assert "out_in layout" in out and "with biases" in out
        assert not Path("reports").exists()

    def test_two_sample_bug_shrinks_to_two_samples(self, user_code, capsys):
        code, out, _ = run(["verify", target(user_code, "last_sample_only"), "--sign", "descent", "--no-bias",
                            "--out", "-", "--examples", "20"], capsys)
        assert code == 1
        assert "minimal failing network: sizes [1, 1], 2 samples, no bias" in out
        assert "first failure: layer 1, ∂L/∂W1" in out
        assert "reports written" not in out

    def test_function_raising_is_a_finding(self, user_code, capsys):
        code, out, err = run(["verify", target(user_code, "one_layer_too_far"), *QUICK], capsys)
        assert code == 1 and err == ""
        assert "your function raised IndexError: list index out of range" in out
        assert "minimal failing network: sizes [1, 1], 1 sample" in out
        folder = Path("reports/verify-user-one_layer_too_far")
        assert json.loads((folder / "report.json").read_text())["error"].startswith("IndexError")
        assert (folder / "counterexample.npz").exists()


class TestUsageErrors:
    @pytest.mark.parametrize("spec, message", [
        ("{code}/user.py:bare_list", "returned list"),
        ("{code}/user.py:missing", "defines no 'missing'; its functions: ['bare_list', 'classic'"),
        ("{code}/user.py:NOT_A_FUNCTION", "'NOT_A_FUNCTION' is int 3, not a function"),
        ("{code}/nowhere.py:classic", "no such file"),
        ("{code}/user.py", "expected a Python file and a function name"),
        ("{code}/broken.py:anything", "importing it raised ImportError: no module named torch"),
    ])
    def test_one_line_exit_2(self, user_code, capsys, spec, message):
        code, out, err = run(["verify", spec.format(code=user_code), "--examples", "5"], capsys)
        assert code == 2
        assert err.startswith("gradcheck verify: error: ") and err.count("\n") == 1
        assert message in err
        assert not Path("reports").exists()

    @pytest.mark.parametrize("option", [["--examples", "0"], ["--layout", "columns"], ["--sign", "minus"],
                                        ["--format", "pdf"]])
    def test_bad_options(self, user_code, capsys, option):
        code, _, err = run(["verify", target(user_code, "classic"), *option], capsys)
        assert code == 2 and "error" in err

    def test_out_is_a_file(self, user_code, capsys):
        Path("taken").write_text("")
        code, _, err = run(["verify", target(user_code, "classic"), "--out", "taken"], capsys)
        assert code == 2 and "--out" in err

    def test_no_traceback_from_the_command(self, user_code):
        proc = subprocess.run([sys.executable, "-m", "gradcheck", "verify", target(user_code, "bare_list")],
                              capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
