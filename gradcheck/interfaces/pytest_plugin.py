"""The pytest plugin: a ``gradcheck`` fixture and ``--gradcheck-report DIR``.

Installed with the package through the ``pytest11`` entry point, so a test
suite needs no conftest to use it::

    def test_my_layer(gradcheck):
        gradcheck(loss, params, grads)

The fixture passes silently on correct gradients and fails the test with
the per-group table of :meth:`CheckReport.failure_message`, gradcheck's own
frames hidden from the traceback.

Options (command line, then ini, then gradcheck's defaults; keyword
arguments given to the fixture win over all of them):

``--gradcheck-method NAME`` / ini ``gradcheck_method``
    Default numerical method of the fixture.
``gradcheck_rtol``, ``gradcheck_atol`` (ini)
    Default tolerances of the fixture.
``--gradcheck-report DIR``
    Save a report of every check made through the fixture into a sub-folder
    of DIR named after the test (its readable id and a hash of the id, so that
    two tests never share a folder, also under pytest-xdist), and write
    ``DIR/index.md`` listing them.  Each folder appears whole (see
    :mod:`gradcheck.report.files`).  A DIR that is a file is a usage error.
    Under pytest-xdist, workers pass their checks to the controller
    (``workeroutput``), which writes the index.

Loading the plugin imports neither numpy nor scipy: the checker is imported
when the fixture is first called (or ``--gradcheck-method`` is validated),
so a suite that never uses the fixture starts as fast as without gradcheck,
and no files are written unless ``--gradcheck-report`` is given.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import GradientMismatch, InvalidArgument

if TYPE_CHECKING:
    from ..report.model import CheckReport

__all__ = ["GradientChecker"]

#: Options that pytest passes on to check_params, by their ini key.
_INI_OPTIONS = {"gradcheck_method": "method", "gradcheck_rtol": "rtol", "gradcheck_atol": "atol"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    group.addoption("--gradcheck-method", dest="gradcheck_method", default=None, metavar="NAME",
                    help="default numerical method of the gradcheck fixture, one of check_params's methods "
                         "such as auto, central, complex, richardson (default: ini gradcheck_method, else auto)")
    group.addoption("--gradcheck-report", dest="gradcheck_report", default=None, metavar="DIR",
                    help="save a report of every check made through the gradcheck fixture into DIR, "
                         "one folder per check, and an index in DIR/index.md")
    parser.addini("gradcheck_method", "default numerical method of the gradcheck fixture (default auto)",
                  default="")
    parser.addini("gradcheck_rtol", "default rtol of the gradcheck fixture (default: check_params's)", default="")
    parser.addini("gradcheck_atol", "default atol of the gradcheck fixture (default: check_params's)", default="")


@dataclass
class _Check:
    nodeid: str
    #: "passed", "failed" or "inconclusive" (the check could not decide a group).
    verdict: str
    folder: str | None
    #: The groups that did not pass and the first probable cause ("cause: message"), for the index.
    failed: list[str] = field(default_factory=list)
    cause: str = ""


@dataclass(eq=False)  # hashable by identity, as pluggy needs of a plugin
class _Session:
    """The plugin's state for one pytest session, registered as a plugin for its hooks."""

    defaults: dict[str, Any]
    report_dir: Path | None
    checks: list[_Check] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)
    outcomes: dict[str, str] = field(default_factory=dict)

    def folder_for(self, nodeid: str) -> str:
        """A folder name readable from the test id and unique to it, also across pytest-xdist workers.

        Making the id a file name loses characters (``test[a/b]`` and ``test[a_b]`` read alike), and
        each worker only knows its own tests, so the name ends in a hash of the whole id; a second
        check in the same test (always on the same worker) adds ``-2``, ``-3``, ….
        """
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.replace("::", "__")).strip("._-")[:120] or "check"
        base = f"{readable}-{hashlib.sha256(nodeid.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}"
        name, k = base, 1
        while name in self.folders:
            k += 1
            name = f"{base}-{k}"
        self.folders.add(name)
        return name

    def record(self, nodeid: str, report: CheckReport) -> None:
        folder = None
        if self.report_dir is not None:
            folder = self.folder_for(nodeid)
            # replace=True: a rerun into the same DIR refreshes the test's folder instead of adding "-2".
            report.save(self.report_dir, folder, replace=True)
        cause = next((f"{d.cause}: {d.message}" for d in report.diagnoses), "")
        self.checks.append(_Check(nodeid, report.verdict, folder, list(report.failed_groups), cause))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.checks or self.checks[-1].nodeid != report.nodeid:
            return
        if report.when == "call" or report.failed:
            outcome: str = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
            self.outcomes.setdefault(report.nodeid, outcome)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_dir is None:
            return
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            # A pytest-xdist worker: the controller writes the one index.
            workeroutput[_WORKER_KEY] = {"checks": [vars(c) for c in self.checks], "outcomes": self.outcomes}
            return
        from ..report.files import write_atomic

        self.report_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.report_dir / "index.md", self.index())

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: collect the checks a worker made (the controller runs none itself)."""
        data = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if data:
            self.checks.extend(_Check(**c) for c in data["checks"])
            self.outcomes.update(data["outcomes"])
            # Workers finish in any order; the index lists tests by id.
            self.checks.sort(key=lambda c: c.nodeid)

    def index(self) -> str:
        """The Markdown index of the session's checks."""
        if not self.checks:
            return "# gradcheck reports\n\nNo test used the gradcheck fixture in this session.\n"
        n_tests = len({c.nodeid for c in self.checks})
        lines = ["# gradcheck reports", "",
                 f"{_count(len(self.checks), 'check')} in {_count(n_tests, 'test')}: {self._tally()}.", "",
                 "| test | verdict | test outcome | report | failing groups | probable cause |",
                 "|---|---|---|---|---|---|"]
        for c in self.checks:
            test = c.nodeid.replace("|", "\\|")
            cause = " ".join(c.cause.split()).replace("|", "\\|") or "—"
            lines.append(f"| `{test}` | {c.verdict} | "
                         f"{self.outcomes.get(c.nodeid, '—')} | [{c.folder}]({c.folder}/report.md) | "
                         f"{', '.join(c.failed) or '—'} | {cause} |")
        return "\n".join(lines) + "\n"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report_dir is not None:
            terminalreporter.write_line(f"gradcheck: {_count(len(self.checks), 'check')} ({self._tally()}); "
                                        f"index of the reports: {self.report_dir / 'index.md'}")

    def _tally(self) -> str:
        """``"3 passed, 1 failed"``, with the inconclusive checks counted apart when there are any."""
        undecided = sum(c.verdict == "inconclusive" for c in self.checks)
        failed = sum(c.verdict == "failed" for c in self.checks)
        return f"{len(self.checks) - failed - undecided} passed, {failed} failed" + (
            f", {undecided} inconclusive" if undecided else "")


