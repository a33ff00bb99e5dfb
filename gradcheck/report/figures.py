r"""The HTML report's figures, drawn without matplotlib: SVG line plots and PNG heatmaps.

=================== ==========================================================
figure              shows
=================== ==========================================================
``ratio_heatmap``   error/tolerance per entry of a weight matrix, as a PNG
                    whose cells are coloured on :data:`RATIO_SCALE`, the same
                    scale for every matrix; failing entries are red with a
                    white dot
``ratio_colourbar`` that scale, as an SVG
``taylor_svg``      the Taylor remainder r1 against ε with slope-1 and
                    slope-2 reference lines (one group)
``sweep_svg``       the error of forward, central and complex-step
                    derivatives against the step h (one group)
=================== ==========================================================

Legends, titles and captions are the page's own text, not part of the
images, so they stay legible at any width.  A figure costs a millisecond or
so, where the matplotlib figures of :mod:`gradcheck.report.plots` cost a
few hundred (that module still draws the PNGs of ``gradcheck sweep`` and
``gradcheck taylor``).
"""

from __future__ import annotations

import html
import math
import struct
import zlib

import numpy as np

from .records import SweepResult, TaylorResult

__all__ = ["RATIO_SCALE", "METHOD_COLOURS", "ratio_grid", "ratio_heatmap", "ratio_colourbar", "taylor_svg",
           "sweep_svg", "png"]

#: log10(error/tolerance) -> colour: pale far below the tolerance, darkening towards it, red beyond it.
#: Ratios below the first stop or above the last take the end colours.
RATIO_SCALE: tuple[tuple[float, str], ...] = (
    (-6.0, "#f4f8fc"), (-4.0, "#c6dbef"), (-2.0, "#6baed6"), (-1.0, "#2171b5"), (0.0, "#08306b"),
    (1e-9, "#ef3b2c"), (2.0, "#67000d"))
NONFINITE_COLOUR = "#000000"
METHOD_COLOURS = {"forward": "#1f77b4", "central": "#ff7f0e", "complex": "#2ca02c"}
#: Largest heatmap side in pixels; bigger matrices are pooled (the largest ratio of each block shown).
_MAX_SIDE = 480
_MAX_CELL = 40


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def ratio_grid(abs_error: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """error/tolerance per entry, 2-D (a vector becomes one row); inf where an error is not finite.

    Parameters
    ----------
    abs_error : ndarray of shape (n_rows, n_cols) or (n,)
    tolerance : ndarray broadcastable to the shape of ``abs_error``

    Returns
    -------
    ndarray of shape (n_rows, n_cols)
        A zero tolerance gives 0 for a zero error and inf otherwise.
    """
    err = np.abs(np.asarray(abs_error, dtype=np.float64))
    tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), err.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1.0), np.where(err == 0, 0.0, np.inf))
    ratio = np.where(np.isfinite(err), ratio, np.inf)
    return ratio.reshape(1, -1) if ratio.ndim < 2 else ratio


