"""`verify.jcs.parse_canonical` (fast where the C codec can decide) gives exactly the answers of
the reference (`verify.jcs.parse_canonical_reference`): on the RFC 8785 public vectors, on generated JSON written every
way Python can write it, and on mutated bytes."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc8785._impl import _serialize_float

from verify.errors import NotCanonicalError
from verify.jcs import (
    canonical,
    canonical_reference,
    es_spelling_is_repr,
    parse_canonical,
    parse_canonical_reference,
)

VECTORS = ["arrays", "french", "structures", "unicode", "values", "weird"]


def outcome(fn: Any, data: bytes) -> tuple[str, Any]:
    try:
        return ("ok", fn(data))
    except NotCanonicalError:
        return ("refused", None)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types (1 and 1.0 differ, True and 1 differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_agree(data: bytes) -> None:
    fast, ref = outcome(parse_canonical, data), outcome(parse_canonical_reference, data)
    assert fast[0] == ref[0], data[:200]
    assert same(fast[1], ref[1]), data[:200]


@pytest.mark.parametrize("name", VECTORS)
def test_public_vectors(testdata_dir: Path, name: str) -> None:
    canonical_bytes = (testdata_dir / "jcs" / "output" / f"{name}.json").read_bytes()
    source = (testdata_dir / "jcs" / "input" / f"{name}.json").read_bytes()
    assert same(parse_canonical(canonical_bytes), parse_canonical_reference(canonical_bytes))
    with pytest.raises(NotCanonicalError):
        parse_canonical(source)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":NaN}',
        b"[Infinity]",
        b"[-Infinity]",
        b'{"a":1} ',
        b"\xff",
        b'{"a":1.0}',
        b"[1e+16]",
        b"[1e-7]",
        b"[1e-07]",
        b"[10000000000000000]",
        b"[9007199254740992]",
        b"[-0]",
        b"[0.0]",
        b'["\\u0041"]',
        b'["\\/"]',
        b'["\\u001f"]',
        b'["\\u001F"]',
        b'{"b":1,"a":2}',
        b'{"\\u00e9":1}',
        b'{"\xc3\xa9":1,"z":2}',
        b"[" * 70 + b"]" * 70,
        b"",
        b"[1,]",
        b'"\\ud800"',
        b"[1.5e+300]",
        b"[5e-324]",
    ],
)
def test_edge_cases_agree(data: bytes) -> None:
    assert_agree(data)


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**60), max_value=2**60)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
        | st.sampled_from(["\u2028", "\x7f", "\x00", "é", "😀", "\ue000", "a\nb", '"', "\\"])
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.text(max_size=6) | st.sampled_from(["😀", "\ue000", "a", "b"]), inner, max_size=4
            )
        ),
        max_leaves=12,
    )


def spellings(value: Any) -> list[bytes]:
    out = []
    with contextlib.suppress(rfc8785.CanonicalizationError):
        out.append(rfc8785.dumps(value))
    for ensure_ascii in (False, True):
        for sort_keys in (False, True):
            for separators in ((",", ":"), (", ", ": ")):
                text = json.dumps(
                    value, ensure_ascii=ensure_ascii, sort_keys=sort_keys, separators=separators
                )
                out.append(text.encode("utf-8", "surrogatepass"))
    return out


@settings(max_examples=400, deadline=None)
@given(json_values())
def test_every_spelling_of_generated_json_agrees(value: Any) -> None:
    for data in spellings(value):
        assert_agree(data)


@settings(max_examples=400, deadline=None)
@given(json_values(), st.data())
def test_mutated_canonical_bytes_agree(value: Any, data: st.DataObject) -> None:
    try:
        text = bytearray(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError:
        return
    if not text:
        return
    i = data.draw(st.integers(0, len(text) - 1))
    op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    if op == "flip":
        text[i] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "delete":
        del text[i]
    else:
        text.insert(i, data.draw(st.sampled_from(b' ,0.e"\\{}[]-+')))
    assert_agree(bytes(text))


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_es_spelling_is_repr_only_when_rfc8785_writes_repr(value: float) -> None:
    sink = io.BytesIO()
    _serialize_float(value, sink)
    if es_spelling_is_repr(value):
        assert sink.getvalue().decode() == repr(value)


def test_es_spelling_covers_the_common_cases() -> None:
    # What statements carry: compute in scientific notation, fractions, multiples.
    for value in (1.2e25, 6.0e25, 1.0100000000000001e24, 0.42, 4.5, -3.25, 1.5e-22):
        assert es_spelling_is_repr(value), value
    for value in (1.0, 0.0, 1e16, 1e-5, 1e-07, 123456789012345680.0):
        assert not es_spelling_is_repr(value), value


def writing(fn: Any, value: Any) -> tuple[str, bytes | None]:
    try:
        return ("ok", fn(value))
    except NotCanonicalError:
        return ("refused", None)


def odd_values() -> st.SearchStrategy[Any]:
    """Values the C encoder writes differently from RFC 8785, or writes where it refuses."""
    return st.sampled_from(
        [
            {1: "int key"},
            {"a": (1, 2)},
            (1, "x"),
            {"n": 2**53},
            {"n": -(2**53)},
            {"n": 2**53 - 1},
            [float("nan")],
            [float("inf")],
            [-0.0],
            [1.0, 1e16, 1e-7, 5e-324],
            {"é": 1, "z": 2},
            {"\ue000": 1, "😀": 2},
            ["\x7f\x00\x1f\u2028"],
            {True: 1},
            {None: 1},
            [b"bytes"],
            {"nested": [{"b": 1, "a": [None, True, False, ""]}]},
        ]
    )


@settings(max_examples=600, deadline=None)
@given(json_values() | odd_values())
def test_canonical_writes_what_the_reference_writes(value: Any) -> None:
    assert writing(canonical, value) == writing(canonical_reference, value)
