"""gradcheck's findings on the independent bug corpus: detected, located, cause named.

Every bug of ``textbook_bugs.BUGS`` (column-vector network, layout "out_in", with biases) and of
``classic_bugs.BUGS`` (the classic XOR program's structure, layout "in_out", sign "descent") runs on its
canonical problem, and :func:`gradcheck.check_backprop` receives the deltas and gradients the buggy code returned.

* detected: the report failed;
* located: the first failure going down from the output is at the bug's ``first_wrong_layer``, in the row its
  ``link`` names (δ_l for output-delta and recurrence, ∂L/∂W_l for weight-formula, ∂L/∂b_l for bias-formula; any
  row of that layer for sign and scale, which change every layer alike);
* cause: the probable cause agrees with the link ("right"), names nothing ("unknown"), or names another cause
  ("WRONG": worse than unknown, since a reader acts on it).

Run ``python tests/independent/measure.py`` for the table, ``--markdown`` for the README's form,
``--grads-only`` to pass the gradients without the deltas.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import classic_bugs  # noqa: E402
import textbook_bugs  # noqa: E402

import gradcheck as gc  # noqa: E402

#: Causes that agree with each ground-truth link.  A transpose found in a
#: weight gradient is a statement about the weight formula; a constant factor
#: of 2, N or any other is a statement about scale, and, found in the first
#: failing ∂L/∂W_l or ∂L/∂b_l row while δ_l is right, a more precise one about
#: that formula (a bias gradient averaged over the samples is "mean-vs-sum").
SCALE = {"factor-2", "mean-vs-sum", "constant-factor"}
AGREES = {
    "output-delta": {"output-delta"},
    "recurrence": {"recurrence"},
    "weight-formula": {"weight-formula", "transpose"} | SCALE,
    "bias-formula": {"bias-formula"} | SCALE,
    "sign": {"sign"},
    "scale": SCALE,
}

#: The row a link is located by.
ROW = {"output-delta": "delta", "recurrence": "delta", "weight-formula": "weight", "bias-formula": "bias"}


@dataclass
class Finding:
    corpus: str
    name: str
    link: str
    layer: int
    detected: bool
    located: bool
    cause: str
    verdict: str  # "right", "unknown" or "WRONG"


def problem(arch: tuple[int, ...], n_samples: int, bias: bool, columns: bool, seed: int = 0):
    """Random weights, biases and data for ``arch`` in the column (out_in) or row (in_out) layout."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1, 1, (arch[k + 1], arch[k]) if columns else (arch[k], arch[k + 1]))
               for k in range(len(arch) - 1)]
    biases = [rng.uniform(-1, 1, (arch[k + 1], 1)) for k in range(len(arch) - 1)] if bias else None
    X = rng.uniform(-1, 1, (arch[0], n_samples) if columns else (n_samples, arch[0]))
    y = rng.uniform(0, 1, (arch[-1], n_samples) if columns else (n_samples, arch[-1]))
    return weights, biases, X, y


def judge(corpus: str, bug, report) -> Finding:
    first = report.first_failure
    located = first is not None and first[0] == bug.first_wrong_layer and (
        bug.link not in ROW or first[1] == ROW[bug.link])
    cause = report.diagnoses[0].cause if report.diagnoses else "unknown"
    verdict = "right" if cause in AGREES.get(bug.link, set()) else "unknown" if cause == "unknown" else "WRONG"
    return Finding(corpus, bug.name, bug.link, bug.first_wrong_layer, not report.passed, located, cause, verdict)


def run(seed: int = 0, deltas: bool = True) -> list[Finding]:
    """Every bug of both corpora on its canonical problem, drawn with ``seed``.

    With ``deltas=False`` only the gradients go to the check, as from code
    that does not keep its deltas: the broken link can then not be located.
    """
    findings = []
    for bug in textbook_bugs.BUGS:
        weights, biases, X, y = problem(bug.arch, bug.n_samples, True, columns=True, seed=seed)
        out = bug.function([w.copy() for w in weights], [b.copy() for b in biases], X.copy(), y.copy())
        report = gc.check_backprop(weights, X, y, biases=biases, deltas=out["deltas"] if deltas else None,
                                   grads=out["grads"], layout="out_in", diagnostics=False)
        findings.append(judge("textbook", bug, report))
    for bug in classic_bugs.BUGS:
        weights, _, X, y = problem(bug.arch, bug.n_samples, False, columns=False, seed=seed)
        out = bug.function([w.copy() for w in weights], X.copy(), y.copy())
        report = gc.check_backprop(weights, X, y, deltas=out["deltas"] if deltas else None, grads=out["grads"],
                                   layout="in_out", sign="descent", diagnostics=False)
        findings.append(judge("classic", bug, report))
    return findings


def table(findings: list[Finding], markdown: bool = False) -> str:
    rows = [(f.corpus, f.name, f"{f.link} @ {f.layer}", "yes" if f.detected else "NO",
             "yes" if f.located else "no", f"{f.cause} ({f.verdict})") for f in findings]
    head = ("corpus", "bug", "planted (link @ layer)", "detected", "located", "probable cause")
    n = len(findings)
    summary = (f"{n} independent bugs: detected {sum(f.detected for f in findings)}/{n}, located "
               f"{sum(f.located for f in findings)}/{n}, cause right {sum(f.verdict == 'right' for f in findings)}/"
               f"{n}, unknown {sum(f.verdict == 'unknown' for f in findings)}, wrong "
               f"{sum(f.verdict == 'WRONG' for f in findings)}")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n\n" + summary
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    return "\n".join(lines) + "\n" + summary


if __name__ == "__main__":
    print(table(run(deltas="--grads-only" not in sys.argv), markdown="--markdown" in sys.argv))
