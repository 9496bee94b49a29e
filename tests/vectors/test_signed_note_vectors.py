"""Signed notes written by others verify with verify/note, byte for byte.

Public test data only (no code copied):
- the worked example of c2sp.org/signed-note (key `example.com/foo`);
- golang.org/x/mod sumdb/note (note.go package doc and note_test.go): the PeterNeumann signer
  key, its note and signature, the EnochRoot second signature, and the mangled keys and messages
  that Go's `NewVerifier` and `Open` refuse;
- transparency-dev/formats note/note_cosigv1_test.go: vkeys of type 0x01 and 0x04, and a
  cosignature/v1 signature with a known timestamp;
- c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature: the example checkpoint and the
  timestamp of its witness cosignature.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verify.errors import MalformedKeyError, SignatureError
from verify.keys import Ed25519Signer
from verify.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    MalformedNoteError,
    UnverifiedNoteError,
    Vkey,
    cosignature_timestamp,
    open_note,
    parse_checkpoint_body,
    parse_note,
    sign_note,
)

EM = "\u2014"

# c2sp.org/signed-note, "Verifier keys" and the example note.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_TEXT = "This is an example message.\n"
SPEC_NOTE = (
    f"{SPEC_TEXT}\n{EM} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# golang.org/x/mod/sumdb/note.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
    "Zb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WW"
    "d1RvMc+QQ=\n"
)

# transparency-dev/formats note/note_cosigv1_test.go.
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
COSIG_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
COSIG_SIG = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXO"
    "RmnFBOBA=="
)
NOT_A_COSIG = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature.
SOFA_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    f"{EM} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1"
    "gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    f"{EM} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin"
    "1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def _peter_signer() -> Ed25519Signer:
    # A Go signer key is base64(0x01 ‖ 32-byte Ed25519 seed) after "PRIVATE+KEY+name+keyid+".
    material = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert material[0] == SIG_ED25519
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(material[1:]))


# -- the signed-note specification's example ----------------------------------------------------


def test_spec_vkey_round_trips() -> None:
    vkey = Vkey.parse(SPEC_VKEY)
    assert (vkey.name, vkey.sig_type, vkey.key_id.hex()) == (
        "example.com/foo",
        SIG_ED25519,
        "530d903a",
    )
    assert str(vkey) == SPEC_VKEY


def test_spec_note_verifies_byte_for_byte() -> None:
    note = open_note(SPEC_NOTE.encode(), [Vkey.parse(SPEC_VKEY)])
    assert note.text == SPEC_TEXT
    assert [s.name for s in note.verified] == ["example.com/foo"]
    assert note.unknown == ()
    assert note.to_text() == SPEC_NOTE


def test_spec_note_tampered_is_refused() -> None:
    vkey = Vkey.parse(SPEC_VKEY)
    with pytest.raises(SignatureError):
        open_note(SPEC_NOTE.replace("example message", "example massage"), [vkey])


# -- golang.org/x/mod/sumdb/note -----------------------------------------------------------------


def test_go_signer_produces_the_go_note_byte_for_byte() -> None:
    signer = _peter_signer()
    assert str(Vkey.ed25519("PeterNeumann", signer.public_raw)) == PETER_VKEY
    assert sign_note(GO_TEXT, "PeterNeumann", signer) == GO_TEXT + "\n" + PETER_SIG


def test_go_open_one_known_one_unknown() -> None:
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [Vkey.parse(PETER_VKEY)])
    assert note.text == GO_TEXT
    assert [s.label for s in note.verified] == ["PeterNeumann+c74f20a3"]
    assert [s.label for s in note.unknown] == ["EnochRoot+af0cfe78"]


def test_go_open_both_known() -> None:
    keys = [Vkey.parse(PETER_VKEY), Vkey.parse(ENOCH_VKEY)]
    note = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, keys)
    assert [s.label for s in note.verified] == ["PeterNeumann+c74f20a3", "EnochRoot+af0cfe78"]
    assert note.unknown == ()


def test_go_open_no_known_key() -> None:
    with pytest.raises(UnverifiedNoteError):
        open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_open_invalid_signature() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureError, match="PeterNeumann"):
        open_note(GO_TEXT + "\n" + bad, [Vkey.parse(PETER_VKEY)])


def test_go_duplicated_signatures_of_known_and_unknown_keys() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    msg = GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    note = open_note(msg, [Vkey.parse(PETER_VKEY)])
    assert [s.label for s in note.verified] == ["PeterNeumann+c74f20a3"]
    assert len(note.unknown) == 3


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT
        + "\n"
        + f"{EM} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_messages(msg: str) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(msg, [Vkey.parse(PETER_VKEY)])


def test_go_malformed_utf8() -> None:
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        open_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), [Vkey.parse(PETER_VKEY)])


def test_go_too_many_signatures() -> None:
    # Go refuses 101; we refuse anything above 16 (docs/notes.md), and accept 16.
    key = [Vkey.parse(PETER_VKEY)]
    with pytest.raises(MalformedNoteError, match="at most 16"):
        open_note(GO_TEXT + "\n" + PETER_SIG * 101, key)
    with pytest.raises(MalformedNoteError, match="at most 16"):
        open_note(GO_TEXT + "\n" + PETER_SIG * 17, key)
    assert len(open_note(GO_TEXT + "\n" + PETER_SIG * 16, key).signatures) == 16


def test_go_vkey_manglings_refused() -> None:
    Vkey.parse(PETER_VKEY)
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if i != 0 or j != len(b):
                with pytest.raises(MalformedKeyError):
                    Vkey.parse(b[i:j].decode())
    for i in range(len(b)):
        mangled = bytearray(b)
        mangled[i] += 1
        with pytest.raises(MalformedKeyError):
            Vkey.parse(mangled.decode())
    # Wrong key length and unknown algorithm, each with a key id adjusted to match.
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(MalformedKeyError):
            Vkey.parse(bad)


# -- transparency-dev/formats and the C2SP checkpoint/cosignature examples ----------------------


def test_formats_vkeys_round_trip() -> None:
    plus = Vkey.parse(PLUS_VKEY)  # its base64 contains '+': only the first two split the vkey
    assert (plus.name, plus.sig_type, str(plus)) == ("TEST", SIG_ED25519, PLUS_VKEY)
    cosig = Vkey.parse(COSIG_VKEY)
    assert (cosig.name, cosig.sig_type, str(cosig)) == (
        "remora.n621.de",
        SIG_COSIGNATURE_V1,
        COSIG_VKEY,
    )


def test_formats_cosignature_timestamp() -> None:
    raw = base64.b64decode(COSIG_SIG)
    assert cosignature_timestamp(raw[4:]) == 1727964367
    with pytest.raises(SignatureError):
        cosignature_timestamp(base64.b64decode(NOT_A_COSIG)[4:])


def test_c2sp_example_checkpoint_and_cosignature_parse() -> None:
    note = parse_note(SOFA_CHECKPOINT)
    cp = parse_checkpoint_body(note.text)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert base64.b64encode(cp.root).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    log_sig, witness_sig = note.signatures
    assert log_sig.name == "example.com/behind-the-sofa"
    # c2sp.org/tlog-cosignature: the example's signed message reads "time 1679315147".
    assert (witness_sig.name, cosignature_timestamp(witness_sig.signature)) == (
        "witness.example.com/w1",
        1679315147,
    )
    assert note.to_text() == SOFA_CHECKPOINT
