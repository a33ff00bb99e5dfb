"""Saving reports: fresh folders that never overwrite, and atomic writes.

Every file is written to a temporary file in its folder and renamed into
place, so a reader (or a crash) never sees half a report.  A report folder is
never reused: a second run gets ``name-2``, ``name-3``, … unless it asks to
replace the folder, which then swaps the old folder for a complete new one.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import InvalidArgument

__all__ = ["new_report_dir", "write_atomic", "write_report_files"]


def new_report_dir(directory: str | os.PathLike, name: str | None = None) -> Path:
    """Create and return a fresh sub-folder of ``directory``; never reuses an existing one.

    Parameters
    ----------
    directory : path
        Parent folder (created if missing).
    name : str, optional
        Sub-folder name; default ``gradcheck-<UTC timestamp>``.  When it
        exists, ``-2``, ``-3``, … is appended.

    Returns
    -------
    Path
        The new, empty folder.

    Raises
    ------
    InvalidArgument
        ``directory`` is a file, or ``name`` is not a plain folder name.
    """
    parent = Path(directory)
    if parent.exists() and not parent.is_dir():
        raise InvalidArgument(f"directory: {str(parent)!r} exists and is not a folder; choose another output folder")
    if name is not None and (not name or Path(name).name != name or name in (".", "..")):
        raise InvalidArgument(f"name: expected a plain folder name without path separators, got {name!r}")
    parent.mkdir(parents=True, exist_ok=True)
    base = name or "gradcheck-" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, k = parent / base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            k += 1
            candidate = parent / f"{base}-{k}"


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write a file through a temporary file in the same folder and a rename.

    Parameters
    ----------
    path : path
        The file to write; its folder must exist.
    content : str or bytes
        Text (written as UTF-8) or bytes.

    Returns
    -------
    Path
        ``path``.  On any error the old file, if any, is left as it was.
    """
    path = Path(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else "utf-8") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_report_files(directory: str | os.PathLike, contents: Mapping[str, str], name: str | None = None,
                       replace: bool = False) -> list[Path]:
    """Write ``report.<suffix>`` for every suffix and text of ``contents`` into a new sub-folder.

    Parameters
    ----------
    directory : path
        Parent folder (created if missing).
    contents : mapping of str to str
        File suffix (``"txt"``, ``"md"``, …) -> file content.
    name : str, optional
        Sub-folder name, as in :func:`new_report_dir`.
    replace : bool
        Replace an existing sub-folder ``name`` instead of creating
        ``name-2``: the new files are written to a fresh folder first, which
        then takes the old one's place.

    Returns
    -------
    list of Path
        The files written, in the order of ``contents``.
    """
    target = Path(directory) / name if name else None
    if replace and target is not None and target.exists():
        staging = new_report_dir(directory, f".{name}.new")
        for fmt, text in contents.items():
            write_atomic(staging / f"report.{fmt}", text)
        old = new_report_dir(directory, f".{name}.old")
        os.rename(target, old / "previous")
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(old / "previous", target)  # put the earlier report back
            raise
        shutil.rmtree(old)
        return [target / f"report.{fmt}" for fmt in contents]
    folder = new_report_dir(directory, name)
    return [write_atomic(folder / f"report.{fmt}", text) for fmt, text in contents.items()]