def _count(n: int, noun: str) -> str:
    # report.text.plural, without importing numpy into every pytest session that loads the plugin
    return f"{n} {noun}" + ("" if n == 1 else "s")


_SESSION = pytest.StashKey[_Session]()
#: Where a pytest-xdist worker hands its checks to the controller.
_WORKER_KEY = "gradcheck_checks"


def _defaults(config: pytest.Config) -> dict[str, Any]:
    """The fixture's default options from the command line and ini; UsageError when unusable."""
    defaults: dict[str, Any] = {}
    for key, option in _INI_OPTIONS.items():
        value = config.getini(key).strip()
        if value:
            defaults[option] = value
    if config.option.gradcheck_method:
        defaults["method"] = config.option.gradcheck_method
    if "method" in defaults:
        from ..numerical.engine import METHODS

        if defaults["method"] not in METHODS:
            raise pytest.UsageError(f"gradcheck method: expected one of {', '.join(METHODS)}, "
                                    f"got {defaults['method']!r} (--gradcheck-method or ini gradcheck_method)")
    for key in ("rtol", "atol"):
        if key in defaults:
            try:
                value = float(defaults[key])
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                raise pytest.UsageError(f"ini gradcheck_{key}: expected a finite number >= 0 such as 1e-8, "
                                        f"got {defaults[key]!r}")
            defaults[key] = value
    return defaults


def pytest_configure(config: pytest.Config) -> None:
    report_dir = config.option.gradcheck_report
    if report_dir and (Path(report_dir).exists() and not Path(report_dir).is_dir() or "\x00" in report_dir):
        raise pytest.UsageError(f"--gradcheck-report: {report_dir!r} is not a folder; give a folder for the "
                                "reports (created if missing)")
    state = _Session(_defaults(config), Path(report_dir).resolve() if report_dir else None)
    config.stash[_SESSION] = state
    config.pluginmanager.register(state, "gradcheck-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_SESSION, None)
    if state is not None:
        config.pluginmanager.unregister(state)


class GradientChecker:
    """The ``gradcheck`` fixture: check gradients inside a test.

    Calling it runs :func:`gradcheck.assert_gradients` with the session's
    default options, so the test fails with the report's table when a group fails.

    Attributes
    ----------
    defaults : dict
        Options applied unless given as keyword arguments (from
        ``--gradcheck-method`` and the ini keys).
    reports : list of CheckReport
        The reports of the checks made so far in this test.
    """

    def __init__(self, nodeid: str, session: _Session) -> None:
        self.nodeid = nodeid
        self.defaults = dict(session.defaults)
        self.reports: list[CheckReport] = []
        self._session = session

    def __call__(self, loss: Callable[[Mapping[str, Any]], Any], params: Mapping[str, Any],
                 grads: Mapping[str, Any], **options: Any) -> CheckReport:
        """Check ``grads`` against numerical derivatives of ``loss`` at ``params``.

        Parameters
        ----------
        loss : callable
            ``loss(params) -> scalar``.
        params : mapping of str to array_like
        grads : mapping of str to array_like
            Same keys and shapes as ``params``.
        **options
            As for :func:`gradcheck.check_params`; ``title`` defaults to the
            test's node id.

        Returns
        -------
        CheckReport
            When every group passed.

        Raises
        ------
        GradientMismatch
            An ``AssertionError`` whose message is the failure table.
        InvalidArgument
            Bad arguments, as for :func:`gradcheck.check_params`.
        """
        __tracebackhide__ = True
        from ..verify.params import assert_gradients

        options = {**self.defaults, "title": self.nodeid, **options}
        try:
            report = assert_gradients(loss, params, grads, **options)
        except InvalidArgument as exc:
            # The message names the argument; the frames of the validation code would only bury it.
            raise exc.with_traceback(None) from None
        except GradientMismatch as exc:
            if exc.report is not None:  # assert_gradients always attaches it
                self._record(exc.report)
            raise
        self._record(report)
        return report

    def _record(self, report: CheckReport) -> None:
        self.reports.append(report)
        self._session.record(self.nodeid, report)

    def __repr__(self) -> str:
        return f"<gradcheck fixture for {self.nodeid}: {len(self.reports)} checks, defaults {self.defaults}>"


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradientChecker:
    """Check hand-written gradients: ``gradcheck(loss, params, grads, **options)``.

    Passes silently when every parameter group agrees with its numerical
    derivative; otherwise fails the test with a table of the worst entries
    (index, analytic, numerical, tolerance) per failing group.
    """
    return GradientChecker(request.node.nodeid, request.config.stash[_SESSION])
