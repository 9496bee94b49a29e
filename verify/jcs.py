"""RFC 8785 canonical JSON: the one function that produces hashed or signed JSON, and the one
parser that accepts it.

`parse_canonical` refuses anything whose bytes are not exactly the canonical form of what they
parse to: duplicate keys, NaN/Infinity, non-UTF-8, extra whitespace, other number spellings.

It decides the common case with the C JSON codec: the bytes are canonical when re-encoding the
parsed value with sorted keys and no whitespace reproduces them exactly, and the value holds
nothing on which Python's encoder and RFC 8785 differ. Anything it cannot decide goes to
`parse_canonical_reference` (strict parse, then rfc8785 re-encoding), the one reference; the two
give the same answers (tests/unit/verify/test_fastjcs.py, on the RFC 8785 vectors, generated and
mutated JSON).

Where the two encoders differ, and how that is kept out of the fast path:
- key order: Python sorts by code point, RFC 8785 by UTF-16 code unit; the two agree on ASCII, so
  only ASCII input is decided fast;
- numbers: RFC 8785 writes doubles as ECMAScript does. A float is decided fast only when its
  Python spelling (`repr`, which `json.dumps` writes) is already the ECMAScript one; an integer
  only within ±(2^53−1), the range RFC 8785 accepts;
- NaN and Infinity, duplicate keys, escapes that are not the shortest, whitespace: all make the
  re-encoding differ from the input (or raise), and the reference then refuses them.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from verify.errors import NotCanonicalError

MAX_DEPTH = 64


def canonical_reference(value: Any) -> bytes:
    """The JCS bytes of a JSON value, by the rfc8785 reference (see `canonical`)."""
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


def parse_canonical_reference(data: bytes) -> Any:
    """Parse bytes that must be exactly the JCS form of their value (the reference path)."""
    value = parse_json(data)
    if canonical_reference(value) != data:
        raise NotCanonicalError("expected the RFC 8785 (JCS) canonical form, found other bytes")
    return value


_INT_LIMIT = 2**53 - 1
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


class _Undecided(Exception):
    """The fast path cannot tell; the reference decides."""


def _float(text: str) -> float:
    value = float(text)
    if not es_spelling_is_repr(value):
        raise _Undecided
    return value


def _int(text: str) -> int:
    value = int(text)
    if -_INT_LIMIT <= value <= _INT_LIMIT:
        return value
    raise _Undecided


def _constant(text: str) -> Any:
    raise _Undecided


def es_spelling_is_repr(value: float) -> bool:
    """True when Python's `repr(value)` is exactly the ECMAScript (RFC 8785) spelling.

    ECMAScript writes plain digits for decimal exponents in [-6, 21) and never `.0`; Python writes
    plain digits for exponents in [-4, 16), always with a fraction, and pads exponents to two
    digits. They agree on non-integral plain numbers and on exponents of two or more digits
    outside ECMAScript's plain range.
    """
    text = repr(value)
    mark = text.find("e")
    if mark < 0:
        return not text.endswith(".0") and text not in ("nan", "inf", "-inf")
    if text[mark + 2] == "0":  # e+05 / e-07: ECMAScript writes no leading zero
        return False
    exponent = int(text[mark + 1 :])
    return exponent >= 21 or exponent <= -7


_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_constant)


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must be exactly the JCS form of their value (fast where it can decide)."""
    if data.isascii() and data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        try:
            text = data.decode("ascii")
            value = _DECODER.decode(text)
            if _ENCODER.encode(value) == text:
                return value
        except (_Undecided, ValueError, UnicodeEncodeError, RecursionError):
            pass
    return parse_canonical_reference(data)


def canonical(value: Any) -> bytes:
    """The JCS bytes of a JSON value (fast where the C codec can decide).

    The C encoder's output is the canonical form when it is ASCII (so key order by code point is
    key order by UTF-16 unit) and reads back, under the same number checks as `parse_canonical`,
    as a value equal to the input (which rules out non-string keys, tuples and the numbers whose
    Python spelling is not ECMAScript's). Anything else goes to `canonical_reference`.
    """
    try:
        text = _ENCODER.encode(value)
        if text.isascii() and _DECODER.decode(text) == value:
            return text.encode("ascii")
    except (_Undecided, ValueError, TypeError, RecursionError):
        pass
    return canonical_reference(value)
