"""Working bytes per sample of the structured engine's kernels (how many samples one block may hold), and bytes as text.

:meth:`gradcheck.numerical.structured.StructuredEngine._sample_blocks` divides
a quarter of the memory budget by these numbers.  Each counts the arrays a
kernel holds for one sample of a block at once (8 bytes per float or index,
16 per complex value), with its largest case: the refined interpolant's
2K − 1 points, the complex step's values.
"""

from __future__ import annotations

from .responses import Responses

__all__ = ["slope_bytes", "units_bytes", "entries_bytes", "interpolation_bytes", "format_bytes", "engine_note",
           "engine_stats"]


def slope_bytes(rs: Responses, layer: int) -> int:
    """The block's slopes f'(z) of every layer, and unit_response_rounding's temporaries from ``layer`` up."""
    widths = [w.shape[1] for w in rs.weights]
    return 8 * (sum(widths) + 4 * max(widths[layer - 1:]))


def units_bytes(rs: Responses, layer: int, k: int) -> int:
    """Every unit of ``layer`` at ``k`` offsets: two indices and a scale per unit, the (complex) values and
    the parts they are joined from per offset."""
    return slope_bytes(rs, layer) + 8 * rs.weights[layer - 1].shape[1] * (3 + 4 * k)


def entries_bytes(rs: Responses, layer: int, k: int, row_bytes: int) -> int:
    """One entry's ψ rows at ``k`` offsets (a chunk holds at least one entry), ``row_bytes`` per row."""
    return slope_bytes(rs, layer) + k * row_bytes


def interpolation_bytes(rs: Responses, layer: int, nodes: int) -> int:
    """Interpolating at 2K − 1 points (K = ``nodes``): node values, their parts, the coefficients in two
    forms and their transform per unit; the basis, its recurrence terms and product per input."""
    K2 = 2 * nodes - 1
    n_prev, n_l = rs.weights[layer - 1].shape
    return slope_bytes(rs, layer) + 8 * n_l * (5 * K2 + 4) + 8 * 3 * K2 * n_prev


def format_bytes(n: float) -> str:
    """``n`` bytes in bytes, kB or MB, three significant digits (the engine's notes)."""
    for unit in ("bytes", "kB"):
        if n < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} MB"


def engine_stats() -> dict[str, int]:
    """The structured engine's counters of one measurement, as :func:`engine_note` reports them."""
    return {"rows": 0, "chunks": 0, "chunk_bytes": 0, "fallback": 0, "interpolated": 0, "refined": 0,
            "sample_blocks": 1}


def engine_note(stats: dict[str, int], memory_budget: int, method: str) -> str:
    """The structured engine's note on its work: rows, chunks, blocks of samples and interpolated responses."""
    s = stats
    parts = [f"structured engine ({method}): {s['rows']:,} partial forward rows in {s['chunks']} chunk"
             f"{'s' if s['chunks'] != 1 else ''} of at most {format_bytes(s['chunk_bytes'])} "
             f"(memory budget {format_bytes(memory_budget)})"]
    if s["sample_blocks"] > 1:
        parts.append(f"the samples in up to {s['sample_blocks']} blocks")
    if s["interpolated"] or s["fallback"]:
        parts.append(f"{s['interpolated']:,} unit responses interpolated ({s['refined']:,} of them at twice "
                     f"the points), {s['fallback']:,} evaluated at every argument")
    return "; ".join(parts)
