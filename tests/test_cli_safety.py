"""The command line under hostile or careless input: files, sizes, numbers and long names (exit 2, one line)."""

from __future__ import annotations

import os

import pytest

import gradcheck as gc
import gradcheck.interfaces.cli as cli
from gradcheck.report.files import MAX_NAME_BYTES


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder, so that the default --out (reports/) never lands in the repository."""
    monkeypatch.chdir(tmp_path)


def run(argv, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gradcheck`` with ``argv``, also when argparse exits."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *needles: str) -> str:
    """The single stderr line of a usage error; it contains every needle and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class TestLongNames:
    def test_a_finished_check_of_a_deep_network_leaves_its_report(self, tmp_path, capsys, monkeypatch):
        # The check itself is replaced by a small real one: the name comes from the 200 layer sizes
        # (a 200-layer check takes a minute), and that name used to fail with "File name too long".
        X, y = gc.xor_data()
        small = gc.check_network(gc.DenseNet([3, 2, 1], seed=0), X, y)
        monkeypatch.setattr(cli, "check_network", lambda *a, **k: small)
        sizes = ",".join(["3"] + ["2"] * 198 + ["1"])
        code, out, err = run(["check", "--layers", sizes, "--data", "random", "--format", "json",
                              "--out", tmp_path / "out"], capsys)
        assert code == 0, err
        (folder,) = (tmp_path / "out").iterdir()
        assert folder.name.startswith("net-3-2-2-2") and len(folder.name.encode()) <= MAX_NAME_BYTES
        assert os.listdir(folder) == ["report.json"]
        assert str(folder / "report.json") in out
