"""Helpers for work on many rows or records at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

IN_CHUNK = 900


@contextmanager
def bulk_load() -> Iterator[None]:
    """The cyclic garbage collector paused while a replay builds many long-lived objects (the
    engine's records, none of them garbage): every full collection would walk them all again,
    which makes a replay of a million entries several times slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def chunks(items: Sequence[Any], n: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
