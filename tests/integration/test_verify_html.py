"""`--html`: one self-contained page, rendered by headless Chromium (Debian's `chromium`).

The screenshot must exist and show a real page (many colours, much ink), and the rendered DOM
must show the verdict counts of the report and one timeline row per model. Without Chromium the
Chromium tests skip, except in CI (`CI=true`), where they fail: CI must install it.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.bench_verify import build_bundle
from bench.bench_verify import vkey as bench_vkey
from verify.html import render_html
from verify.note import Vkey
from verify.report import VerifyReport
from verify.verifier import VerifyOptions, verify_bundle

BUNDLES = Path(__file__).resolve().parents[1] / "vectors" / "bundles"
VKEY = Vkey.parse((BUNDLES / "ledger.vkey").read_text().strip())
WINDOW = (1200, 1600)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: headless Chromium is required (apt-get install -y chromium)")
        pytest.skip("headless Chromium not installed (apt-get install -y chromium)")
    return found


def run_chromium(page: Path, *mode: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of an 8-bit RGB(A), non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return (
        width,
        height,
        [bytes(r[i : i + 3]) for r in rows[::8] for i in range(0, stride, bpp * 8)],
    )


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, str] = {}
        self.rows: list[str] = []
        self._count: str | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and "timeline-row" in (a.get("class") or "").split():
            self.rows.append(a.get("data-model") or "")
        if tag == "div" and a.get("data-count"):
            self._count = a["data-count"]
        if tag == "b" and self._count is not None:
            self.counts[self._count] = ""
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if self._count is not None and self._count in self.counts and not self.counts[self._count]:
            self.counts[self._count] = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._count = None


def dom_of(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


def models_of(report: VerifyReport) -> set[str]:
    """Every model the bundle registers or judges something of."""
    registered = {e.model for e in report.timeline if e.kind == "model" and e.model}
    return registered | {v.model for v in report.verdicts if v.model is not None}


def render(tmp_path: Path, bundle: Path, vkey: Vkey) -> tuple[VerifyReport, Path]:
    report = verify_bundle(bundle, vkey, VerifyOptions(timeline=True))
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return report, page


def assert_rendered(tmp_path: Path, report: VerifyReport, page: Path) -> None:
    shot = tmp_path / "shot.png"
    r = run_chromium(page, f"--screenshot={shot}", profile=tmp_path / "profile-shot")
    assert shot.exists(), r.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    inked = sum(1 for p in pixels if p != b"\xff\xff\xff")
    assert len(set(pixels)) > 20, "the screenshot has almost no colours: a blank page?"
    assert inked > len(pixels) // 50, "the screenshot is almost all white: nothing rendered?"
    dumped = run_chromium(page, "--dump-dom", profile=tmp_path / "profile-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dom_of(dumped.stdout)
    summary = report.summary()
    assert dom.counts == {k: str(v) for k, v in summary.items()}
    assert sorted(dom.rows) == sorted(models_of(report))
    assert len(dom.rows) == len(set(dom.rows))


def test_the_demo_report_renders_in_chromium(tmp_path: Path) -> None:
    report, page = render(tmp_path, BUNDLES / "valid.zip", VKEY)
    assert report.summary()["noncompliant"] == 1
    assert_rendered(tmp_path, report, page)


def test_a_report_of_many_models_renders_one_row_each(tmp_path: Path) -> None:
    bundle = tmp_path / "many.zip"
    build_bundle(400, bundle)
    report, page = render(tmp_path, bundle, Vkey.parse(bench_vkey()))
    assert len(models_of(report)) > 20
    assert_rendered(tmp_path, report, page)


def test_the_page_fetches_nothing(tmp_path: Path) -> None:
    _, page = render(tmp_path, BUNDLES / "valid.zip", VKEY)
    text = page.read_text()
    for needle in ("src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe"):
        assert needle not in text, needle
    assert "default-src 'none'" in text
    assert dom_of(text).scripts == 0
    # Everything of the report is on the page itself.
    assert "deploy-claude-demo-trusted" in text
    assert "determination.fresh" in text
    assert text.count('class="timeline-row"') == 1


def test_a_failed_bundle_shows_its_problems_and_no_verdicts(tmp_path: Path) -> None:
    report, page = render(tmp_path, BUNDLES / "signed_by_revoked_key.zip", VKEY)
    text = page.read_text()
    assert 'data-ok="false"' in text
    assert "acceptance.signature" in text
    assert "timeline-row" not in text
    assert 'id="verdicts"' not in text
    assert not report.intact


def test_bundle_text_is_escaped(tmp_path: Path) -> None:
    from dataclasses import replace

    report = verify_bundle(BUNDLES / "valid.zip", VKEY, VerifyOptions(timeline=True))
    v = report.verdicts[0]
    hostile = replace(report, verdicts=(replace(v, statement="<script>alert(1)</script>"),))
    text = render_html(hostile)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
