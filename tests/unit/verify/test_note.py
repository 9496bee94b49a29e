"""verify/note: every edge case decided in docs/notes.md, vkeys, checkpoints and cosignatures."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from verify.errors import MalformedKeyError, SignatureError
from verify.keys import Ed25519Signer
from verify.merkle import EMPTY_ROOT
from verify.note import (
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    CosignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
    UnverifiedNoteError,
    Vkey,
    append_signatures,
    cosign_checkpoint,
    cosignature_message,
    cosignature_timestamp,
    format_checkpoint_body,
    format_vkey,
    note_key_id,
    open_note,
    parse_checkpoint_body,
    parse_note,
    sign_checkpoint,
    sign_note,
    signature_line,
    verify_checkpoint,
)

EM = "\u2014"
ORIGIN = "example.org/rsp-ledger"
ROOT = hashlib.sha256(b"a root").digest()
TEXT = "hello\nworld\n"


def _signer(seed: int) -> Ed25519Signer:
    # Fixed keys, so that mangled vkeys fail the same way on every run (no '+' in the base64).
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


ledger, other, witness1, witness2 = _signer(1), _signer(2), _signer(3), _signer(4)
LEDGER_VKEY = Vkey.ed25519(ORIGIN, ledger.public_raw)
OTHER_VKEY = Vkey.ed25519("other.example", other.public_raw)
W1 = Vkey.cosignature("w1.example", witness1.public_raw)
W2 = Vkey.cosignature("w2.example", witness2.public_raw)


def checkpoint_note(size: int = 5, root: bytes = ROOT) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), ORIGIN, ledger)


# -- vkeys --------------------------------------------------------------------------------------


def test_vkey_format_and_key_id_rule() -> None:
    """SPEC §3: origin+hex(SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pub)[:4])+base64(0x01 ‖ pub)."""
    text = format_vkey(ORIGIN, ledger.public_raw)
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + ledger.public_raw).digest()[:4]
    assert (
        text
        == f"{ORIGIN}+{expected_id.hex()}+" + base64.b64encode(b"\x01" + ledger.public_raw).decode()
    )
    assert Vkey.parse(text) == LEDGER_VKEY
    assert W1.key_id == hashlib.sha256(b"w1.example\n\x04" + witness1.public_raw).digest()[:4]
    assert Vkey.parse(str(W1)).sig_type == SIG_COSIGNATURE_V1


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda v: v.replace(v.split("+")[1], v.split("+")[1].upper()), "lowercase hex"),
        (lambda v: v.split("+")[0] + "+00000000+" + v.split("+", 2)[2], "expected key id"),
        (lambda v: v[:-1], "base64"),
        (lambda v: "bad name+" + v.split("+", 1)[1], "key name"),
        (lambda v: v.split("+", 1)[1], r"name\+keyid\+key"),
        (lambda v: "name+" + v.split("+", 1)[1].replace("+", "x+", 1), "8 lowercase hex"),
        (lambda v: v + "AA==", "32-byte"),
        (lambda v: "+" + v, "non-empty key name"),
    ],
)
def test_malformed_vkeys(mangle: object, message: str) -> None:
    assert callable(mangle)
    with pytest.raises(MalformedKeyError, match=message):
        Vkey.parse(mangle(str(LEDGER_VKEY)))


def test_vkey_of_unknown_type_or_length() -> None:
    with pytest.raises(MalformedKeyError, match="type 0x01 or 0x04, found 0x02"):
        Vkey("n", 0x02, b"\x00" * 32)
    with pytest.raises(MalformedKeyError, match="32-byte"):
        Vkey.ed25519("n", b"\x00" * 31)


# -- note structure -----------------------------------------------------------------------------


def test_sign_and_open_round_trip() -> None:
    note = sign_note(TEXT, "other.example", other)
    assert note == TEXT + "\n" + signature_line(TEXT, "other.example", other)
    opened = open_note(note, [OTHER_VKEY])
    assert opened.text == TEXT
    assert opened.verified_by(OTHER_VKEY)
    assert parse_note(note).to_text() == note


def test_unknown_signatures_are_ignored() -> None:
    note = append_signatures(
        sign_note(TEXT, "other.example", other), [signature_line(TEXT, "stranger", ledger)]
    )
    opened = open_note(note, [OTHER_VKEY])
    assert [s.name for s in opened.unknown] == ["stranger"]
    # Same name as a known key but another key id: unknown too (c2sp.org/signed-note).
    impostor = signature_line(TEXT, "other.example", ledger)
    opened = open_note(sign_note(TEXT, "other.example", other) + impostor, [OTHER_VKEY])
    assert len(opened.unknown) == 1


def test_a_known_key_whose_signature_fails_rejects_the_note() -> None:
    good = sign_note(TEXT, "other.example", other)
    forged = parse_note(good).signatures[0]
    bad_line = f"{EM} other.example " + base64.b64encode(forged.key_id + bytes(64)).decode() + "\n"
    with pytest.raises(SignatureError, match=r"known key other\.example"):
        open_note(good + bad_line, [OTHER_VKEY])


def test_no_known_signature_is_refused() -> None:
    with pytest.raises(UnverifiedNoteError, match="expected a signature by a known key"):
        open_note(sign_note(TEXT, "other.example", other), [LEDGER_VKEY])


def test_sixteen_signatures_accepted_seventeen_refused() -> None:
    line = signature_line(TEXT, "other.example", other)
    assert len(open_note(TEXT + "\n" + line * MAX_SIGNATURES, [OTHER_VKEY]).signatures) == 16
    with pytest.raises(MalformedNoteError, match="at most 16 signature lines, found 17"):
        open_note(TEXT + "\n" + line * (MAX_SIGNATURES + 1), [OTHER_VKEY])
    with pytest.raises(MalformedNoteError):
        append_signatures(TEXT + "\n" + line * MAX_SIGNATURES, [line])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda n: n.replace("\n", "\r\n"), "carriage return"),
        (lambda n: n.replace("hello", "hel\tlo"), "U\\+0009"),
        (lambda n: n.replace("hello", "hel\x7flo").replace("\x7f", "\x00"), "U\\+0000"),
        (lambda n: n[:-1], "end with a newline"),
        (lambda n: n + "\n", "after the blank line|key name"),
        (lambda n: n.replace("\n\n", "\n"), "blank line"),
        (lambda n: n.replace("\n\n", "\n\n\n"), "exactly one blank line"),
        (lambda n: n.replace(f"{EM} ", "-- "), "expected '— <name> <base64>'"),
        (lambda n: n.replace(f"{EM} ", f"{EM}  "), "key name|one space"),
        (lambda n: n.replace("=\n", "\n"), "base64"),
        (lambda n: n + "trailing garbage", "end with a newline"),
        (lambda n: n + "trailing garbage\n", "expected '— <name> <base64>'"),
        (lambda n: n.split("\n\n")[0] + "\n\n", "at least one signature line"),
        (lambda n: "\n\n" + n.split("\n\n")[1], "last line to be non-empty"),
    ],
)
def test_malformed_notes(mangle: object, message: str) -> None:
    assert callable(mangle)
    note = sign_note(TEXT, "other.example", other)
    with pytest.raises(MalformedNoteError, match=message):
        open_note(mangle(note), [OTHER_VKEY])


def test_short_signature_and_bad_utf8() -> None:
    short = f"{EM} other.example " + base64.b64encode(b"abcd").decode() + "\n"
    with pytest.raises(MalformedNoteError, match=">= 5 bytes"):
        parse_note(TEXT + "\n" + short)
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        parse_note(b"\xc3" + sign_note(TEXT, "other.example", other).encode())
    with pytest.raises(MalformedNoteError, match="at most"):
        parse_note(b"a" * (1 << 20) + b"\n\n")


def test_text_may_contain_blank_lines() -> None:
    text = "para one\n\npara two\n"
    assert open_note(sign_note(text, "other.example", other), [OTHER_VKEY]).text == text


def test_sign_note_refuses_what_open_note_would_refuse() -> None:
    for text in ["no newline", "ends blank\n\n", "\n", "cr\r\n"]:
        with pytest.raises(MalformedNoteError):
            sign_note(text, "other.example", other)
    with pytest.raises(MalformedKeyError):
        sign_note(TEXT, "has space", other)


def test_ambiguous_verifiers_are_refused() -> None:
    twin = Vkey.ed25519("other.example", ledger.public_raw)
    object.__setattr__(
        twin, "key_id", OTHER_VKEY.key_id
    )  # a colliding key id, as an attacker might
    with pytest.raises(MalformedKeyError, match="share the name and key id"):
        open_note(sign_note(TEXT, "other.example", other), [OTHER_VKEY, twin])


@given(
    st.lists(
        st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1),
        min_size=1,
        max_size=5,
    )
)
def test_any_valid_text_round_trips(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    opened = open_note(sign_note(text, "other.example", other), [OTHER_VKEY])
    assert opened.text == text


# -- checkpoints --------------------------------------------------------------------------------


@given(
    st.integers(1, (1 << 63) - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1), max_size=3
    ),
)
def test_checkpoint_body_round_trips(size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(ORIGIN, size, root, tuple(extensions))
    body = format_checkpoint_body(cp)
    assert parse_checkpoint_body(body) == cp
    assert body.startswith(f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n")


def test_empty_tree_checkpoint() -> None:
    assert (
        parse_checkpoint_body(format_checkpoint_body(Checkpoint(ORIGIN, 0, EMPTY_ROOT))).size == 0
    )
    with pytest.raises(MalformedCheckpointError, match="size 0: expected the empty tree's root"):
        Checkpoint(ORIGIN, 0, ROOT)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n05\n{base64.b64encode(ROOT).decode()}\n", "leading zeros"),
        (f"{ORIGIN}\n+5\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n-5\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n 5\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n", "32-byte root"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode().rstrip('=')}\n", "base64"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}", "end with a newline"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\n\n", "non-empty extension"),
        (f"{ORIGIN}\n5\n", "origin, size and root"),
        (f"\n5\n{base64.b64encode(ROOT).decode()}\n", "non-empty one-line origin"),
        (f"{ORIGIN}\n{1 << 63}\n{base64.b64encode(ROOT).decode()}\n", "2\\^63"),
        (f"{ORIGIN}\r\n5\n{base64.b64encode(ROOT).decode()}\n", "carriage return"),
    ],
)
def test_malformed_checkpoint_bodies(body: str, message: str) -> None:
    with pytest.raises(MalformedCheckpointError, match=message):
        parse_checkpoint_body(body)


def test_sign_and_verify_checkpoint() -> None:
    cp, note = verify_checkpoint(checkpoint_note(), LEDGER_VKEY)
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 5, ROOT)
    assert note.verified_by(LEDGER_VKEY)


def test_checkpoint_key_name_must_be_the_origin() -> None:
    with pytest.raises(ValueError, match="key name to be the origin"):
        sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), "someone.else", ledger)
    foreign = Vkey.ed25519("someone.else", ledger.public_raw)
    note = sign_note(format_checkpoint_body(Checkpoint(ORIGIN, 5, ROOT)), "someone.else", ledger)
    with pytest.raises(MalformedCheckpointError, match=r"expected origin 'someone\.else'"):
        verify_checkpoint(note, foreign)


def test_checkpoint_signed_only_by_a_witness_is_refused() -> None:
    body = format_checkpoint_body(Checkpoint(ORIGIN, 5, ROOT))
    note = body + "\n" + cosign_checkpoint(body, "w1.example", witness1, 1_700_000_000)
    with pytest.raises(UnverifiedNoteError, match="ledger key"):
        verify_checkpoint(note, LEDGER_VKEY, witnesses=[W1], witness_threshold=0)


def test_checkpoint_with_a_forged_ledger_signature() -> None:
    note = checkpoint_note().replace("\n5\n", "\n6\n")
    with pytest.raises(SignatureError):
        verify_checkpoint(note, LEDGER_VKEY)


# -- cosignatures -------------------------------------------------------------------------------


def test_cosignature_message_and_signature_layout() -> None:
    note = checkpoint_note()
    body = parse_note(note).text
    line = cosign_checkpoint(note, "w1.example", witness1, 1679315147)
    sig = parse_note(note + line).signatures[1]
    assert sig.key_id == note_key_id("w1.example", SIG_COSIGNATURE_V1, witness1.public_raw)
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    assert cosignature_timestamp(sig.signature) == 1679315147
    assert (
        cosignature_message(body, 1679315147)
        == b"cosignature/v1\ntime 1679315147\n" + body.encode()
    )
    W1.verify(body.encode(), sig.signature)


def test_witness_threshold() -> None:
    note = checkpoint_note()
    cosigned = note + cosign_checkpoint(note, "w1.example", witness1, 1_700_000_000)
    _, opened = verify_checkpoint(cosigned, LEDGER_VKEY, witnesses=[W1, W2], witness_threshold=1)
    assert opened.verified_by(W1) and not opened.verified_by(W2)
    with pytest.raises(
        CosignatureError, match=r"at least 2 of 2 witnesses, found 1: missing w2\.example"
    ):
        verify_checkpoint(cosigned, LEDGER_VKEY, witnesses=[W1, W2])
    both = cosigned + cosign_checkpoint(note, "w2.example", witness2, 1_700_000_001)
    verify_checkpoint(both, LEDGER_VKEY, witnesses=[W1, W2])
    with pytest.raises(ValueError, match="threshold"):
        verify_checkpoint(both, LEDGER_VKEY, witnesses=[W1], witness_threshold=2)


def test_unknown_witness_is_ignored_and_a_bad_known_cosignature_rejects() -> None:
    note = checkpoint_note()
    unknown = note + cosign_checkpoint(note, "w9.example", witness2, 1)
    verify_checkpoint(unknown, LEDGER_VKEY, witnesses=[W1], witness_threshold=0)
    # A cosignature by W1 over another checkpoint, pasted under this one.
    elsewhere = checkpoint_note(size=6)
    pasted = note + cosign_checkpoint(elsewhere, "w1.example", witness1, 1)
    with pytest.raises(SignatureError, match=r"w1\.example"):
        verify_checkpoint(pasted, LEDGER_VKEY, witnesses=[W1], witness_threshold=0)
    # The timestamp is signed: changing it breaks the cosignature.
    line = cosign_checkpoint(note, "w1.example", witness1, 5)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1
    changed = line.split(" ")[0] + " w1.example " + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(SignatureError):
        verify_checkpoint(note + changed, LEDGER_VKEY, witnesses=[W1])


def test_witness_keys_must_be_cosignature_keys() -> None:
    with pytest.raises(MalformedKeyError, match="type 0x04"):
        verify_checkpoint(checkpoint_note(), LEDGER_VKEY, witnesses=[OTHER_VKEY])
    with pytest.raises(MalformedKeyError, match="type 0x01"):
        verify_checkpoint(checkpoint_note(), W1)
    # A type 0x01 key cannot verify a cosignature line, nor the reverse: the key ids differ.
    assert Vkey.ed25519("w1.example", witness1.public_raw).key_id != W1.key_id
    assert Vkey.ed25519("w1.example", witness1.public_raw).sig_type == SIG_ED25519


def test_cosignature_timestamp_bounds() -> None:
    with pytest.raises(ValueError, match="2\\^63"):
        cosign_checkpoint(checkpoint_note(), "w1.example", witness1, 1 << 63)
    with pytest.raises(SignatureError, match="below 2\\^63"):
        cosignature_timestamp(b"\xff" * 8 + bytes(64))
    with pytest.raises(SignatureError, match="72 bytes"):
        cosignature_timestamp(bytes(64))


def test_cosign_refuses_a_non_checkpoint() -> None:
    with pytest.raises(MalformedCheckpointError):
        cosign_checkpoint("just text\n", "w1.example", witness1, 1)
