"""The verifier's report: SPEC §8's JSON object exactly, and the human summary an auditor reads.

Invariants:
- `VerifyReport.to_json()` has exactly SPEC §8's keys; on an integrity failure it carries no
  verdicts and a summary of zeros (SPEC §5: a bundle whose integrity fails gets no verdicts);
- `exit_code` is SPEC §8's: 0 intact and all compliant, 1 intact and something not compliant,
  3 integrity fails or the bundle cannot be read (2, usage, never comes from a report);
- problems keep the order in which the checks found them; at most `MAX_PROBLEMS` are listed and
  the rest are counted in one last problem (`report.omitted`), so a bundle broken everywhere
  still gives a report of bounded size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.compliance import ALL_RULE_IDS, Verdict, summary
from domain.ids import format_time

REPORT_FORMAT = "rsp-ledger.verify-report/v1"
MAX_PROBLEMS = 100
OMITTED_CHECK = "report.omitted"
EXIT_OK = 0
EXIT_NOT_COMPLIANT = 1
EXIT_USAGE = 2
EXIT_INTEGRITY = 3

# Plain words for each rule of SPEC §5, for auditors who do not read rule ids.
RULE_WORDS: dict[str, str] = {
    "policy.in-force": "no policy was in force when it was recorded",
    "signers.approved": "it lacked the approvals (signatures by distinct role holders) the policy requires",
    "evidence.cited": "it cites evidence that is missing, recorded later, of the wrong kind or model, or void",
    "evidence.compliant": "evidence it cites was itself not compliant",
    "model.registered": "the model was not registered before it",
    "determination.latest": "it does not cite the model's latest capability determination",
    "determination.coverage": "the capability determination lacks a finding for some threshold of the policy",
    "determination.comprehensive": "an early-warning threshold lacks a comprehensive assessment",
    "determination.fresh": "the capability determination was stale: the model's compute grew too much, or its findings were too old",
    "determination.level": "the required safety levels are below what the findings call for",
    "safeguards.level": "no cited safeguards determination reaches the required level",
    "safeguards.controls": "the cited attestations do not cover every control of the standard",
    "safeguards.current": "safeguards relied on were expired, withdrawn, or valid for too long",
    "deployment.scope": "the deployment scope is not one the policy or the safeguards allow",
    "governance.notified": "the governance bodies were not all notified before the deployment",
    "amendment.effective": "the amendment was made retroactive",
    "amendment.valid": "the policy document is not a valid policy",
    # Policy v2 (docs/rules.md): safety cases and duties over time.
    "safety-case.approved": "no safety case approved by the governance function covered it beforehand",
    "duty.periodic": "a periodic duty (e.g. a Risk Report every few months) was not met by its deadline",
    "duty.triggered": "a duty triggered by an event (e.g. a model coming into scope) was not met in time",
    "duty.review-window": "a review was not requested within the window the policy allows",
}
assert set(RULE_WORDS) == set(ALL_RULE_IDS), "every rule needs plain words"


@dataclass(frozen=True, slots=True)
class Problem:
    """One failed integrity check (SPEC §8 `integrity.problems[]`)."""

    check: str
    seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "seq": self.seq, "message": self.message}


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What the bundle says of itself (SPEC §8 `bundle`); None where it could not be read."""

    origin: str | None = None
    tree_size: int | None = None
    root: str | None = None  # base64, as in the manifest
    redacted: bool | None = None
    time_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": self.root,
            "redacted": self.redacted,
            "time_source": self.time_source,
        }


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """An entry the timeline draws: amendments, registrations, determinations, safeguards,
    withdrawals and decisions. `what` is a short label, `model` None for organisation-wide."""

    seq: int
    recorded_at: datetime
    kind: str
    statement: str
    model: str | None
    what: str
    until: datetime | None = None  # safeguards: valid_until; withdrawals: invalid_from
    target: str | None = None  # withdrawals: the statement withdrawn


@dataclass(frozen=True, slots=True)
class Redaction:
    """Details committed to by statements, and which of them the bundle discloses (SPEC §7)."""

    committed: int = 0
    disclosed: int = 0
    withheld: tuple[tuple[int, str], ...] = ()  # (seq, statement id), the first few
    withheld_count: int = 0


