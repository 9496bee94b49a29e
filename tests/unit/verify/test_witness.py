"""verify/witness: the tlog-witness request format and the cosign decision, each refusal with the
HTTP status c2sp.org/tlog-witness gives it."""

from __future__ import annotations

import base64

import pytest

from tests.rfc9162_reference import leaves, mth, proof
from verify.errors import MalformedKeyError, SignatureError
from verify.keys import Ed25519Signer
from verify.merkle import EMPTY_ROOT, leaf_hash
from verify.note import (
    Checkpoint,
    MalformedCheckpointError,
    Vkey,
    cosign_checkpoint,
    cosignature_timestamp,
    parse_note,
    sign_checkpoint,
)
from verify.witness import (
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    InconsistentCheckpointError,
    LogState,
    MalformedWitnessRequestError,
    OldSizeAboveCheckpointError,
    SplitViewError,
    StaleOldSizeError,
    UnknownLogError,
    UntrustedCheckpointError,
    advance_log_state,
    parse_add_checkpoint,
    parse_known_size,
    parse_proof_lines,
    select_cosignatures,
)

ORIGIN = "example.org/log"
LOG = Ed25519Signer.generate()
LOG_VKEY = Vkey.ed25519(ORIGIN, LOG.public_raw)
TREE = leaves(20)
OTHER_TREE = [leaf_hash(b"other %d" % i) for i in range(20)]


def signed(size: int, tree: list[bytes] = TREE, signer: Ed25519Signer = LOG) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, mth(tree[:size])), ORIGIN, signer)


def state_at(size: int, tree: list[bytes] = TREE) -> LogState:
    return LogState(LOG_VKEY, size, mth(tree[:size]))


def request(old: int, new: int, tree: list[bytes] = TREE) -> AddCheckpointRequest:
    return AddCheckpointRequest(old, tuple(proof(old, tree[:new])), signed(new, tree))


# -- the request format -------------------------------------------------------------------------

# The example request body of c2sp.org/tlog-witness (add-checkpoint).
SPEC_EXAMPLE = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+"
    "49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)


def test_parses_the_spec_example_request_and_formats_it_back() -> None:
    req = parse_add_checkpoint(SPEC_EXAMPLE.encode())
    assert req.old_size == 20852014
    assert len(req.proof) == 4
    assert req.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert req.checkpoint.startswith("example.com/behind-the-sofa\n20852163\n")
    assert len(parse_note(req.checkpoint).signatures) == 2
    assert req.to_text() == SPEC_EXAMPLE


def test_the_spec_cosignature_example_has_the_timestamp_of_its_message_example() -> None:
    # c2sp.org/tlog-cosignature: the example line and the signed message "time 1679315147".
    note = parse_note(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9d"
        "lrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    assert cosignature_timestamp(note.signatures[0].signature) == 1679315147


def test_round_trip_of_our_own_requests() -> None:
    req = request(5, 13)
    assert parse_add_checkpoint(req.to_text()) == req
    empty = request(0, 13)
    assert empty.to_text().startswith("old 0\n\n")
    assert parse_add_checkpoint(empty.to_text()) == empty


H = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("old 1\n" + H + "\n", "empty line"),
        ("old 01\n\n", "old <decimal size>"),
        ("old -1\n\n", "old <decimal size>"),
        ("old  1\n\n", "old <decimal size>"),
        ("Old 1\n\n", "old <decimal size>"),
        (H + "\n\n", "old <decimal size>"),
        ("old 1\n" + base64.b64encode(bytes(31)).decode() + "\n\n", "32-byte hash"),
        ("old 1\n" + H.rstrip("=") + "\n\n", "base64"),
        ("old 1\n" + "".join(H + "\n" for _ in range(MAX_PROOF_LINES + 1)) + "\n", "at most 63"),
        ("old 1\n\nno signatures here\n", "checkpoint"),
    ],
)
def test_malformed_requests_are_400(body: str, fragment: str) -> None:
    with pytest.raises(MalformedWitnessRequestError, match=fragment) as e:
        parse_add_checkpoint(body + (signed(3) if body.endswith("\n\n") else ""))
    assert e.value.status == 400


