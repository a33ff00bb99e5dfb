"""What `gradcheck check`, `verify`, `sweep`, `taylor` and `bugs` print: the verdict always, lines that fit the
terminal, notes only when asked, options that cannot apply refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _cli import run

import gradcheck as gc
import gradcheck.interfaces.cli as cli
from gradcheck.report.terminal import fit, render_terminal

ONE_XOR = ["--layers", "3,4,4,1", "--no-bias"]
BUG = ["--bug", "hidden-derivative-missing"]
TEXTBOOK = "examples/textbook_network.py"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)




@pytest.fixture
def columns(monkeypatch):
    """Set the terminal's width through COLUMNS, which shutil.get_terminal_size honours."""
    def set_width(n: int) -> None:
        monkeypatch.setenv("COLUMNS", str(n))
    return set_width


def widest(text: str) -> int:
    return max(map(len, text.splitlines()))


class TestVerdictAlwaysPrinted:
    @pytest.mark.parametrize("fmt", ["md,json", "html", "json"])
    def test_failure_without_text_still_names_the_link_and_cause(self, fmt, tmp_path, capsys, columns):
        columns(100)
        code, out, _ = run(["check", *ONE_XOR, *BUG, "--format", fmt, "--out", "-"], capsys)
        assert code == 1
        lines = out.splitlines()
        assert lines[0].startswith("gradcheck xor-3-4-4-1-nobias-init-bug-hidden-derivative-missing: FAILED (W1, W2)")
        assert "breaks first at layer 2 (δ2 = ∂L/∂z2" in out
        assert "probable cause (recurrence): δ2 is wrong (" in out and "while δ3 is right" in " ".join(out.split())
        assert "Per layer" not in out
        assert list(tmp_path.iterdir()) == []

    def test_passing_without_text(self, capsys, columns):
        columns(100)
        code, out, _ = run(["check", "--format", "md,json", "--out", "-"], capsys)
        assert code == 0
        heads = [line for line in out.splitlines() if line.startswith("gradcheck ")]
        assert heads == ["gradcheck xor-3-4-1-nobias-init: PASSED — every delta formula confirmed",
                         "gradcheck xor-3-4-4-1-nobias-init: PASSED — every delta formula confirmed"]

    def test_verify_prints_the_verdict_whatever_the_format(self, capsys, columns, request):
        columns(80)
        target = str(request.config.rootpath / TEXTBOOK) + ":backprop_with_slip"
        code, out, _ = run(["verify", target, "--layout", "out_in", "--bias", "--examples", "5",
                            "--format", "md,json", "--out", "-"], capsys)
        assert code == 1
        assert "FAILED" in out.splitlines()[0]
        assert "first failure: layer" in out and "probable cause (recurrence)" in out
        assert widest(out) <= 80


class TestWidth:
    @pytest.mark.parametrize("width", [80, 60, 40])
    def test_no_line_wider_than_the_terminal(self, width, capsys, columns):
        columns(width)
        code, out, _ = run(["check", *ONE_XOR, *BUG, "--out", "reports"], capsys)
        assert code == 1
        assert widest(out) <= width, [line for line in out.splitlines() if len(line) > width]
        assert "probable cause (recurrence)" in " ".join(out.split())

    def test_compact_table_at_80_columns(self, capsys, columns):
        columns(80)
        _, out, _ = run(["check", *ONE_XOR, "--out", "-"], capsys)
        header = next(line for line in out.splitlines() if line.startswith("layer"))
        assert header.split() == ["layer", "check", "mismatched", "max", "err/tol", "verdict"]
        assert "compares" not in out

    @pytest.mark.parametrize("how", ["wide-terminal", "--wide"])
    def test_full_table_when_wide(self, how, capsys, columns):
        columns(200 if how == "wide-terminal" else 80)
        _, out, _ = run(["check", *ONE_XOR, "--out", "-", *(["--wide"] if how == "--wide" else [])], capsys)
        header = next(line for line in out.splitlines() if line.startswith("layer"))
        for column in ("compares", "max abs err", "max rel err", "max err/tol", "at entry"):
            assert column in header
        assert "Per parameter group" in out

    def test_engine_notes_only_with_verbose(self, capsys, columns):
        columns(120)
        _, quiet, _ = run(["check", *ONE_XOR, "--out", "-"], capsys)
        _, verbose, _ = run(["check", *ONE_XOR, "--out", "-", "--verbose"], capsys)
        assert "note:" not in quiet and "chunk" not in quiet
        assert "note: structured engine" in verbose

    def test_printed_time_is_the_wall_time(self, capsys, columns, monkeypatch):
        columns(120)
        clock = iter(np.arange(0.0, 1e4, 5.0))  # every perf_counter call 5 s later
        monkeypatch.setattr(cli.time, "perf_counter", lambda: float(next(clock)))
        _, out, _ = run(["check", *ONE_XOR, "--out", "-"], capsys)
        seconds = float(re.search(r"loss calls, ([0-9.e+]+) s", out).group(1))
        assert seconds >= 5  # the CLI's own clock, around everything it did; the check alone is milliseconds