def _colours(ratio: np.ndarray) -> np.ndarray:
    """RGB (uint8, shape ratio.shape + (3,)) of each ratio on :data:`RATIO_SCALE`."""
    stops = np.array([s for s, _ in RATIO_SCALE])
    rgb = np.array([_rgb(c) for _, c in RATIO_SCALE], dtype=np.float64)
    with np.errstate(divide="ignore"):
        x = np.log10(np.where(np.isfinite(ratio), ratio, 1.0))
    x = np.clip(x, stops[0], stops[-1])
    out = np.stack([np.interp(x, stops, rgb[:, k]) for k in range(3)], axis=-1)
    out[~np.isfinite(ratio)] = _rgb(NONFINITE_COLOUR)
    return np.round(out).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    """An RGB image (uint8 array of shape (height, width, 3)) as PNG bytes (8-bit truecolour, no filter)."""
    height, width, _ = pixels.shape
    # Each scanline starts with its filter type, 0 (none).
    raw = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def _pool(ratio: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``ratio`` reduced by block maxima so that no side exceeds :data:`_MAX_SIDE` cells; and the block shape."""
    br, bc = (max(1, math.ceil(n / _MAX_SIDE)) for n in ratio.shape)
    if br == bc == 1:
        return ratio, (1, 1)
    rows, cols = math.ceil(ratio.shape[0] / br) * br, math.ceil(ratio.shape[1] / bc) * bc
    padded = np.full((rows, cols), -np.inf)
    padded[:ratio.shape[0], :ratio.shape[1]] = ratio
    return padded.reshape(rows // br, br, cols // bc, bc).max(axis=(1, 3)), (br, bc)


def ratio_heatmap(abs_error: np.ndarray, tolerance: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    r"""A PNG of error/tolerance per entry on :data:`RATIO_SCALE`, and how many entries each cell pools.

    Parameters
    ----------
    abs_error : ndarray of shape (n_rows, n_cols) or (n,)
    tolerance : ndarray broadcastable to the shape of ``abs_error``

    Returns
    -------
    image : bytes
        PNG; one cell of up to 40 pixels a side per entry (square unless
        the matrix is so elongated that its short side would be a sliver),
        a red cell with a white dot for each entry above its tolerance,
        black for a non-finite one.  A side longer than 480 entries is
        pooled in blocks, each showing its largest ratio.
    block : (int, int)
        Rows and columns of entries one cell shows ((1, 1) unless pooled).

    Examples
    --------
    >>> err = np.array([[1e-12, 3e-9], [2e-15, 0.0]])
    >>> image, block = ratio_heatmap(err, 1e-10)
    >>> image[:4] == b"\x89PNG", block
    (True, (1, 1))
    """
    ratio, block = _pool(ratio_grid(abs_error, tolerance))
    n_rows, n_cols = ratio.shape
    cell = max(1, min(_MAX_CELL, _MAX_SIDE // max(n_rows, n_cols)))
    # A thin matrix (20×600, a 600×12 one) would be a strip a few pixels wide: its short side's cells are
    # stretched, up to 8 times as long as wide, towards 80 pixels.
    ch, cw = (max(cell, min(8 * cell, _MAX_CELL, math.ceil(80 / n))) for n in (n_rows, n_cols))
    colours = _colours(ratio)
    pixels = np.repeat(np.repeat(colours, ch, axis=0), cw, axis=1)
    if min(ch, cw) >= 3:
        # Cell borders, so that neighbours with the same colour stay countable.
        pixels[ch - 1::ch, :, :] = 255
        pixels[:, cw - 1::cw, :] = 255
    if min(ch, cw) >= 6:
        # A white dot marks each failing entry for readers who cannot tell the red from the blue.
        rows, cols = np.nonzero(ratio > 1)
        dot = max(1, min(ch, cw) // 6)
        for r, c in zip(rows, cols, strict=True):
            y, x = r * ch + (ch - 1) // 2, c * cw + (cw - 1) // 2
            pixels[y - dot:y + dot + 1, x - dot:x + dot + 1, :] = 255
    return png(pixels), block


# -- SVG line plots ----------------------------------------------------------------------------------

_W, _H = 360, 250
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 52, 12, 10, 40
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _decades(lo: float, hi: float) -> tuple[float, float, list[int]]:
    """Axis limits in log10 around [lo, hi] and the decades to label (at most six)."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        a, b = a - 1, b + 1
    step = max(1, math.ceil((b - a) / 5))
    return a, b, list(range(a, b + 1, step))


class _LogLog:
    """A log-log frame of :data:`_W` × :data:`_H` pixels and the SVG elements drawn in it."""

    def __init__(self, x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str) -> None:
        x = x[np.isfinite(x) & (x > 0)]
        y = y[np.isfinite(y) & (y > 0)]
        self.x0, self.x1, xt = _decades(float(x.min()), float(x.max()))
        self.y0, self.y1, yt = _decades(float(y.min()) if y.size else 1e-17, float(y.max()) if y.size else 1.0)
        self.parts: list[str] = [f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="white"/>']
        for d in xt:
            px = self.px(10.0 ** d)
            self.parts.append(f'<line x1="{px:.1f}" y1="{_PAD_T}" x2="{px:.1f}" y2="{_H - _PAD_B}" stroke="#e3e3e3"/>')
            self.parts.append(f'<text x="{px:.1f}" y="{_H - _PAD_B + 15}" text-anchor="middle" {_FONT}>'
                              f'1e{d}</text>')
        for d in yt:
            py = self.py(10.0 ** d)
            self.parts.append(f'<line x1="{_PAD_L}" y1="{py:.1f}" x2="{_W - _PAD_R}" y2="{py:.1f}" stroke="#e3e3e3"/>')
            self.parts.append(f'<text x="{_PAD_L - 4}" y="{py + 4:.1f}" text-anchor="end" {_FONT}>1e{d}</text>')
        self.parts.append(f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{_W - _PAD_L - _PAD_R}" '
                          f'height="{_H - _PAD_T - _PAD_B}" fill="none" stroke="#888"/>')
        self.parts.append(f'<text x="{(_PAD_L + _W - _PAD_R) / 2}" y="{_H - 6}" text-anchor="middle" {_FONT}>'
                          f'{html.escape(xlabel)}</text>')
        self.parts.append(f'<text transform="translate(13,{(_PAD_T + _H - _PAD_B) / 2}) rotate(-90)" '
                          f'text-anchor="middle" {_FONT}>{html.escape(ylabel)}</text>')

    def px(self, x: float) -> float:
        t = (math.log10(x) - self.x0) / (self.x1 - self.x0)
        return _PAD_L + t * (_W - _PAD_L - _PAD_R)

    def py(self, y: float) -> float:
        t = (math.log10(y) - self.y0) / (self.y1 - self.y0)
        return _H - _PAD_B - t * (_H - _PAD_T - _PAD_B)

    def _points(self, x: np.ndarray, y: np.ndarray) -> list[list[tuple[float, float]]]:
        """Runs of consecutive drawable points (gaps at zero or non-finite values), clipped to the frame."""
        runs: list[list[tuple[float, float]]] = [[]]
        lo, hi = 10.0 ** self.y0, 10.0 ** self.y1
        for a, b in zip(x, y, strict=True):
            if math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0:
                runs[-1].append((self.px(a), self.py(min(max(b, lo), hi))))
            elif runs[-1]:
                runs.append([])
        return [r for r in runs if r]

    def line(self, x: np.ndarray, y: np.ndarray, colour: str, dash: str = "", width: float = 1.6) -> None:
        for run in self._points(x, y):
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in run)
            style = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}"{style}/>')

    def markers(self, x: np.ndarray, y: np.ndarray, colour: str, filled: bool = True, size: float = 3.2) -> None:
        fill = colour if filled else "white"
        for run in self._points(x, y):
            for a, b in run:
                self.parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{size}" fill="{fill}" stroke="{colour}"/>')

    def svg(self, label: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
                f'role="img" aria-label="{html.escape(label)}">' + "".join(self.parts) + "</svg>")


