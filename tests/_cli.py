"""Running the command line inside a test: one helper for every CLI test module."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import gradcheck.interfaces.cli as cli


def run(argv: Iterable[Any], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gradcheck`` with ``argv``, also when argparse exits."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
