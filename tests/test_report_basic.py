"""CheckReport from check_params: the contract fields, text, Markdown, JSON and saving."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gradcheck as gc

GROUPS = ["W1", "b1", "W2", "b2", "W3", "b3"]


def problem():
    rng = np.random.default_rng(1000)
    net = gc.DenseNet([3, 4, 4, 1], seed=0)
    X, y = rng.standard_normal((6, 3)), rng.uniform(0, 1, (6, 1))
    return net.loss_closure(X, y), net.params, net.gradients(X, y)


def passing():
    return gc.check_params(*problem())


def failing():
    loss, params, grads = problem()
    wrong = {k: v.copy() for k, v in grads.items()}
    wrong["W2"][3, 0] *= 1 + 1e-4
    return gc.check_params(loss, params, wrong)


class TestVerdict:
    def test_passed_and_failed_groups(self):
        ok, bad = passing(), failing()
        assert ok.passed is True and ok.failed_groups == []
        assert bad.passed is False and bad.failed_groups == ["W2"]

    def test_groups_in_params_order_with_contract_attributes(self):
        report = failing()
        assert [g.name for g in report.groups] == GROUPS
        g = report.group("W2")
        assert (g.shape, g.passed, g.worst_index) == ((4, 4), False, (3, 0))
        assert g.max_abs_error > 0 and g.max_rel_error == pytest.approx(1e-4, rel=1e-3)
        assert all(isinstance(x.worst_index, tuple) for x in report.groups)

    def test_group_lookup(self):
        with pytest.raises(KeyError):
            passing().group("W9")

    def test_records_configuration(self):
        report = failing()
        assert report.method == "auto" and report.config["seed"] == 0
        assert report.config["tolerance"]["rtol"] == 1e-10
        assert set(report.config["steps"]) == set(GROUPS)
        assert report.elapsed > 0 and report.n_evaluations > 0
        assert report.loss_value == pytest.approx(float(problem()[0](problem()[1])), rel=1e-14)


class TestToDict:
    def test_contract_keys(self):
        d = failing().to_dict()
        assert d["passed"] is False
        assert d["failed_groups"] == ["W2"]
        assert [g["name"] for g in d["groups"]] == GROUPS
        for g in d["groups"]:
            for key in ("name", "shape", "passed", "max_abs_error", "max_rel_error", "worst_index"):
                assert key in g
            assert isinstance(g["shape"], list) and isinstance(g["worst_index"], list)
        w2 = d["groups"][2]
        assert w2["shape"] == [4, 4] and w2["passed"] is False and w2["worst_index"] == [3, 0]

    def test_strict_json_even_with_non_finite_values(self):
        loss, params, grads = problem()
        report = gc.check_params(loss, params, {**grads, "b1": np.full(4, np.inf)})
        text = json.dumps(report.to_dict(), allow_nan=False)
        assert json.loads(text)["failed_groups"] == ["b1"]

    def test_to_json_parses(self):
        report = failing()
        assert json.loads(report.to_json()) == json.loads(json.dumps(report.to_dict()))


class TestText:
    def test_str_contains_group_names_and_verdicts(self):
        text = str(failing())
        for name in GROUPS:
            assert name in text
        assert "FAIL" in text and "ok" in text and "(3, 0)" in text

    def test_passing_report_says_so(self):
        text = str(passing())
        assert "PASSED" in text and "FAIL" not in text

    def test_failure_message_matches_str(self):
        report = failing()
        assert report.failure_message() == str(report)

    def test_to_markdown_has_a_table(self):
        lines = failing().to_markdown().splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("| group"))
        assert set(lines[header + 1].replace("|", "").strip()) <= {"-", ":", " "}
        assert any(line.startswith("| W2") and "FAIL" in line for line in lines)


class TestSave:
    def test_writes_into_a_new_sub_folder(self, tmp_path):
        report = failing()
        paths = report.save(tmp_path)
        assert paths and all(p.parent.parent == tmp_path for p in paths)
        folder = paths[0].parent
        assert {p.suffix for p in paths} == {".txt", ".md", ".json"}
        assert json.loads((folder / "report.json").read_text()) == json.loads(report.to_json())
        assert (folder / "report.txt").read_text() == str(report)
        # Atomic writes leave no temporary files behind.
        assert sorted(os.listdir(folder)) == sorted(p.name for p in paths)

    def test_creates_missing_parent(self, tmp_path):
        paths = passing().save(tmp_path / "a" / "b")
        assert all(p.exists() for p in paths)

    def test_second_save_never_overwrites_the_first(self, tmp_path):
        first, second = failing(), passing()
        a = first.save(tmp_path, name="run")
        before = {p: p.read_bytes() for p in a}
        b = second.save(tmp_path, name="run")
        c = second.save(tmp_path)
        d = second.save(tmp_path)
        assert len({p.parent for p in a + b + c + d}) == 4
        assert {p: p.read_bytes() for p in a} == before

    def test_selected_formats(self, tmp_path):
        paths = failing().save(tmp_path, formats=("json",))
        assert [p.name for p in paths] == ["report.json"]

    def test_unknown_format_writes_nothing(self, tmp_path):
        with pytest.raises(gc.InvalidArgument, match=r"^formats:"):
            failing().save(tmp_path, formats=("pdf",))
        assert list(tmp_path.iterdir()) == []


class TestThreeWayVerdict:
    """Three-way verdicts: an undecided group is never passed."""

    def report(self, **reasons):
        w = np.array([0.3, -1.2])
        report = gc.check_params(lambda p: np.sum(np.sin(p["w"])) + np.sum(p["v"] ** 2),
                                 {"w": w, "v": np.array([1.0])}, {"w": np.cos(w), "v": np.array([2.0])})
        for g in report.groups:
            if g.name in reasons:
                g.passed, g.inconclusive_reason = False, reasons[g.name]
        return report

    def test_all_passed(self):
        report = self.report()
        assert report.verdict == "passed" and report.inconclusive_groups == []
        assert [g.verdict for g in report.groups] == ["passed", "passed"]

    def test_inconclusive_is_not_passed(self):
        report = self.report(w="loss noise 1e-3 relative")
        assert report.groups[0].verdict == "inconclusive" and not report.passed
        assert report.verdict == "inconclusive" and report.inconclusive_groups == ["w"]

    def test_failed_outranks_inconclusive(self):
        report = self.report(w="loss noise")
        report.groups[1].passed = False
        assert report.verdict == "failed"
