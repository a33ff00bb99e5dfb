"""The ``gradcheck`` command line.

Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np
from tabulate import tabulate

from ._version import __version__
from .errors import InvalidArgument
from .network import DenseNet, xor_data

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with a usage line, as we want
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_xor(args: argparse.Namespace) -> int:
    X, y = xor_data()
    for sizes in ([3, 4, 1], [3, 4, 4, 1]):
        net = DenseNet(sizes, bias=False, seed=args.seed)
        history = net.train(X, y, iterations=args.iterations, learning_rate=args.learning_rate)
        pred = net.forward(X)
        name = "-".join(map(str, sizes))
        print(f"XOR network {name} (sigmoid, no biases, ½Σ(a−y)², seed {args.seed}): "
              f"{args.iterations} steps, loss {history[0] if len(history) else net.loss(X, y):.6g}"
              f" -> {net.loss(X, y):.6g}")
        rows = [[" ".join(f"{v:g}" for v in X[i]), f"{y[i, 0]:g}", f"{pred[i, 0]:.6f}",
                 f"{round(pred[i, 0]):g}"] for i in range(len(X))]
        print("Output After Training:")
        print(tabulate(rows, headers=["input", "target", "prediction", "rounded"], tablefmt="simple"))
        learned = np.array_equal(np.round(pred), y)
        print(f"learned XOR: {'yes' if learned else 'no'}\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradcheck", description=(
        "Check hand-written backpropagation against independent numerical derivatives."))
    parser.add_argument("--version", action="version", version=f"gradcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("xor", help="train the classic 3-4-1 and 3-4-4-1 XOR networks and print predictions",
                       description="Train the classic XOR networks (sigmoid, no biases, full-batch "
                                   "gradient descent on ½Σ(a−y)²) and print predictions next to targets.")
    p.add_argument("--iterations", type=int, default=60000, help="training steps (default 60000)")
    p.add_argument("--learning-rate", type=float, default=1.0, help="step size (default 1.0)")
    p.add_argument("--seed", type=int, default=1, help="seed of the 2·U[0,1)−1 initialisation (default 1)")
    p.set_defaults(func=_cmd_xor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except InvalidArgument as exc:
        print(f"gradcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
