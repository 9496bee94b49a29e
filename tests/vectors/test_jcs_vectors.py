"""RFC 8785 vectors from cyberphone/json-canonicalization (../shared/testdata/jcs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verify.errors import NotCanonicalError
from verify.jcs import canonical, parse_canonical, parse_json

NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", NAMES)
def test_canonical_form_matches_vector(testdata_dir: Path, name: str) -> None:
    source = (testdata_dir / "jcs" / "input" / f"{name}.json").read_bytes()
    expected = (testdata_dir / "jcs" / "output" / f"{name}.json").read_bytes()
    hex_text = (testdata_dir / "jcs" / "outhex" / f"{name}.txt").read_text()
    assert canonical(json.loads(source)) == expected
    assert canonical(parse_json(source)) == bytes.fromhex("".join(hex_text.split()))


@pytest.mark.parametrize("name", NAMES)
def test_canonical_output_parses_back_exactly(testdata_dir: Path, name: str) -> None:
    expected = (testdata_dir / "jcs" / "output" / f"{name}.json").read_bytes()
    assert canonical(parse_canonical(expected)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_non_canonical_input_is_refused(testdata_dir: Path, name: str) -> None:
    source = (testdata_dir / "jcs" / "input" / f"{name}.json").read_bytes()
    with pytest.raises(NotCanonicalError):
        parse_canonical(source)


@pytest.mark.parametrize(
    "data",
    [b'{"a":1,"a":2}', b'{"a":NaN}', b"[Infinity]", b'{"a":1} ', b"\xff", b'{"a":1.0}'],
)
def test_refuses_duplicates_constants_and_other_spellings(data: bytes) -> None:
    with pytest.raises(NotCanonicalError):
        parse_canonical(data)


def test_depth_is_bounded() -> None:
    with pytest.raises(NotCanonicalError, match="nested"):
        parse_json(b"[" * 10_000 + b"]" * 10_000)
