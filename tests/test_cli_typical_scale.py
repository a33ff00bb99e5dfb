"""``--typical-scale`` of ``gradcheck check`` and ``gradcheck verify``: parsed, passed on, recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import run

import gradcheck.interfaces.cli as cli


def scaled_files(tmp_path):
    """A net whose W1 has scale 1e-8 and inputs of scale 1e8 (z_1 of scale 1): its loss varies on 1e-8 in W1."""
    rng = np.random.default_rng(0)
    W1, W2 = rng.uniform(-1, 1, (3, 4)) * 1e-8, rng.uniform(-1, 1, (4, 2))
    np.savez(tmp_path / "w.npz", W1=W1, b1=rng.uniform(-1, 1, 4), W2=W2, b2=rng.uniform(-1, 1, 2))
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((5, 3)) * 1e8, y=rng.random((5, 2)))
    return ["--weights", tmp_path / "w.npz", "--data", tmp_path / "d.npz", "--format", "json"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_per_group_scale_makes_the_1e_minus_8_net_pass_and_is_recorded(tmp_path, capsys):
    files = scaled_files(tmp_path)
    code, out, err = run(["check", *files, "--method", "central", "--typical-scale", "W1=1e-8",
                          "--out", tmp_path / "out"], capsys)
    assert code == 0, out + err
    report = json.loads(next((tmp_path / "out").glob("*/report.json")).read_text(encoding="utf-8"))
    assert report["config"]["typical_scale"] == {"W1": 1e-8}
    assert "--typical-scale W1=1e-08" in report["config"]["command"]
    # The steps follow the scale: ε^(1/3)·1e-8 for W1, against ε^(1/3)·1 without the option.
    assert report["config"]["steps"]["W1"]["max"] < 1e-12
    code, out, _ = run(["check", *files, "--method", "central", "--out", tmp_path / "plain"], capsys)
    plain = json.loads(next((tmp_path / "plain").glob("*/report.json")).read_text(encoding="utf-8"))
    assert "typical_scale" not in plain["config"] and plain["config"]["steps"]["W1"]["max"] > 1e-6

def test_one_number_for_every_group(tmp_path, capsys):
    code, out, err = run(["check", *scaled_files(tmp_path), "--typical-scale", "1e-8", "--out", tmp_path / "o"],
                         capsys)
    assert code == 0, out + err
    report = json.loads(next((tmp_path / "o").glob("*/report.json")).read_text(encoding="utf-8"))
    assert report["config"]["typical_scale"] == 1e-8


@pytest.mark.parametrize("value,needle", [
    ("0", "--typical-scale: expected a positive number"),
    ("W1=abc", "--typical-scale: expected a positive number"),
    ("=1e-8", "--typical-scale: expected NAME=SCALE pairs"),
    ("W9=1e-8", "typical_scale: no parameter group 'W9'"),
])
def test_bad_values_are_one_line_usage_errors(tmp_path, capsys, value, needle):
    code, out, err = run(["check", "--layers", "3,4,1", "--typical-scale", value, "--out", "-"], capsys)
    assert code == 2, out + err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_verify_passes_it_to_every_check(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_verify(fn, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    (tmp_path / "bp.py").write_text("def backprop(weights, biases, X, y):\n    return {}\n", encoding="utf-8")
    monkeypatch.setattr(cli, "verify_backprop", fake_verify)
    run(["verify", f"{tmp_path / 'bp.py'}:backprop", "--typical-scale", "W1=0.5,b1=2", "--out", "-"], capsys)
    assert seen["typical_scale"] == {"W1": 0.5, "b1": 2.0}
