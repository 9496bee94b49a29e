"""`--html FILE`: the verification report as one self-contained HTML page an auditor can file.

Invariants:
- one file: CSS inline, the timeline inline SVG, no script, no image, font or style sheet
  fetched from anywhere (the page's Content-Security-Policy forbids every fetch);
- every text from the bundle is escaped;
- the page shows the integrity result; when integrity holds, the verdict counts, one timeline row
  per model (determinations with their required levels, safeguards in force, deployments, and
  amendments as vertical markers across every row), and a table of every verdict with its failed
  rules. A bundle whose integrity fails gets no verdicts and no timeline (SPEC §5): nothing in it
  is drawn as if it were trusted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from domain.compliance import VERDICT_KINDS, Verdict
from domain.ids import format_time
from verify.report import RULE_WORDS, TimelineEvent, VerifyReport

WIDTH = 1100
LABEL_WIDTH = 170
ROW_HEIGHT = 64
TOP = 46
BOTTOM = 30
COLOURS = {
    "compliant": "#1a7f37",
    "noncompliant": "#cf222e",
    "invalidated": "#bc4c00",
    "indeterminate": "#6e7781",
    None: "#57606a",
}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#57606a}.meta code{font-size:12px}
.ok{background:#dafbe1;border:1px solid #1a7f37}.fail{background:#ffebe9;border:1px solid #cf222e}
.box{padding:10px 14px;border-radius:6px;margin:10px 0}
.counts{display:flex;gap:12px;margin:8px 0}
.count{border:1px solid #d0d7de;border-radius:6px;padding:6px 12px;min-width:110px}
.count b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.v-compliant{color:#1a7f37;font-weight:600}.v-noncompliant{color:#cf222e;font-weight:600}
.v-invalidated{color:#bc4c00;font-weight:600}
.rule{font-family:ui-monospace,monospace;font-size:12px}
.legend span{margin-right:14px}
svg text{font:11px system-ui,sans-serif}
"""


def _x(t: datetime, start: datetime, span: float) -> float:
    if span <= 0:
        return LABEL_WIDTH + (WIDTH - LABEL_WIDTH - 20) / 2
    offset = (t - start).total_seconds() / span
    return LABEL_WIDTH + 10 + offset * (WIDTH - LABEL_WIDTH - 30)


def _models(events: Sequence[TimelineEvent], verdicts: Sequence[Verdict]) -> list[str]:
    seen: dict[str, None] = {}
    for e in events:
        if e.model is not None and e.kind in ("model", "determination", "decision", "safeguards"):
            seen.setdefault(e.model, None)
    for v in verdicts:
        if v.model is not None:
            seen.setdefault(v.model, None)
    return list(seen)


def _safeguard_spans(
    events: Sequence[TimelineEvent], end: datetime
) -> list[tuple[TimelineEvent, datetime]]:
    """Each safeguards determination with the time it stops being in force: its valid_until,
    or an earlier withdrawal's invalid_from, capped at the end of the timeline."""
    withdrawn: dict[str, datetime] = {}
    for e in events:
        if e.kind == "withdrawal" and e.target is not None and e.until is not None:
            prev = withdrawn.get(e.target)
            withdrawn[e.target] = e.until if prev is None else min(prev, e.until)
    spans = []
    for e in events:
        if e.kind != "safeguards" or e.until is None:
            continue
        stop = min(e.until, withdrawn.get(e.statement, e.until), end)
        spans.append((e, max(stop, e.recorded_at)))
    return spans


