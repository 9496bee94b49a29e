"""Read models rebuilt from the log (per-model ASL state). Never the source of truth.

Public API:
- `StateProjection(engine, source)` — `catch_up()`, `rebuild()`, `lag()`, `follow(stop)`,
  `status(t, model)`, `status_as_of(at, model)`, `timeline(model)`;
- `EntrySource` — what a projection reads the log through (the CLI wraps the ledger's store);
  `ListSource` an in-memory one; `record_of(leaf)` reads one stored entry;
- `CatchUp`, `Lag`, `Tracked` — what catching up did, how far behind the log it is, where it is;
- `ProjectionError`, `TrackingConflictError`, `StoredEntryError`.
"""

from __future__ import annotations

from .errors import ProjectionError, StoredEntryError, TrackingConflictError
from .projection import (
    PROJECTION_NAME,
    PROJECTION_VERSION,
    CatchUp,
    Lag,
    StateProjection,
    Tracked,
)
from .reading import TIMELINE_FORMAT
from .source import EntrySource, ListSource, record_of

__all__ = [
    "PROJECTION_NAME",
    "PROJECTION_VERSION",
    "TIMELINE_FORMAT",
    "CatchUp",
    "EntrySource",
    "Lag",
    "ListSource",
    "ProjectionError",
    "StateProjection",
    "StoredEntryError",
    "Tracked",
    "TrackingConflictError",
    "record_of",
]
