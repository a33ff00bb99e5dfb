"""Loading the caller's function named on the command line as ``FILE.py:FUNCTION``."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from .._validation import describe
from ..errors import InvalidArgument

__all__ = ["load_function"]


def load_function(target: str) -> Callable[..., Any]:
    """Import ``FILE.py`` and return its ``FUNCTION``.

    The file's folder is first on ``sys.path`` while it is imported, so that
    it can import the modules beside it, as when it is run as a script.

    Parameters
    ----------
    target : str
        ``path/to/file.py:function``.

    Returns
    -------
    callable

    Raises
    ------
    InvalidArgument
        The target is malformed, the file is missing or raises on import, or
        it has no such callable; the message is one line.
    """
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise InvalidArgument(f"FILE.py:FUNCTION: expected a Python file and a function name such as "
                              f"my_backprop.py:backprop, got {target!r}")
    if not os.path.isfile(path):
        raise InvalidArgument(f"{path}: no such file (from {target!r}); give the path of your Python file")
    folder = os.path.dirname(os.path.abspath(path))
    # A private module name, so that the file cannot shadow an installed module.
    module_name = "_gradcheck_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"{path}: cannot be imported as Python source; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up there
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the file's own failure, reported in one line
        del sys.modules[module_name]
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise InvalidArgument(f"{path}: importing it raised {message}") from None
    finally:
        sys.path.remove(folder)
    fn = getattr(module, name, None)
    if fn is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module_name)
        raise InvalidArgument(f"{target}: {path} defines no {name!r}; its functions: {found or 'none'}")
    if not callable(fn):
        raise InvalidArgument(f"{target}: {name!r} is {describe(fn)}, not a function")
    return fn
