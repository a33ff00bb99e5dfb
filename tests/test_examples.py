"""Every program in examples/ runs and shows what its docstring promises."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_every_example_is_tested_and_documented():
    tested = {"xor_classic.py", "xor_classic_layers.py", "textbook_network.py", "softmax_cross_entropy.py",
              "relu_softmax_layers.py", "test_with_fixture.py", "check_saved_network.sh", "vectorized_loss.py"}
    assert {p.name for p in EXAMPLES.iterdir() if p.is_file()} == tested
    for name in tested - {"check_saved_network.sh"}:
        assert ast.get_docstring(ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))), name
    assert (EXAMPLES / "check_saved_network.sh").read_text().splitlines()[1].startswith("# Check a saved network")


@pytest.mark.parametrize("argv, env", [(["300"], {}), ([], {"XOR_ITERATIONS": "50"})],
                         ids=["argv", "environment"])
def test_xor_classic(tmp_path, argv, env):
    result = run([sys.executable, str(EXAMPLES / "xor_classic.py"), *argv], tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = int((argv or [env.get("XOR_ITERATIONS")])[0])
    assert "XOR 3-4-1 at step 0: PASSED" in result.stdout
    assert f"XOR 3-4-1 at step {steps - 1}: PASSED" in result.stdout
    assert "Output After Training:" in result.stdout


def test_xor_classic_layers(tmp_path):
    result = run([sys.executable, str(EXAMPLES / "xor_classic_layers.py"), "60000"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for step in (0, 59999):
        assert f"XOR 3-4-1 at step {step}: PASSED" in result.stdout
    assert result.stdout.count("every delta formula confirmed") == 2
    assert "δ1 = (δ2 W2ᵀ) ⊙ f'(z1)" in result.stdout


def test_relu_softmax_layers(tmp_path):
    result = run([sys.executable, str(EXAMPLES / "relu_softmax_layers.py")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "relu-softmax correct: PASSED" in result.stdout
    assert "relu-softmax relu-derivative-one: FAILED" in result.stdout
    assert "4 entries at a ReLU kink, checked one-sided" in result.stdout
    assert "b1: 2 entries at a ReLU kink, checked one-sided: b1(0) one-sided" in result.stdout
    assert "δ3 = ∂L/∂a3 J_softmax(z3) = a3 − y" in result.stdout
    assert "breaks first at layer 2 (δ2 = ∂L/∂z2" in result.stdout


def test_textbook_network(tmp_path):
    result = run([sys.executable, str(EXAMPLES / "textbook_network.py")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gradcheck textbook correct: PASSED" in result.stdout
    assert "gradcheck textbook sigma-prime-of-a slip: FAILED" in result.stdout
    assert "probable cause (recurrence): δ2 is wrong (18 of 18 entries off" in result.stdout
    assert "while δ3 is right (all 6 entries within tolerance)" in result.stdout
    assert "δ2 = (W3ᵀ δ3) ⊙ f'(z2)" in result.stdout


def test_softmax_cross_entropy(tmp_path):
    result = run([sys.executable, str(EXAMPLES / "softmax_cross_entropy.py")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gradcheck softmax + cross-entropy: PASSED" in result.stdout
    assert "sigmoid delta by mistake: FAILED (W1, b1, W2, b2)" in result.stdout
    assert "W2: 18 of 18 entries outside tolerance" in result.stdout


def test_pytest_fixture_example(tmp_path):
    reports = tmp_path / "reports"
    result = run([sys.executable, "-m", "pytest", str(EXAMPLES / "test_with_fixture.py"), "-p", "no:cacheprovider",
                  "--gradcheck-report", str(reports)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 xfailed" in result.stdout
    index = (reports / "index.md").read_text(encoding="utf-8")
    # The xfail is gradcheck catching the wrong gradient, not some other assertion.
    assert "test_least_squares_gradient` | passed | passed |" in index
    assert "test_wrong_gradient` | failed | xfailed |" in index


def test_vectorized_loss(tmp_path):
    result = run([sys.executable, str(EXAMPLES / "vectorized_loss.py")], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vectorized loss: PASSED (8920 evaluations)" in result.stdout  # the plain loop's 8916 and a 4-set probe
    assert "largest difference from the plain loss's derivatives: " in result.stdout


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_check_saved_network(tmp_path):
    scripts = sysconfig.get_path("scripts")
    result = run(["sh", str(EXAMPLES / "check_saved_network.sh"), str(tmp_path)], tmp_path,
                 PYTHON=sys.executable, TRAIN_STEPS="100", PATH=scripts + os.pathsep + os.environ.get("PATH", ""))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trained DenseNet([2, 8, 1]" in result.stdout
    assert "PASSED" in result.stdout and "every delta formula confirmed" in result.stdout
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["data.npz", "weights.npz"]
    saved = json.loads((tmp_path / "reports" / "saved-net" / "report.json").read_text(encoding="utf-8"))
    assert saved["passed"] and "--weights" in saved["config"]["command"]
