"""``gradcheck check``: options, exit codes, written reports, and the committed example reports."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run

import gradcheck as gc
import gradcheck.interfaces.cli as cli
from gradcheck.model.backprop import Backward

REPO = Path(__file__).resolve().parents[1]
COMMITTED_REPORTS = sorted((REPO / "reports" / "examples").glob("*/report.json"))
# most tests need only the JSON and the printed text
QUICK = ["--format", "text,md,json"]
CLASSIC_FOLDERS = ["xor-3-4-1-nobias-init", "xor-3-4-4-1-nobias-init"]
# pins one network where the default would check both classic ones
ONE_XOR = ["--layers", "3,4,4,1", "--no-bias"]
# The report's loss value (the checker's forward pass) against net.loss (DenseNet's), for the small nets
# below: each layer rounds a to about (n_in + 2)·ε relative (a dot product, the bias, the activation), ≈ 15ε
# over three layers; L = ½Σ(a − y)² magnifies that by κ = 2·max|a|·Σ|a − y| / Σ(a − y)², which is at most 4
# for these nets and data, and its sum of N ≤ 5 terms adds 5ε: ≈ 65ε = 1.4e-14.  1e-12 is a margin of 70;
# the wrong network or data set changes the loss by far more.
LOSS_RTOL = 1e-12


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder, so that the default --out (reports/) never lands in the repository."""
    monkeypatch.chdir(tmp_path)




def only_folder(parent: Path) -> Path:
    folders = [p for p in parent.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def load_report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def verdict_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("gradcheck ")]


class TestCheckDefault:
    def test_classic_networks_pass_and_write_every_format(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setenv("COLUMNS", "200")  # wide: the full per-layer table
        code, out, err = run(["check", "--out", str(tmp_path / "out")], capsys)
        assert code == 0, err
        assert "Traceback" not in err
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == CLASSIC_FOLDERS
        assert "Per layer" in out
        for label in ("δ1 = (δ2 W2ᵀ) ⊙ f'(z1)", "δ2 = (δ3 W3ᵀ) ⊙ f'(z2)", "δ3 = ∂L/∂a3 ⊙ f'(z3)",
                      "δ2 = ∂L/∂a2 ⊙ f'(z2)", "δ1 = ∂L/∂z1", "∂L/∂W3 = a2ᵀ δ3"):
            assert label in out, label
        verdicts = verdict_lines(out)
        assert len(verdicts) == 2 and all("PASSED" in line for line in verdicts)
        assert out.count("reports written") == 2

        for name, sizes in zip(CLASSIC_FOLDERS, ([3, 4, 1], [3, 4, 4, 1]), strict=True):
            folder = tmp_path / "out" / name
            assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md",
                                                                "report.txt"]
            assert f"reports written: {folder}{os.sep} (report.txt, report.md, report.json, report.html)" in out
            doc = load_report(folder)
            assert doc["passed"] is True
            assert doc["config"]["network"]["sizes"] == sizes
            assert doc["config"]["network"]["bias"] is False
            assert [layer["passed"] for layer in doc["layers"]] == [True] * (len(sizes) - 1)
            assert all(layer["delta"]["passed"] and layer["recurrence"]["passed"] for layer in doc["layers"])
            page = (folder / "report.html").read_text(encoding="utf-8")
            assert page.startswith("<!DOCTYPE html>")
            assert "Per layer" in page
            # the printed per-layer table is the report's own
            text = (folder / "report.txt").read_text(encoding="utf-8")
            table = text[text.index("layer    check"):text.index("\n\n", text.index("layer    check"))]
            assert table in out

    def test_python_dash_m(self, tmp_path):
        result = subprocess.run([sys.executable, "-m", "gradcheck", "check", "--out", str(tmp_path / "out")],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "Per layer" in result.stdout
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == CLASSIC_FOLDERS
        folder = tmp_path / "out" / "xor-3-4-4-1-nobias-init"
        assert load_report(folder)["passed"] is True
        page = (folder / "report.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>")
        assert page.count('alt="error heatmap') == 3  # one per weight matrix
        assert "data:image/png;base64," in page

    def test_default_out_is_reports_in_the_working_folder(self, tmp_path, capsys):
        code, _, err = run(["check", "--format", "json"], capsys)
        assert code == 0, err
        assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == CLASSIC_FOLDERS
        assert (tmp_path / "reports" / "xor-3-4-4-1-nobias-init" / "report.json").is_file()

    def test_out_dash_writes_nothing(self, tmp_path, capsys):
        code, out, _ = run(["check", "--out", "-"], capsys)
        assert code == 0
        assert "Per layer" in out
        assert "reports written" not in out
        assert list(tmp_path.iterdir()) == []

    def test_a_rerun_replaces_its_own_report_and_keeps_others(self, tmp_path, capsys):
        out_dir = tmp_path / "out"

        def check(*extra):
            assert run(["check", *ONE_XOR, *extra, "--out", str(out_dir), "--format", "json"], capsys)[0] == 0
            return sorted(p.name for p in out_dir.iterdir())

        assert check() == ["xor-3-4-4-1-nobias-init"]
        first = load_report(out_dir / "xor-3-4-4-1-nobias-init")
        # the same command again: its own folder, rewritten
        assert check() == ["xor-3-4-4-1-nobias-init"]
        assert load_report(out_dir / "xor-3-4-4-1-nobias-init")["created"] >= first["created"]
        # another check with the same name (another seed) never overwrites it
        assert check("--seed", "3") == ["xor-3-4-4-1-nobias-init", "xor-3-4-4-1-nobias-init-2"]
        seed3 = (out_dir / "xor-3-4-4-1-nobias-init-2" / "report.json").read_bytes()
        assert load_report(out_dir / "xor-3-4-4-1-nobias-init")["config"]["seed"] == 0
        assert load_report(out_dir / "xor-3-4-4-1-nobias-init-2")["config"]["seed"] == 3
        assert check("--seed", "3") == ["xor-3-4-4-1-nobias-init", "xor-3-4-4-1-nobias-init-2"]
        assert check() == ["xor-3-4-4-1-nobias-init", "xor-3-4-4-1-nobias-init-2"]
        assert json.loads(seed3)["config"]["command"] == \
            load_report(out_dir / "xor-3-4-4-1-nobias-init-2")["config"]["command"]
        # a folder some other program wrote is never replaced
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "xor-3-4-4-1-nobias-init").mkdir()
        (tmp_path / "other" / "xor-3-4-4-1-nobias-init" / "notes.txt").write_text("mine")
        assert run(["check", *ONE_XOR, "--out", str(tmp_path / "other"), "--format", "json"], capsys)[0] == 0
        assert (tmp_path / "other" / "xor-3-4-4-1-nobias-init" / "notes.txt").read_text() == "mine"
        assert (tmp_path / "other" / "xor-3-4-4-1-nobias-init-2" / "report.json").is_file()


