"""The pytest plugin, exercised the way users meet it: an inner test suite run by pytester."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import entry_points

import numpy  # noqa: F401  (imported before pytester's first in-process run, see below)
import pytest

# pytester restores sys.modules after every in-process run; numpy cannot be
# imported twice in one process, so it must already be loaded out here (the
# plugin itself no longer imports it).
pytest_plugins = ["pytester"]

# One correct and one wrong gradient: entry 1 of "weights" is off by 1e-3.
INNER = """
import numpy as np

PARAMS = {"weights": np.array([1.0, -2.0, 0.5])}


def loss(p):
    return np.sum(np.sin(p["weights"]) * p["weights"])


def gradient():
    w = PARAMS["weights"]
    return {"weights": np.sin(w) + w * np.cos(w)}


def test_correct(gradcheck):
    gradcheck(loss, PARAMS, gradient())


def test_wrong(gradcheck):
    g = gradient()
    g["weights"][1] += 1e-3
    gradcheck(loss, PARAMS, g)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner suite in-process, without the plugins it does not need.

    pytester restores sys.modules after every inner run, so hypothesis's plugin
    would import hypothesis afresh each time (about a second).
    """
    return pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider", *args)


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_inner=INNER)
    return pytester


def folders_of(directory, nodeid: str) -> list:
    """The report folders that DIR/index.md links to ``nodeid``, in order."""
    escaped = nodeid.replace("|", "\\|")  # as the Markdown table writes it
    rows = [line for line in (directory / "index.md").read_text().splitlines() if line.startswith(f"| `{escaped}` |")]
    return [directory / re.search(r"\]\(([^)]+)/report\.md\)", row).group(1) for row in rows]


def saved_config(directory, test: str) -> dict:
    (folder,) = folders_of(directory, f"test_inner.py::{test}")
    return json.loads((folder / "report.json").read_text())["config"]


class TestEntryPoint:
    def test_registered_as_pytest11_plugin(self):
        assert "gradcheck.interfaces.pytest_plugin" in {e.value for e in entry_points(group="pytest11")}

    def test_loading_imports_no_numerical_library(self):
        # pytest loads the plugin at every start in every project where
        # gradcheck is installed: it must not pay for numpy or scipy there.
        heavy = ("numpy", "scipy", "tabulate", "matplotlib", "hypothesis")
        code = f"import sys, gradcheck.interfaces.pytest_plugin; print([m for m in {heavy!r} if m in sys.modules])"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]"

    def test_public_names_load_on_first_use(self):
        # The first name used loads every public name, so a script's first
        # timed check does not include importing the checker.
        code = ("import sys, gradcheck as gc; before = 'numpy' in sys.modules; gc.xor_data; "
                "print(before, sorted(set(gc.__all__) - set(vars(gc))), vars(gc)['check_params'].__module__)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["False", "[]", "gradcheck.verify.params"]
        with pytest.raises(AttributeError, match="no attribute 'check_param'"):
            import gradcheck

            gradcheck.check_param  # noqa: B018

    def test_options_in_help(self, pytester):
        result = run(pytester, "--help")
        result.stdout.fnmatch_lines(["*--gradcheck-method=NAME*", "*--gradcheck-report=DIR*",
                                     "*gradcheck_method (string)*", "*gradcheck_rtol (string)*",
                                     "*gradcheck_atol (string)*"])


class TestFixture:
    def test_one_passed_one_failed(self, inner):
        run(inner).assert_outcomes(passed=1, failed=1)

    def test_failure_shows_the_table(self, inner):
        out = run(inner).stdout.str()
        failure = out[out.index("test_wrong"):]
        assert "GradientMismatch" in failure
        assert "weights: 1 of 3 entries outside tolerance" in failure
        for header in ("analytic", "numerical", "tolerance"):
            assert header in failure
        assert "(1)" in failure  # the wrong entry's index

    @pytest.mark.parametrize("tb", ["auto", "long"])
    def test_gradcheck_frames_hidden(self, inner, tb):
        out = run(inner, f"--tb={tb}").stdout.str()
        assert "gradcheck(loss, PARAMS, g)" in out  # the user's own line is shown
        for internal in ("check.py", "pytest_plugin.py", "numeric.py", "compare.py"):
            assert internal not in out

    def test_invalid_arguments_name_the_argument_without_internal_frames(self, pytester):
        pytester.makepyfile("""
            import numpy as np

            def test_missing_key(gradcheck):
                gradcheck(lambda p: np.sum(p["w"] ** 2), {"w": np.ones(2)}, {"v": np.ones(2)})
            """)
        result = run(pytester, "--tb=long")
        result.assert_outcomes(failed=1)
        out = result.stdout.str()
        assert "InvalidArgument: grads: keys must match params; missing ['w']" in out
        for internal in ("_validation.py", "check.py", "pytest_plugin.py"):
            assert internal not in out

    def test_returns_the_report_and_keeps_it(self, pytester):
        pytester.makepyfile("""
            import numpy as np

            def test_report(gradcheck):
                report = gradcheck(lambda p: np.sum(p["w"] ** 2), {"w": np.ones(2)}, {"w": 2 * np.ones(2)})
                assert report.passed and gradcheck.reports == [report]
                assert report.title.endswith("::test_report")
            """)
        run(pytester).assert_outcomes(passed=1)

    def test_suite_without_the_fixture_is_untouched(self, pytester):
        pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
        run(pytester).assert_outcomes(passed=1)
        assert not [p for p in pytester.path.rglob("*") if p.suffix in (".md", ".json", ".txt")]


class TestReportOption:
    def test_writes_a_report_per_check_and_an_index(self, inner):
        out = inner.path / "out"
        result = run(inner, "--gradcheck-report", str(out))
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["gradcheck: 2 checks (1 passed, 1 failed); index of the reports: *index.md"])
        for test, passed in (("test_correct", True), ("test_wrong", False)):
            (folder,) = folders_of(out, f"test_inner.py::{test}")
            assert folder.name.startswith(f"test_inner.py__{test}-")  # readable, then a hash of the id
            assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md", "report.txt"]
            assert json.loads((folder / "report.json").read_text())["passed"] is passed
        index = (out / "index.md").read_text()
        assert "| `test_inner.py::test_correct` | passed | passed | [test_inner.py__test_correct-" in index
        assert "| `test_inner.py::test_wrong` | failed | failed | [test_inner.py__test_wrong-" in index
        # each row names the groups that failed and the probable cause, as the check's own report does
        wrong = next(line for line in index.splitlines() if "test_wrong" in line)
        folder = re.search(r"\]\(([^)/]+)/", wrong).group(1)
        doc = json.loads((out / folder / "report.json").read_text())
        cells = [c.strip() for c in wrong.strip("|").split(" | ")]
        assert cells[4] == ", ".join(doc["failed_groups"]) != ""
        assert cells[5] == f"{doc['diagnosis'][0]['cause']}: {doc['diagnosis'][0]['message']}"
        right = next(line for line in index.splitlines() if "test_correct" in line)
        assert right.rstrip().endswith("| — | — |")
        assert "2 checks in 2 tests: 1 passed, 1 failed." in index

    def test_xdist_workers_feed_one_index(self, pytester):
        pytest.importorskip("xdist")
        pytester.makepyfile(test_many="""
            import numpy as np
            import pytest

            @pytest.mark.parametrize("k", range(6))
            def test_check(gradcheck, k):
                g = 2 * np.ones(3)
                g[0] += 1e-3 if k == 4 else 0.0
                gradcheck(lambda p: np.sum(p["w"] ** 2), {"w": np.ones(3)}, {"w": g})
            """)
        out = pytester.path / "out"
        # A subprocess: xdist's workers are processes of their own.
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--gradcheck-report", str(out))
        result.assert_outcomes(passed=5, failed=1)
        result.stdout.fnmatch_lines(["gradcheck: 6 checks (5 passed, 1 failed); index of the reports: *index.md"])
        index = (out / "index.md").read_text()
        rows = [line for line in index.splitlines() if line.startswith("| `")]
        assert [r.split("`")[1] for r in rows] == [f"test_many.py::test_check[{k}]" for k in range(6)]
        assert "6 checks in 6 tests: 5 passed, 1 failed." in index
        assert "| `test_many.py::test_check[4]` | failed | failed |" in index
        assert len([p for p in out.iterdir() if p.is_dir()]) == 6

    def test_xdist_never_gives_a_test_another_tests_folder(self, pytester):
        # 24 ids that read alike once made file names (every separator becomes "_"), spread over two
        # workers that do not know each other's names; every third one fails.
        pytest.importorskip("xdist")
        pytester.makepyfile(test_alike="""
            import numpy as np
            import pytest

            IDS = [f"g{k}{sep}x" for k in range(3) for sep in "/_ :|?*+"]

            @pytest.mark.parametrize("case", range(24), ids=IDS)
            def test_check(gradcheck, case):
                g = 2 * np.ones(3)
                g[0] += 1e-3 if case % 3 == 0 else 0.0
                gradcheck(lambda p: np.sum(p["w"] ** 2), {"w": np.ones(3)}, {"w": g})
            """)
        out = pytester.path / "out"
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--gradcheck-report", str(out))
        result.assert_outcomes(passed=16, failed=8)
        folders = [p for p in out.iterdir() if p.is_dir()]
        assert len(folders) == 24
        rows = [line for line in (out / "index.md").read_text().splitlines() if line.startswith("| `")]
        assert len(rows) == 24
        for row in rows:
            nodeid = row.split("`")[1].replace("\\|", "|")
            (folder,) = folders_of(out, nodeid)
            saved = json.loads((folder / "report.json").read_text())
            # the folder linked to a test holds that test's report, with the verdict the index shows
            assert saved["title"] == nodeid
            assert saved["passed"] is (" | passed | passed |" in row)

    def test_a_report_dir_that_is_a_file_is_a_usage_error(self, inner):
        (inner.path / "taken").write_text("not a folder")
        result = run(inner, "--gradcheck-report", str(inner.path / "taken"))
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--gradcheck-report: *taken' is not a folder*"])
        assert "Traceback" not in result.stderr.str() + result.stdout.str()
        assert (inner.path / "taken").read_text() == "not a folder"

    def test_several_checks_in_one_test_and_reruns(self, pytester):
        pytester.makepyfile(test_two="""
            import numpy as np
            import pytest

            @pytest.mark.xfail(strict=True, raises=AssertionError)
            def test_twice(gradcheck):
                loss = lambda p: np.sum(p["w"] ** 2)
                gradcheck(loss, {"w": np.ones(2)}, {"w": 2 * np.ones(2)})
                gradcheck(loss, {"w": np.ones(2)}, {"w": np.ones(2)})
            """)
        out = pytester.path / "out"
        for _ in range(2):  # the second run refreshes the folders instead of adding new ones
            run(pytester, "--gradcheck-report", str(out)).assert_outcomes(xfailed=1)
        first, second = folders_of(out, "test_two.py::test_twice")
        assert second.name == first.name + "-2" and first.name.startswith("test_two.py__test_twice-")
        assert sorted(p.name for p in out.iterdir()) == sorted(["index.md", first.name, second.name])
        index = (out / "index.md").read_text()
        assert f"| passed | xfailed | [{first.name}]({first.name}/report.md) |" in index
        assert f"| failed | xfailed | [{second.name}]" in index

    def test_index_says_when_no_check_was_made(self, pytester):
        pytester.makepyfile("def test_plain():\n    assert True\n")
        out = pytester.path / "out"
        run(pytester, "--gradcheck-report", str(out)).assert_outcomes(passed=1)
        assert "No test used the gradcheck fixture" in (out / "index.md").read_text()


class TestDefaults:
    def test_method_option_is_honoured(self, inner):
        out = inner.path / "out"
        run(inner, "--gradcheck-method", "central", "--gradcheck-report", str(out))
        assert saved_config(out, "test_correct")["method"] == "central"
        assert saved_config(out, "test_wrong")["method"] == "central"

    def test_default_method_is_auto(self, inner):
        out = inner.path / "out"
        run(inner, "--gradcheck-report", str(out))
        assert saved_config(out, "test_correct")["method"] == "auto"

    def test_ini_keys_and_precedence(self, pytester):
        pytester.makeini("[pytest]\ngradcheck_method = central\ngradcheck_rtol = 1e-7\ngradcheck_atol = 1e-12\n")
        pytester.makepyfile(test_ini="""
            import numpy as np

            loss = lambda p: np.sum(p["w"] ** 2)

            def test_defaults(gradcheck):
                gradcheck(loss, {"w": np.ones(2)}, {"w": 2 * np.ones(2)})

            def test_explicit(gradcheck):
                gradcheck(loss, {"w": np.ones(2)}, {"w": 2 * np.ones(2)}, method="forward", rtol=1e-5)
            """)
        out = pytester.path / "out"
        run(pytester, "--gradcheck-report", str(out)).assert_outcomes(passed=2)
        (defaults,) = folders_of(out, "test_ini.py::test_defaults")
        (explicit,) = folders_of(out, "test_ini.py::test_explicit")
        config = json.loads((defaults / "report.json").read_text())["config"]
        assert (config["method"], config["tolerance"]["rtol"], config["tolerance"]["atol"]) == ("central", 1e-7, 1e-12)
        config = json.loads((explicit / "report.json").read_text())["config"]
        assert (config["method"], config["tolerance"]["rtol"]) == ("forward", 1e-5)
        run(pytester, "--gradcheck-report", str(out), "--gradcheck-method", "richardson")
        config = json.loads((defaults / "report.json").read_text())["config"]
        assert config["method"] == "richardson"  # the command line wins over the ini file

    @pytest.mark.parametrize("args, ini, message", [
        (["--gradcheck-method", "nope"], "", "*gradcheck method: expected one of *auto*got 'nope'*"),
        ([], "gradcheck_rtol = -1", "*ini gradcheck_rtol: expected a finite number >= 0*got '-1'*"),
        ([], "gradcheck_atol = small", "*ini gradcheck_atol: expected a finite number >= 0*got 'small'*"),
    ])
    def test_bad_values_are_usage_errors(self, pytester, args, ini, message):
        pytester.makeini(f"[pytest]\n{ini}\n")
        pytester.makepyfile("def test_plain():\n    assert True\n")
        result = run(pytester, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])


def test_the_index_counts_inconclusive_checks_apart(tmp_path):
    """An undecided check is neither passed nor failed in the index and the session summary."""
    from gradcheck.interfaces.pytest_plugin import _Check, _Session

    session = _Session(defaults={}, report_dir=tmp_path)
    session.checks += [_Check("t.py::a", "passed", "a"),
                       _Check("t.py::b", "failed", "b", ["W1"], "sign: …"),
                       _Check("t.py::c", "inconclusive", "c", ["w"], "")]
    index = session.index()
    assert "3 checks in 3 tests: 1 passed, 1 failed, 1 inconclusive." in index
    assert "| `t.py::c` | inconclusive |" in index
