"""The command line with per-layer activations, cross-entropy and weight decay."""

from __future__ import annotations

import json

import pytest
from _cli import run

OPTIONS = ["--layers", "4,6,3", "--activation", "relu,softmax", "--loss", "cross_entropy",
           "--weight-decay", "0.01", "--data", "random", "--samples", "5"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)




def test_check_passes_and_records_the_options(capsys, tmp_path):
    code, out, _ = run(["check", *OPTIONS, "--out", str(tmp_path / "r"), "--format", "json"], capsys)
    assert code == 0, out
    doc = json.loads(next((tmp_path / "r").rglob("report.json")).read_text())
    network = doc["config"]["network"]
    assert (network["activation"], network["loss"], network["weight_decay"]) == (["relu", "softmax"],
                                                                                  "cross_entropy", 0.01)
    command = doc["config"]["command"]
    assert "--activation relu,softmax --loss cross_entropy --reduction sum" in command
    assert "--weight-decay 0.01" in command
    # The recorded command reproduces the check.
    code, out, _ = run(command.split()[1:] + ["--out", "-"], capsys)
    assert code == 0
    assert "δ2 = ∂L/∂a2 J_softmax(z2) = a2 − y" in out and "∂L/∂W1 = a0ᵀ δ1 + λW1" in out


@pytest.mark.parametrize("command", ["taylor", "sweep"])
def test_taylor_and_sweep_take_the_options(capsys, command):
    code, out, err = run([command, *OPTIONS, "--out", "-"], capsys)
    assert code == 0, out + err


@pytest.mark.parametrize("argv, message", [
    (["--activation", "relu,swish"], "expected activation names"),
    (["--weight-decay", "-1"], "expected a number >= 0"),
    (["--loss", "hinge"], "invalid choice"),
])
def test_bad_options_exit_2(capsys, argv, message):
    code, _, err = run(["check", "--layers", "3,2", *argv], capsys)
    assert code == 2 and message in err


def test_softmax_in_a_hidden_layer_is_a_usage_error(capsys):
    code, _, err = run(["check", "--layers", "3,4,2", "--activation", "softmax", "--out", "-"], capsys)
    assert code == 2
    assert "activation: softmax is allowed on the output layer only" in err and "Traceback" not in err
