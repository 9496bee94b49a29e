"""Rows of the read model: what a `StateTracker` knows, as the tables hold it, and back.

JSON is written with sorted keys and no spaces, so equal state gives byte-identical rows (an
incremental projection and a fresh rebuild can be compared table by table).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.compliance import FailedRule, Verdict
from domain.ids import format_time
from domain.state import ORG, ModelFacts, OrgFacts, SafeguardsFacts, StateTracker, TimelineEvent

from .relevance import to_us

# Entries recorded in one batch share their time: format each time once.
_time_text = functools.lru_cache(maxsize=4096)(format_time)


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


VERDICT_COLUMNS = ("seq", "statement", "home", "verdict", "body")
TIMELINE_COLUMNS = ("key", "seq", "recorded_at", "type", "statement", "policy", "change")


def verdict_values(v: Verdict, home: str) -> tuple[Any, ...]:
    """A verdict row as the values of `VERDICT_COLUMNS`."""
    body = v.to_json()
    body["checked"] = list(v.checked)
    return (v.seq, v.statement, home, v.verdict, dumps(body))


def verdict_row(v: Verdict, home: str) -> dict[str, Any]:
    return dict(zip(VERDICT_COLUMNS, verdict_values(v, home), strict=True))


def verdict_of_row(body: str) -> Verdict:
    obj = json.loads(body)
    return Verdict(
        seq=int(obj["seq"]),
        statement=str(obj["statement"]),
        type=str(obj["type"]),
        model=obj["model"],
        policy=obj["policy"],
        verdict=obj["verdict"],
        failed=tuple(FailedRule(str(f["rule"]), str(f["message"])) for f in obj["failed"]),
        invalidated_by=tuple(obj["invalidated_by"]),
        checked=tuple(obj["checked"]),
    )


SAFEGUARDS_COLUMNS = ("seq", "home", "expires_us", "facts")


def safeguards_values(s: SafeguardsFacts) -> tuple[Any, ...]:
    """A safeguards row as the values of `SAFEGUARDS_COLUMNS`."""
    return (s.record.seq, s.home, to_us(s.expires), dumps(s.to_json()))


def safeguards_row(s: SafeguardsFacts) -> dict[str, Any]:
    return dict(zip(SAFEGUARDS_COLUMNS, safeguards_values(s), strict=True))


def timeline_values(e: TimelineEvent) -> tuple[Any, ...]:
    """A timeline row as the values of `TIMELINE_COLUMNS`."""
    return (e.key, e.seq, _time_text(e.recorded_at), e.type, e.statement, e.policy, e.change)


def timeline_row(e: TimelineEvent) -> dict[str, Any]:
    return dict(zip(TIMELINE_COLUMNS, timeline_values(e), strict=True))


def model_facts_of(text: str) -> ModelFacts:
    return ModelFacts.from_json(json.loads(text))


def org_facts_of(text: str) -> OrgFacts:
    return OrgFacts.from_json(json.loads(text))


def safeguards_of(text: str) -> SafeguardsFacts:
    return SafeguardsFacts.from_json(json.loads(text))


@dataclass
class Rows:
    """Every row that the homes in `homes` own (None: every home), from one tracker."""

    homes: set[str] | None
    models: list[dict[str, Any]] = field(default_factory=list)
    org: list[dict[str, Any]] = field(default_factory=list)
    safeguards: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def by_table(self) -> Mapping[str, list[dict[str, Any]]]:
        return {
            "rsp_proj_models": self.models,
            "rsp_proj_org": self.org,
            "rsp_proj_safeguards": self.safeguards,
            "rsp_proj_verdicts": self.verdicts,
            "rsp_proj_timeline": self.timeline,
        }


def rows_of(
    tracker: StateTracker,
    homes: Iterable[str] | None,
    *,
    verdicts: bool = True,
    timeline: bool = True,
    safeguards: bool = True,
    as_of: datetime | None = None,
) -> Rows:
    """The rows of `homes` (None: every home) as the tracker knows them now; without the
    verdict, timeline or safeguards rows when the caller writes those itself."""
    wanted = None if homes is None else set(homes)
    keys = sorted(set(tracker.homes()) if wanted is None else wanted)
    rows = Rows(wanted)
    known = set(tracker.homes())
    for key in keys:
        if key == ORG:
            rows.org.append({"id": 1, "facts": dumps(tracker.org_facts().to_json())})
        elif key in known:
            facts = tracker.model_facts(key).to_json()
            rows.models.append({"model": key, "facts": dumps(facts)})
        if safeguards:
            rows.safeguards.extend(safeguards_row(s) for s in tracker.safeguards_of(key))
        if verdicts:
            rows.verdicts.extend(verdict_row(v, key) for v in tracker.verdicts_of(key, as_of))
        if timeline:
            rows.timeline.extend(timeline_row(e) for e in tracker.timeline_of(key))
    if (wanted is None or ORG in wanted) and not rows.org:
        # An empty log still has an organisation (no policy, no principals).
        rows.org.append({"id": 1, "facts": dumps(tracker.org_facts().to_json())})
    return rows


def all_safeguards_values(tracker: StateTracker) -> Iterator[tuple[Any, ...]]:
    """Every home's safeguards rows, as `rows_of(tracker, None)` lists them, one at a time (a
    million entries hold tens of thousands, each with its records' JSON)."""
    for key in tracker.homes():
        for s in tracker.safeguards_of(key):
            yield safeguards_values(s)


def all_verdict_values(tracker: StateTracker) -> Iterator[tuple[Any, ...]]:
    """Every home's verdict rows, as `rows_of(tracker, None)` lists them, one at a time: a
    rebuild writes them as they are made instead of holding a dict for each."""
    for key in tracker.homes():
        for v in tracker.verdicts_of(key):
            yield verdict_values(v, key)
