"""NetworkReport: text, Markdown, JSON and HTML forms, and saving without overwriting."""

from __future__ import annotations

import datetime as dt
import html
import inspect
import json
import os
import platform
import re

import numpy as np
import pytest
import scipy

import gradcheck as gc
from gradcheck.model.backprop import Backward
from gradcheck.report import plots as plots
from gradcheck.report.files import new_report_dir, write_atomic
from gradcheck.report.text import layer_rows

FAST = {"diagnostics": False} if "diagnostics" in inspect.signature(gc.check_network).parameters else {}
ROW_KEYS = ("weight", "bias", "delta", "recurrence")


def formula_labels(sizes: list[int], bias: bool) -> list[str]:
    L = len(sizes) - 1
    labels = []
    for l in range(1, L + 1):
        labels += [f"∂L/∂W{l}", f"δ{l} = ∂L/∂z{l}", f"∂L/∂W{l} = a{l - 1}ᵀ δ{l}"]
        labels.append(f"δ{l} = ∂L/∂a{l} ⊙ f'(z{l})" if l == L else f"δ{l} = (δ{l + 1} W{l + 1}ᵀ) ⊙ f'(z{l})")
        if bias:
            labels += [f"∂L/∂b{l}", f"∂L/∂b{l} = Σ δ{l}"]
    return labels


@pytest.fixture(scope="module")
def passing():
    X, y = gc.xor_data()
    net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
    return net, gc.check_network(net, X, y, **FAST)


@pytest.fixture(scope="module")
def with_biases():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((6, 5)), rng.random((6, 2))
    net = gc.DenseNet([5, 7, 3, 2], bias=True, seed=2)
    return net, gc.check_network(net, X, y, **FAST)


@pytest.fixture(scope="module")
def failing():
    """3-4-4-1 XOR network whose δ1 forgets ⊙ f'(z1)."""
    X, y = gc.xor_data()
    net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
    b = net.backward(X, y)
    deltas = list(b.deltas)
    deltas[0] = deltas[1] @ net.params["W2"].T
    grads = dict(b.gradients, W1=X.T @ deltas[0])
    return net, gc.check_network(net, X, y, backward=Backward(b.loss, deltas, grads, b.cache), **FAST)


@pytest.fixture
def no_plots(monkeypatch):
    """Rendering the plots takes seconds; most HTML tests are about the page, not the pictures."""
    monkeypatch.setattr(plots, "plots_available", lambda: False)


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


class TestText:
    def test_passing_report_lists_every_formula_per_layer(self, passing):
        net, report = passing
        text = str(report)
        assert "PASSED" in text.splitlines()[0]
        assert "Per layer" in text and "Per parameter group" in text
        for label in formula_labels(net.sizes, bias=False):
            assert label in text, label
        assert "FAIL" not in text

    def test_bias_rows_appear_with_biases(self, with_biases):
        net, report = with_biases
        text = str(report)
        for label in formula_labels(net.sizes, bias=True):
            assert label in text, label

    def test_per_layer_table_has_one_line_per_row(self, with_biases):
        _, report = with_biases
        table = section(str(report), "Per layer", "Per parameter group")
        n_rows = sum(len(layer.rows()) for layer in report.layers)
        assert sum(1 for line in table.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])) == n_rows

    def test_failing_report_marks_rows_and_lists_worst_entries(self, failing):
        _, report = failing
        text = str(report)
        first = text.splitlines()[0]
        assert "FAILED" in first and "W1" in first and "layer 1" in first
        table = section(text, "Per layer", "Per parameter group")
        delta_line = next(line for line in table.splitlines() if "δ1 = ∂L/∂z1" in line)
        recurrence_line = next(line for line in table.splitlines() if "δ1 = (δ2 W2ᵀ) ⊙ f'(z1)" in line)
        assert delta_line.rstrip().endswith("FAIL")
        assert recurrence_line.rstrip().endswith("ok")
        # a worst-entries table for δ1: its worst entry with analytic and numerical values
        row = report.layers[0].delta
        assert "outside tolerance" in text
        assert re.search(r"entry\s+analytic\s+numerical\s+abs error\s+rel error\s+tolerance", text)
        worst = row.worst[0]
        assert f"({worst.index[0]}, {worst.index[1]})" in text
        assert f"{worst.analytic:.10g}" in text and f"{worst.numerical:.10g}" in text

    def test_summary_names_what_failed_when_only_a_delta_is_wrong(self):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
        b = net.backward(X, y)
        deltas = list(b.deltas)
        deltas[1] = 3 * deltas[1]
        report = gc.check_network(net, X, y, backward=Backward(b.loss, deltas, dict(b.gradients), b.cache), **FAST)
        assert not report.passed
        assert "FAILED ()" not in report.summary_line()


