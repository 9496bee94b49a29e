"""RFC 8785 canonical JSON: the one function that produces hashed or signed JSON, and the one
parser that accepts it.

`parse_canonical` refuses anything whose bytes are not exactly the canonical form of what they
parse to: duplicate keys, NaN/Infinity, non-UTF-8, extra whitespace, other number spellings.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from verify.errors import NotCanonicalError

MAX_DEPTH = 64


def canonical(value: Any) -> bytes:
    """The JCS bytes of a JSON value."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise NotCanonicalError(f"value cannot be written as canonical JSON: {e}") from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise NotCanonicalError(f"expected unique object keys, found {key!r} twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise NotCanonicalError(f"expected a JSON number, found {name}")


def _depth_ok(data: bytes) -> None:
    # Bound nesting before the recursive parser sees it (hostile input, issue 9).
    depth = 0
    in_string = False
    escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                raise NotCanonicalError(f"expected JSON nested at most {MAX_DEPTH} deep")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def parse_json(data: bytes) -> Any:
    """Strict JSON: UTF-8, unique keys, no NaN/Infinity, bounded depth."""
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        _depth_ok(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotCanonicalError(f"expected UTF-8 JSON, found invalid byte at {e.start}") from e
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise NotCanonicalError(
            f"expected JSON, found {e.msg} at line {e.lineno} col {e.colno}"
        ) from e
    except RecursionError as e:  # pragma: no cover - bounded by _depth_ok
        raise NotCanonicalError("expected JSON of bounded depth") from e


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must be exactly the JCS form of their value."""
    value = parse_json(data)
    if canonical(value) != data:
        raise NotCanonicalError("expected the RFC 8785 (JCS) canonical form, found other bytes")
    return value
