"""gradcheck.check_backprop on the independent corpus: every bug caught, located, and never misdiagnosed.

The corpus was written from the published equations without reading gradcheck's bug catalogue or its
diagnosis code (see README.md); ``measure.py`` judges each finding against the corpus's ground truth.
"""

from __future__ import annotations

import measure
import pytest


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda s: f"seed{s}")
def findings(request):
    return measure.run(seed=request.param)


def test_every_bug_is_detected_and_located(findings):
    missed = [(f.name, f.detected, f.located) for f in findings if not (f.detected and f.located)]
    assert not missed


def test_no_cause_is_named_wrongly(findings):
    """A wrong cause stated with confidence is worse than 'unknown': there must be none."""
    assert not [(f.name, f.cause) for f in findings if f.verdict == "WRONG"]


def test_the_cause_is_named_for_every_bug(findings):
    assert [f.name for f in findings if f.verdict != "right"] == []


def test_the_corpus_covers_every_link(findings):
    assert {f.link for f in findings} >= set(measure.AGREES)


def test_without_deltas_no_link_is_claimed():
    """Gradients alone cannot say which link broke: the cause is a pattern of the values, or 'unknown'."""
    findings = measure.run(deltas=False)
    assert all(f.detected for f in findings)
    assert not [(f.name, f.cause) for f in findings if f.verdict == "WRONG"]
    # A sign or a constant factor is a pattern of the values themselves, which gradients alone do show.
    assert [f.name for f in findings if f.link in ("sign", "scale") and f.verdict != "right"] == []
