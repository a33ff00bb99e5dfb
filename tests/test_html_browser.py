"""The HTML report in a real browser: headless Chromium, at a desktop width and a phone width.

Each page is loaded with a probe script added: it records console errors and
failed loads from the start, and once the page has loaded it measures the
layout through the DOM and writes what it found into the page, which
``chromium --dump-dom`` then prints.  Asserted at 1280 px and 390 px wide:
the verdict and, on failure, the first failing link and the probable cause lie
inside the first viewport; the page is no wider than the viewport (tables
scroll in their own box); every image has loaded; nothing was logged as an
error.

Skipped, saying so, only where no Chromium is installed (``.ci/run``
installs Debian's ``chromium`` package when it is missing).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.catalogue.bugs import CATALOGUE

BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on this machine: install it (apt-get install chromium, as .ci/run does) "
                            "to test the HTML report in a browser")

#: (width, height) of the viewports: a desktop window and a phone (iPhone 12–15).
VIEWPORTS = [(1280, 800), (390, 844)]

_PROBE_HEAD = """<script>
window.__errors = [];
const __error = console.error;
console.error = function (...args) { window.__errors.push(args.map(String).join(' ')); __error.apply(console, args); };
window.addEventListener('error', (e) => {
  window.__errors.push(e.message || ('failed to load ' + (e.target && (e.target.src || e.target.href))));
}, true);
</script>"""

_PROBE_BODY = """<script>
window.addEventListener('load', () => {
  const box = (sel) => {
    const el = document.querySelector(sel); if (!el) return null;
    const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, height: r.height};
  };
  const out = {
    innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
    verdict: box('#verdict .big'), verdictText: (document.querySelector('#verdict .big') || {}).textContent,
    first: box('#first-failure'), cause: box('#verdict .cause'),
    images: Array.from(document.images).map((img) => ({alt: img.alt, complete: img.complete,
                                                        width: img.naturalWidth})),
    wider: Array.from(document.querySelectorAll('body *')).filter((el) => {
             if (el.closest('.scroll') || el.closest('pre')) return false;
             const r = el.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 0.5;
           }).map((el) => el.tagName + '.' + el.className).slice(0, 5),
    errors: window.__errors,
  };
  parent.postMessage(JSON.stringify(out), '*');
});
</script>"""

# Headless Chromium does not make windows narrower than 500 px, so the page is loaded into an iframe of
# exactly the viewport's size, and hands its measurements to this outer page, which --dump-dom prints.
_FRAME = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="margin:0"><iframe src="{src}" width="{width}" height="{height}" style="border:0;display:block"></iframe>
<script>
window.addEventListener('message', (e) => {{
  const pre = document.createElement('pre');
  pre.id = 'gradcheck-probe';
  pre.textContent = e.data;
  document.body.appendChild(pre);
}});
</script></body></html>"""


def probe(page: str, tmp_path: Path, size: tuple[int, int]) -> dict:
    """Load ``page`` in headless Chromium at ``size`` and return what the probe measured."""
    width, height = size
    page = page.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace("</body>", _PROBE_BODY + "</body>", 1)
    path = tmp_path / f"page-{width}.html"
    path.write_text(page, encoding="utf-8")
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(_FRAME.format(src=path.name, width=width, height=height), encoding="utf-8")
    assert BROWSER is not None
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", f"--user-data-dir={tmp_path / f'profile-{width}'}",
         f"--window-size={width + 100},{height + 100}",
         "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", frame.as_uri()],
        capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="gradcheck-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not run (exit {result.returncode}): {result.stderr[-2000:]}"
    text = match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(text)


def _passing() -> gc.NetworkReport:
    X, y = gc.xor_data()
    return gc.check_network(gc.DenseNet([3, 4, 4, 1], bias=False, seed=0), X, y, title="xor-3-4-4-1-nobias-init")


def _failing() -> gc.NetworkReport:
    X, y = gc.xor_data()
    net = gc.DenseNet([3, 4, 4, 1], bias=False, seed=0)
    backward = CATALOGUE["hidden-derivative-missing"].backward(net, X, y)
    return gc.check_network(net, X, y, backward=backward,
                            title="xor-3-4-4-1-nobias-init-bug-hidden-derivative-missing")


def _big() -> gc.NetworkReport:
    # A 600-unit layer: its heatmap is pooled, its tables are long, its title is long.
    rng = np.random.default_rng(0)
    net = gc.DenseNet([20, 600, 12, 3], bias=True, seed=0)
    X, y = rng.standard_normal((6, 20)), rng.random((6, 3))
    return gc.check_network(net, X, y, title="a-rather-long-report-name-net-20-600-12-3-init-on-random-data")


REPORTS = {"passing": _passing, "failing": _failing, "big": _big}


@pytest.fixture(scope="module")
def pages() -> dict[str, tuple[gc.NetworkReport, str]]:
    out = {}
    for name, build in REPORTS.items():
        report = build()
        out[name] = (report, report.to_html())
    return out


@pytest.mark.parametrize("size", VIEWPORTS, ids=[f"{w}px" for w, _ in VIEWPORTS])
@pytest.mark.parametrize("which", list(REPORTS))
def test_report_page_in_chromium(which, size, pages, tmp_path):
    report, page = pages[which]
    assert report.passed is (which != "failing")
    found = probe(page, tmp_path, size)
    width, height = size
    assert found["innerWidth"] == width, found["innerWidth"]
    assert found["errors"] == []
    # the verdict, first and large, inside the first viewport
    assert found["verdictText"] == ("PASSED" if report.passed else "FAILED")
    assert 0 <= found["verdict"]["top"] and found["verdict"]["bottom"] <= found["innerHeight"]
    assert found["verdict"]["height"] >= 30  # 2.2rem of 16 px at a line height of 1.1: about 39 px
    if not report.passed:
        assert found["first"] is not None and found["first"]["bottom"] <= found["innerHeight"]
        assert found["cause"] is not None and found["cause"]["bottom"] <= found["innerHeight"]
    # nothing wider than the viewport: tables scroll inside their own box
    assert found["scrollWidth"] <= found["clientWidth"], (found["scrollWidth"], found["wider"])
    assert found["wider"] == []
    # every figure decoded
    assert found["images"], "no figure on the page"
    assert [i["alt"] for i in found["images"] if not (i["complete"] and i["width"] > 0)] == []


def test_the_probe_sees_what_it_must_catch(pages, tmp_path):
    """A broken image, a console error and an over-wide element are each reported (the test can fail)."""
    _, page = pages["passing"]
    broken = page.replace("</main>", '<img alt="broken" src="data:image/png;base64,AAAA">'
                          '<div style="width:2000px">wide</div><script>console.error("boom")</script></main>')
    found = probe(broken, tmp_path, VIEWPORTS[1])
    assert "boom" in " ".join(found["errors"])
    assert [i["alt"] for i in found["images"] if not (i["complete"] and i["width"] > 0)] == ["broken"]
    assert found["scrollWidth"] > found["clientWidth"]