def test_not_utf8_is_400() -> None:
    with pytest.raises(MalformedWitnessRequestError, match="UTF-8"):
        parse_add_checkpoint(b"old 0\n\n\xff\n")


def test_63_proof_lines_are_accepted() -> None:
    body = "old 1\n" + "".join(H + "\n" for _ in range(MAX_PROOF_LINES)) + "\n" + signed(3)
    assert len(parse_add_checkpoint(body).proof) == MAX_PROOF_LINES


def test_proof_lines_with_and_without_old() -> None:
    assert parse_proof_lines("old 7\n" + H + "\n") == (7, (bytes(32),))
    assert parse_proof_lines(H + "\n" + H + "\n") == (None, (bytes(32), bytes(32)))
    assert parse_proof_lines("") == (None, ())
    with pytest.raises(MalformedWitnessRequestError, match="newline"):
        parse_proof_lines(H)


def test_known_size_body() -> None:
    assert parse_known_size(b"42\n") == 42
    assert parse_known_size("0\n") == 0
    for bad in (b"42", b"042\n", b"-1\n", b"", b"4 2\n"):
        with pytest.raises(MalformedWitnessRequestError):
            parse_known_size(bad)


# -- the decision -------------------------------------------------------------------------------


def test_first_checkpoint_from_size_zero_is_cosigned() -> None:
    decision = advance_log_state(LogState(LOG_VKEY), request(0, 7))
    assert decision.state == state_at(7)
    assert decision.checkpoint.size == 7
    assert decision.text == parse_note(signed(7)).text
    assert decision.log_signature.name == ORIGIN


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (7, 20), (6, 6), (19, 20)])
def test_consistent_checkpoints_advance_the_state(old: int, new: int) -> None:
    assert advance_log_state(state_at(old), request(old, new)).state == state_at(new)


def test_the_same_checkpoint_again_is_cosigned_and_the_state_does_not_move() -> None:
    # tlog-witness: old size = checkpoint size with the same root passes every check.
    decision = advance_log_state(state_at(9), request(9, 9))
    assert decision.state == state_at(9)


def test_split_view_same_size_other_root_is_409() -> None:
    other = AddCheckpointRequest(9, (), signed(9, OTHER_TREE))
    with pytest.raises(SplitViewError, match="split view") as e:
        advance_log_state(state_at(9), other)
    assert e.value.status == 409


def test_split_view_from_the_old_size_is_a_stale_409_with_the_known_size() -> None:
    with pytest.raises(StaleOldSizeError) as e:
        advance_log_state(state_at(9), request(0, 9, OTHER_TREE))
    assert (e.value.status, e.value.known_size) == (409, 9)


def test_a_larger_tree_that_does_not_extend_the_cosigned_one_is_422() -> None:
    # Proof computed in the other tree: right shape, wrong hashes.
    req = AddCheckpointRequest(9, tuple(proof(9, OTHER_TREE[:15])), signed(15, OTHER_TREE))
    with pytest.raises(InconsistentCheckpointError) as e:
        advance_log_state(state_at(9), req)
    assert e.value.status == 422


@pytest.mark.parametrize("damage", ["flip", "drop", "extra", "empty"])
def test_a_gap_with_a_bad_consistency_proof_is_422(damage: str) -> None:
    good = list(proof(5, TREE[:13]))
    bad = {
        "flip": [bytes([good[0][0] ^ 1]) + good[0][1:], *good[1:]],
        "drop": good[:-1],
        "extra": [*good, bytes(32)],
        "empty": [],
    }[damage]
    with pytest.raises(InconsistentCheckpointError, match="from size 5") as e:
        advance_log_state(state_at(5), AddCheckpointRequest(5, tuple(bad), signed(13)))
    assert e.value.status == 422


def test_a_proof_from_size_zero_must_be_empty() -> None:
    req = AddCheckpointRequest(0, (bytes(32),), signed(4))
    with pytest.raises(InconsistentCheckpointError):
        advance_log_state(LogState(LOG_VKEY), req)


