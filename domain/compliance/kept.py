"""What the compliance engine keeps of each observed record, so that a million stay small.

A rule may read any earlier record (a citation, a withdrawal's target, a duty's reviewed
statement), so every record is kept, by statement id. A typed statement costs about 1.4 kB
(pydantic keeps a dict per instance); what the rules read of an *earlier* statement is a few
fields. So `RecordStore` keeps:

- the last `window` records whole, as they were observed (the common case: a statement cites
  what was just recorded — findings, then their determination, then the decision);
- older records as one tuple: seq, time, signer key ids, type, and the values of `KEPT_FIELDS`
  of its type, with strings and lists shared across the log. Reading one gives back a record
  whose statement is an instance of its own class built from those fields (`model_construct`:
  they were validated when the record was parsed).

Invariants:
- `KEPT_FIELDS[type]` holds every field a rule reads of an earlier statement of that type (the
  rules of evidence, determinations, safeguards, duties and voiding): its id, type and model, the
  fields a policy condition may test (`matches`), and those named below per type. Any other field
  of a statement read back from its tuple is absent, and reading it raises AttributeError: a rule
  that starts reading a new field fails loudly until the field is listed here;
- a record is kept once, under its id, the first time it is seen (SPEC §2: ids are unique);
- the store is private to an engine; whole records only ever leave it through the rules.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import datetime
from sys import intern
from typing import Any, cast, get_args

from domain.log import LogRecord
from domain.statements import Statement, StatementBase, condition_values, has_field

# Fields read of an earlier statement beyond id, type, model and the condition fields, by type.
_READ_LATER: dict[str, tuple[str, ...]] = {
    # determination.coverage/.comprehensive/.level/.fresh, safety-case.approved
    "capability_finding": ("threshold", "effective_compute"),
    # determination.latest, safeguards.level, governance.notified read its required levels
    "capability_determination": ("required",),
    # evidence.cited (standard), safeguards.controls/.current, deployment.scope
    "safeguard_attestation": ("standard", "controls", "scopes", "valid_until"),
    # safeguards.level/.controls/.current
    "safeguards_determination": ("standard", "valid_until"),
    # safety-case.approved
    "safety_case_approved": ("thresholds", "scopes"),
}

_CLASSES: dict[str, type[StatementBase]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in StatementBase.__subclasses__()
}


def _kept_fields(kind: str) -> tuple[str, ...]:
    names = ["id", "type"]
    if has_field(kind, "model"):
        names.append("model")
    names.extend(n for n in condition_values(kind) if n not in names)
    names.extend(n for n in _READ_LATER.get(kind, ()) if n not in names)
    return tuple(names)


KEPT_FIELDS: dict[str, tuple[str, ...]] = {kind: _kept_fields(kind) for kind in _CLASSES}

# Fields not kept that have a default (`note`, `details_digest`, …): `model_construct` would fill
# them in with it, so they are taken out again, to be absent like every other field not kept.
_DEFAULTED: dict[str, tuple[str, ...]] = {
    kind: tuple(
        name
        for name, info in cls.model_fields.items()
        if not info.is_required() and name not in KEPT_FIELDS[kind]
    )
    for kind, cls in _CLASSES.items()
}

DEFAULT_WINDOW = 4096

# seq, recorded_at, signer key ids, type, then the values of KEPT_FIELDS[type] after id and type
_Compact = tuple[Any, ...]


class RecordStore:
    """Records by statement id: the last `window` whole, older ones compact (see the module).
    With `window=None`, every record is kept whole."""

    __slots__ = ("_compact", "_order", "_shared", "_whole", "_window")

    def __init__(self, window: int | None = None) -> None:
        self._window = window
        self._whole: dict[str, LogRecord] = {}
        self._order: deque[str] = deque()
        self._compact: dict[str, _Compact] = {}
        self._shared: dict[Any, Any] = {}

    def __contains__(self, statement_id: object) -> bool:
        return statement_id in self._whole or statement_id in self._compact

    def __len__(self) -> int:
        return len(self._whole) + len(self._compact)

    def __iter__(self) -> Iterator[str]:
        yield from self._compact
        yield from self._whole

    def __getitem__(self, statement_id: str) -> LogRecord:
        found = self.get(statement_id)
        if found is None:
            raise KeyError(statement_id)
        return found

    def get(self, statement_id: str) -> LogRecord | None:
        whole = self._whole.get(statement_id)
        if whole is not None:
            return whole
        compact = self._compact.get(statement_id)
        return _expand(statement_id, compact) if compact is not None else None

    def keep(self, record: LogRecord) -> None:
        """Keep `record` under its statement's id, unless that id is already kept."""
        sid = record.statement.id
        if sid in self:
            return
        self._whole[sid] = record
        if self._window is None:
            return
        self._order.append(sid)
        if len(self._order) > self._window:
            old = self._order.popleft()
            self._compact[old] = self._compacted(self._whole.pop(old))

    def _compacted(self, record: LogRecord) -> _Compact:
        st = record.statement
        kind = st.type
        values = [self._share(getattr(st, name)) for name in KEPT_FIELDS[kind][2:]]
        keys = self._share(record.signer_key_ids)
        return (record.seq, record.recorded_at, keys, intern(kind), *values)

    def _share(self, value: Any) -> Any:
        """One copy of each short string, list of strings, key-id tuple or level pair."""
        kind = type(value)
        if kind is str:
            return intern(value) if len(value) <= 64 else value
        if kind is list or kind is tuple:
            if not all(type(v) is str for v in value):
                return value
            key = (kind, *value)
        elif kind is float or kind is datetime or value is None or kind is bool:
            return value
        else:
            key = value  # frozen models (RequiredLevels) are hashable
        return self._shared.setdefault(key, value)


def _expand(statement_id: str, compact: _Compact) -> LogRecord:
    seq, recorded_at, keys, kind, *values = compact
    names = KEPT_FIELDS[kind]
    fields = dict(zip(names[2:], values, strict=True))
    statement = _CLASSES[kind].model_construct(id=statement_id, type=kind, **fields)
    for name in _DEFAULTED[kind]:
        del vars(statement)[name]
    statement.__pydantic_fields_set__.difference_update(_DEFAULTED[kind])
    return LogRecord(seq, recorded_at, cast(Statement, statement), keys)