@dataclass(frozen=True, slots=True)
class Checked:
    """What the verifier checked, for the human summary ("what was checked")."""

    manifest_signed_by: str | None = None
    checkpoint_size: int | None = None
    entries: int = 0
    signatures: int = 0
    witnesses: tuple[str, ...] = ()
    witness_threshold: int = 0
    since_size: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    bundle: BundleInfo
    problems: tuple[Problem, ...]
    verdicts: tuple[Verdict, ...] = ()
    entries: int = 0
    omitted_problems: int = 0
    checked: Checked = field(default_factory=Checked)
    redaction: Redaction = field(default_factory=Redaction)
    timeline: tuple[TimelineEvent, ...] = ()  # collected when asked (the HTML report)
    decisions: Mapping[str, str] = field(default_factory=dict)  # id -> "deploy external"
    policies: tuple[str, ...] = ()  # labels of the policies verdicts were given under

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        if not self.intact:
            return EXIT_INTEGRITY
        if any(v.verdict != "compliant" for v in self.verdicts):
            return EXIT_NOT_COMPLIANT
        return EXIT_OK

    def listed_problems(self) -> list[Problem]:
        listed = list(self.problems)
        if self.omitted_problems:
            listed.append(
                Problem(
                    OMITTED_CHECK,
                    None,
                    f"{self.omitted_problems} more problems were found and are not listed",
                )
            )
        return listed

    def summary(self) -> dict[str, int]:
        return summary(self.verdicts if self.intact else (), self.entries)

    def to_json(self) -> dict[str, Any]:
        """SPEC §8's report object, key for key."""
        return {
            "format": REPORT_FORMAT,
            "bundle": self.bundle.to_json(),
            "integrity": {
                "ok": self.intact,
                "problems": [p.to_json() for p in self.listed_problems()],
            },
            "verdicts": [v.to_json() for v in self.verdicts] if self.intact else [],
            "summary": self.summary(),
        }


class ProblemLog:
    """Collects problems in order, listing at most `MAX_PROBLEMS`."""

    __slots__ = ("listed", "omitted")

    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.omitted = 0

    def add(self, check: str, seq: int | None, message: str) -> None:
        if len(self.listed) < MAX_PROBLEMS:
            self.listed.append(Problem(check, seq, message))
        else:
            self.omitted += 1

    def __bool__(self) -> bool:
        return bool(self.listed)

    def checks(self) -> set[str]:
        return {p.check for p in self.listed}


# -- the human summary -----------------------------------------------------------------------

DECISIONS_LISTED_PER_MODEL = 20
_DECISION_TYPES = ("deployment_decision",)


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _integrity_lines(report: VerifyReport) -> list[str]:
    b, c, r = report.bundle, report.checked, report.redaction
    lines: list[str] = []
    if report.intact:
        lines.append(f"INTEGRITY: OK — {b.origin}, {b.tree_size} entries, root {b.root}")
        lines.append("  every check passed:")
    else:
        count = len(report.problems) + report.omitted_problems
        lines.append(f"INTEGRITY: FAILED — {count} problem(s); this bundle is not to be trusted")
        lines.append("  checks run:")
    # Said of what was checked, not of the result: the failures are listed below.
    if c.manifest_signed_by:
        lines.append(f"    - the manifest's signature by the trusted key {c.manifest_signed_by}")
        lines.append("    - the digest of every member")
    if c.checkpoint_size is not None:
        lines.append(f"    - the checkpoint's signature (tree size {c.checkpoint_size})")
    if c.entries:
        lines.append(
            f"    - {c.entries} entries: canonical JSON, seq without gaps, recorded_at never "
            "decreasing, the Merkle root recomputed"
        )
        lines.append(
            f"    - {c.signatures} envelope signatures, and SPEC §2's acceptance rules replayed "
            "over every entry"
        )
    if r.committed:
        lines.append(f"    - {r.disclosed} disclosed detail(s) against their digests")
    if c.since_size is not None:
        lines.append(f"    - that the bundle extends the older checkpoint of size {c.since_size}")
    if c.witnesses:
        lines.append(
            f"    - cosignatures by {len(c.witnesses)} known witness(es) (threshold "
            f"{c.witness_threshold}): {', '.join(c.witnesses)}"
        )
    for p in report.listed_problems():
        where = f" at seq {p.seq}" if p.seq is not None else ""
        lines.append(f"  FAILED {p.check}{where}: {_short(p.message, 400)}")
    return lines


