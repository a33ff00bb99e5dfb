"""Saving reports: a report folder appears whole or not at all.

A folder of reports is written into a hidden staging folder next to its
final place, every file and the folder are flushed to disk (``fsync``), and
only then is the staging folder renamed into place.  Readers, a crash, a
full disk, an exception or a concurrent writer therefore see either the
previous folder or the complete new one, never a mix.

* A new folder never takes an existing name: a second save gets ``name-2``,
  ``name-3``, … (on Linux the rename itself refuses to overwrite,
  ``RENAME_NOREPLACE``).
* ``replace=True`` swaps the new folder for the old one in one step on Linux
  (``RENAME_EXCHANGE``), so any number of processes may replace the same
  folder at once; the last swap wins and every loser's folder is removed.
  Elsewhere the old folder is moved aside and the new one renamed in, retried
  until no concurrent writer interferes.
* SIGINT, SIGTERM and SIGHUP arriving during the write are held back until the
  folder is in place (the write takes milliseconds), then act as usual.  Only
  SIGKILL or a power cut can leave a hidden
  staging folder behind (``.NAME.<random>.<host>-<pid>.tmp``); it is never read
  as a report, and the next save into the same parent removes those whose
  process is gone.
* Names longer than :data:`MAX_NAME_BYTES` are shortened to a prefix and a
  stable hash of the whole name, so a long default name (a 200-layer network's
  sizes) never fails with "File name too long".
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import InvalidArgument

__all__ = ["MAX_NAME_BYTES", "candidates", "folder_name", "new_report_dir", "write_atomic", "write_folder",
           "write_report_files"]

#: Longest folder name kept as given, in UTF-8 bytes.  File systems allow 255; the staging folder adds
#: its marker (about 40 bytes) to the name, and the hash suffix of a shortened name takes 13.
MAX_NAME_BYTES = 180

_SIGNALS = tuple(getattr(signal, s) for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s))
# Marks the staging folders of this host, so that a sweep never removes a live writer's folder on
# another machine sharing the disk.
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:6]
_STAGING = re.compile(r"^\..*\.([0-9a-f]{6})-(\d+)\.tmp$")


def folder_name(name: str) -> str:
    """``name`` checked, and shortened with a stable hash when it is too long for a file system.

    Parameters
    ----------
    name : str
        A plain folder name (no path separators, not ``.`` or ``..``, no NUL).

    Returns
    -------
    str
        ``name`` itself when at most :data:`MAX_NAME_BYTES` long in UTF-8, else
        its longest prefix that fits with ``-`` and 12 hex digits of its
        SHA-256 appended (the same name always maps to the same folder).

    Raises
    ------
    InvalidArgument
        ``name`` is not a plain folder name.
    """
    if (not isinstance(name, str) or not name or "\x00" in name or name in (".", "..")
            or Path(name).name != name or "/" in name or os.sep in name or (os.altsep or "/") in name):
        raise InvalidArgument(f"name: expected a plain folder name without path separators or NUL, got {name!r}")
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:12]
    prefix = encoded[:MAX_NAME_BYTES - 13].decode("utf-8", "ignore").rstrip("-._ ")
    return f"{prefix}-{digest}"


def new_report_dir(directory: str | os.PathLike, name: str | None = None) -> Path:
    """Create and return a fresh, empty sub-folder of ``directory``; never reuses an existing one.

    For a folder that should appear with its files, use :func:`write_folder`.

    Parameters
    ----------
    directory : path
        Parent folder (created if missing).
    name : str, optional
        Sub-folder name (shortened as by :func:`folder_name`); default
        ``gradcheck-<UTC timestamp>``.  When it exists, ``-2``, ``-3``, … is appended.

    Returns
    -------
    Path
        The new, empty folder.

    Raises
    ------
    InvalidArgument
        ``directory`` is a file, or ``name`` is not a plain folder name.
    """
    parent, base = _prepare(directory, name)
    for candidate in candidates(parent, base):
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable: the candidates never end")


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write one file through a temporary file in the same folder, a flush and a rename.

    Parameters
    ----------
    path : path
        The file to write; its folder must exist.
    content : str or bytes
        Text (written as UTF-8) or bytes.

    Returns
    -------
    Path
        ``path``.  On any error the old file, if any, is left as it was and the
        temporary file is removed.
    """
    path = Path(path)
    with _signals_deferred():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            _write_fd(fd, tmp, content)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return path