class TestMarkdown:
    def test_tables_and_headings(self, passing):
        net, report = passing
        md = report.to_markdown()
        assert md.startswith("# ")
        assert "## Per layer" in md and "## Per parameter group" in md
        table_lines = [line for line in md.splitlines() if line.startswith("|")]
        # header + separator + one line per layer row, then the group table
        assert len(table_lines) >= 2 + sum(len(layer.rows()) for layer in report.layers) + 2 + len(report.groups)
        assert any(re.fullmatch(r"\|[-:|]+\|", line) for line in table_lines)
        for label in formula_labels(net.sizes, bias=False):
            assert label in md, label

    def test_failing_rows_say_fail(self, failing):
        md = failing[1].to_markdown()
        delta_line = next(line for line in md.splitlines() if line.startswith("|") and "δ1 = ∂L/∂z1" in line)
        assert "FAIL" in delta_line


class TestDict:
    def test_layout(self, with_biases):
        net, report = with_biases
        d = report.to_dict()
        for key in ("tool", "version", "created", "passed", "config", "environment", "groups", "layers"):
            assert key in d, key
        assert d["tool"] == "gradcheck"
        assert d["version"] == gc.__version__
        dt.datetime.fromisoformat(d["created"])
        assert d["passed"] is True
        assert {"method", "tolerance", "seed"} <= set(d["config"])
        assert d["config"]["method"] == "auto"
        assert d["config"]["seed"] == 0
        assert d["environment"]["python"] == platform.python_version()
        assert d["environment"]["numpy"] == np.__version__
        assert d["environment"]["scipy"] == scipy.__version__

        assert [g["name"] for g in d["groups"]] == list(net.params)
        for g in d["groups"]:
            assert g["shape"] == list(net.params[g["name"]].shape)
            assert g["passed"] is True
            assert isinstance(g["max_abs_error"], float) and isinstance(g["max_rel_error"], float)
            assert len(g["worst_index"]) == net.params[g["name"]].ndim

        assert [layer["layer"] for layer in d["layers"]] == [1, 2, 3]
        for layer in d["layers"]:
            assert layer["passed"] is True
            for key in ROW_KEYS:
                row = layer[key]
                assert {"max_abs_error", "max_rel_error", "passed"} <= set(row), key
                assert row["passed"] is True
                assert 0 <= row["max_abs_error"] < 1e-9

    def test_bias_is_null_without_biases(self, passing):
        d = passing[1].to_dict()
        assert all(layer["bias"] is None for layer in d["layers"])
        assert all(layer["delta"] is not None and layer["recurrence"] is not None for layer in d["layers"])

    def test_numbers_match_the_report(self, failing):
        _, report = failing
        d = report.to_dict()
        assert d["passed"] is False
        for layer, entry in zip(report.layers, d["layers"], strict=True):
            assert entry["passed"] == layer.passed
            for key in ROW_KEYS:
                row = getattr(layer, key)
                if row is None:
                    assert entry[key] is None
                else:
                    assert entry[key]["passed"] == row.passed
                    assert entry[key]["max_abs_error"] == pytest.approx(row.max_abs_error)
        assert d["layers"][0]["delta"]["passed"] is False
        assert d["layers"][0]["recurrence"]["passed"] is True

    @pytest.mark.parametrize("which", ["passing", "with_biases", "failing"])
    def test_json_serialisable(self, which, request):
        report = request.getfixturevalue(which)[1]
        text = json.dumps(report.to_dict(), allow_nan=False)
        assert json.loads(text) == json.loads(report.to_json())