def _verdict_line(v: Verdict, decisions: Mapping[str, str]) -> list[str]:
    what = f"{decisions[v.statement]} " if v.statement in decisions else ""
    head = f"    seq {v.seq:>6}  {v.type} {what}{v.statement}: {v.verdict.upper()}"
    head += f" (under {v.policy})" if v.policy else ""
    out = [head]
    for f in v.failed:
        out.append(f"      - {RULE_WORDS.get(f.rule, f.rule)} [{f.rule}]")
        out.append(f"        {_short(f.message)}")
    if v.invalidated_by:
        out.append(f"      - later voided by {', '.join(v.invalidated_by)}")
    return out


def group_by_model(verdicts: Iterable[Verdict]) -> dict[str | None, list[Verdict]]:
    grouped: dict[str | None, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        grouped[v.model].append(v)
    return grouped


def _verdict_lines(report: VerifyReport) -> list[str]:
    s = report.summary()
    lines = [
        f"VERDICTS: {s['compliant']} compliant, {s['noncompliant']} noncompliant, "
        f"{s['invalidated']} invalidated, {s['indeterminate']} indeterminate "
        f"(of {s['entries']} entries)"
    ]
    grouped = group_by_model(report.verdicts)
    for model in sorted(grouped, key=lambda m: (m is None, m or "")):
        vs = grouped[model]
        title = f"model {model}" if model is not None else "organisation-wide"
        decisions = [v for v in vs if v.type in _DECISION_TYPES]
        lines.append(f"  {title}: {len(vs)} judged, {len(decisions)} decision(s)")
        shown = 0
        hidden = 0
        for v in vs:
            listed = v.verdict != "compliant" or (
                v.type in _DECISION_TYPES and shown < DECISIONS_LISTED_PER_MODEL
            )
            if not listed:
                hidden += v.verdict == "compliant"
                continue
            if v.verdict == "compliant":
                shown += 1
            lines.extend(_verdict_line(v, report.decisions))
        if hidden:
            lines.append(
                f"    … and {hidden} more compliant statement(s); --json lists every verdict"
            )
    return lines


def human_summary(report: VerifyReport) -> str:
    """The default output of `rsp-ledger verify`: integrity, verdicts per model, time, redaction."""
    lines = _integrity_lines(report)
    b = report.bundle
    if b.time_source == "asserted":
        lines.append(
            "TIMES: asserted — the operator supplied recorded_at (backfilled history); "
            "order is proven by the log, the times themselves are the operator's word"
        )
    elif b.time_source == "system":
        lines.append("TIMES: system — recorded_at is the ledger's own clock")
    r = report.redaction
    if b.redacted is not None:
        if r.withheld_count:
            ids = ", ".join(f"{sid} (seq {seq})" for seq, sid in r.withheld)
            more = (
                f" and {r.withheld_count - len(r.withheld)} more"
                if r.withheld_count > len(r.withheld)
                else ""
            )
            lines.append(
                f"REDACTED: yes — {r.withheld_count} of {r.committed} committed detail(s) withheld: "
                f"{ids}{more}. Verdicts read only signed statements, so they are unaffected."
            )
        elif b.redacted:
            lines.append("REDACTED: yes")
        else:
            lines.append(f"REDACTED: no — all {r.committed} committed detail(s) disclosed")
    if report.intact:
        lines.extend(_verdict_lines(report))
    else:
        lines.append("VERDICTS: none — a bundle whose integrity fails is not judged (SPEC §5)")
    return "\n".join(lines) + "\n"


def problems_by_check(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        out[p.check].append(p)
    return out


def describe_time(t: datetime | None) -> str:
    return format_time(t) if t is not None else "—"


__all__ = [
    "EXIT_INTEGRITY",
    "EXIT_NOT_COMPLIANT",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_PROBLEMS",
    "REPORT_FORMAT",
    "RULE_WORDS",
    "BundleInfo",
    "Checked",
    "Problem",
    "ProblemLog",
    "Redaction",
    "TimelineEvent",
    "VerifyReport",
    "describe_time",
    "group_by_model",
    "human_summary",
    "problems_by_check",
]