def write_folder(directory: str | os.PathLike, files: Mapping[str, str | bytes], name: str | None = None,
                 replace: bool = False) -> list[Path]:
    """Write ``files`` into a sub-folder of ``directory`` that appears whole or not at all.

    Parameters
    ----------
    directory : path
        Parent folder (created if missing).
    files : mapping of str to str or bytes
        File name -> content (text is written as UTF-8).
    name : str, optional
        Sub-folder name (shortened as by :func:`folder_name`); default
        ``gradcheck-<UTC timestamp>``.
    replace : bool
        Replace an existing sub-folder ``name`` (in one step on Linux) instead
        of creating ``name-2``.

    Returns
    -------
    list of Path
        The files written, in the order of ``files``.

    Raises
    ------
    InvalidArgument
        ``directory`` is a file, ``name`` is not a plain folder name, or a
        file name is not a plain file name.
    OSError
        The disk is full, a folder cannot be written, and the like; the old
        folder (if any) is then untouched and no staging folder is left.
    """
    for file in files:
        if folder_name(file) != file:
            raise InvalidArgument(f"files: file name {file[:40]!r}… is too long; use a shorter one")
    parent, base = _prepare(directory, name)
    _sweep_stale(parent)
    with _signals_deferred():
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{base}.", suffix=_marker()))
        try:
            _chmod_like_mkdir(staging)
            for file, content in files.items():
                fd = os.open(staging / file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                             0o666)
                _write_fd(fd, None, content)
            _fsync_dir(staging)
            target = _move_into_place(staging, parent, base, replace)
            _fsync_dir(parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return [target / file for file in files]


def write_report_files(directory: str | os.PathLike, contents: Mapping[str, str], name: str | None = None,
                       replace: bool = False) -> list[Path]:
    """Write ``report.<suffix>`` for every suffix and text of ``contents`` as one whole folder.

    Parameters
    ----------
    directory : path
        Parent folder (created if missing).
    contents : mapping of str to str
        File suffix (``"txt"``, ``"md"``, …) -> file content.
    name : str, optional
        Sub-folder name, as in :func:`write_folder`.
    replace : bool
        Replace an existing sub-folder ``name`` instead of creating ``name-2``.

    Returns
    -------
    list of Path
        The files written, in the order of ``contents``.
    """
    return write_folder(directory, {f"report.{fmt}": text for fmt, text in contents.items()}, name, replace)


# -- helpers -------------------------------------------------------------------


def _prepare(directory: str | os.PathLike, name: str | None) -> tuple[Path, str]:
    """The parent folder (created) and the checked, shortened base name."""
    parent = Path(directory)
    if "\x00" in os.fspath(parent):
        raise InvalidArgument(f"directory: {os.fspath(parent)!r} contains a NUL character; choose another folder")
    if parent.exists() and not parent.is_dir():
        raise InvalidArgument(f"directory: {str(parent)!r} exists and is not a folder; choose another output folder")
    base = folder_name(name) if name is not None else (
        "gradcheck-" + _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    parent.mkdir(parents=True, exist_ok=True)
    return parent, base


def candidates(parent: Path, base: str) -> Iterator[Path]:
    """``parent/base``, then ``parent/base-2``, ``parent/base-3``, …: the names a report folder may take."""
    yield parent / base
    k = 2
    while True:
        yield parent / f"{base}-{k}"
        k += 1


def _write_fd(fd: int, path: str | None, content: str | bytes) -> None:
    """Write ``content`` to the open descriptor ``fd``, flush it to disk and close it."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with os.fdopen(fd, "wb") as fh:
        if path is not None:
            _chmod_like_open(path)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _chmod_like_open(path: str) -> None:
    # mkstemp creates the file 0600; give it the permissions a plain open() would.
    os.chmod(path, 0o666 & ~_umask())


def _chmod_like_mkdir(path: Path) -> None:
    # mkdtemp creates the folder 0700; a report folder gets the permissions of a plain mkdir.
    os.chmod(path, 0o777 & ~_umask())


def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, where the platform can (not on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the data files are flushed already
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP; one that arrives meanwhile acts when the block ends.

    On the main thread the signals get a handler that only notes them (the
    operating system may deliver a process's signal to any thread, numpy's
    BLAS threads included; Python runs the handler on the main thread), and
    the noted signal is raised again once the old handlers are back.  On
    another thread, where handlers cannot be set, the signals are blocked
    for that thread.
    """
    if threading.current_thread() is not threading.main_thread():
        if not hasattr(signal, "pthread_sigmask"):
            yield
            return
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return
    pending: list[int] = []
    previous = {}
    try:
        for sig in _SIGNALS:
            previous[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)  # None: set outside Python
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)


def _marker() -> str:
    """The end of a staging folder's name: which host and process may still be writing it."""
    return f".{_HOST}-{os.getpid()}.tmp"


def _sweep_stale(parent: Path) -> None:
    """Remove staging folders that a killed writer on this host left in ``parent``."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        match = _STAGING.match(entry.name)
        if match is None or match.group(1) != _HOST or not entry.is_dir(follow_symlinks=False):
            continue
        if not _alive(int(match.group(2))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists under another user, or cannot tell: keep its folder
    return True


# Linux renameat2 flags (linux/fs.h).
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux ``renameat2``; False when the system or the file system does not provide it."""
    func = _libc_renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


_LIBC: list = []


def _libc_renameat2():
    if not _LIBC:
        func = None
        if sys.platform.startswith("linux"):
            try:
                func = ctypes.CDLL(None, use_errno=True).renameat2
                func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                func.restype = ctypes.c_int
            except (OSError, AttributeError):
                func = None
        _LIBC.append(func)
    return _LIBC[0]


def _rename_new(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, which must not exist (FileExistsError otherwise)."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if os.name == "nt":
        os.rename(src, dst)  # Windows never renames onto an existing name
        return
    # POSIX rename silently replaces an empty folder, so claim the name first.
    dst.mkdir()
    try:
        os.rename(src, dst)
    except BaseException:
        os.rmdir(dst)
        raise


def _move_into_place(staging: Path, parent: Path, base: str, replace: bool) -> Path:
    """Rename the finished ``staging`` folder to its name; the folder it replaces is removed."""
    if not replace:
        for candidate in candidates(parent, base):
            try:
                _rename_new(staging, candidate)
                return candidate
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
    target = parent / base
    if target.exists() and not target.is_dir():
        raise InvalidArgument(f"name: {str(target)!r} exists and is not a folder; choose another name")
    while True:
        try:
            if _renameat2(staging, target, _RENAME_EXCHANGE):
                # staging now holds the folder that was replaced.
                shutil.rmtree(staging, ignore_errors=True)
                return target
        except FileNotFoundError:
            pass  # no folder to exchange with: create it below
        else:
            _replace_in_two_steps(staging, target)
            return target
        try:
            _rename_new(staging, target)
            return target
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another writer created it between the two calls: exchange with theirs.


def _replace_in_two_steps(staging: Path, target: Path) -> None:
    """Where no atomic exchange exists: move the old folder aside, rename the new one in, remove the old."""
    aside = staging.with_name(f".{target.name}.{secrets.token_hex(4)}{_marker()}")
    while True:
        shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(target, aside)
        except FileNotFoundError:
            pass
        try:
            os.rename(staging, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EACCES):
                raise
            continue  # a concurrent writer put its folder there first: move that one aside too
        shutil.rmtree(aside, ignore_errors=True)
        return
