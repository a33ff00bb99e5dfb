"""The command line's console and output-folder helpers: a progress bar that fits the terminal, and where a
rerun writes its reports.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgument
from ..report.files import candidates, folder_name, write_folder
from ..report.terminal import fit, terminal_width

if TYPE_CHECKING:
    from .backprop_property import BackpropVerification

__all__ = ["ProgressBar", "folder_for", "refuse_out_options", "save_verification", "written"]


class ProgressBar:
    """A one-line progress bar on stderr that fits the terminal and redraws in place.

    It shows the share of the work done and the phase (measuring, writing
    the reports …); ``close()`` erases it, so the printed results start on a
    clean line.
    """

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.start = time.perf_counter()
        self.fraction, self.phase, self.drawn = 0.0, "", 0

    def __call__(self, done: int, total: int) -> None:
        self.fraction = min(1.0, done / max(total, 1))
        self._draw()

    def set_phase(self, phase: str) -> None:
        """Name what runs now (shown after the percentage)."""
        self.phase = phase
        self._draw()

    def _draw(self) -> None:
        # Short checks finish before a bar would be readable.
        if not self.enabled or time.perf_counter() - self.start < 0.5:
            return
        # One column short of the width: a line that fills the last column wraps on some terminals.
        room = terminal_width() - 1
        tail = f" {100 * self.fraction:3.0f}%" + (f" {self.phase}" if self.phase else "")
        bar = max(0, min(30, room - len(self.label) - len(tail) - 3))
        filled = int(bar * self.fraction)
        label = self.label
        if bar < 5 and len(label) + len(tail) > room:
            # Too narrow for a bar: shorten the label, keep the share done and the phase.
            label = label[:max(0, room - len(tail) - 1)] + "…"
        line = (f"{label} [{'#' * filled}{'.' * (bar - filled)}]" if bar >= 5 else label) + tail
        line = line[:room]
        # Spaces over what is left of a longer earlier line, then back to its start.
        sys.stderr.write("\r" + line.ljust(self.drawn))
        sys.stderr.flush()
        self.drawn = len(line)

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * self.drawn + "\r")
            sys.stderr.flush()
            self.drawn = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_for(out: str, name: str, command: str, replace: bool) -> tuple[str, bool]:
    """The sub-folder to write and whether to replace it: ``name`` or the ``name-k`` that ``command`` wrote before.

    A rerun of the same command replaces its own report instead of adding ``-2``, ``-3``, … folders;
    any other check keeps its report, and the new one gets a fresh folder.
    """
    name = folder_name(name)  # long names are shortened, as the folder on disk is
    if replace:
        return name, True
    for candidate in candidates(Path(out), name):
        if not candidate.is_dir():
            return name, False
        if _same_command(candidate, command):
            return candidate.name, True
    raise AssertionError("unreachable: candidates() never ends")


def _same_command(folder: Path, command: str) -> bool:
    """Whether ``folder`` holds a report that ``command`` wrote (read from its report.json)."""
    try:
        doc = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    recorded = doc.get("config", {}).get("command") if isinstance(doc.get("config"), dict) else doc.get("command")
    return recorded == command


def written(paths: list[Path], width: int) -> list[str]:
    """One line (wrapped to ``width``) naming the folder and the files written into it."""
    if not paths:
        return []
    folder = paths[0].parent
    return fit([f"reports written: {folder}{os.sep} ({', '.join(p.name for p in paths)})"], width)


def refuse_out_options(args: argparse.Namespace) -> None:
    """Options that choose where reports go cannot apply when nothing is written."""
    if args.out == "-":
        for option, given in (("--name", args.name is not None), ("--replace", args.replace)):
            if given:
                raise InvalidArgument(f"{option}: applies only when reports are written; drop it or give --out DIR")


def save_verification(out: str, target: str, result: BackpropVerification, suffixes: list[str],
                      command: str) -> list[Path]:
    """The minimal failing network's report (or, without one, the verdict) and its arrays, in one whole folder.

    Parameters
    ----------
    out : str
        The reports' parent folder.
    target : str
        ``FILE.py:FUNCTION`` as given.
    result : BackpropVerification
    suffixes : list of str
        The report formats to write (``"txt"``, ``"md"``, ``"json"``, ``"html"``).
    command : str
        The command line that reproduces the verification, recorded with it.

    Returns
    -------
    list of Path
        The files written (none when no format applies).
    """
    file, _, function = target.rpartition(":")
    name = f"verify-{os.path.splitext(os.path.basename(file))[0]}-{function}"
    report, case = result.report, result.counterexample
    if report is not None:
        report.config["command"] = command
        report.notes.append(f"the minimal failing network that verify_backprop found after {result.examples} "
                            "networks; its arrays are in counterexample.npz")
        contents = report.rendered(suffixes)
    else:
        # Passed, or the function raised: the verdict is the whole report.
        summary = {**result.to_dict(), "command": command}
        contents = {"txt": str(result) + "\n", "json": json.dumps(summary, indent=2) + "\n"}
        contents = {k: v for k, v in contents.items() if k in suffixes}
    if not contents:
        return []
    files: dict[str, str | bytes] = {f"report.{k}": v for k, v in contents.items()}
    if case is not None:
        # Any: numpy's stubs give savez a bool keyword (allow_pickle, numpy >= 2) that these names never meet
        arrays: dict[str, Any] = {"X": case.X, "y": case.y}
        for l, W in enumerate(case.weights, 1):
            arrays[f"W{l}"] = W
        arrays.update({f"b{l}": b for l, b in enumerate(case.biases or (), 1)})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        files["counterexample.npz"] = buffer.getvalue()
    folder, replace = folder_for(out, name, command, False)
    # one folder with the report and its arrays, which appears whole
    return write_folder(out, files, folder, replace=replace)