class TestCheckOptions:
    def test_5_7_3_2_with_biases_on_random_data(self, tmp_path, capsys):
        code, out, err = run(["check", "--layers", "5,7,3,2", "--bias", "--data", "random", "--samples", "6",
                              "--out", str(tmp_path / "out"), *QUICK], capsys)
        assert code == 0, err
        folder = only_folder(tmp_path / "out")
        assert folder.name == "net-5-7-3-2-init"
        doc = load_report(folder)
        assert doc["passed"] is True
        assert doc["config"]["network"]["sizes"] == [5, 7, 3, 2]
        assert doc["config"]["network"]["samples"] == 6
        assert doc["config"]["network"]["bias"] is True
        assert all(layer["bias"] is not None and layer["bias"]["passed"] for layer in doc["layers"])
        assert [g["name"] for g in doc["groups"]] == ["W1", "b1", "W2", "b2", "W3", "b3"]
        assert "∂L/∂b2 = Σ δ2" in out

    def test_format_selects_files(self, tmp_path, capsys):
        code, out, err = run(["check", "--format", "md,json", "--out", str(tmp_path / "out")], capsys)
        assert code == 0, err
        for name in CLASSIC_FOLDERS:
            assert sorted(p.name for p in (tmp_path / "out" / name).iterdir()) == ["report.json", "report.md"]
        assert "Per layer" not in out  # tables are printed only with text
        verdicts = verdict_lines(out)  # the verdict always is
        assert len(verdicts) == 2 and all("PASSED" in line for line in verdicts)

    def test_name(self, tmp_path, capsys):
        assert run(["check", *ONE_XOR, "--name", "mine", "--out", str(tmp_path / "out"), "--format", "json"],
                   capsys)[0] == 0
        assert only_folder(tmp_path / "out").name == "mine"

    def test_name_for_the_classic_pair(self, tmp_path, capsys):
        assert run(["check", "--name", "mine", "--out", str(tmp_path / "out"), "--format", "json"], capsys)[0] == 0
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine-3-4-1", "mine-3-4-4-1"]

    def test_method_central(self, tmp_path, capsys):
        code, _, err = run(["check", *ONE_XOR, "--method", "central", "--out", str(tmp_path / "out"), *QUICK], capsys)
        assert code == 0, err
        doc = load_report(only_folder(tmp_path / "out"))
        assert doc["passed"] is True
        assert doc["config"]["method"] == "central"
        assert {g["method"] for g in doc["groups"]} == {"central"}

    def test_train_names_the_folder(self, tmp_path, capsys):
        code, _, err = run(["check", *ONE_XOR, "--train", "500", "--out", str(tmp_path / "out"), *QUICK], capsys)
        assert code == 0, err
        folder = only_folder(tmp_path / "out")
        assert folder.name == "xor-3-4-4-1-nobias-trained500"
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=0)
        untrained = net.loss(X, y)
        net.train(X, y, 500)
        doc = load_report(folder)
        assert doc["loss_value"] == pytest.approx(net.loss(X, y), rel=LOSS_RTOL)
        assert doc["loss_value"] < untrained

    def test_data_file(self, tmp_path, capsys):
        rng = np.random.default_rng(7)
        X, y = rng.random((5, 3)), rng.random((5, 1))
        np.savez(tmp_path / "data.npz", X=X, y=y)
        code, _, err = run(["check", *ONE_XOR, "--data", str(tmp_path / "data.npz"), "--out",
                            str(tmp_path / "out"), *QUICK], capsys)
        assert code == 0, err
        doc = load_report(only_folder(tmp_path / "out"))
        assert doc["passed"] is True
        assert doc["config"]["network"]["samples"] == 5
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=0)
        assert doc["loss_value"] == pytest.approx(net.loss(X, y), rel=LOSS_RTOL)

    def test_data_file_without_y(self, tmp_path, capsys):
        np.savez(tmp_path / "data.npz", X=np.ones((4, 3)), target=np.ones((4, 1)))
        code, out, err = run(["check", "--data", str(tmp_path / "data.npz"), "--out", str(tmp_path / "out")], capsys)
        assert_usage_error(code, out, err, "--data", "'y'")
        assert not (tmp_path / "out").exists()

    def test_data_file_with_wrong_width(self, tmp_path, capsys):
        np.savez(tmp_path / "data.npz", X=np.ones((4, 2)), y=np.ones((4, 1)))
        code, out, err = run(["check", "--data", str(tmp_path / "data.npz"), "--out", "-"], capsys)
        assert_usage_error(code, out, err, "X")

    def test_missing_data_file(self, tmp_path, capsys):
        code, out, err = run(["check", "--data", str(tmp_path / "nowhere.npz"), "--out", "-"], capsys)
        assert_usage_error(code, out, err, "nowhere.npz")

    @pytest.mark.parametrize("option", ["--data", "--weights"])
    def test_pickled_arrays_are_refused(self, option, tmp_path, capsys):
        objects = np.array([{"W1": 1}, None], dtype=object)
        np.savez(tmp_path / "evil.npz", X=objects, y=objects, W1=objects)
        code, out, err = run(["check", option, str(tmp_path / "evil.npz"), "--out", str(tmp_path / "out")], capsys)
        assert_usage_error(code, out, err, option)
        assert not (tmp_path / "out").exists()

    def test_weights_file_sizes_inferred(self, tmp_path, capsys):
        net = gc.DenseNet([3, 5, 1], bias=True, seed=3)
        np.savez(tmp_path / "w.npz", **net.params)
        code, _, err = run(["check", "--weights", str(tmp_path / "w.npz"), "--out", str(tmp_path / "out"), *QUICK],
                           capsys)
        assert code == 0, err
        folder = only_folder(tmp_path / "out")
        assert folder.name == "w-3-5-1"  # named after the weights file
        doc = load_report(folder)
        assert doc["config"]["network"]["sizes"] == [3, 5, 1]
        assert doc["config"]["network"]["bias"] is True
        X, y = gc.xor_data()
        assert doc["loss_value"] == pytest.approx(net.loss(X, y), rel=LOSS_RTOL)

    def test_weights_with_matching_layers(self, tmp_path, capsys):
        np.savez(tmp_path / "w.npz", **gc.DenseNet([3, 2, 1], bias=False, seed=3).params)
        assert run(["check", "--weights", str(tmp_path / "w.npz"), "--layers", "3,2,1", "--out", "-"], capsys)[0] == 0

    def test_weights_disagreeing_with_layers(self, tmp_path, capsys):
        np.savez(tmp_path / "w.npz", **gc.DenseNet([3, 2, 1], bias=False, seed=3).params)
        code, out, err = run(["check", "--weights", str(tmp_path / "w.npz"), "--layers", "3,4,1",
                              "--out", str(tmp_path / "out")], capsys)
        assert_usage_error(code, out, err, "--layers", "3,2,1")
        assert not (tmp_path / "out").exists()


