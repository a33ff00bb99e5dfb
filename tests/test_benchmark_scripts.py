"""The benchmark scripts' own rules (no timing is asserted): a quick run never overwrites the committed results,
never extrapolates from a handful of entries, and prints times in sensible units."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return load("run")


@pytest.mark.parametrize("seconds,text", [(0.9996, "1 s"), (0.9994, "999 ms"), (0.0123, "12.3 ms"),
                                          (1234.0, "1,234 s"), (float("nan"), "—")])
def test_fmt_time(run, seconds, text):
    assert run.fmt_time(seconds) == text


@pytest.mark.parametrize("script,results", [("run", "RESULTS.md"), ("cli_check", "CLI_RESULTS.md"),
                                            ("whole_check", "WHOLE_RESULTS.md"),
                                            ("distributed_check", "DISTRIBUTED_RESULTS.md"),
                                            ("ce_check", "CE_RESULTS.md")])
def test_quick_refuses_to_overwrite_the_committed_results(script, results, capsys):
    module = load(script)
    committed = (BENCH / results).read_bytes()
    with pytest.raises(SystemExit) as exc:
        module.main(["--quick", "--out", str(BENCH / results)])
    assert exc.value.code == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (BENCH / results).read_bytes() == committed


def test_a_peer_too_slow_for_enough_entries_is_not_measured(run):
    pb = run.problem("3-4-4-1", [3, 4, 4, 1], 4)
    calls = []

    def slow(entries: np.ndarray) -> np.ndarray:
        calls.append(len(entries))
        return np.zeros(len(entries))

    # a budget of 1e-6 s covers fewer than MIN_SCALED entries at any per-entry cost: no extrapolation
    row = run.loop_peer(pb, "slow peer", slow, budget=1e-6, repeats=1, full=False)
    assert np.isnan(row.seconds) and row.scaled_from is None
    assert row.note.startswith("not measured")
    assert set(calls) == {16}  # only the 16-entry probe ran (timed a few times), never a larger subset
