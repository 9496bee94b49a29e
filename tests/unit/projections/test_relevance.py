"""projections/relevance: homes, groups and which rows a new entry changes."""

from __future__ import annotations

from domain.state import ORG
from projections.relevance import Groups, affected_homes, from_us, index_entry, replay_homes, to_us
from tests.scenarios.kit import (
    Scenario,
    at,
    attestation,
    compromised,
    determination,
    finding,
    model,
    safeguards,
    setup,
    withdraw,
)


def indexed(rows: list) -> tuple[list, Groups, dict[str, str]]:  # type: ignore[type-arg]
    records = Scenario("s", rows).records()
    groups = Groups()
    homes: dict[str, str] = {}
    return [(r, index_entry(r, homes, groups)) for r in records], groups, homes


def test_union_find_keeps_the_least_home_and_org_first() -> None:
    g = Groups()
    g.union("m2", "m3")
    assert g.members("m3") == {"m2", "m3"}
    g.union("m3", "m1")
    assert g.find("m2") == "m1" and g.members("m1") == {"m1", "m2", "m3"}
    g.union(ORG, "m2")
    assert g.find("m3") == ORG
    assert g.members("m4") == {"m4"}
    assert Groups([("m9", "m8"), ("m8", "m8")]).members("m9") == {"m8", "m9"}


def test_citing_another_models_finding_joins_their_groups() -> None:
    _entries, groups, homes = indexed(
        [
            *setup(),
            model(1, "m2"),
            finding(2, "f-m2", "CBRN-3", m="m2"),
            determination(3, "det-m1", ["f-m2"]),
        ]
    )
    assert homes["det-m1"] == "m1" and homes["f-m2"] == "m2"
    assert groups.members("m1") == {"m1", "m2"}
    assert replay_homes({"m1"}, groups) == {ORG, "m1", "m2"}


def test_citing_organisation_wide_safeguards_joins_nothing() -> None:
    _entries, groups, homes = indexed(
        [
            *setup(),
            attestation(2, "att", m=None),
            safeguards(3, "sd", ["att"], m="m1"),
        ]
    )
    assert homes["att"] == ORG and homes["sd"] == "m1"
    assert groups.members("m1") == {"m1"}


def test_affected_homes() -> None:
    entries, groups, _homes = indexed(
        [
            *setup(),
            attestation(2, "att-m1", m="m1"),
            attestation(2, "att-org", m=None),
            withdraw(3, "wd-m1", "att-m1", 3),
            withdraw(3, "wd-org", "att-org", 3),
            compromised(4, "kr", "eval", since=3),
        ]
    )
    by_id = {r.statement.id: (r, e) for r, e in entries}
    assert affected_homes([by_id["model-m1"]], groups) == {"m1", ORG}
    assert affected_homes([by_id["wd-m1"]], groups) == {"m1"}
    assert affected_homes([by_id["wd-org"]], groups) is None  # anyone may rely on it
    assert affected_homes([by_id["kr"]], groups) is None


def test_microseconds_round_trip() -> None:
    t = at(1.5)
    assert from_us(to_us(t)) == t
