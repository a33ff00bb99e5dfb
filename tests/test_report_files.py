"""Report folders appear whole or not at all: concurrency, failures, signals, long and bad names."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gradcheck as gc
from gradcheck.report import files
from gradcheck.report.files import MAX_NAME_BYTES, folder_name, write_folder, write_report_files

REPO = Path(__file__).resolve().parents[1]
posix_signals = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def contents(tag: str, size: int = 1000) -> dict[str, str]:
    """Four report files that all carry ``tag``, so a mixed folder is visible."""
    return {fmt: f"{tag}\n" + tag[0] * size for fmt in ("txt", "md", "json", "html")}


def folder_tags(folder: Path) -> set[str]:
    return {p.read_text(encoding="utf-8").split("\n", 1)[0] for p in folder.iterdir()}


def whole(folder: Path, tags: set[str]) -> str:
    """The one tag of a complete folder (every file present and from the same save); fails otherwise."""
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md", "report.txt"]
    found = folder_tags(folder)
    assert len(found) == 1 and found <= tags, found
    return found.pop()


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


class TestWholeFolder:
    def test_only_the_folder_appears(self, tmp_path):
        paths = write_report_files(tmp_path, contents("a"), "r")
        assert [p.parent for p in paths] == [tmp_path / "r"] * 4
        assert os.listdir(tmp_path) == ["r"]
        assert whole(tmp_path / "r", {"a"}) == "a"

    def test_replace_swaps_and_removes_the_old_folder(self, tmp_path):
        write_report_files(tmp_path, contents("a"), "r")
        write_report_files(tmp_path, {"json": "b\n"}, "r", replace=True)
        assert os.listdir(tmp_path) == ["r"]
        assert os.listdir(tmp_path / "r") == ["report.json"]

    def test_replace_creates_a_missing_folder(self, tmp_path):
        write_report_files(tmp_path, contents("a"), "r", replace=True)
        assert os.listdir(tmp_path) == ["r"]

    def test_without_replace_a_taken_name_gets_a_number(self, tmp_path):
        (tmp_path / "r").mkdir()  # even an empty folder is never taken over
        paths = write_report_files(tmp_path, contents("a"), "r")
        assert paths[0].parent.name == "r-2"
        assert os.listdir(tmp_path / "r") == []

    def test_replace_refuses_a_file_of_that_name(self, tmp_path):
        (tmp_path / "r").write_text("mine")
        with pytest.raises(gc.InvalidArgument, match=r"^name: .* is not a folder"):
            write_report_files(tmp_path, contents("a"), "r", replace=True)
        assert (tmp_path / "r").read_text() == "mine"
        assert os.listdir(tmp_path) == ["r"]

    def test_files_are_flushed_to_disk_before_the_rename(self, tmp_path, monkeypatch):
        events = []
        real_fsync, real_move = os.fsync, files._move_into_place
        monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
        monkeypatch.setattr(files, "_move_into_place",
                            lambda *a: (events.append("rename"), real_move(*a))[1])
        write_report_files(tmp_path, contents("a"), "r")
        # four files and the staging folder, then the rename, then the parent folder
        assert events == ["fsync"] * 5 + ["rename", "fsync"]


class TestFailures:
    """A failure at any step leaves the old folder as it was and nothing else."""

    @pytest.fixture
    def old(self, tmp_path):
        write_report_files(tmp_path, contents("old"), "r")
        return tmp_path

    @pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt(),
                                     RuntimeError("renderer bug")])
    @pytest.mark.parametrize("at", [0, 2, 3])
    def test_failure_while_writing(self, old, monkeypatch, exc, at):
        real, calls = files._write_fd, []

        def failing(fd, path, content):
            calls.append(1)
            if len(calls) == at + 1:
                os.close(fd)
                raise exc
            real(fd, path, content)

        monkeypatch.setattr(files, "_write_fd", failing)
        with pytest.raises(type(exc)):
            write_report_files(old, contents("new"), "r", replace=True)
        assert os.listdir(old) == ["r"]
        assert whole(old / "r", {"old"}) == "old"

    def test_failure_of_the_rename(self, old, monkeypatch):
        def refuse(*args):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(files, "_move_into_place", refuse)
        with pytest.raises(OSError, match="Input/output"):
            write_report_files(old, contents("new"), "r", replace=True)
        assert os.listdir(old) == ["r"]
        assert whole(old / "r", {"old"}) == "old"

    def test_new_folder_is_not_left_half_written(self, tmp_path, monkeypatch):
        real, calls = files._write_fd, []

        def full_disk(fd, path, content):
            calls.append(1)
            if len(calls) == 4:  # txt, md and json fit, html does not
                os.close(fd)
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd, path, content)

        monkeypatch.setattr(files, "_write_fd", full_disk)
        with pytest.raises(OSError, match="No space"):
            write_report_files(tmp_path, contents("new"), "r")
        assert os.listdir(tmp_path) == []


class TestConcurrentReplace:
    def test_eight_processes_replace_the_same_folder(self, tmp_path):
        script = textwrap.dedent("""
            import sys
            from gradcheck.report.files import write_report_files
            tag = sys.argv[2]
            for _ in range(15):
                write_report_files(sys.argv[1], {f: tag + "\\n" + "x" * 5000 for f in ("txt", "md", "json", "html")},
                                   "same", replace=True)
            """)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"writer{k}"], env=child_env(),
                                  stderr=subprocess.PIPE, text=True) for k in range(8)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 8, errors
        assert os.listdir(tmp_path) == ["same"]
        whole(tmp_path / "same", {f"writer{k}" for k in range(8)})

    def test_concurrent_new_folders_never_share_a_name(self, tmp_path):
        script = textwrap.dedent("""
            import sys
            from gradcheck.report.files import write_report_files
            for _ in range(5):
                write_report_files(sys.argv[1], {f: sys.argv[2] + "\\n" for f in ("txt", "md", "json", "html")},
                                   "run")
            """)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"writer{k}"], env=child_env(),
                                  stderr=subprocess.PIPE, text=True) for k in range(6)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors
        names = sorted(os.listdir(tmp_path))
        assert len(names) == 30 and set(names) == {"run"} | {f"run-{k}" for k in range(2, 31)}
        counts: dict[str, int] = {}
        for name in names:
            tag = whole(tmp_path / name, {f"writer{k}" for k in range(6)})
            counts[tag] = counts.get(tag, 0) + 1
        assert counts == {f"writer{k}": 5 for k in range(6)}


@posix_signals
class TestSignals:
    """Fault injection: a process replacing a folder in a loop is killed at random moments."""

    SCRIPT = textwrap.dedent("""
        import signal
        import sys
        from gradcheck.report.files import write_report_files
        # A shell's background job starts with SIGINT ignored, and Python keeps that: Ctrl-C as in a terminal.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out, k = sys.argv[1], 0
        while True:
            tag = f"save{k}"
            # large enough files that a signal often lands inside a save
            write_report_files(out, {f: tag + "\\n" + "x" * 400_000 for f in ("txt", "md", "json", "html")},
                               "r", replace=True)
            if k == 0:
                print("ready", flush=True)
            k += 1
        """)

    def kill_at_random(self, tmp_path: Path, sig: int, rounds: int, seed: int) -> list[set[str]]:
        rng = random.Random(seed)
        leftovers = []
        for _ in range(rounds):
            proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(tmp_path)], env=child_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
                time.sleep(rng.uniform(0.0, 0.08))
                proc.send_signal(sig)
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:  # a failed round leaves no writer looping behind it
                    proc.kill()
                    proc.wait()
            assert proc.returncode != 0  # it was stopped by the signal, not finished
            tag = whole(tmp_path / "r", {f"save{k}" for k in range(100_000)})
            assert tag.startswith("save")
            leftovers.append(set(os.listdir(tmp_path)) - {"r"})
        return leftovers

    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
    def test_sigterm_and_sigint_leave_one_whole_folder_and_nothing_else(self, tmp_path, sig):
        assert self.kill_at_random(tmp_path, sig, rounds=8, seed=sig) == [set()] * 8

    def test_sigkill_leaves_a_whole_folder_and_the_next_save_sweeps_the_staging(self, tmp_path):
        leftovers = self.kill_at_random(tmp_path, signal.SIGKILL, rounds=8, seed=9)
        # only hidden staging folders of the killed processes may remain, never a visible partial one
        assert all(name.startswith(".r.") and name.endswith(".tmp") for left in leftovers for name in left)
        write_report_files(tmp_path, contents("after"), "r", replace=True)
        assert os.listdir(tmp_path) == ["r"]

    def test_a_signal_during_a_save_acts_after_it(self, tmp_path, monkeypatch):
        real, seen = files._write_fd, []

        def interrupted(fd, path, content):
            if not seen:
                os.kill(os.getpid(), signal.SIGINT)  # pending until the folder is in place
                seen.append(1)
            real(fd, path, content)

        monkeypatch.setattr(files, "_write_fd", interrupted)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even in a background
        try:
            with pytest.raises(KeyboardInterrupt):
                write_report_files(tmp_path, contents("a"), "r")
        finally:
            signal.signal(signal.SIGINT, previous)
        assert os.listdir(tmp_path) == ["r"]
        assert whole(tmp_path / "r", {"a"}) == "a"


class TestNames:
    def test_nul_in_the_name_is_invalid(self, tmp_path):
        with pytest.raises(gc.InvalidArgument, match=r"^name: .*NUL"):
            write_report_files(tmp_path, contents("a"), "bad\x00name")
        report = gc.check_grad(lambda x: float(x @ x), lambda x: 2 * x, [1.0, 2.0])
        with pytest.raises(gc.InvalidArgument, match=r"^name:"):
            report.save(tmp_path, name="a\x00b")
        with pytest.raises(gc.InvalidArgument, match=r"^directory:"):
            report.save(str(tmp_path) + "/x\x00y")
        assert os.listdir(tmp_path) == []

    @pytest.mark.parametrize("name", ["a/b", "..", ".", ""])
    def test_path_like_names_are_invalid(self, tmp_path, name):
        with pytest.raises(gc.InvalidArgument, match=r"^name:"):
            write_report_files(tmp_path, contents("a"), name)

    def test_long_names_are_shortened_with_a_stable_hash(self, tmp_path):
        long = "net-" + "-".join(["128"] * 200) + "-init"
        other = long[:-5] + "-trained"
        assert len(long.encode()) > 255
        short = folder_name(long)
        assert len(short.encode()) <= MAX_NAME_BYTES and short.startswith("net-128-128")
        assert folder_name(long) == short and folder_name(other) != short
        write_report_files(tmp_path, contents("a"), long)
        write_report_files(tmp_path, contents("b"), long, replace=True)
        write_report_files(tmp_path, contents("c"), other)
        assert sorted(os.listdir(tmp_path)) == sorted([short, folder_name(other)])
        assert whole(tmp_path / short, {"b"}) == "b"

    def test_multibyte_names_are_cut_on_a_character(self):
        short = folder_name("δ" * 300)
        assert len(short.encode()) <= MAX_NAME_BYTES
        assert short.encode().decode("utf-8") == short

    def test_short_names_are_kept(self):
        assert folder_name("xor-3-4-4-1-nobias-init") == "xor-3-4-4-1-nobias-init"


def test_write_folder_takes_bytes_and_names_files(tmp_path):
    paths = write_folder(tmp_path, {"plot.png": b"\x89PNG", "notes.txt": "δ"}, "p")
    assert [p.name for p in paths] == ["plot.png", "notes.txt"]
    assert paths[0].read_bytes() == b"\x89PNG" and paths[1].read_text(encoding="utf-8") == "δ"


class TestWithoutRenameat2:
    """Where the system has no renameat2 (macOS, old kernels), the portable path keeps the same results."""

    @pytest.fixture(autouse=True)
    def portable(self, monkeypatch):
        monkeypatch.setattr(files, "_libc_renameat2", lambda: None)

    def test_new_taken_and_replaced_folders(self, tmp_path):
        write_report_files(tmp_path, contents("a"), "r")
        (tmp_path / "r-2").mkdir()
        assert write_report_files(tmp_path, contents("b"), "r")[0].parent.name == "r-3"
        write_report_files(tmp_path, contents("c"), "r", replace=True)
        write_report_files(tmp_path, contents("d"), "new", replace=True)
        assert sorted(os.listdir(tmp_path)) == ["new", "r", "r-2", "r-3"]
        assert [whole(tmp_path / n, set("abcd")) for n in ("new", "r", "r-3")] == ["d", "c", "b"]
        assert os.listdir(tmp_path / "r-2") == []