def _timeline_svg(report: VerifyReport) -> str:
    events = report.timeline
    verdicts = {v.statement: v for v in report.verdicts}
    models = _models(events, report.verdicts)
    if not events:
        return "<p>No entries to draw.</p>"
    start = min(e.recorded_at for e in events)
    end = max(e.recorded_at for e in events)
    if end == start:
        end = start + timedelta(days=1)
    span = (end - start).total_seconds()
    height = TOP + ROW_HEIGHT * max(len(models), 1) + BOTTOM
    out = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="Per-model timeline">'
    ]
    # time axis
    axis_y = height - BOTTOM + 4
    for i in range(6):
        t = start + (end - start) * (i / 5)
        x = _x(t, start, span)
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{axis_y - 4}" stroke="#eaeef2"/>'
            f'<text x="{x:.1f}" y="{axis_y + 10}" text-anchor="{anchor}" fill="#57606a">'
            f"{t.date().isoformat()}</text>"
        )
    spans = _safeguard_spans(events, end)
    for row, model in enumerate(models):
        y0 = TOP + row * ROW_HEIGHT
        mid = y0 + ROW_HEIGHT / 2
        out.append(f'<g class="timeline-row" data-model="{escape(model)}">')
        out.append(
            f'<rect x="0" y="{y0}" width="{WIDTH}" height="{ROW_HEIGHT}" '
            f'fill="{"#f6f8fa" if row % 2 else "#ffffff"}"/>'
            f'<text x="8" y="{mid + 4:.1f}" font-weight="600">{escape(model)}</text>'
        )
        for e, stop in spans:
            if e.model not in (None, model):
                continue
            x1, x2 = _x(e.recorded_at, start, span), _x(stop, start, span)
            v = verdicts.get(e.statement)
            colour = COLOURS[v.verdict if v else None]
            opacity = "0.35" if e.model is None else "0.6"
            scope = "organisation-wide" if e.model is None else model
            out.append(
                f'<rect class="safeguards" x="{x1:.1f}" y="{mid + 8:.1f}" '
                f'width="{max(x2 - x1, 2):.1f}" height="8" fill="{colour}" opacity="{opacity}">'
                f"<title>{escape(e.what)} ({scope}) {escape(e.statement)}, in force "
                f"{format_time(e.recorded_at)} – {format_time(stop)}"
                f"{_verdict_note(v)}</title></rect>"
            )
        for e in events:
            if e.model != model:
                continue
            x = _x(e.recorded_at, start, span)
            v = verdicts.get(e.statement)
            colour = COLOURS[v.verdict if v else None]
            title = (
                f"<title>seq {e.seq} {format_time(e.recorded_at)} {escape(e.statement)}: "
                f"{escape(e.what)}{_verdict_note(v)}</title>"
            )
            if e.kind == "determination":
                out.append(
                    f'<path class="determination" d="M{x:.1f},{mid - 16:.1f} l6,6 l-6,6 l-6,-6 z" '
                    f'fill="{colour}">{title}</path>'
                    f'<text x="{x + 8:.1f}" y="{mid - 6:.1f}" fill="{colour}">'
                    f"{escape(_levels(e.what))}</text>"
                )
            elif e.kind == "decision":
                up = e.what.startswith("deploy")
                d = (
                    f"M{x:.1f},{mid - 2:.1f} l6,10 l-12,0 z"
                    if up
                    else f"M{x:.1f},{mid + 8:.1f} l6,-10 l-12,0 z"
                )
                out.append(
                    f'<path class="deployment" d="{d}" fill="{colour}">{title}</path>'
                    f'<text x="{x:.1f}" y="{mid + 28:.1f}" text-anchor="middle" fill="{colour}">'
                    f"{escape(e.what.split(' ', 1)[-1])}</text>"
                )
            elif e.kind == "model":
                out.append(
                    f'<circle class="registered" cx="{x:.1f}" cy="{mid + 20:.1f}" r="3" '
                    f'fill="#57606a">{title}</circle>'
                )
        out.append("</g>")
    # amendments: vertical markers across every row
    for e in events:
        if e.kind != "amendment":
            continue
        x = _x(e.recorded_at, start, span)
        v = verdicts.get(e.statement)
        colour = COLOURS[v.verdict if v else None]
        out.append(
            f'<g class="amendment"><line x1="{x:.1f}" y1="{TOP - 14}" x2="{x:.1f}" '
            f'y2="{height - BOTTOM}" stroke="{colour}" stroke-dasharray="4 3"/>'
            f'<text x="{x + 3:.1f}" y="{TOP - 16}" fill="{colour}">{escape(e.what)}</text>'
            f"<title>seq {e.seq} amendment {escape(e.statement)} ({escape(e.what)}) recorded "
            f"{format_time(e.recorded_at)}, effective_at "
            f"{format_time(e.until) if e.until else '—'}{_verdict_note(v)}</title></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _levels(what: str) -> str:
    # "requires ASL-3 deployment / ASL-3 security" -> "ASL-3 / ASL-3"
    parts = what.removeprefix("requires ").split(" / ")
    return " / ".join(p.split(" ")[0] for p in parts)


def _verdict_note(v: Verdict | None) -> str:
    if v is None:
        return ""
    failed = f": fails {', '.join(v.failed_rules)}" if v.failed else ""
    return f" — {v.verdict}{failed}"


def _counts(report: VerifyReport) -> str:
    summary = report.summary()
    cells = [f'<div class="count" data-count="entries"><b>{summary["entries"]}</b>entries</div>']
    for kind in VERDICT_KINDS:
        cells.append(
            f'<div class="count v-{kind}" data-count="{kind}"><b>{summary[kind]}</b>{kind}</div>'
        )
    return f'<div class="counts" id="verdict-counts">{"".join(cells)}</div>'


def _verdict_rows(verdicts: Iterable[Verdict]) -> str:
    rows = []
    for v in verdicts:
        failed = "".join(
            f'<div><span class="rule">{escape(f.rule)}</span> — '
            f"{escape(RULE_WORDS.get(f.rule, f.rule))}<br><small>{escape(f.message)}</small></div>"
            for f in v.failed
        )
        if v.invalidated_by:
            failed += f"<div>voided later by {escape(', '.join(v.invalidated_by))}</div>"
        rows.append(
            f'<tr class="verdict" data-verdict="{v.verdict}"><td>{v.seq}</td>'
            f"<td>{escape(v.statement)}</td><td>{escape(v.type)}</td>"
            f"<td>{escape(v.model or '—')}</td><td>{escape(v.policy or '—')}</td>"
            f'<td class="v-{v.verdict}">{v.verdict}</td><td>{failed}</td></tr>'
        )
    return "".join(rows)


def _integrity(report: VerifyReport) -> str:
    if report.intact:
        c = report.checked
        head = (
            f'<div class="box ok" id="integrity" data-ok="true"><b>Integrity: OK.</b> '
            f"The manifest is signed by the trusted ledger key {escape(c.manifest_signed_by or '')}; "
            f"the checkpoint is signed for tree size {c.checkpoint_size}; all {c.entries} entries "
            f"are canonical, in order, reproduce the signed root, and were accepted under the "
            f"ledger's rules ({c.signatures} signatures verified)."
        )
        if c.since_size is not None:
            head += f" The bundle extends the older checkpoint of size {c.since_size}."
        if c.witnesses:
            head += f" Cosigned by {escape(', '.join(c.witnesses))}."
        return head + "</div>"
    rows = "".join(
        f"<tr><td class='rule'>{escape(p.check)}</td><td>{'' if p.seq is None else p.seq}</td>"
        f"<td>{escape(p.message)}</td></tr>"
        for p in report.listed_problems()
    )
    return (
        '<div class="box fail" id="integrity" data-ok="false"><b>Integrity: FAILED.</b> '
        "This bundle is not to be trusted; it is given no verdicts.</div>"
        f"<table><tr><th>check</th><th>seq</th><th>problem</th></tr>{rows}</table>"
    )


def render_html(report: VerifyReport) -> str:
    """The report as one self-contained HTML document."""
    b = report.bundle
    r = report.redaction
    redaction = (
        f"redacted: {r.withheld_count} of {r.committed} committed details withheld"
        if b.redacted
        else f"not redacted ({r.committed} committed details, all disclosed)"
    )
    times = {
        "asserted": "times asserted by the operator (backfilled); order is proven, times are not",
        "system": "times from the ledger's own clock",
    }.get(b.time_source or "", "time source unknown")
    root = b.root or "—"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<title>rsp-ledger verification — {escape(b.origin or 'unreadable bundle')}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>rsp-ledger verification report</h1>",
        f'<div class="meta">{escape(b.origin or "—")} · {b.tree_size or 0} entries · root '
        f"<code>{escape(root)}</code> · {escape(times)} · {escape(redaction)}</div>",
        "<h2>Integrity</h2>",
        _integrity(report),
    ]
    if report.intact:
        parts += [
            "<h2>Verdicts</h2>",
            _counts(report),
            "<h2>Timeline</h2>",
            '<div class="legend"><span>◆ capability determination (required levels)</span>'
            "<span>▲ deploy / ▼ undeploy</span><span>▬ safeguards in force (faint: "
            "organisation-wide)</span><span>┆ policy amendment</span><span style='color:"
            f"{COLOURS['compliant']}'>compliant</span><span style='color:"
            f"{COLOURS['noncompliant']}'>noncompliant</span><span style='color:"
            f"{COLOURS['invalidated']}'>invalidated</span></div>",
            _timeline_svg(report),
            "<h2>Every verdict</h2>",
            '<table id="verdicts"><tr><th>seq</th><th>statement</th><th>type</th><th>model</th>'
            "<th>policy</th><th>verdict</th><th>failed rules</th></tr>",
            _verdict_rows(report.verdicts),
            "</table>",
        ]
    if r.withheld:
        listed = ", ".join(f"{escape(sid)} (seq {seq})" for seq, sid in r.withheld)
        parts.append(f"<h2>Redaction</h2><p>Withheld details: {listed}.</p>")
    root_hex = base64.b64decode(b.root).hex() if b.root else ""
    parts.append(f'<p class="meta">root (hex) <code>{root_hex}</code></p></body></html>')
    return "\n".join(parts) + "\n"


__all__ = ["render_html"]