def taylor_svg(result: TaylorResult) -> str:
    """The Taylor remainders of one group against ε: r0 (blue), r1 (red, filled where the order was fitted),
    slope-1 (dashed) and slope-2 (dash-dotted) references through r1's fitted middle, the round-off floor (dotted).

    Parameters
    ----------
    result : TaylorResult

    Returns
    -------
    str
        An SVG document.
    """
    order = np.argsort(result.epsilons)
    eps, r0, r1 = result.epsilons[order], result.remainder0[order], result.remainder1[order]
    floor, used = result.roundoff_floor[order], result.used[order]
    frame = _LogLog(eps, np.concatenate([r0, r1, floor]), "ε (step along a random direction)", "remainder")
    frame.line(eps, floor, "#999999", dash="2,3", width=1.2)
    if used.any():
        idx = np.flatnonzero(used)
        mid = idx[len(idx) // 2]
        span = eps[max(idx[0] - 2, 0):idx[-1] + 3]
        for slope, dash in ((1, "6,4"), (2, "8,3,2,3")):
            ref = 10 * r1[mid] * (span / eps[mid]) ** slope
            frame.line(span, ref, "#333333", dash=dash, width=1.0)
            if np.isfinite(ref[-1]) and ref[-1] > 0 and 10.0 ** frame.y0 < ref[-1] < 10.0 ** frame.y1:
                frame.parts.append(f'<text x="{frame.px(span[-1]) + 3:.1f}" y="{frame.py(ref[-1]) + 4:.1f}" '
                                   f'{_FONT}>slope {slope}</text>')
    frame.line(eps, r0, "#1f77b4")
    frame.markers(eps, r0, "#1f77b4", size=2.2)
    frame.line(eps, r1, "#d62728")
    frame.markers(eps, r1, "#d62728", filled=False)
    frame.markers(eps[used], r1[used], "#d62728", filled=True)
    return frame.svg(f"Taylor remainders of {result.name}")


def sweep_svg(result: SweepResult, mark_best: bool) -> str:
    """The error of each method's directional derivative of one group against the step h.

    Parameters
    ----------
    result : SweepResult
    mark_best : bool
        Ring each method's best step: meaningful only when the gradient
        under test is right (a wrong one makes every curve level off at its
        own error, and the "best" step is then noise).

    Returns
    -------
    str
        An SVG document; errors of exactly 0 are drawn at 1e-17.
    """
    order = np.argsort(result.steps)
    h = result.steps[order]
    curves = {m: np.maximum(np.asarray(e, dtype=np.float64)[order], 1e-17) for m, e in result.errors.items()}
    values = np.concatenate(list(curves.values()) + [np.array([np.finfo(np.float64).eps])])
    frame = _LogLog(h, values, "step h", "relative error")
    eps = np.finfo(np.float64).eps
    frame.line(h, np.full_like(h, eps), "#999999", dash="2,3", width=1.2)
    for method, err in curves.items():
        colour = METHOD_COLOURS.get(method, "#555555")
        frame.line(h, err, colour)
        frame.markers(h, err, colour, size=2.2)
        best = result.best_step.get(method, math.nan)
        if mark_best and math.isfinite(best):
            x, y = frame.px(best), frame.py(max(result.best_error[method], 1e-17))
            frame.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{colour}" '
                               'stroke-width="2"/>')
    return frame.svg(f"step-size sweep of {result.name}")