class TestCheckUsageErrors:
    @pytest.mark.parametrize("argv,needle", [
        (["--layers", "3,x"], "3,x"),
        (["--layers", "1"], "--layers"),
        (["--layers", "3,0,1"], "--layers"),
        (["--format", "pdf"], "pdf"),
        (["--method", "magic"], "magic"),
        (["--layers", "5,3", "--data", "xor"], "xor"),
        (["--train", "-3"], "-3"),
        (["--samples", "0", "--data", "random"], "sample"),
    ])
    def test_exit_2_with_one_line(self, argv, needle, tmp_path, capsys):
        code, out, err = run(["check", *argv, "--out", str(tmp_path / "out")], capsys)
        assert_usage_error(code, out, err, needle)
        assert out == ""
        assert not (tmp_path / "out").exists()

    def test_negative_samples(self, tmp_path, capsys):
        code, out, err = run(["check", "--samples", "-1", "--data", "random", "--out", "-"], capsys)
        assert_usage_error(code, out, err, "--samples")

    def test_negative_seed(self, tmp_path, capsys):
        code, out, err = run(["check", "--seed", "-1", "--out", "-"], capsys)
        assert_usage_error(code, out, err, "--seed")

    def test_out_is_a_file(self, tmp_path, capsys):
        (tmp_path / "taken").write_text("not a folder")
        code, out, err = run(["check", "--out", str(tmp_path / "taken"), "--format", "json"], capsys)
        assert_usage_error(code, out, err, "taken")


