"""A fast path for `verify.jcs.parse_canonical`, for the bytes the verifier reads by the million.

`parse_canonical_fast(data)` returns what `parse_canonical(data)` returns and raises whenever it
raises. It decides the common case with the C JSON codec: the bytes are canonical when
re-encoding the parsed value with sorted keys and no whitespace reproduces them exactly, and the
value holds nothing on which Python's encoder and RFC 8785 differ. Anything it cannot decide goes
to `parse_canonical`, the one reference.

Where the two encoders differ, and how that is kept out of the fast path:
- key order: Python sorts by code point, RFC 8785 by UTF-16 code unit; the two agree on ASCII, so
  only ASCII input is decided here;
- numbers: RFC 8785 writes doubles as ECMAScript does. A float is decided here only when its
  Python spelling (`repr`, which `json.dumps` writes) is already the ECMAScript one; an integer
  only within ±(2^53−1), the range RFC 8785 accepts;
- NaN and Infinity, duplicate keys, escapes that are not the shortest, whitespace: all make the
  re-encoding differ from the input (or raise), and the reference then refuses them.
"""

from __future__ import annotations

import json
from typing import Any

from verify.jcs import MAX_DEPTH, parse_canonical

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


def parse_canonical_fast(data: bytes) -> Any:
    """`parse_canonical(data)`, decided by the C codec where it can be (module docstring)."""
    if data.isascii() and data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        try:
            text = data.decode("ascii")
            value = _DECODER.decode(text)
            if _ENCODER.encode(value) == text:
                return value
        except (_Undecided, ValueError, UnicodeEncodeError, RecursionError):
            pass
    return parse_canonical(data)


__all__ = ["es_spelling_is_repr", "parse_canonical_fast"]