class TestHtml:
    def test_self_contained_document_with_plots(self, passing):
        net, report = passing
        page = report.to_html()
        assert page.lstrip().startswith("<!DOCTYPE html>")
        assert page.rstrip().endswith("</html>")
        self_contained(page)
        assert "<table" in page
        for label in formula_labels(net.sizes, bias=False):
            assert html.escape(label) in page, label
        assert "data:image/" in page
        assert "PASSED" in page

    def test_figures_need_no_matplotlib(self, no_plots):
        X, y = gc.xor_data()
        net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=1)
        report = gc.check_network(net, X, y)  # with the Taylor test and the sweep
        page = report.to_html()
        self_contained(page)
        # a heatmap per weight matrix (PNG), a Taylor panel and a sweep panel per group (SVG), one colour bar
        assert page.count('alt="error heatmap') == net.n_layers
        assert page.count("data:image/png;base64,") == net.n_layers
        assert page.count('alt="Taylor remainders') == len(report.groups)
        assert page.count('alt="step-size sweep') == len(report.groups)
        for figure in re.findall(r'<img[^>]*src="([^"]+)"', page):
            assert figure.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,"))

    def test_verdict_comes_first(self, passing, failing):
        page = passing[1].to_html()
        assert page.index('<section id="verdict" class="pass">') < page.index("<table")
        assert "<title>PASSED:" in page and "every delta formula confirmed" in page
        page = failing[1].to_html()
        head = page[:page.index("<table")]
        assert '<p class="big">FAILED</p>' in head
        # the first failing link and the probable cause, which the text forms also carry, before any table
        assert html.escape("Breaks first at layer 1 (δ1 = ∂L/∂z1") in head
        assert "Probable cause</strong> (recurrence)" in head
        for d in failing[1].diagnoses:
            assert html.escape(d.message) in head

    def test_sweep_of_a_failing_group_is_not_drawn(self, failing):
        net, fast = failing
        X, y = gc.xor_data()
        b = net.backward(X, y)
        deltas = list(b.deltas)
        deltas[0] = deltas[1] @ net.params["W2"].T
        report = gc.check_network(net, X, y, backward=Backward(b.loss, deltas, dict(b.gradients, W1=X.T @ deltas[0]),
                                                                b.cache))
        page = report.to_html()
        assert report.failed_groups == ["W1"]
        assert 'alt="step-size sweep W1"' not in page
        assert "Not drawn (gradient fails): W1" in page
        assert 'alt="step-size sweep W2"' in page

    def test_failing_report_shows_failure_and_worst_entries(self, failing, no_plots):
        page = failing[1].to_html()
        self_contained(page)
        assert "FAILED" in page
        assert "worst entries" in page
        assert html.escape("δ1 = ∂L/∂z1") in page
        assert re.search(r"<td>\s*FAIL\s*</td>", page)

    def test_failing_rows_are_highlighted(self, failing, no_plots):
        _, report = failing
        page = report.to_html()
        n_failing = sum(1 for row in layer_rows(report.layers) if row[-1] == "FAIL")
        assert n_failing > 0
        assert len(re.findall(r'<tr class="fail">', page)) >= n_failing


def self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", page, re.IGNORECASE)
    assert "<script src" not in page.lower()
    assert not re.search(r"<link[^>]+stylesheet", page, re.IGNORECASE)


def folder_bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".")]