def planted_hidden_bug(net, X, y) -> Backward:
    """δ1 without ⊙ f'(z1), with the W1 (and b1) gradient that follows from it."""
    b = net.backward(X, y)
    deltas = list(b.deltas)
    deltas[0] = deltas[1] @ net.params["W2"].T
    grads = dict(b.gradients, W1=b.cache.activations[0].T @ deltas[0])
    if net.bias:
        grads["b1"] = deltas[0].sum(axis=0)
    return Backward(b.loss, deltas, grads, b.cache)


class TestCheckVerdict:
    def test_failure_exits_1_and_the_json_agrees(self, tmp_path, capsys, monkeypatch):
        real = cli.check_network

        def with_planted_bug(net, X, y, **options):
            options["backward"] = planted_hidden_bug(net, X, y)
            return real(net, X, y, **options)

        monkeypatch.setattr(cli, "check_network", with_planted_bug)
        code, out, _ = run(["check", *ONE_XOR, "--out", str(tmp_path / "out"), *QUICK], capsys)
        assert code == 1
        assert ["FAILED" in line for line in verdict_lines(out)] == [True]
        doc = load_report(only_folder(tmp_path / "out"))
        assert doc["passed"] is False
        assert doc["failed_groups"] == ["W1"]
        assert doc["layers"][0]["delta"]["passed"] is False
        assert doc["layers"][0]["recurrence"]["passed"] is True
        assert [layer["passed"] for layer in doc["layers"]] == [False, True, True]

    def test_printed_verdict_matches_json_when_passing(self, tmp_path, capsys):
        code, out, _ = run(["check", "--layers", "3,4,1", "--out", str(tmp_path / "out"), *QUICK], capsys)
        doc = load_report(only_folder(tmp_path / "out"))
        assert code == 0
        assert doc["passed"] is True
        assert ["PASSED" in line for line in verdict_lines(out)] == [True]
        assert "FAIL" not in out


