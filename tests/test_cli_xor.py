"""The ``gradcheck`` command line: ``xor``, ``--version`` and usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gradcheck as gc
from gradcheck.interfaces.cli import main


class TestMainXor:
    def test_prints_both_networks(self, capsys):
        assert main(["xor", "--iterations", "2000"]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        assert out.count("Output After Training:") == 2
        first, second = out.index("XOR network 3-4-1 "), out.index("XOR network 3-4-4-1 ")
        assert first < second
        assert "2000 steps" in out
        assert out.count("learned XOR: ") == 2
        for header in ("input", "target", "prediction", "rounded"):
            assert out.count(header) == 2
        # one table row per XOR sample, for each network
        for row in ("0 0 1", "0 1 1", "1 0 1", "1 1 1"):
            assert out.count(row) == 2

    def test_prints_the_trained_predictions(self, capsys):
        assert main(["xor", "--iterations", "5", "--seed", "3", "--learning-rate", "0.5"]) == 0
        out = capsys.readouterr().out
        X, y = gc.xor_data()
        for sizes in ([3, 4, 1], [3, 4, 4, 1]):
            net = gc.DenseNet(sizes, bias=False, seed=3)
            history = net.train(X, y, iterations=5, learning_rate=0.5)
            for p in net.forward(X)[:, 0]:
                assert f"{p:.6f}" in out
            assert f"5 steps, loss {history[0]:.6g} -> {net.loss(X, y):.6g}" in out

    def test_negative_iterations_is_usage_error(self, capsys):
        assert main(["xor", "--iterations", "-1"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("gradcheck xor: error: iterations:")
        assert "Traceback" not in err

    def test_bad_learning_rate_is_usage_error(self, capsys):
        assert main(["xor", "--learning-rate", "0"]) == 2
        err = capsys.readouterr().err
        assert "learning_rate" in err and "Traceback" not in err

    def test_non_integer_iterations_exits_2(self, capsys):
        with pytest.raises(SystemExit) as info:
            main(["xor", "--iterations", "many"])
        assert info.value.code == 2
        assert "--iterations" in capsys.readouterr().err


class TestMain:
    def test_version(self, capsys):
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.strip() == f"gradcheck {gc.__version__}"

    def test_no_command_prints_help_and_returns_2(self, capsys):
        assert main([]) == 2
        out = capsys.readouterr().out
        assert out.startswith("usage: gradcheck")
        assert "xor" in out

    def test_unknown_command_exits_2(self, capsys):
        with pytest.raises(SystemExit) as info:
            main(["frobnicate"])
        assert info.value.code == 2
        assert "gradcheck: error:" in capsys.readouterr().err


class TestModuleEntryPoint:
    def test_python_m_gradcheck_xor(self):
        proc = subprocess.run(
            [sys.executable, "-m", "gradcheck", "xor", "--iterations", "100"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("Output After Training:") == 2
        assert proc.stderr == ""
