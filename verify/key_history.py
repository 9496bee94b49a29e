"""Ledger key history: how an auditor who trusts one ledger key comes to trust its successors.

A rotation is a **key transition**, a C2SP signed note whose text is

    rsp-ledger key-transition/v1
    origin <origin>
    from-size <N>
    new-key <vkey of the new ledger key>

signed by BOTH the outgoing key (it vouches for its successor) and the incoming key (it proves it
holds the private half). A **key history** is the ordered list of transitions, as JSON:
`{"format": "rsp-ledger.key-history/v1", "origin": ..., "transitions": [note, ...]}`.

Verifying a history from a trust root K0 yields the chain K0, K1, … Kn with the tree size at
which each took over. Invariants of a verified chain:
- each Ki+1 is vouched for by Ki and proved by itself, in order, for the same origin;
- `from-size` never decreases along the chain;
- Ki (i < n) is accepted only for checkpoints of sizes ≤ the size at which Ki+1 took over: a
  retired key cannot sign for the log beyond the point it handed over (if it is later stolen,
  it can forge nothing newer); the current key Kn is accepted at any size, since the ledger signs
  checkpoints of past sizes on demand with its current key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import VerificationError
from verify.errors import NotCanonicalError
from verify.jcs import parse_json
from verify.keys import Signer
from verify.note import Vkey, format_vkey, open_note, sign_note

HEADER = "rsp-ledger key-transition/v1"
HISTORY_FORMAT = "rsp-ledger.key-history/v1"


class KeyHistoryError(VerificationError):
    """A key history does not verify from the trust root."""


@dataclass(frozen=True, slots=True)
class ChainLink:
    vkey: Vkey
    from_size: int  # the tree size at which this key took over (0 for the trust root)
    until_size: int | None  # the size at which its successor took over; None: current key


@dataclass(frozen=True, slots=True)
class KeyChain:
    origin: str
    links: tuple[ChainLink, ...]

    @property
    def current(self) -> Vkey:
        return self.links[-1].vkey

    def keys_for_size(self, size: int) -> list[Vkey]:
        """The ledger keys accepted on a checkpoint of `size` (see the module's invariants)."""
        return [
            link.vkey for link in self.links if link.until_size is None or size <= link.until_size
        ]

    def find(self, vkey_text: str) -> ChainLink | None:
        for link in self.links:
            if str(link.vkey) == vkey_text:
                return link
        return None


def transition_text(origin: str, from_size: int, new_vkey: str) -> str:
    return f"{HEADER}\norigin {origin}\nfrom-size {from_size}\nnew-key {new_vkey}\n"


def sign_transition(origin: str, from_size: int, old: Signer, new: Signer) -> str:
    """The transition note, signed by the outgoing and the incoming key (both named `origin`)."""
    new_vkey = format_vkey(origin, new.public_raw)
    text = transition_text(origin, from_size, new_vkey)
    signed = sign_note(text, origin, old)
    proof = sign_note(text, origin, new).split("\n\n", 1)[1]
    return signed + proof


def _parse_transition(text: str) -> tuple[str, int, str]:
    lines = text.split("\n")
    if len(lines) != 5 or lines[0] != HEADER or lines[4] != "":
        raise KeyHistoryError(f"expected a {HEADER} note of four lines")
    fields = {}
    for line, key in zip(lines[1:4], ("origin", "from-size", "new-key"), strict=True):
        name, _, value = line.partition(" ")
        if name != key or not value:
            raise KeyHistoryError(f"key transition: expected '{key} …', found {line[:60]!r}")
        fields[key] = value
    size_text = fields["from-size"]
    if not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise KeyHistoryError(f"key transition: expected a decimal size, found {size_text!r}")
    return fields["origin"], int(size_text), fields["new-key"]


def verify_key_history(root: Vkey, transitions: list[str]) -> KeyChain:
    """Follow the transitions from the trust root; raise `KeyHistoryError` at the first break."""
    links: list[ChainLink] = []
    current, current_from = root, 0
    for i, note in enumerate(transitions):
        try:
            preview = note.split("\n\n", 1)[0] + "\n"
            origin, from_size, new_text = _parse_transition(preview)
            new = Vkey.parse(new_text)
            opened = open_note(note, [current, new])
        except VerificationError as e:
            raise KeyHistoryError(f"key transition {i + 1}: {e}") from e
        if origin != root.name or new.name != root.name:
            raise KeyHistoryError(
                f"key transition {i + 1}: expected origin {root.name!r}, found {origin!r}"
            )
        if not opened.verified_by(current):
            raise KeyHistoryError(
                f"key transition {i + 1}: expected a signature by the outgoing key "
                f"{current.label}, found none"
            )
        if not opened.verified_by(new):
            raise KeyHistoryError(
                f"key transition {i + 1}: expected a signature by the incoming key {new.label}"
            )
        if from_size < current_from:
            raise KeyHistoryError(
                f"key transition {i + 1}: from-size {from_size} goes back before {current_from}"
            )
        links.append(ChainLink(current, current_from, from_size))
        current, current_from = new, from_size
    links.append(ChainLink(current, current_from, None))
    return KeyChain(root.name, tuple(links))


def history_json(origin: str, transitions: list[str]) -> dict[str, Any]:
    return {"format": HISTORY_FORMAT, "origin": origin, "transitions": transitions}


def parse_key_history(data: bytes) -> list[str]:
    """The transition notes of a key history file."""
    try:
        obj = parse_json(data)
    except NotCanonicalError as e:
        raise KeyHistoryError(f"key history: {e}") from e
    if (
        not isinstance(obj, dict)
        or obj.get("format") != HISTORY_FORMAT
        or not isinstance(obj.get("transitions"), list)
        or not all(isinstance(t, str) for t in obj["transitions"])
    ):
        raise KeyHistoryError(
            f'key history: expected {{"format": "{HISTORY_FORMAT}", "origin", "transitions": '
            "[note, ...]}"
        )
    return list(obj["transitions"])


__all__ = [
    "HISTORY_FORMAT",
    "ChainLink",
    "KeyChain",
    "KeyHistoryError",
    "history_json",
    "parse_key_history",
    "sign_transition",
    "transition_text",
    "verify_key_history",
]