# -- the committed example reports ---------------------------------------------------


# options that choose where and how the reports are written, not what is checked
_OUTPUT_OPTIONS = {"--out": 1, "--name": 1, "--format": 1, "--replace": 0, "--progress": 0}


def argv_from_command(command: str) -> list[str]:
    """The recorded ``gradcheck check …`` command as ``main`` arguments, with files found in the repository."""
    words = shlex.split(command)
    if words[:2] != ["gradcheck", "check"]:
        pytest.skip(f"the recorded command {command!r} is not `gradcheck check`")
    if "--bug" in words:
        pytest.skip("reports of injected bugs (--bug) are not regenerated by this test")
    argv, rest = ["check"], words[2:]
    while rest:
        word = rest.pop(0)
        if word in _OUTPUT_OPTIONS:
            del rest[:_OUTPUT_OPTIONS[word]]
            continue
        argv.append(word)
        if word in ("--data", "--weights") and rest and rest[0] not in ("xor", "random"):
            path = Path(rest.pop(0))
            path = path if path.is_absolute() else REPO / path
            if not path.is_file():
                pytest.skip(f"{word} {path} is not in the repository: cannot recompute the report")
            argv.append(str(path))
    return argv


def recompute_argv(doc: dict) -> list[str]:
    """``gradcheck check`` options that redo the check a report JSON records; skips when they cannot be recovered."""
    config = doc.get("config") or {}
    network = config.get("network")
    if not isinstance(network, dict):
        pytest.skip("the JSON has no config.network: not a gradcheck check report")
    if isinstance(config.get("command"), str):
        return argv_from_command(config["command"])
    # Older reports do not record their command: rebuild it from the network, the seed and the title.
    missing = [k for k in ("sizes", "bias", "reduction", "samples") if k not in network]
    if missing or config.get("seed") is None:
        pytest.skip(f"the JSON does not record {missing or ['seed']}: cannot recompute it")
    if network.get("dtype", "float64") != "float64" or network.get("loss", "mse") != "mse":
        pytest.skip("`gradcheck check` only builds float64 MSE networks without --weights")
    if config.get("deltas") is False:
        pytest.skip("the CLI always checks deltas; this report did not")
    name = str(doc.get("title", "")).split(" ", 1)[0]
    if "-bug-" in name:
        pytest.skip("reports of injected bugs (--bug) are not regenerated by this test")
    data = network.get("data", config.get("data"))
    if data is None and name.startswith("xor-"):
        data = "xor"
    if data not in ("xor", "random"):
        pytest.skip(f"the data source ({data or 'not recorded'}) cannot be rebuilt from the JSON")
    train = network.get("train", config.get("train"))
    if train is None:
        m = re.search(r"-(?:trained(\d+)|init)(?:-\d+)?$", name)
        if m is None:
            pytest.skip(f"the number of training steps is not recorded (title {doc.get('title')!r})")
        train = int(m.group(1) or 0)
    return ["check", "--layers", ",".join(map(str, network["sizes"])),
            "--bias" if network["bias"] else "--no-bias",
            "--activation", network.get("activation", "sigmoid"), "--reduction", network["reduction"],
            "--data", data, *(["--samples", str(network["samples"])] if data == "random" else []),
            "--train", str(train), "--seed", str(config["seed"]), "--method", config.get("method", "auto")]


def _close(a, b) -> bool:
    """Two runs' max errors agree: both at rounding level, or within a factor 10.

    Rounding-level errors depend on the machine (BLAS picks its kernel per CPU) and may be 0 on one and 1e-17
    on another; below 1e-12 (thousands of ε for these gradients of order 0.1) they count as equal.  A real
    error is reproduced to far better than a factor 10; the factor only absorbs its rounding-level part.
    """
    a, b = abs(float(a)), abs(float(b))
    if a < 1e-12 and b < 1e-12:
        return True
    return min(a, b) > 0 and max(a, b) <= 10 * min(a, b)


