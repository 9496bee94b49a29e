"""The log's side of c2sp.org/tlog-witness: push a signed checkpoint to a witness's
`add-checkpoint` and bring back its answer (signature lines).

The first request says old size 0 unless the caller knows better (tlog-witness: "If a client
doesn't have information on the latest cosigned checkpoint, it MAY initially make a request with
a old size of zero to obtain it"); a 409 `text/x.tlog.size` answer names the size the witness last
cosigned, and the request is made again with the consistency proof from it. At most
`MAX_ATTEMPTS` requests per witness. What the witness answers is not trusted here: the ledger
keeps only lines that verify under the witness keys it was given (`Ledger.add_cosignatures`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from domain.errors import LedgerError, VerificationError
from verify.note import parse_checkpoint_body, parse_note
from verify.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest, parse_known_size

MAX_ATTEMPTS = 3
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 64 << 10


class WitnessRequestError(LedgerError):
    """A witness could not be reached, or did not cosign; `status` is its HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


ConsistencyProof = Callable[[int, int], Sequence[bytes]]


def _first_line(response: httpx.Response) -> str:
    text = response.content[:300].decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "(no body)"


def request_cosignature(
    url: str,
    note: str,
    consistency_proof: ConsistencyProof,
    *,
    old_size: int = 0,
    client: httpx.Client | None = None,
) -> str:
    """POST the checkpoint `note` to the witness at submission prefix `url`; returns its answer
    (one or more signature lines). `consistency_proof(old, new)` gives the proof between two
    sizes of this log."""
    size = parse_checkpoint_body(parse_note(note).text).size
    endpoint = url.rstrip("/") + "/add-checkpoint"
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S)
    try:
        old = old_size
        for _ in range(MAX_ATTEMPTS):
            proof = tuple(consistency_proof(old, size)) if old > 0 else ()
            body = AddCheckpointRequest(old, proof, note).to_text().encode("utf-8")
            try:
                response = http.post(
                    endpoint, content=body, headers={"Content-Type": "text/plain; charset=utf-8"}
                )
            except httpx.HTTPError as e:
                raise WitnessRequestError(f"{endpoint}: cannot reach the witness: {e}") from e
            if response.status_code == 200:
                if len(response.content) > MAX_ANSWER_BYTES:
                    raise WitnessRequestError(
                        f"{endpoint}: expected an answer of at most {MAX_ANSWER_BYTES} bytes, "
                        f"found {len(response.content)}"
                    )
                return response.content.decode("utf-8", "replace")
            content_type = response.headers.get("content-type", "")
            if response.status_code == 409 and content_type.startswith(SIZE_CONTENT_TYPE):
                try:
                    known = parse_known_size(response.content)
                except VerificationError as e:
                    raise WitnessRequestError(f"{endpoint}: 409: {e}", status=409) from e
                if known == old:
                    raise WitnessRequestError(
                        f"{endpoint}: 409 for old size {old}, the size it says it cosigned last",
                        status=409,
                    )
                if known > size:
                    raise WitnessRequestError(
                        f"{endpoint}: the witness cosigned size {known} of this log, beyond this "
                        f"checkpoint's size {size}: push a checkpoint of size {known} or more",
                        status=409,
                    )
                old = known
                continue
            raise WitnessRequestError(
                f"{endpoint}: {response.status_code}: {_first_line(response)}",
                status=response.status_code,
            )
        raise WitnessRequestError(
            f"{endpoint}: old size still stale after {MAX_ATTEMPTS} requests (another log "
            "instance pushing at once?); retry",
            status=409,
        )
    finally:
        if own:
            http.close()


__all__ = ["MAX_ATTEMPTS", "WitnessRequestError", "request_cosignature"]