class TestSave:
    def test_writes_every_format_into_a_new_folder(self, with_biases, tmp_path, no_plots):
        _, report = with_biases
        paths = report.save(tmp_path, name="net")
        folder = tmp_path / "net"
        assert sorted(p.name for p in paths) == ["report.html", "report.json", "report.md", "report.txt"]
        assert all(p.parent == folder and p.is_file() for p in paths)
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)
        assert json.loads((folder / "report.json").read_text(encoding="utf-8")) == report.to_dict()
        assert (folder / "report.txt").read_text(encoding="utf-8") == str(report)
        assert (folder / "report.md").read_text(encoding="utf-8") == report.to_markdown()
        assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert leftovers(tmp_path) == []

    def test_never_overwrites_an_earlier_report(self, passing, failing, tmp_path, no_plots):
        passing[1].save(tmp_path, name="xor")
        first = folder_bytes(tmp_path / "xor")
        second = failing[1].save(tmp_path, name="xor")
        assert {p.parent.name for p in second} == {"xor-2"}
        assert folder_bytes(tmp_path / "xor") == first
        assert json.loads((tmp_path / "xor-2" / "report.json").read_text(encoding="utf-8"))["passed"] is False
        failing[1].save(tmp_path, name="xor")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["xor", "xor-2", "xor-3"]
        assert leftovers(tmp_path) == []

    def test_replace_swaps_in_the_new_report(self, passing, failing, tmp_path):
        passing[1].save(tmp_path, name="xor", formats=("json", "md"))
        paths = failing[1].save(tmp_path, name="xor", formats=("json",), replace=True)
        assert [p.name for p in tmp_path.iterdir()] == ["xor"]
        assert sorted(p.name for p in (tmp_path / "xor").iterdir()) == ["report.json"]
        assert [p.read_bytes() for p in paths] == [(failing[1].to_json() + "\n").encode("utf-8")]

    def test_default_folder_names_are_distinct(self, passing, tmp_path):
        a = passing[1].save(tmp_path, formats=("json",))
        b = passing[1].save(tmp_path, formats=("json",))
        assert a[0].parent != b[0].parent
        assert all(p.parent.parent == tmp_path and p.parent.name.startswith("gradcheck-") for p in a + b)

    def test_selected_formats_only(self, passing, tmp_path):
        paths = passing[1].save(tmp_path / "new" / "parent", name="x", formats=("md", "json"))
        assert sorted(p.name for p in (tmp_path / "new" / "parent" / "x").iterdir()) == ["report.json", "report.md"]
        assert len(paths) == 2

    def test_unknown_format_is_rejected_before_anything_is_written(self, passing, tmp_path):
        with pytest.raises(gc.InvalidArgument, match="pdf"):
            passing[1].save(tmp_path, name="x", formats=("json", "pdf"))
        assert list(tmp_path.iterdir()) == []


class TestNewReportDir:
    def test_numbers_existing_names(self, tmp_path):
        made = [new_report_dir(tmp_path / "p", "run") for _ in range(3)]
        assert [d.name for d in made] == ["run", "run-2", "run-3"]
        assert all(d.is_dir() and list(d.iterdir()) == [] for d in made)


class TestWriteAtomic:
    def test_writes_and_replaces(self, tmp_path):
        target = tmp_path / "report.json"
        assert write_atomic(target, "one") == target
        write_atomic(target, "two ∂L/∂W1")
        assert target.read_text(encoding="utf-8") == "two ∂L/∂W1"
        write_atomic(target, b"\x00\x01")
        assert target.read_bytes() == b"\x00\x01"
        assert [p.name for p in tmp_path.iterdir()] == ["report.json"]

    @pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
    def test_files_get_the_permissions_of_a_plain_open(self, tmp_path):
        umask = os.umask(0o022)
        try:
            path = write_atomic(tmp_path / "report.txt", "x")
        finally:
            os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o644

    def test_failed_rename_keeps_the_old_file(self, tmp_path, monkeypatch):
        target = tmp_path / "report.md"
        target.write_text("old", encoding="utf-8")

        def refuse(src, dst):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", refuse)
        with pytest.raises(OSError, match="disk full"):
            write_atomic(target, "new")
        monkeypatch.undo()
        assert target.read_text(encoding="utf-8") == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["report.md"]

    def test_failed_write_keeps_the_old_file(self, tmp_path):
        target = tmp_path / "report.txt"
        target.write_text("old", encoding="utf-8")
        with pytest.raises(UnicodeEncodeError):
            write_atomic(target, "new \ud800")  # a lone surrogate cannot be encoded as UTF-8
        assert target.read_text(encoding="utf-8") == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]