def assert_reports_agree(committed: dict, fresh: dict) -> None:
    assert fresh["passed"] == committed["passed"]
    assert [g["name"] for g in fresh["groups"]] == [g["name"] for g in committed["groups"]]
    for old, new in zip(committed["groups"], fresh["groups"], strict=True):
        assert new["passed"] == old["passed"], old["name"]
        assert _close(old["max_abs_error"], new["max_abs_error"]), (old["name"], old["max_abs_error"],
                                                                    new["max_abs_error"])
    assert [layer["layer"] for layer in fresh["layers"]] == [layer["layer"] for layer in committed["layers"]]
    for old, new in zip(committed["layers"], fresh["layers"], strict=True):
        assert new["passed"] == old["passed"], f"layer {old['layer']}"
        for kind, row in old.items():
            if not isinstance(row, dict):
                continue
            assert isinstance(new.get(kind), dict), f"layer {old['layer']} {kind}"
            assert new[kind]["passed"] == row["passed"], f"layer {old['layer']} {kind}"
            assert _close(row["max_abs_error"], new[kind]["max_abs_error"]), \
                (old["layer"], kind, row["max_abs_error"], new[kind]["max_abs_error"])


def recompute(doc: dict, tmp_path: Path, capsys) -> dict:
    argv = recompute_argv(doc) + ["--out", str(tmp_path / "fresh"), "--name", "fresh", "--format", "json"]
    code, _, err = run(argv, capsys)
    assert code in (0, 1), err
    fresh = load_report(tmp_path / "fresh" / "fresh")
    assert code == (0 if fresh["passed"] else 1)
    return fresh


@pytest.mark.parametrize(
    "path",
    COMMITTED_REPORTS
    or [pytest.param(None, marks=pytest.mark.skip(reason="reports/examples/ holds no report.json yet"))],
    ids=[p.parent.name for p in COMMITTED_REPORTS] or ["none"])
def test_committed_report_agrees_with_a_fresh_run(path, tmp_path, capsys):
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert_reports_agree(committed, recompute(committed, tmp_path, capsys))


class TestReportComparison:
    """The comparison above, exercised on reports written here, so it is known to work before reports exist."""

    @pytest.fixture
    def written(self, tmp_path, capsys):
        code, _, err = run(["check", "--layers", "3,4,1", "--no-bias", "--train", "200", "--out",
                            str(tmp_path / "made"), "--format", "json"], capsys)
        assert code == 0, err
        return load_report(only_folder(tmp_path / "made"))

    def test_recomputes_the_same_report(self, written, tmp_path, capsys):
        argv = recompute_argv(written)
        assert argv[argv.index("--train") + 1] == "200"
        assert argv[argv.index("--layers") + 1] == "3,4,1"
        assert_reports_agree(written, recompute(written, tmp_path, capsys))

    def test_without_a_recorded_command(self, written, tmp_path, capsys):
        written["config"].pop("command", None)
        argv = recompute_argv(written)
        assert argv[argv.index("--train") + 1] == "200"
        assert_reports_agree(written, recompute(written, tmp_path, capsys))

    def test_detects_a_changed_verdict(self, written, tmp_path, capsys):
        fresh = recompute(written, tmp_path, capsys)
        tampered = json.loads(json.dumps(written))
        tampered["layers"][1]["delta"]["passed"] = False
        with pytest.raises(AssertionError):
            assert_reports_agree(tampered, fresh)

    def test_detects_a_changed_error(self, written, tmp_path, capsys):
        fresh = recompute(written, tmp_path, capsys)
        tampered = json.loads(json.dumps(written))
        tampered["layers"][0]["recurrence"]["max_abs_error"] = 1e-6
        with pytest.raises(AssertionError):
            assert_reports_agree(tampered, fresh)

    def test_random_data_and_weights_file(self, tmp_path, capsys, monkeypatch):
        weights = tmp_path / "w.npz"
        np.savez(weights, **gc.DenseNet([5, 3, 2], bias=True, seed=9).params)
        code, _, err = run(["check", "--weights", str(weights), "--data", "random", "--samples", "4",
                            "--seed", "5", "--out", str(tmp_path / "made"), "--format", "json"], capsys)
        assert code == 0, err
        doc = load_report(only_folder(tmp_path / "made"))
        if "command" not in doc["config"]:
            with pytest.raises(pytest.skip.Exception, match="data source|record"):
                recompute_argv(doc)
            return
        assert str(weights) in recompute_argv(doc)
        assert_reports_agree(doc, recompute(doc, tmp_path, capsys))
        # a file that is gone cannot be used to recompute: skip, do not fail
        weights.unlink()
        with pytest.raises(pytest.skip.Exception, match="--weights"):
            recompute_argv(doc)
