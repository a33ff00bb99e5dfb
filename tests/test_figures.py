"""The HTML report's figures (gradcheck.report.figures): PNG heatmaps on one error/tolerance scale, SVG plots."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.report import figures


def decode(png: bytes) -> np.ndarray:
    """Pixels (height, width, 3) of an 8-bit RGB PNG without filters, as figures.png writes it."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert not raw[:, 0].any()  # filter type 0 on every line
    return raw[:, 1:].reshape(height, width, 3)


def centre(pixels: np.ndarray, cell: int, row: int, col: int) -> tuple[int, ...]:
    """The colour of a cell a little off its centre (away from the failure dot)."""
    return tuple(pixels[row * cell + 1, col * cell + 1])


RED = np.array(figures._rgb("#ef3b2c"))


class TestHeatmap:
    def test_one_scale_for_every_matrix(self):
        # the same error/tolerance gets the same colour whatever else is in the matrix
        a, _ = figures.ratio_heatmap(np.array([[1e-12, 1e-3]]), 1e-10)
        b, _ = figures.ratio_heatmap(np.array([[1e-12, 1e-16]]), 1e-10)
        pa, pb = decode(a), decode(b)
        cell = pa.shape[1] // 2
        assert centre(pa, cell, 0, 0) == centre(pb, cell, 0, 0)
        # rounding noise far inside the tolerance is pale, unlike the old per-matrix scaling made it
        assert min(centre(pb, cell, 0, 1)) > 230

    def test_failing_entries_are_red_and_dotted(self):
        err = np.array([[1e-14, 5e-9], [1e-12, 1e-13]])
        pixels = decode(figures.ratio_heatmap(err, 1e-10)[0])
        cell = pixels.shape[0] // 2
        bad = np.array(centre(pixels, cell, 0, 1))
        assert bad[0] > 100 and bad[0] > 2 * bad[2]  # red: above the tolerance
        for r, c in [(0, 0), (1, 0), (1, 1)]:
            ok = np.array(centre(pixels, cell, r, c))
            assert ok[2] >= ok[0]  # blue side of the scale
        half = (cell - 1) // 2
        assert tuple(pixels[half, cell + half]) == (255, 255, 255)  # the dot in the failing cell
        assert tuple(pixels[half, half]) != (255, 255, 255)

    def test_ratio_edge_cases(self):
        ratio = figures.ratio_grid(np.array([0.0, 1.0, np.nan, 0.0]), np.array([0.0, 0.0, 1.0, 1.0]))
        assert ratio.tolist() == [[0.0, np.inf, np.inf, 0.0]]
        pixels = decode(figures.ratio_heatmap(np.array([np.nan, 0.0]), 1.0)[0])
        assert centre(pixels, pixels.shape[1] // 2, 0, 0) == (0, 0, 0)  # non-finite: black

    def test_large_matrix_is_pooled_keeping_the_worst(self):
        err = np.full((10, 1500), 1e-14)
        err[7, 1234] = 1.0
        image, block = figures.ratio_heatmap(err, 1e-10)
        pixels = decode(image)
        assert block == (1, 4) and pixels.shape[1] == 375  # columns pooled by 4, one pixel each
        assert pixels.shape[0] == 10 * 8  # rows stretched: a strip of 10 rows stays 80 pixels high
        # the failing entry's block is the only dark red one
        reds = np.argwhere(np.all(np.abs(pixels.astype(int) - figures._rgb("#67000d")) < 3, axis=-1))
        assert {(int(y) // 8, int(x)) for y, x in reds} == {(7, 1234 // 4)}


class TestSvg:
    @pytest.fixture(scope="class")
    @classmethod
    def report(cls):
        X, y = gc.xor_data()
        return gc.check_network(gc.DenseNet([3, 4, 1], bias=False, seed=0), X, y)

    def test_taylor_and_sweep_are_well_formed_svg(self, report):
        for svg in [figures.taylor_svg(t) for t in report.taylor] + [figures.sweep_svg(s, True)
                                                                     for s in report.sweep]:
            root = ET.fromstring(svg)
            assert root.tag.endswith("svg")
            assert root.findall(".//{http://www.w3.org/2000/svg}polyline")

    def test_best_step_marked_only_when_asked(self, report):
        s = report.sweep[0]
        rings = figures.sweep_svg(s, True).count('r="7"')
        assert rings == sum(np.isfinite(v) for v in s.best_step.values()) > 0
        assert figures.sweep_svg(s, False).count('r="7"') == 0

    def test_colourbar(self):
        root = ET.fromstring(figures.ratio_colourbar())
        labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert labels == ["1e-6", "1e-4", "1e-2", "1 = tolerance", "1e2"]
