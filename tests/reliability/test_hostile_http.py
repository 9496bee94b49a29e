"""Hostile HTTP request bodies (issue 9): random and mutated bodies sent to every endpoint that
reads one get a 4xx JSON answer (or a 2xx for a body that happens to be valid), never a 5xx, and
the ledger holds only what it accepted. The app runs in-process (Starlette's TestClient), on a
real SQLite file, so hypothesis can send thousands of requests quickly.

And no secret leaks: the ledger's private key and the read token appear in no answer, no error
and no export.
"""

from __future__ import annotations

import base64
import json
import os
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.export import export_bundle
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.service import create_app
from ledger.store import Ledger
from verify.keys import Ed25519Signer

EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "150"))
TOKEN = "a-read-token-that-must-never-leak-0123456789"
TRIED: Counter[str] = Counter()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Ledger, dict]]:
    folder = tmp_path_factory.mktemp("hostile-http")
    signer = Ed25519Signer.generate()
    write_private_key(folder / "ledger.key", signer)
    ledger = Ledger(f"sqlite:///{folder / 'l.db'}", signer=signer)
    h = HistoryWriter(ledger, datetime.now(UTC), asserted=False)
    h.principal("alice", "ledger-admin")
    ledger.initialize(h.genesis_envelope("hostile.example/l", "alice", asserted=False))
    st_ = h.statement("noncompliance_reported", "alice", regarding=None, summary="seed")
    valid = h.envelope(st_, ["alice"]).to_json()
    app = create_app(ledger, read_token=TOKEN, max_body_bytes=256 << 10)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, ledger, {"valid": valid, "signer_pem": signer.to_pem(), "folder": folder}
    ledger.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=25,
)

POSTS = ["/v1/entries", "/v1/batches", "/v1/exports"]
GETS = [
    "/v1/entries?from={x}&limit={x}",
    "/v1/entries/{x}",
    "/v1/statements/{x}",
    "/v1/checkpoint?size={x}",
    "/v1/proofs/inclusion?seq={x}&size={x}",
    "/v1/proofs/consistency?old={x}&new={x}",
    "/v1/models/{x}/state?as_of={x}",
]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _no_5xx(
    client: TestClient, method: str, path: str, route: str | None = None, **kw: object
) -> None:
    r = client.request(method, path, headers=AUTH, **kw)  # type: ignore[arg-type]
    TRIED[route or path.split("?")[0]] += 1
    assert r.status_code < 500, (method, path, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers.get("content-type", "").startswith("application/json"), r.text[:200]
        assert "Traceback" not in r.text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POSTS), body=json_values)
def test_random_json_bodies(
    served: tuple[TestClient, Ledger, dict], path: str, body: object
) -> None:
    client, _, _ = served
    _no_5xx(client, "POST", path, content=json.dumps(body).encode())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POSTS), body=st.binary(max_size=4096))
def test_random_byte_bodies(
    served: tuple[TestClient, Ledger, dict], path: str, body: bytes
) -> None:
    client, _, _ = served
    _no_5xx(client, "POST", path, content=body)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_envelopes(served: tuple[TestClient, Ledger, dict], data: st.DataObject) -> None:
    client, ledger, seeds = served
    env = json.loads(json.dumps(seeds["valid"]))
    field = data.draw(st.sampled_from(["payloadType", "payload", "signatures", "extra"]))
    env[field] = data.draw(json_values)
    before = ledger.size()
    _no_5xx(client, "POST", "/v1/entries", content=json.dumps({"envelope": env}).encode())
    assert ledger.size() in (before, before + 1)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(GETS),
    x=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40),
)
def test_random_query_values(served: tuple[TestClient, Ledger, dict], path: str, x: str) -> None:
    client, _, _ = served
    from urllib.parse import quote

    _no_5xx(client, "GET", path.format(x=quote(x, safe="")), route=path.split("?")[0])


def test_no_secret_leaks(served: tuple[TestClient, Ledger, dict], tmp_path: Path) -> None:
    """The ledger key's private half and the read token appear in no answer and no export."""
    client, ledger, seeds = served
    pem: bytes = seeds["signer_pem"]
    secret_b64 = b"".join(pem.splitlines()[1:-1])  # the key material inside the PEM
    raw = base64.b64decode(secret_b64)[-32:]  # the 32-byte Ed25519 seed
    needles = [secret_b64, base64.b64encode(raw), raw.hex().encode(), TOKEN.encode()]
    answers = [
        client.get(p, headers=AUTH).content
        for p in (
            "/v1/ledger-key",
            "/v1/checkpoint",
            "/v1/entries",
            "/v1/verdicts",
            "/openapi.json",
        )
    ]
    answers.append(client.get("/v1/entries", headers={"Authorization": "Bearer wrong"}).content)
    answers.append(client.post("/v1/entries", content=b"{").content)
    out = tmp_path / "b.zip"
    export_bundle(ledger, out)
    with zipfile.ZipFile(out) as z:
        answers += [z.read(n) for n in z.namelist()]
    answers.append(repr(ledger._require_signer()).encode())
    for blob in answers:
        for needle in needles:
            assert needle not in blob


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if TRIED:
        print(
            f"\nhostile HTTP: {sum(TRIED.values())} requests "
            f"({', '.join(f'{k} {v}' for k, v in sorted(TRIED.items()))}); no 5xx"
        )
