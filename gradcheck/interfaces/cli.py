"""The ``gradcheck`` command line.

Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or bad input, 3 a check was
inconclusive (the loss cannot resolve a group: noise, precision, a kink; none failed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from tabulate import tabulate

from .._version import __version__
from ..errors import InvalidArgument
from ..model.network import DenseNet, xor_data
from ..numerical.engine import FULL_METHODS, METHODS
from ..report.files import write_folder
from ..report.terminal import fit, layer_table, render_terminal, terminal_width
from ..verify.network import check_network
from ..verify.user_backprop import SIGNS
from .backprop_property import verify_backprop
from .cli_model import activation_text, add_model_options
from .cli_scale import add_typical_scale, typical_scale_text
from .console import ProgressBar, folder_for, refuse_out_options, save_verification, written
from .inputs import (
    DEFAULT_MAX_INPUT_BYTES,
    byte_size_argument,
    ensure_check_fits,
    ensure_fits,
    format_bytes,
    load_arrays,
)
from .user_function import load_function

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
DEFAULT_SAMPLES, DEFAULT_STRESS = 8, 210


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 with a usage line, as we want
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_xor(args: argparse.Namespace) -> int:
    X, y = xor_data()
    ensure_fits(f"--iterations {args.iterations}", 8 * args.iterations, "the loss of every step is kept: "
                "choose fewer --iterations")
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


def _int_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 5,7,3,2, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected at least 2 positive layer widths such as 5,7,3,2, got {text!r}")
    return sizes


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _formats(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in names if f not in FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(FORMATS)}, got {text!r}")
    return names


FORMATS = ("text", "md", "json", "html")
_SUFFIX = {"text": "txt", "md": "md", "json": "json", "html": "html"}


CLASSIC = ([3, 4, 1], [3, 4, 4, 1])


def _data_source(args: argparse.Namespace, net: DenseNet) -> str:
    """--data, or its default: the XOR data for 3 inputs and 1 output, random data otherwise."""
    return args.data or ("xor" if net.sizes[0] == 3 and net.sizes[-1] == 1 else "random")


def _network_and_data(args: argparse.Namespace,
                      sizes_default: list[int] | None = None) -> tuple[DenseNet, np.ndarray, np.ndarray, str]:
    """Build the network and data the check, sweep and taylor commands work on."""
    if args.weights:
        if args.bias is not None:
            raise InvalidArgument("--bias/--no-bias: the biases come from --weights (b1, b2, … present or not); "
                                  "drop the option")
        weights = load_arrays(args.weights, "--weights", args.max_input_bytes, single="W1")
        net = DenseNet.from_params(weights, activation=args.activation, loss=args.loss, reduction=args.reduction,
                                   weight_decay=args.weight_decay)
        if args.layers and args.layers != net.sizes:
            raise InvalidArgument(f"--layers {','.join(map(str, args.layers))} disagrees with the sizes "
                                  f"{','.join(map(str, net.sizes))} of --weights {args.weights}; drop one of them")
    else:
        sizes = args.layers or sizes_default or CLASSIC[-1]
        bias = args.bias if args.bias is not None else args.layers is not None
        ensure_check_fits(args, sizes, 0, "")  # the data is checked with the network once it is known
        net = DenseNet(sizes, activation=args.activation, loss=args.loss, reduction=args.reduction, bias=bias,
                       seed=args.seed, weight_decay=args.weight_decay)
    data = _data_source(args, net)
    if data == "xor":
        if net.sizes[0] != 3 or net.sizes[-1] != 1:
            raise InvalidArgument(f"--data xor needs 3 inputs and 1 output, the network has sizes "
                                  f"{','.join(map(str, net.sizes))}; use --data random or --data FILE.npz")
        X, y = xor_data()
    elif data == "random":
        ensure_check_fits(args, net.sizes, args.samples, f"--samples {args.samples}")
        rng = np.random.default_rng(args.seed)
        X = rng.standard_normal((args.samples, net.sizes[0]))
        y = rng.random((args.samples, net.sizes[-1]))
        if net.activations[-1].name == "softmax":  # one class per sample: rows summing to 1
            y = np.eye(net.sizes[-1])[rng.integers(net.sizes[-1], size=args.samples)]
    else:
        arrays = load_arrays(data, "--data", args.max_input_bytes)
        missing = [k for k in ("X", "y") if k not in arrays]
        if missing:
            raise InvalidArgument(f"--data: {data!r} has arrays {sorted(arrays)}, expected 'X' and 'y' "
                                  "(save them with numpy.savez(path, X=X, y=y))")
        X, y = arrays["X"], arrays["y"]
        ensure_check_fits(args, net.sizes, np.shape(X)[0] if np.ndim(X) else 1, f"--data {data}")
    if args.train:
        net.train(X, y, iterations=args.train)
    name = "-".join(map(str, net.sizes)) + ("" if net.bias else "-nobias")
    source = "xor" if data == "xor" else "net"
    if args.weights:
        # Not an initialisation: name the file the weights came from.
        source = os.path.splitext(os.path.basename(args.weights))[0]
    name = f"{source}-{name}" + (f"-trained{args.train}" if args.train else "" if args.weights else "-init")
    return net, X, y, name


def _progress_bar(args: argparse.Namespace, label: str) -> ProgressBar:
    """A bar on stderr when it is a terminal or ``--progress`` is given; use it in a ``with`` block."""
    return ProgressBar(label, getattr(args, "progress", False) or sys.stderr.isatty())


def _command_line(args: argparse.Namespace, net: DenseNet) -> str:
    """The command that reproduces this check (recorded in the report's config)."""
    parts = ["gradcheck", "check"]
    if args.weights:
        parts += ["--weights", args.weights]
    else:
        parts += ["--layers", ",".join(map(str, net.sizes)), "--bias" if net.bias else "--no-bias"]
    parts += ["--activation", activation_text(net.activation_spec), "--loss", net.criterion.name,
              "--reduction", net.criterion.reduction]
    if net.weight_decay:
        parts += ["--weight-decay", repr(net.weight_decay)]
    if args.data:
        parts += ["--data", args.data]
    if _data_source(args, net) == "random":
        parts += ["--samples", str(args.samples)]
    parts += ["--seed", str(args.seed), "--method", args.method]
    if args.typical_scale is not None:
        parts += ["--typical-scale", typical_scale_text(args.typical_scale)]
    if args.train:
        parts += ["--train", str(args.train)]
    if args.bug:
        parts += ["--bug", args.bug]
    return " ".join(parts)


def _check_out(out: str) -> None:
    if out != "-" and os.path.exists(out) and not os.path.isdir(out):
        raise InvalidArgument(f"--out: {out!r} exists and is not a folder; choose another output folder")


def _announce_data(args: argparse.Namespace, net: DenseNet, X: np.ndarray) -> None:
    """Say which data a check runs on when --weights came without --data; refuse --samples that cannot apply."""
    source = _data_source(args, net)
    if args.samples_given and source != "random":
        raise InvalidArgument(f"--samples: applies only to --data random, the data here is {source!r}; drop it")
    if args.weights and not args.data:
        what = ("the XOR data (4 samples)" if source == "xor" else
                f"{len(X)} seeded random samples (--seed {args.seed})")
        print(f"note: --weights without --data: checking on {what}; give --data FILE.npz (arrays X and y) "
              "to check on your own data")


def _cmd_check(args: argparse.Namespace) -> int:
    _check_out(args.out)
    refuse_out_options(args)
    if args.name is not None and (os.path.basename(args.name) != args.name or args.name in ("", ".", "..")):
        raise InvalidArgument(f"--name: expected a plain folder name without path separators, got {args.name!r}")
    width = terminal_width()
    # With no network given, verify both classic XOR networks.
    classic = not args.layers and not args.weights
    status = EXIT_OK
    for sizes in (CLASSIC if classic else (None,)):
        start = time.perf_counter()
        net, X, y, name, backward = _network_case(args, sizes)
        paths: list[Path] = []
        with _progress_bar(args, f"checking {name}") as bar:
            bar.set_phase("measuring")
            report = check_network(net, X, y, method=args.method, seed=args.seed, progress=bar,
                                   backward=backward, title=name, typical_scale=args.typical_scale)
            report.config["command"] = command = _command_line(args, net)
            if args.out != "-":
                bar.set_phase("writing reports")
                folder = args.name + (f"-{'-'.join(map(str, net.sizes))}" if classic else "") if args.name else name
                folder, replace = folder_for(args.out, folder, command, args.replace)
                paths = report.save(args.out, folder, formats=[_SUFFIX[f] for f in args.format], replace=replace)
        # The verdict is printed whatever is written; the tables when text is asked for.
        print(render_terminal(report, width, wide=args.wide, verbose=args.verbose, tables="text" in args.format,
                              elapsed=time.perf_counter() - start))
        if paths:
            print("\n".join(written(paths, width)) + "\n")
        if report.verdict == "failed":
            status = EXIT_FAILED
        elif report.verdict == "inconclusive" and status == EXIT_OK:
            status = EXIT_INCONCLUSIVE
    return status


def _cmd_bugs(args: argparse.Namespace) -> int:
    from ..catalogue import detection as evaluation
    from ..catalogue.bugs import CATALOGUE

    if args.stress is not None and not args.sensitivity:
        raise InvalidArgument("--stress: applies only with --sensitivity (it sizes that stress set); "
                              "add --sensitivity or drop --stress")
    if args.list and (args.sensitivity or args.markdown):
        raise InvalidArgument("--list: prints the catalogue only; drop --sensitivity and --markdown")
    if args.markdown and not args.sensitivity:
        raise InvalidArgument("--markdown: applies only to the --sensitivity table; add --sensitivity or drop it")
    if args.list:
        print(tabulate([[b.name, b.description, b.cause] for b in CATALOGUE.values()],
                       headers=["bug", "what the code does wrong", "diagnosis"], tablefmt="simple"))
        return EXIT_OK
    with _progress_bar(args, "planting bugs") as bar:
        rows = evaluation.run_catalogue(method=args.method, progress=bar)
    print(tabulate([[r.bug, r.architecture, ",".join(r.affected), ",".join(r.flagged),
                     "yes" if r.detected else "NO", "yes" if r.located else "NO", r.first_failure,
                     r.diagnosis + ("" if r.diagnosed else f" (planted: {r.expected_cause})")] for r in rows],
                   headers=["bug", "architecture", "groups affected", "groups flagged", "detected", "located",
                            "breaks first at", "diagnosis"], tablefmt="simple"))
    detected = sum(r.detected for r in rows)
    located = sum(r.located for r in rows)
    diagnosed = sum(r.diagnosed for r in rows)
    print(f"\n{len(CATALOGUE)} bugs, {len(rows)} cases: detected {detected}/{len(rows)}, located exactly "
          f"{located}/{len(rows)}, diagnosis names the planted cause {diagnosed}/{len(rows)}")
    ok = detected == located == len(rows)
    if args.sensitivity:
        ok = _sensitivity(args) and ok
    return EXIT_OK if ok else EXIT_FAILED


def _sensitivity(args: argparse.Namespace) -> bool:
    from ..catalogue import detection as evaluation

    with _progress_bar(args, "sensitivity") as bar:
        sens = evaluation.sensitivity(progress=bar)
    with _progress_bar(args, "stress set") as bar:
        alarms = evaluation.false_alarms(n=args.stress or DEFAULT_STRESS, progress=bar)
    rows = []
    for method, entry in alarms.items():
        s = sens.get(method)
        rows.append([method, f"{s['median']:.0e}" if s else "—", f"{s['worst']:.0e}" if s else "—",
                     f"{entry['false_alarms']}/{entry['checked']}", f"{entry['inconclusive']}/{entry['checked']}"])
    print()
    print(tabulate(rows, headers=["method", "smallest flagged rel. error (median)", "(worst case)",
                                  "false alarms", "inconclusive"], tablefmt="github" if args.markdown else "simple"))
    for method, entry in alarms.items():
        for ex in entry["examples"]:
            print(f"false alarm, {method}: {ex}")
    return all(entry["false_alarms"] == 0 for entry in alarms.values())


def _write_plot(out: str, name: str, figure: Callable[[], bytes]) -> None:
    """Write ``figure()`` as OUT/NAME/sweep.png (or taylor.png), replacing that plot of an earlier run.

    Without matplotlib, say which extra draws plots.
    """
    from ..report import plots

    if out == "-":
        return
    if not plots.plots_available():
        print('no plot written: install matplotlib with pip install "gradcheck[plot]"')
        return
    print("plot written: " + str(write_folder(out, {f"{name.split('-')[0]}.png": figure()}, name, replace=True)[0]))


def _network_case(args: argparse.Namespace,
                  sizes: list[int] | None = None) -> tuple[DenseNet, np.ndarray, np.ndarray, str, Any]:
    """The network, data and name a command works on, and a catalogued bug's backward pass (None without --bug)."""
    net, X, y, name = _network_and_data(args, sizes)
    _announce_data(args, net, X)
    backward = _bug_backward(args, net, X, y)
    if backward is not None:
        name += f"-bug-{args.bug}"
    return net, X, y, name, backward


def _network_gradients(args: argparse.Namespace) -> tuple[DenseNet, np.ndarray, np.ndarray, str, dict]:
    """The network, data, name and the gradients under test (a catalogued bug's with --bug) for sweep and taylor."""
    net, X, y, name, backward = _network_case(args)
    return net, X, y, name, (backward or net.backward(X, y)).gradients


def _along(net: Any, X: Any, y: Any) -> Any:
    """The network's stacked passes for the diagnostics (what check_network uses), on validated data."""
    from ..numerical.directions import NetworkDirections
    from ..numerical.engine import DEFAULT_MEMORY_BUDGET

    X, y = net.checked_data(X, y)
    return NetworkDirections(net, X, y, DEFAULT_MEMORY_BUDGET)


def _cmd_sweep(args: argparse.Namespace) -> int:
    _check_out(args.out)
    from ..report import plots
    from ..verify.convergence import step_sweep

    net, X, y, name, grads = _network_gradients(args)
    results = step_sweep(net.loss_closure(X, y), net.params, grads, seed=args.seed, along=_along(net, X, y))
    rows = []
    for r in results:
        for method, err in r.errors.items():
            rows.append([r.name, method, f"{r.best_step[method]:.1e}", f"{r.best_error[method]:.2e}",
                         f"{err[0]:.1e}", f"{err[-1]:.1e}"])
    width = terminal_width()
    print("\n".join(fit([f"step-size sweep, {name}: relative error of the directional derivative along a "
                         f"random v against ⟨g, v⟩, h = {results[0].steps[0]:.0e} … {results[0].steps[-1]:.0e}"],
                        width)))
    print(tabulate(rows, headers=["group", "method", "best h", "error at best h", "error at largest h",
                                  "error at smallest h"], tablefmt="simple", disable_numparse=True))
    for r in results:
        for note in r.notes:
            print(f"note: {r.name}: {note}")
    _write_plot(args.out, f"sweep-{name}", lambda: plots.sweep_figure(results))
    return EXIT_OK


def _cmd_taylor(args: argparse.Namespace) -> int:
    _check_out(args.out)
    from ..report import plots
    from ..verify.convergence import taylor_test

    net, X, y, name, grads = _network_gradients(args)
    results = taylor_test(net.loss_closure(X, y), net.params, grads, seed=args.seed, along=_along(net, X, y))
    print("\n".join(fit([f"Taylor remainder test, {name}: r1(ε) = |L(θ+εv) − L(θ) − ε⟨g,v⟩| shrinks as ε² "
                         "for a correct gradient, as ε for a wrong one"], terminal_width())))
    print(tabulate([[r.name, f"{r.order:.3f}", r.n_points_used, "ok" if r.passed else "FAIL"] for r in results],
                   headers=["group", "observed order", "points fitted", "verdict"], tablefmt="simple",
                   disable_numparse=True))
    _write_plot(args.out, f"taylor-{name}", lambda: plots.taylor_figure(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _cmd_verify(args: argparse.Namespace) -> int:
    _check_out(args.out)
    fn = load_function(args.target)
    result = verify_backprop(fn, layout=args.layout, bias=args.bias, activation=args.activation, loss=args.loss,
                             reduction=args.reduction, weight_decay=args.weight_decay, sign=args.sign,
                             max_examples=args.examples, seed=args.seed, method=args.method,
                             typical_scale=args.typical_scale)
    width = terminal_width()
    # The verdict (and on failure the first failing link and the probable cause) is printed whatever
    # --format says; --format chooses the files.
    print("\n".join(fit(str(result).splitlines(), width, indent="    ")))
    if result.report is not None:
        print("\nPer layer, minimal failing network:")
        print("\n".join(layer_table(result.report, width, args.wide)))
    if args.out != "-":
        paths = save_verification(args.out, args.target, result, [_SUFFIX[f] for f in args.format],
                                  _verify_command(args))
        if paths:
            print("\n" + "\n".join(written(paths, width)))
    return {"passed": EXIT_OK, "failed": EXIT_FAILED, "inconclusive": EXIT_INCONCLUSIVE}[result.verdict]


def _verify_command(args: argparse.Namespace) -> str:
    """The command that reproduces this verification (recorded with its reports)."""
    parts = ["gradcheck", "verify", args.target, "--layout", args.layout, "--sign", args.sign,
             "--examples", str(args.examples)]
    if args.bias is not None:
        parts.append("--bias" if args.bias else "--no-bias")
    parts += ["--activation", activation_text(args.activation), "--loss", args.loss]
    if args.reduction is not None:
        parts += ["--reduction", args.reduction]
    if args.weight_decay:
        parts += ["--weight-decay", repr(args.weight_decay)]
    parts += ["--seed", str(args.seed), "--method", args.method]
    return " ".join(parts)


def _bug_backward(args: argparse.Namespace, net: DenseNet, X: np.ndarray, y: np.ndarray):
    """The catalogued wrong backward pass named by --bug, or None."""
    if not getattr(args, "bug", None):
        return None
    from ..catalogue.bugs import CATALOGUE

    if args.bug not in CATALOGUE:
        raise InvalidArgument(f"--bug: unknown bug {args.bug!r}; `gradcheck bugs --list` names them")
    bug = CATALOGUE[args.bug]
    if not bug.applies(net, X):
        raise InvalidArgument(f"--bug {args.bug}: cannot be made on a {','.join(map(str, net.sizes))} network "
                              f"({bug.description}); choose other --layers")
    return bug.backward(net, X, y)


def _add_network_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network and data")
    g.add_argument("--layers", type=_int_list, metavar="N0,N1,...",
                   help="layer widths, inputs first (default: the classic 3,4,1 and 3,4,4,1 for check, "
                        "3,4,4,1 for sweep and taylor)")
    g.add_argument("--bias", dest="bias", action="store_true", default=None,
                   help="give every layer a bias (default: on with --layers, off for the classic network)")
    g.add_argument("--no-bias", dest="bias", action="store_false", help="no biases")
    add_model_options(g)
    g.add_argument("--data", metavar="xor|random|FILE.npz",
                   help="data: the XOR set (default for 3 inputs, 1 output), seeded random data, "
                        "or a .npz file with arrays X and y")
    g.add_argument("--samples", type=_positive, default=None,
                   help=f"samples of --data random (default {DEFAULT_SAMPLES})")
    g.add_argument("--weights", metavar="FILE.npz",
                   help="load W1, b1, W2, … from a .npz file (sizes inferred); a .npy file is W1 of a one-layer net")
    g.add_argument("--max-input-bytes", type=byte_size_argument, default=DEFAULT_MAX_INPUT_BYTES, metavar="SIZE",
                   help="largest total size of the arrays a --weights or --data file may declare, checked before "
                        f"reading them, e.g. 512M or 4G (default here {format_bytes(DEFAULT_MAX_INPUT_BYTES)}: the "
                        "smaller of 1 GiB and an eighth of this machine's memory)")
    g.add_argument("--train", type=_non_negative, default=0, metavar="STEPS",
                   help="train this many full-batch gradient steps before checking (default 0)")
    g.add_argument("--seed", type=_non_negative, default=0,
                   help="seed for weights, data and random directions (default 0)")
    g.add_argument("--bug", metavar="NAME", help="inject a catalogued backprop bug (`gradcheck bugs --list`) "
                                                 "to see what it looks like")


def _add_terminal_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what is printed")
    g.add_argument("--wide", action="store_true",
                   help="full tables whatever the terminal's width (default: compact at 80 columns or fewer)")
    g.add_argument("--verbose", action="store_true", help="also print the notes on how the numbers were obtained")


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
    p.add_argument("--seed", type=_non_negative, default=1, help="seed of the 2·U[0,1)−1 initialisation (default 1)")
    p.set_defaults(func=_cmd_xor)

    p = sub.add_parser("check", help="verify a network's backprop layer by layer and write reports",
                       description="Verify a DenseNet's gradients and, per layer, the delta formulas of "
                                   "backpropagation against independent numerical derivatives. With no "
                                   "network options: the classic 3-4-1 and 3-4-4-1 XOR networks. Exit 0 when "
                                   "everything passes, 1 when a check fails, 2 on bad usage.")
    _add_network_options(p)
    p.add_argument("--method", default="auto", choices=list(METHODS),
                   help="numerical method (default auto: complex step, Richardson where needed)")
    add_typical_scale(p)
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="folder for the reports, one sub-folder per network (default reports; - for none)")
    p.add_argument("--name", help="sub-folder name (default from the network, e.g. xor-3-4-4-1-nobias-init)")
    p.add_argument("--replace", action="store_true",
                   help="replace an existing report folder of the same name (default: replace it only when the "
                        "same command wrote it, else write a new -2, -3, … folder)")
    p.add_argument("--format", type=_formats, default=list(FORMATS), metavar="text,md,json,html",
                   help="formats to write; text is also printed (default all)")
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when not a terminal")
    _add_terminal_options(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("bugs", help="plant every catalogued backprop bug and show that each is caught",
                       description="Run every bug of the catalogue on several architectures (square and "
                                   "non-square layers, with and without biases) and print whether each is "
                                   "detected, located to exactly the affected groups, and diagnosed. Exit 0 only "
                                   "if every bug is detected and located.")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument("--method", default="auto", choices=list(FULL_METHODS))
    p.add_argument("--sensitivity", action="store_true",
                   help="also measure, per method, the smallest flagged relative error and the false alarms "
                        "on a stress set of random correct networks")
    p.add_argument("--stress", type=_positive, default=None, metavar="N",
                   help=f"networks in the stress set of --sensitivity (default {DEFAULT_STRESS})")
    p.add_argument("--markdown", action="store_true", help="print the sensitivity table as Markdown")
    p.add_argument("--progress", action="store_true", help="show progress on stderr even when not a terminal")
    p.set_defaults(func=_cmd_bugs)

    p = sub.add_parser("sweep", help="error of forward, central and complex-step derivatives against the step h",
                       description="Step-size sweep per parameter group: truncation error falls and round-off "
                                   "rises as h shrinks; prints the best h per method and writes the plot.")
    _add_network_options(p)
    p.add_argument("--out", default="reports", metavar="DIR", help="folder for the plot (default reports; - for none)")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("taylor", help="Taylor remainder test: observed convergence order per parameter group",
                       description="Taylor remainder test per parameter group: order 2 for a correct gradient, "
                                   "1 for a wrong one. Exit 1 if any group is not of order 2.")
    _add_network_options(p)
    p.add_argument("--out", default="reports", metavar="DIR", help="folder for the plot (default reports; - for none)")
    p.set_defaults(func=_cmd_taylor)

    p = sub.add_parser("verify", help="verify your own backprop function on many drawn networks",
                       description="Import FUNCTION from FILE.py and call it as FUNCTION(weights, biases, X, y) on "
                                   "networks drawn by hypothesis (depths 1-4, widths 1-6, 1-8 samples, saturated "
                                   "weights); it returns {'deltas': [...], 'grads': {'W1': ..., 'b1': ...}}. Each "
                                   "net is checked layer by layer and a failure is shrunk to a minimal network. "
                                   "Exit 0 when every net passes, 1 when one fails, 2 on bad usage.")
    p.add_argument("target", metavar="FILE.py:FUNCTION", help="your backprop function")
    p.add_argument("--layout", default="in_out", choices=["in_out", "out_in"],
                   help="in_out: W_l (n_(l-1), n_l), X (N, n_0); out_in: column vectors, W_l (n_l, n_(l-1)), "
                        "X (n_0, N) (default in_out)")
    p.add_argument("--sign", default="gradient", choices=list(SIGNS),
                   help="descent: your values are -dL/dθ, as in code that adds its update (default gradient)")
    p.add_argument("--examples", type=_positive, default=100, metavar="N",
                   help="networks to draw when none fails (default 100)")
    p.add_argument("--bias", dest="bias", action="store_true", default=None,
                   help="only networks with biases (default: with and without)")
    p.add_argument("--no-bias", dest="bias", action="store_false", help="only networks without biases")
    add_model_options(p)
    p.add_argument("--method", default="auto", choices=list(METHODS), help="numerical method (default auto)")
    p.add_argument("--seed", type=_non_negative, default=0, help="seed of the drawing (default 0)")
    add_typical_scale(p)
    p.add_argument("--out", default="reports", metavar="DIR",
                   help="folder for the reports, written into a new sub-folder (default reports; - for none)")
    p.add_argument("--format", type=_formats, default=list(FORMATS), metavar="text,md,json,html",
                   help="formats to write (default all); the verdict is always printed")
    _add_terminal_options(p)
    p.set_defaults(func=_cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if hasattr(args, "samples"):
        # --samples applies only to random data; remember whether it was given, to refuse it elsewhere.
        args.samples_given = args.samples is not None
        args.samples = DEFAULT_SAMPLES if args.samples is None else args.samples
    try:
        return args.func(args)
    except InvalidArgument as exc:
        print(f"gradcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output folder that cannot be written, and the like
        print(f"gradcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:  # sizes are estimated beforehand; this catches what the estimate missed
        print(f"gradcheck {args.command}: error: out of memory; choose smaller sizes (--layers, --samples, "
              "--iterations, --train)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
