"""The command line under hostile or careless input: files, sizes, numbers and long names (exit 2, one line)."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _cli import run

import gradcheck as gc
import gradcheck.interfaces.cli as cli
import gradcheck.interfaces.inputs as inputs
from gradcheck.interfaces.inputs import DEFAULT_MAX_INPUT_BYTES, byte_size, physical_memory
from gradcheck.report.files import MAX_NAME_BYTES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run from an empty folder, so that the default --out (reports/) never lands in the repository."""
    monkeypatch.chdir(tmp_path)




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
        # the printed path wraps to the terminal's width, continuing lines indented
        assert f"{folder}/ (report.json)" in out.replace("\n  ", "")


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def huge_npz(path, shape=(100_000, 100_000)):
    """A few hundred bytes whose one header declares an array of ``shape`` float64 (no data follows)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue())
        archive.writestr("y.npy", header.getvalue())
    return path


CHECK = ["check", "--out", "-", "--format", "json"]


class TestInputFiles:
    def test_a_regular_npz_is_loaded(self, tmp_path, capsys):
        rng = np.random.default_rng(0)
        data = save_npz(tmp_path / "d.npz", X=rng.standard_normal((4, 2)), y=rng.random((4, 1)))
        code, _, err = run(CHECK + ["--layers", "2,3,1", "--data", data], capsys)
        assert code == 0, err

    def test_a_npy_for_weights_is_the_weight_of_a_one_layer_network(self, tmp_path, capsys):
        W = np.array([[0.5], [-1.0], [0.25]])
        np.save(tmp_path / "W.npy", W)
        code, out, err = run(["check", "--weights", tmp_path / "W.npy", "--out", tmp_path / "out",
                              "--format", "json"], capsys)
        assert code == 0, err
        (report,) = (tmp_path / "out").glob("*/report.json")
        assert json.loads(report.read_text())["config"]["command"].startswith(f"gradcheck check --weights {tmp_path}")
        assert "3-1" in report.parent.name

    @pytest.mark.parametrize("option", ["--data", "--weights"])
    def test_a_npy_renamed_to_npz_is_read_for_what_it_is(self, tmp_path, capsys, option):
        np.save(tmp_path / "a.npy", np.ones((3, 1)))
        os.rename(tmp_path / "a.npy", tmp_path / "a.npz")
        code, _, err = run(CHECK + [option, tmp_path / "a.npz"], capsys)
        if option == "--data":  # one array cannot be both X and y
            assert code == 2
            one_line_error(err, "--data:", "is one .npy array", "numpy.savez(path, X=X, y=y)")
        else:
            assert code == 0, err

    def test_a_truncated_zip(self, tmp_path, capsys):
        data = save_npz(tmp_path / "d.npz", X=np.ones((50, 3)), y=np.ones((50, 1)))
        content = data.read_bytes()
        data.write_bytes(content[:len(content) // 2])
        code, _, err = run(CHECK + ["--data", data], capsys)
        assert code == 2
        one_line_error(err, "--data:", "damaged or truncated")

    def test_an_empty_file(self, tmp_path, capsys):
        (tmp_path / "e.npz").write_bytes(b"")
        code, _, err = run(CHECK + ["--weights", tmp_path / "e.npz"], capsys)
        assert code == 2
        one_line_error(err, "--weights:", "is empty")

    def test_a_text_file(self, tmp_path, capsys):
        (tmp_path / "t.npz").write_text("W1 = 1, 2, 3\n")
        code, _, err = run(CHECK + ["--weights", tmp_path / "t.npz"], capsys)
        assert code == 2
        one_line_error(err, "--weights:", "not a .npz or .npy file")

    def test_pickles_are_refused(self, tmp_path, capsys):
        (tmp_path / "p.npz").write_bytes(pickle.dumps({"W1": np.ones((3, 1))}))
        code, _, err = run(CHECK + ["--weights", tmp_path / "p.npz"], capsys)
        assert code == 2
        one_line_error(err, "--weights:", "is a pickle")
        np.savez(tmp_path / "o.npz", W1=np.array([None, 1.0], dtype=object))
        code, _, err = run(CHECK + ["--weights", tmp_path / "o.npz"], capsys)
        assert code == 2
        one_line_error(err, "--weights:", "Python objects")

    def test_a_folder_is_not_a_file(self, tmp_path, capsys):
        code, _, err = run(CHECK + ["--data", tmp_path], capsys)
        assert code == 2
        one_line_error(err, "--data:", "is a folder, not a regular file")

    def test_a_zip_with_other_members(self, tmp_path, capsys):
        with zipfile.ZipFile(tmp_path / "z.npz", "w") as archive:
            archive.writestr("README.txt", "hello")
            archive.writestr("W1.npy", b"")
        code, _, err = run(CHECK + ["--weights", tmp_path / "z.npz"], capsys)
        assert code == 2
        one_line_error(err, "--weights:", "holds 'README.txt', not an .npy array")

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
    def test_a_fifo_is_refused_not_waited_for(self, tmp_path):
        os.mkfifo(tmp_path / "fifo")
        # A subprocess with a timeout: a regression would otherwise hang the test run.
        proc = subprocess.run([sys.executable, "-m", "gradcheck", *CHECK, "--data", str(tmp_path / "fifo")],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 2
        one_line_error(proc.stderr, "--data:", "is a FIFO, not a regular file")

    def test_a_huge_declared_array_is_refused_before_it_is_allocated(self, tmp_path, capsys):
        data = huge_npz(tmp_path / "bomb.npz")
        assert data.stat().st_size < 1000
        code, _, err = run(CHECK + ["--data", data], capsys)
        assert code == 2
        # 2 arrays of 1e10 float64 = 1.6e11 bytes = 149 GiB
        one_line_error(err, "--data:", "declares 149 GiB", "shape (100000, 100000)", "--max-input-bytes")

    def test_the_declared_size_counts_not_the_compressed_size(self, tmp_path, capsys):
        np.savez_compressed(tmp_path / "z.npz", X=np.zeros((1000, 1000)), y=np.zeros((1000, 1)))
        assert (tmp_path / "z.npz").stat().st_size < 100_000
        code, _, err = run(CHECK + ["--layers", "1000,2,1", "--data", tmp_path / "z.npz",
                                    "--max-input-bytes", "1M"], capsys)
        assert code == 2
        one_line_error(err, "--data:", "declares 7.64 MiB", "more than --max-input-bytes 1 MiB")

    @pytest.mark.parametrize("value", ["abc", "0", "-5M", "nan"])
    def test_bad_limits_are_usage_errors(self, capsys, value):
        code, _, err = run(CHECK + ["--max-input-bytes", value], capsys)
        assert code == 2 and "--max-input-bytes" in err and "Traceback" not in err

    def test_limits_parse_binary_units(self):
        assert [byte_size(t) for t in ("4096", "1K", "512M", "2G", "1.5GiB")] == [
            4096, 1024, 512 << 20, 2 << 30, 3 << 29]
        assert DEFAULT_MAX_INPUT_BYTES <= 1 << 30
        memory = physical_memory()
        assert memory is None or DEFAULT_MAX_INPUT_BYTES <= memory // 8


class TestSizesAndNumbers:
    """Sizes this machine cannot hold are refused before anything is allocated, naming the size."""

    @pytest.fixture(autouse=True)
    def memory(self, monkeypatch):
        # The estimates are compared with this machine's memory; pin it so the test means the same everywhere.
        monkeypatch.setattr(inputs, "physical_memory", lambda: 16 << 30)

    # The estimate (inputs.network_check_bytes): 56 B per parameter, 112 B per sample and unit, and 1.25 times
    # the default 256 MB budget, e.g. (1e10 + 2e5 + 1e5 + 1) parameters -> 522 GiB; 1e9 samples x 9 units -> 939 GiB.
    @pytest.mark.parametrize("argv, needle", [
        (["check", "--layers", "100000,100000,1"], "--layers 100000,100000,1: needs about 522 GiB"),
        (["check", "--layers", "3,4,2", "--samples", "1000000000"],
         "--layers 3,4,2 --samples 1000000000: needs about 939 GiB"),
        (["check", "--data", "random", "--samples", "1000000000"], "--samples 1000000000: needs about"),
        (["taylor", "--layers", "5,3", "--samples", "1000000000"], "--samples 1000000000: needs about 835 GiB"),
        (["check", "--train", "1000000000000"], "--train 1000000000000: needs about 7.28 TiB"),
        (["xor", "--iterations", "1000000000000"], "--iterations 1000000000000: needs about 7.28 TiB"),
    ])
    def test_sizes_beyond_memory(self, capsys, argv, needle):
        code, out, err = run(argv + (["--out", "-"] if argv[0] != "xor" else []), capsys)
        assert code == 2
        one_line_error(err, needle, "more than this machine's 16 GiB")
        assert out == ""

    def test_sizes_that_fit_are_not_refused(self, capsys):
        code, _, err = run(["check", "--layers", "2,3,1", "--samples", "30", "--out", "-", "--format", "json"],
                           capsys)
        assert code == 0, err

    @pytest.mark.parametrize("argv", [["xor", "--seed", "-1"], ["xor", "--seed", "a"], ["check", "--seed", "-1"]])
    def test_negative_numbers_are_usage_errors(self, capsys, argv):
        code, _, err = run(argv, capsys)
        assert code == 2
        assert "expected a non-negative integer" in err and "Traceback" not in err

    def test_memory_error_is_a_usage_error_not_a_traceback(self, capsys, monkeypatch):
        def exhausted(*args, **kwargs):
            raise MemoryError()

        monkeypatch.setattr(cli, "check_network", exhausted)
        code, _, err = run(["check", "--out", "-", "--layers", "2,2,1"], capsys)
        assert code == 2
        one_line_error(err, "out of memory")
