"""Errors of the read models. Every one is a `LedgerError` (exit 1 in the CLI), except a stored
entry that cannot be read, which says the log itself is not trustworthy."""

from __future__ import annotations

from domain.errors import LedgerError, VerificationError


class ProjectionError(LedgerError):
    """The projection cannot answer: an unknown model, a time before the log, no projection."""


class TrackingConflictError(ProjectionError):
    """Another runner applied entries first (its compare-and-set on the tracking row won)."""


class StoredEntryError(VerificationError):
    """An entry read from the log is not an entry: the store is corrupted."""
