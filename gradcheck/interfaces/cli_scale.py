"""The ``--typical-scale`` option of ``gradcheck check`` and ``gradcheck verify``: parsing and its recorded text."""

from __future__ import annotations

import argparse

import numpy as np

__all__ = ["add_typical_scale", "parse_typical_scale", "typical_scale_text"]


def parse_typical_scale(text: str) -> float | dict[str, float]:
    """``--typical-scale``: one positive number for every group, or NAME=SCALE pairs separated by commas."""
    def number(part: str) -> float:
        try:
            value = float(part)
        except ValueError:
            value = -1.0
        if not (np.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(
                f"expected a positive number or NAME=SCALE pairs such as W1=1e-8,b1=1e-8, got {text!r}")
        return value

    if "=" not in text:
        return number(text)
    scales = {}
    for pair in text.split(","):
        name, _, value = pair.partition("=")
        if not name.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=SCALE pairs such as W1=1e-8,b1=1e-8, got {text!r}")
        scales[name.strip()] = number(value)
    return scales


def typical_scale_text(value: float | dict[str, float]) -> str:
    """The option's value as the recorded command line writes it (``1e-08`` or ``W1=1e-08,b1=0.5``)."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v!r}" for k, v in value.items())
    return repr(value)


def add_typical_scale(p: argparse.ArgumentParser) -> None:
    """Add ``--typical-scale`` to a subcommand that runs checks (``args.typical_scale``: None, a number or a dict)."""
    p.add_argument("--typical-scale", type=parse_typical_scale, default=None, metavar="SCALE|NAME=SCALE,...",
                   help="the scale the parameters vary on, for every group or per group (W1=1e-8,b1=1e-8): "
                        "steps are ε^e·max(SCALE, |θ|) instead of ε^e·max(1, |θ|) (default 1)")