def test_rollback_is_refused_whatever_old_size_is_claimed() -> None:
    with pytest.raises(OldSizeAboveCheckpointError, match="rollback") as e:
        advance_log_state(state_at(9), AddCheckpointRequest(9, (), signed(4)))
    assert e.value.status == 400
    with pytest.raises(StaleOldSizeError, match="rollback") as stale:
        advance_log_state(state_at(9), request(4, 4))
    assert stale.value.known_size == 9


def test_replay_of_an_older_checkpoint_is_409_with_the_known_size() -> None:
    state = advance_log_state(state_at(9), request(9, 15)).state
    with pytest.raises(StaleOldSizeError) as e:
        advance_log_state(state, request(9, 15))
    assert e.value.known_size == 15


def test_unknown_origin_is_404() -> None:
    other = Ed25519Signer.generate()
    note = sign_checkpoint(Checkpoint("example.org/other", 1, TREE[0]), "example.org/other", other)
    with pytest.raises(UnknownLogError) as e:
        advance_log_state(LogState(LOG_VKEY), AddCheckpointRequest(0, (), note))
    assert e.value.status == 404


def test_a_checkpoint_signed_by_another_key_is_403() -> None:
    with pytest.raises(UntrustedCheckpointError) as e:
        advance_log_state(LogState(LOG_VKEY), request_signed_by(Ed25519Signer.generate()))
    assert e.value.status == 403


def request_signed_by(signer: Ed25519Signer) -> AddCheckpointRequest:
    return AddCheckpointRequest(0, (), signed(3, TREE, signer))


def test_a_bad_signature_by_the_log_key_is_403() -> None:
    note = signed(3)
    text, sig = note.split("\n\n")
    name, b64 = sig[2:-1].split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    forged = f"{text}\n\n\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(UntrustedCheckpointError):
        advance_log_state(LogState(LOG_VKEY), AddCheckpointRequest(0, (), forged))


def test_extra_unknown_signatures_are_ignored() -> None:
    note = signed(3)
    stranger = Ed25519Signer.generate()
    line = cosign_checkpoint(note, "stranger.example/w", stranger, 1)
    decision = advance_log_state(LogState(LOG_VKEY), AddCheckpointRequest(0, (), note + line))
    assert decision.state.size == 3


def test_log_state_refuses_a_cosignature_key_and_a_bad_root() -> None:
    with pytest.raises(MalformedKeyError, match="type 0x01"):
        LogState(Vkey.cosignature(ORIGIN, LOG.public_raw))
    with pytest.raises(MalformedCheckpointError):
        LogState(LOG_VKEY, 0, bytes(32))
    assert LogState(LOG_VKEY).root == EMPTY_ROOT


# -- the log's side: which cosignatures to keep -------------------------------------------------

W1 = Ed25519Signer.generate()
W2 = Ed25519Signer.generate()
W1_KEY = Vkey.cosignature("w1.example/w", W1.public_raw)
W2_KEY = Vkey.cosignature("w2.example/w", W2.public_raw)


def test_select_keeps_known_witnesses_and_ignores_others() -> None:
    note = signed(5)
    text = parse_note(note).text
    lines = [
        cosign_checkpoint(note, "w1.example/w", W1, 100),
        cosign_checkpoint(note, "w2.example/w", W2, 100),
        cosign_checkpoint(note, "w1.example/w", W1, 101),  # the same witness again: counts once
    ]
    chosen = select_cosignatures(text, note + "".join(lines), [W1_KEY])
    assert [s.label for s in chosen] == [W1_KEY.label]
    assert chosen[0].line == lines[0]
    assert select_cosignatures(text, note, [W1_KEY]) == ()


def test_select_refuses_a_known_witness_whose_line_does_not_verify() -> None:
    note = signed(5)
    text = parse_note(note).text
    over_other = cosign_checkpoint(signed(6), "w1.example/w", W1, 100)
    with pytest.raises(SignatureError):
        select_cosignatures(text, note + over_other, [W1_KEY])


def test_select_refuses_a_note_over_another_text_and_a_ledger_key() -> None:
    with pytest.raises(MalformedCheckpointError, match="another text"):
        select_cosignatures(parse_note(signed(5)).text, signed(6), [W1_KEY])
    with pytest.raises(MalformedKeyError, match="type 0x04"):
        select_cosignatures(parse_note(signed(5)).text, signed(5), [LOG_VKEY])