def ratio_colourbar(width: int = 360) -> str:
    """:data:`RATIO_SCALE` as an SVG bar labelled in decades of error/tolerance, 1 marked as the tolerance."""
    lo, hi = RATIO_SCALE[0][0], RATIO_SCALE[-1][0]
    left, right, top, bar = 10, 10, 4, 18

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (width - left - right)

    n = 64
    ratios = 10.0 ** np.linspace(lo, hi, n)
    colours = _colours(ratios.reshape(1, -1))[0]
    step = (width - left - right) / n
    parts = [f'<rect x="{left + k * step:.2f}" y="{top}" width="{step + 0.6:.2f}" height="{bar}" '
             f'fill="#{r:02x}{g:02x}{b:02x}"/>' for k, (r, g, b) in enumerate(colours)]
    for d in range(int(lo), int(hi) + 1, 2):
        label = "1 = tolerance" if d == 0 else f"1e{d}"
        parts.append(f'<line x1="{x(d):.1f}" y1="{top}" x2="{x(d):.1f}" y2="{top + bar + 4}" stroke="#333"/>')
        anchor = "start" if d == lo else "end" if d == hi else "middle"
        parts.append(f'<text x="{x(d):.1f}" y="{top + bar + 17}" text-anchor="{anchor}" {_FONT}>{label}</text>')
    height = top + bar + 22
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="colour scale of error/tolerance">'
            + "".join(parts) + "</svg>")
