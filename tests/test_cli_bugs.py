"""`gradcheck bugs`, `gradcheck sweep`, `gradcheck taylor` and `check --bug`."""

import json

import pytest

from gradcheck.catalogue.bugs import CATALOGUE
from gradcheck.interfaces.cli import main


def test_bugs_lists_catalogue(capsys):
    assert main(["bugs", "--list"]) == 0
    out = capsys.readouterr().out
    for name in CATALOGUE:
        assert name in out


def test_bugs_all_detected_exits_zero(capsys):
    assert main(["bugs"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    detected, total = last.split("detected ")[1].split(",")[0].split("/")
    assert detected == total
    located = last.split("located exactly ")[1].split(",")[0].split("/")
    assert located[0] == located[1]


@pytest.mark.parametrize("bug", ["sign-error", "hidden-derivative-missing", "corrupted-entry"])
def test_check_with_bug_exits_one_and_writes_failing_report(bug, tmp_path, capsys):
    assert main(["check", "--layers", "3,4,4,1", "--no-bias", "--bug", bug, "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "probable cause" in out
    (folder,) = list(tmp_path.iterdir())
    assert folder.name.endswith(f"-bug-{bug}")
    data = json.loads((folder / "report.json").read_text())
    assert data["passed"] is False
    assert data["diagnosis"][0]["cause"] == CATALOGUE[bug].cause
    assert f"--bug {bug}" in data["config"]["command"]


def test_bug_that_does_not_fit_the_architecture_is_usage_error(capsys):
    assert main(["check", "--layers", "3,5,2", "--bug", "missing-transpose", "--out", "-"]) == 2
    assert "cannot be made" in capsys.readouterr().err


def test_unknown_bug(capsys):
    assert main(["check", "--bug", "nope", "--out", "-"]) == 2
    assert "gradcheck bugs --list" in capsys.readouterr().err


def test_taylor_command(capsys):
    assert main(["taylor", "--out", "-"]) == 0
    assert "observed order" in capsys.readouterr().out
    assert main(["taylor", "--bug", "factor-two", "--out", "-"]) == 1


def test_sweep_command_writes_plot(tmp_path, capsys):
    assert main(["sweep", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best h" in out
    pngs = list(tmp_path.rglob("*.png"))
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")
