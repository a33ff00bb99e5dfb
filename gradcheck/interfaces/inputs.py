"""Input files and sizes of the command line, checked before anything large is read or allocated.

``--weights`` and ``--data`` name ``.npz`` archives (or a ``.npy`` array
where one array has a meaning).  A file is accepted only when it is a regular
file (a FIFO or a device would block or never end), starts like an ``.npz``
or ``.npy`` file, holds no pickled objects, and the arrays its headers declare
fit in ``--max-input-bytes``; the headers are read and checked before any
array data, so a small file declaring a huge array is refused without
allocating it.  Every refusal is an :class:`~gradcheck.errors.InvalidArgument`
with one line naming the file and the fix.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import zipfile
import zlib
from typing import IO, Any

import numpy as np

from ..errors import InvalidArgument
from ..numerical.engine import DEFAULT_MEMORY_BUDGET

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "byte_size", "format_bytes", "load_arrays", "physical_memory"]


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page if pages > 0 and page > 0 else None


_GIB = 1 << 30
#: Default of ``--max-input-bytes``: 1 GiB, or an eighth of this machine's memory when that is less.  The
#: arrays are copied a few times by the check (float64 working copies), so an eighth leaves room for them.
DEFAULT_MAX_INPUT_BYTES = min(_GIB, (physical_memory() or 8 * _GIB) // 8)

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def byte_size(text: str) -> int:
    """Parse ``4096``, ``512M``, ``2G`` (binary units, an optional ``iB``/``B``) into bytes.

    Raises
    ------
    ValueError
        Not a positive size.
    """
    s = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = s[-1:] if s[-1:] in _UNITS else ""
    number = float(s[:len(s) - len(unit)]) if s[:len(s) - len(unit)] else math.nan
    value = number * _UNITS[unit]
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"expected a positive size in bytes such as 512M or 2G, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``1.5 GiB``)."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def load_arrays(path: str, what: str, max_bytes: int, single: str | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` archive (or one ``.npy`` array) after checking the file and its headers.

    Parameters
    ----------
    path : str
        The file.
    what : str
        The option that named it (``"--weights"``), for messages.
    max_bytes : int
        Largest total size of the arrays the headers may declare.
    single : str, optional
        The name a lone ``.npy`` array gets (``"W1"``: a one-layer network's
        weights); None refuses ``.npy`` files, with the way to save an archive.

    Returns
    -------
    dict of str to ndarray
        Array name -> array.

    Raises
    ------
    InvalidArgument
        Not a regular file, empty, neither ``.npz`` nor ``.npy``, damaged or
        truncated, pickled objects, or arrays declared larger than ``max_bytes``.
    """
    where = f"{what}: {path!r}"
    try:
        # O_NONBLOCK: opening a FIFO without a writer would otherwise wait for ever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise InvalidArgument(f"{where} not found") from None
    except OSError as exc:
        raise InvalidArgument(f"{where} cannot be opened ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InvalidArgument(f"{where} is {_kind(mode)}, not a regular file; save the arrays to a file "
                              "with numpy.savez")
    with os.fdopen(fd, "rb") as fh:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fh.fileno(), True)
        head = fh.read(6)
        fh.seek(0)
        try:
            if head.startswith(b"PK\x03\x04"):
                return _load_npz(fh, where, max_bytes)
            if head == b"\x93NUMPY":
                if single is None:
                    raise InvalidArgument(f"{where} is one .npy array; {what} needs named arrays: save them with "
                                          "numpy.savez(path, X=X, y=y)")
                shape, dtype = _npy_header(fh, where)
                _check_size([(single, shape, dtype)], where, max_bytes)
                fh.seek(0)
                return {single: np.lib.format.read_array(fh, allow_pickle=False)}
        except InvalidArgument:
            raise
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError) as exc:
            raise InvalidArgument(f"{where} is damaged or truncated ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); write it again") from None
    if not head:
        raise InvalidArgument(f"{where} is empty; give a .npz file written with numpy.savez")
    if head[:1] == b"\x80":
        raise InvalidArgument(f"{where} is a pickle; pickles are refused (they can run code): save the arrays "
                              "with numpy.savez")
    raise InvalidArgument(f"{where} is not a .npz or .npy file (it starts with {head!r}); save the arrays with "
                          "numpy.savez")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _npy_header(fp: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header, without reading the data; pickled objects refused."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        raise InvalidArgument(f"{where} holds Python objects (pickled); pickles are refused: save numeric arrays")
    return tuple(shape), dtype


def _check_size(declared: list[tuple[str, tuple[int, ...], np.dtype]], where: str, max_bytes: int) -> None:
    total = sum(math.prod(shape) * dtype.itemsize for _, shape, dtype in declared)
    if total > max_bytes:
        largest = max(declared, key=lambda d: math.prod(d[1]) * d[2].itemsize)
        raise InvalidArgument(f"{where} declares {format_bytes(total)} of arrays (largest {largest[0]!r}, shape "
                              f"{largest[1]}, {largest[2]}), more than --max-input-bytes {format_bytes(max_bytes)}; "
                              "raise --max-input-bytes if this machine has the memory")


def _load_npz(fh: IO[bytes], where: str, max_bytes: int) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(fh) as archive:
        members = archive.infolist()
        declared = []
        for member in members:
            if not member.filename.endswith(".npy"):
                raise InvalidArgument(f"{where} holds {member.filename!r}, not an .npy array; write the archive "
                                      "with numpy.savez")
            with archive.open(member) as fp:
                shape, dtype = _npy_header(fp, where)
            declared.append((member.filename[:-4], shape, dtype))
        _check_size(declared, where, max_bytes)
        arrays: dict[str, Any] = {}
        for member in members:
            with archive.open(member) as fp:
                arrays[member.filename[:-4]] = np.lib.format.read_array(fp, allow_pickle=False)
        return arrays


#: What a check of a DenseNet holds outside its memory budget, per parameter and per activation entry (one
#: sample, one unit), in bytes: per parameter the network's weights (8), backprop's gradient (8), the working
#: copies (16) and the numerical values, error estimates and steps, still kept whole (24); per activation
#: entry about 110 (forward caches, deltas and their copies for the layer-by-layer rows).  Everything else
#: is chunked within the budget, which the peak exceeds by at most a quarter (benchmarks/memory.py).
CHECK_BYTES_PER_PARAM = 56
CHECK_BYTES_PER_ACTIVATION = 112
BUDGET_OVERSHOOT = 1.25


def network_check_bytes(sizes: list[int], n_samples: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """About how much memory checking a DenseNet of ``sizes`` on ``n_samples`` samples needs, in bytes."""
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    return (CHECK_BYTES_PER_PARAM * n_params + CHECK_BYTES_PER_ACTIVATION * n_samples * sum(sizes)
            + int(BUDGET_OVERSHOOT * memory_budget))


def ensure_fits(what: str, need: int, fix: str) -> None:
    """Refuse, before allocating it, a size this machine cannot hold.

    Parameters
    ----------
    what : str
        The options that set the size, as the user typed them (``"--samples 1000000000"``).
    need : int
        The estimated memory in bytes.
    fix : str
        What to change.

    Raises
    ------
    InvalidArgument
        ``need`` exceeds the machine's physical memory (never raised where the system does not say how much).
    """
    memory = physical_memory()
    if memory is not None and need > memory:
        raise InvalidArgument(f"{what}: needs about {format_bytes(need)} of memory, more than this machine's "
                              f"{format_bytes(memory)}; {fix}")


def byte_size_argument(text: str) -> int:
    """:func:`byte_size` as an argparse ``type``: a bad size is a usage error."""
    try:
        return byte_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ensure_check_fits(args: argparse.Namespace, sizes: list[int], n_samples: int, data: str) -> None:
    """Refuse, before allocating, a network, data set or training history this machine cannot hold."""
    given = [f"--layers {','.join(map(str, sizes))}" if args.layers else "",
             f"--weights {args.weights}" if args.weights else "", data]
    ensure_fits(" ".join(g for g in given if g) or "the network", network_check_bytes(sizes, n_samples),
                "choose smaller --layers or fewer --samples")
    if args.train:
        ensure_fits(f"--train {args.train}", 8 * args.train, "the loss of every step is kept: choose fewer --train")
