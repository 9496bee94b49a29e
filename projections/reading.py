"""Reading the ASL state: the status document and the timeline from the tables, and the status as
of a past time replayed from the log itself (issue 5).

Invariants:
- every read catches the projection up first, then reads in one snapshot (one transaction;
  REPEATABLE READ on PostgreSQL), so the rows and the position it reports belong together;
- `status_as_of` never reads stored state: it selects the seqs of the model's part of the log
  (`relevance.replay_homes`) up to the last entry recorded at or before the time, reads those
  entries' bytes from the log and replays them through a fresh `StateTracker`;
- the status document is `domain.state.status_json` in both cases, so that the tables and the log
  give byte-identical answers for the same position and time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, select

from domain.compliance import Verdict
from domain.ids import format_time
from domain.state import (
    ORG,
    ModelFacts,
    Position,
    SafeguardsFacts,
    StatusView,
    duties_imposed,
    status_json,
)

from . import schema as S
from .bulk import bulk_load, chunks
from .errors import ProjectionError
from .relevance import from_us, replay_homes, to_us
from .rows import model_facts_of, org_facts_of, safeguards_of, verdict_of_row

if TYPE_CHECKING:
    from .projection import StateProjection

TIMELINE_FORMAT = "rsp-ledger.timeline/v1"


def _read(p: StateProjection) -> Connection:
    conn = p.engine.connect()
    if p.engine.dialect.name == "postgresql":
        # One snapshot for the whole read: rows and position from the same commit.
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def status(p: StateProjection, t: datetime, model: str | None = None) -> dict[str, Any]:
    """The status document at time t, from the tables (after catching up). Under a policy
    with duties over time, at a t after the last entry, the verdicts are the engine's at t, which
    the tables cannot hold: the answer is then replayed from the log up to the position."""
    p.catch_up()
    with bulk_load(), _read(p) as conn, conn.begin():
        tracked = p._tracked(conn)
        if tracked is None:
            raise ProjectionError("the projection has no tracking row after catching up")
        org_row = conn.execute(select(S.org.c.facts)).scalar_one_or_none()
        if org_row is None:
            raise ProjectionError("the projection has no organisation row: rebuild it")
        org = org_facts_of(org_row)
        names = [model] if model is not None else _model_names(conn)
        if model is not None and not _model_names(conn, model):
            raise ProjectionError(f"no model {model!r} in this ledger")
        position = tracked.position
        if _later(t, position) and duties_imposed(org):
            return _replayed(p, conn, position, t, model)
        org_safeguards = _safeguards(conn, ORG, t)
        org_verdicts = _verdicts(conn, ORG)
        loaded: list[tuple[ModelFacts, list[SafeguardsFacts], list[Verdict]]] = []
        for name in names:
            facts_text = conn.execute(
                select(S.models.c.facts).where(S.models.c.model == name)
            ).scalar_one()
            loaded.append(
                (
                    model_facts_of(facts_text),
                    _safeguards(conn, name, t),
                    _verdicts(conn, name),
                )
            )
        by_id = {v.statement: v for v in org_verdicts}
        for _, _, vs in loaded:
            by_id.update((v.statement, v) for v in vs)
        view = StatusView(org, org_safeguards, by_id, position, t)
        return status_json(view, loaded, org_verdicts)


def _later(t: datetime, position: Position) -> bool:
    return position.last_recorded_at is not None and t > position.last_recorded_at


def _model_names(conn: Connection, only: str | None = None) -> list[str]:
    q = select(S.models.c.model).order_by(S.models.c.model)
    if only is not None:
        q = q.where(S.models.c.model == only)
    return [str(m) for (m,) in conn.execute(q)]


def _safeguards(conn: Connection, home: str, t: datetime) -> list[SafeguardsFacts]:
    s = S.safeguards
    rows = conn.execute(
        select(s.c.facts).where(s.c.home == home, s.c.expires_us > to_us(t)).order_by(s.c.seq)
    )
    return [safeguards_of(text) for (text,) in rows]


def _verdicts(conn: Connection, home: str) -> list[Verdict]:
    v = S.verdicts
    rows = conn.execute(select(v.c.body).where(v.c.home == home).order_by(v.c.seq))
    return [verdict_of_row(body) for (body,) in rows]


def status_as_of(p: StateProjection, at: datetime, model: str | None = None) -> dict[str, Any]:
    """The status document as the log stood at `at`, replayed from the log itself."""
    p.catch_up()
    e = S.entries
    with bulk_load(), _read(p) as conn, conn.begin():
        # recorded_at never decreases with seq: the last entry at or before `at` is the last in
        # (recorded_us, seq) order, which the index on recorded_us gives without a sort.
        row = conn.execute(
            select(e.c.seq, e.c.recorded_us)
            .where(e.c.recorded_us <= to_us(at))
            .order_by(e.c.recorded_us.desc(), e.c.seq.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            raise ProjectionError(f"no entry is recorded at or before {format_time(at)}")
        position = Position(int(row[0]), from_us(int(row[1])))
        if model is not None:
            known = conn.execute(
                select(func.count()).where(e.c.home == model, e.c.seq <= position.last_seq)
            ).scalar_one()
            if not known:
                raise ProjectionError(f"no model {model!r} in this ledger as of {format_time(at)}")
        return _replayed(p, conn, position, at, model)


def _replayed(
    p: StateProjection, conn: Connection, position: Position, t: datetime, model: str | None
) -> dict[str, Any]:
    """The status document at t (not before the position's time) of the log up to `position`,
    replayed from the log through a fresh tracker: the model's part of the log only
    (`relevance.replay_homes`), when a model is named."""
    seqs: list[int] | None = None
    if model is not None:
        seqs = p._replay_seqs(conn, replay_homes({model}, p._groups(conn)), position.last_seq)
    tracker = p.tracker(timeline_for=())
    records = p._records(0, position.last_seq + 1) if seqs is None else p._records_at(seqs)
    for record in records:
        tracker.add(record)
    names = [model] if model is not None else tracker.models()
    # The verdicts as the engine gives them at t: under a policy with duties, those missed by
    # t show (docs/projections.md "Policies with duties over time").
    at = t if _later(t, position) else position.last_recorded_at
    org_verdicts = tracker.verdicts_of(ORG, at)
    models = [
        (tracker.model_facts(m), tracker.safeguards_of(m), tracker.verdicts_of(m, at))
        for m in names
    ]
    by_id = {v.statement: v for v in org_verdicts}
    for _, _, vs in models:
        by_id.update((v.statement, v) for v in vs)
    view = StatusView(tracker.org_facts(), tracker.safeguards_of(ORG), by_id, position, t)
    return status_json(view, models, org_verdicts)


def timeline(p: StateProjection, model: str) -> dict[str, Any]:
    """Every entry that changed the model's state, with the policy in force at each."""
    p.catch_up()
    tl = S.timeline
    with _read(p) as conn, conn.begin():
        tracked = p._tracked(conn)
        facts_text = conn.execute(
            select(S.models.c.facts).where(S.models.c.model == model)
        ).scalar_one_or_none()
        if facts_text is None or tracked is None:
            raise ProjectionError(f"no model {model!r} in this ledger")
        first_seq = model_facts_of(facts_text).first_seq
        rows: list[Row[Any]] = list(
            conn.execute(
                select(tl).where(
                    (tl.c.key == model) | ((tl.c.key == ORG) & (tl.c.seq >= first_seq))
                )
            )
        )
        statements = sorted({str(r.statement) for r in rows})
        verdicts: dict[str, str] = {}
        for chunk in chunks(statements):
            verdicts.update(
                (str(s), str(v))
                for s, v in conn.execute(
                    select(S.verdicts.c.statement, S.verdicts.c.verdict).where(
                        S.verdicts.c.statement.in_(chunk)
                    )
                )
            )
    rows.sort(key=lambda r: (int(r.seq), r.key != ORG))
    events = [
        {
            "seq": int(r.seq),
            "recorded_at": str(r.recorded_at),
            "type": str(r.type),
            "statement": str(r.statement),
            "scope": "organisation" if r.key == ORG else "model",
            "policy": r.policy,
            "change": str(r.change),
            "verdict": verdicts.get(str(r.statement)),
        }
        for r in rows
    ]
    return {
        "format": TIMELINE_FORMAT,
        "model": model,
        "log": tracked.position.to_json(),
        "events": events,
    }


def table_dump(p: StateProjection) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row, sorted (tests compare an incremental projection with a rebuild)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with _read(p) as conn, conn.begin():
        for table in S.DATA_TABLES:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted(tuple(r) for r in rows)
    return out
