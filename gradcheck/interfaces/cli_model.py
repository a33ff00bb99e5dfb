"""The command line's model options: --activation, --loss, --reduction, --weight-decay.

Shared by ``gradcheck check``, ``sweep``, ``taylor`` and ``verify``; values are
validated by argparse (exit 2 with a one-line message).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..model.activations import ACTIVATIONS, get_activation
from ..model.losses import LOSSES, REDUCTIONS

__all__ = ["add_model_options", "activation_text", "parse_activations", "parse_decay"]


def parse_activations(text: str) -> str | list[str]:
    """``relu,sigmoid`` → a list, one name per layer; a single name → that name (every layer)."""
    names = text.split(",")
    for name in names:
        try:
            get_activation(name)
        except InvalidArgument:
            raise argparse.ArgumentTypeError(f"expected activation names from {', '.join(ACTIVATIONS)} (or "
                                             f"leaky_relu:SLOPE), one or one per layer, got {name!r}") from None
    return names[0] if len(names) == 1 else names


def parse_decay(text: str) -> float:
    """λ >= 0, finite."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (λ of (λ/2)·Σ‖W‖²), got {text!r}")
    return value


def activation_text(spec: str | list[str]) -> str:
    """The --activation text of an activation argument: ``relu,softmax`` or one name."""
    return spec if isinstance(spec, str) else ",".join(spec)


def add_model_options(g: Any) -> None:
    """--activation, --loss, --reduction, --weight-decay (network checks and verify)."""
    g.add_argument("--activation", default="sigmoid", type=parse_activations, metavar="NAME[,NAME...]",
                   help=f"activation of every layer, or one per layer: {', '.join(ACTIVATIONS)}, leaky_relu:SLOPE "
                        "(softmax on the output only; default sigmoid)")
    g.add_argument("--loss", default="mse", choices=list(LOSSES),
                   help="mse, or cross_entropy (with a sigmoid or softmax output; default mse)")
    g.add_argument("--reduction", default=None, choices=list(REDUCTIONS),
                   help="half_sum = ½Σ(a−y)² (the MSE default), sum (the cross-entropy default), or mean")
    g.add_argument("--weight-decay", type=parse_decay, default=0.0, metavar="λ",
                   help="L2 weight decay: the loss gets (λ/2)·Σ‖W_l‖², weights only (default 0)")