class TestPlurals:
    def test_one_group_one_entry(self):
        net = gc.DenseNet([1, 1], bias=False, seed=0)
        report = gc.check_network(net, np.array([[0.5]]), np.array([[0.2]]), diagnostics=False, title="tiny")
        text = str(report)
        assert "1 group," in text and "1 entry," in text
        assert "1 groups" not in text and "1 entries" not in text
        out = render_terminal(report, 80)
        assert re.search(r"\b4 checks of 4 entries\b", out)
        assert "1 checks" not in out

    def test_fit_wraps_and_never_exceeds(self):
        lines = fit(["word " * 40, "x" * 100, "short"], 30)
        assert max(map(len, lines)) <= 30
        assert lines[-1] == "short"


class TestProgressBar:
    def test_redraws_in_place_within_the_width(self, tmp_path, capsys, columns, monkeypatch):
        columns(50)
        clock = iter(np.arange(0.0, 1e5, 1.0))  # every reading a second later: the bar is drawn at once
        monkeypatch.setattr(cli.time, "perf_counter", lambda: float(next(clock)))
        code, _, err = run(["check", *ONE_XOR, "--out", str(tmp_path / "out"), "--progress", "--format", "json"],
                           capsys)
        assert code == 0
        assert "\n" not in err  # one line, redrawn with carriage returns
        draws = [d for d in err.split("\r") if d.strip()]
        assert len(draws) > 3 and all(len(d) <= 49 for d in draws)  # one column short of the width
        percents = [int(m) for d in draws for m in re.findall(r"(\d+)%", d)]
        assert percents == sorted(percents) and percents[-1] == 100
        # the measurements, then the Taylor test and sweep (the bar reaches 100 % only after them), then the files
        assert "measuring" in draws[0] and "writing reports" in draws[-1]
        assert err.endswith("\r")  # erased, so the printed results start on a clean line


class TestRefused:
    @pytest.mark.parametrize("argv,needle", [
        (["bugs", "--stress", "5"], "--stress"),
        (["bugs", "--markdown"], "--markdown"),
        (["check", "--samples", "5"], "--samples"),
        (["check", "--out", "-", "--name", "x"], "--name"),
        (["check", "--out", "-", "--replace"], "--replace"),
    ])
    def test_options_that_cannot_apply_exit_2(self, argv, needle, capsys):
        code, out, err = run(argv, capsys)
        assert code == 2
        assert out == ""
        assert len(err.strip().splitlines()) == 1 and needle in err

    def test_weights_without_data_announce_the_data(self, tmp_path, capsys):
        np.savez(tmp_path / "w.npz", **gc.DenseNet([5, 3, 2], bias=True, seed=1).params)
        code, out, _ = run(["check", "--weights", str(tmp_path / "w.npz"), "--out", "-"], capsys)
        assert code == 0
        assert "note: --weights without --data: checking on 8 seeded random samples (--seed 0)" in out
        np.savez(tmp_path / "d.npz", X=np.ones((3, 5)), y=np.zeros((3, 2)))
        _, out, _ = run(["check", "--weights", str(tmp_path / "w.npz"), "--data", str(tmp_path / "d.npz"),
                         "--out", "-"], capsys)
        assert "--weights without --data" not in out


class TestSweepTaylorBug:
    def test_taylor_with_bug_fails(self, capsys):
        code, out, _ = run(["taylor", *ONE_XOR, *BUG, "--out", "-"], capsys)
        assert code == 1
        assert re.search(r"W1\s+1\.0\d\d\s+\d+\s+FAIL", out)
        assert "hidden-derivative-missing" in out

    def test_sweep_with_bug_levels_off(self, capsys):
        _, right, _ = run(["sweep", *ONE_XOR, "--out", "-"], capsys)
        code, wrong, _ = run(["sweep", *ONE_XOR, *BUG, "--out", "-"], capsys)
        assert code == 0

        def best(text, group):
            row = next(line for line in text.splitlines() if line.split()[:2] == [group, "complex"])
            return float(row.split()[3])
        # a wrong W1 leaves the complex step's error at the gradient's own (order 1 relative); a right one not
        assert best(wrong, "W1") > 1e-3 > 1e-8 > best(right, "W1")

    def test_unknown_bug(self, capsys):
        code, _, err = run(["sweep", "--bug", "nope", "--out", "-"], capsys)
        assert code == 2 and "--bug" in err
