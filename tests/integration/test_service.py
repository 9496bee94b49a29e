"""The ledger as a service, for real: `rsp-ledger serve` (uvicorn) on a free loopback port, over a
SQLite file and over PostgreSQL, with the CLI pointed at it by `--ledger http://…`.

What is checked: the CLI gives the same answers through the service as from the database; it
submits through it (single, batch, refusals, resubmission); every endpoint of the issue's table
answers what the store holds, byte for byte; reads need the token and writes do not; bodies are
size-limited; malformed requests get a 4xx JSON error, never a 500; OpenAPI is published.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.ids import format_time
from ledger.errors import NotFoundError
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash, verify_consistency, verify_inclusion
from verify.note import Vkey, verify_checkpoint

from .conftest import Result, assert_clean_error, run_cli
from .pg import PostgresServer
from .served import ServiceProcess, start_service

TOKEN = "read-token-0123456789abcdef"

READ_ENDPOINTS = [
    "/v1/entries",
    "/v1/entries/0",
    "/v1/statements/ledger-0001",
    "/v1/checkpoint",
    "/v1/proofs/inclusion?seq=0",
    "/v1/proofs/consistency?old=1",
    "/v1/verdicts",
    "/v1/models",
    "/v1/models/model-x/state",
    "/v1/models/model-x/timeline",
]
PUBLIC_ENDPOINTS = ["/healthz", "/v1/ledger-key", "/openapi.json"]


@dataclass
class Served:
    url: str  # the service
    ledger_url: str  # the database behind it
    key_file: Path
    dir: Path
    writer: HistoryWriter  # writes straight to the database, for comparisons
    service: ServiceProcess

    @property
    def ledger(self) -> Ledger:
        return self.writer.ledger

    @property
    def vkey(self) -> Vkey:
        return Vkey.parse(self.ledger.vkey)

    def http(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def cli(self, *args: str, token: str | None = TOKEN) -> Result:
        env = {"RSP_LEDGER_TOKEN": token} if token else {}
        return run_cli(*args, "--ledger", self.url, cwd=self.dir, env=env)

    def cli_db(self, *args: str) -> Result:
        env = {"RSP_LEDGER_KEY_FILE": str(self.key_file)}
        return run_cli(*args, "--ledger", self.ledger_url, cwd=self.dir, env=env)

    def statement_file(self, name: str, statement: dict[str, Any]) -> str:
        (self.dir / name).write_text(json.dumps(statement))
        return name

    def signed(self, name: str, statement: dict[str, Any], signer: str) -> str:
        src = self.statement_file(f"{name}.json", statement)
        r = run_cli(
            "sign", src, "--key", f"keys/{signer}.pem", "--out", f"{name}.env.json", cwd=self.dir
        )
        assert r.code == 0, r.err
        return f"{name}.env.json"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp(f"served-{request.param}")
    if request.param == "sqlite":
        ledger_url = f"sqlite:///{workdir / 'ledger.db'}"
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        ledger_url = postgres.create_database("svc")
    key_file = workdir / "ledger.key"
    ledger_key = Ed25519Signer.generate()
    write_private_key(key_file, ledger_key)
    token_file = workdir / "read-token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o600)

    ledger = Ledger(ledger_url, signer=ledger_key)
    h = HistoryWriter(ledger, datetime.now(UTC), asserted=False)
    h.principal("alice", "ledger-admin")
    h.principal("dario", "ceo")
    h.principal("jared", "responsible-scaling-officer")
    ledger.initialize(h.genesis_envelope("example.org/served", "alice", asserted=False))
    h.register_all("alice")
    h.save_keys(workdir / "keys")
    h.clock = datetime.now(UTC)
    h.submit(
        "model_registered",
        "dario",
        id="model-x-registered",
        model="model-x",
        name="Model X",
        parent=None,
        effective_compute=1e24,
        details={"card": "a redactable model card"},
    )
    service = start_service(ledger_url, key_file, workdir, token_file=token_file)
    try:
        yield Served(service.url, ledger_url, key_file, workdir, h, service)
    finally:
        service.stop()
        ledger.close()
    assert "Traceback" not in service.output(), service.output()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_statement(
    sid: str, issuer: str = "dario", summary: str = "recorded late"
) -> dict[str, Any]:
    return {
        "type": "noncompliance_reported",
        "id": sid,
        "issued_at": now(),
        "issuer": issuer,
        "regarding": None,
        "summary": summary,
    }


# -- the CLI through the service ----------------------------------------------------------------
def test_cli_reads_the_same_through_the_service(served: Served) -> None:
    served.cli("submit", served.signed("same-1", report_statement("same-1"), "dario"))
    as_of = now()
    commands = [
        ("log", "--json"),
        ("show", "principal-0002", "--json"),
        ("checkpoint", "--json"),
        ("prove", "inclusion", "1", "--json"),
        ("prove", "consistency", "1", "3", "--json"),
        ("ledger-key", "--json"),
        ("verdicts", "--json"),
        ("status", "--as-of", as_of, "--json"),
        ("timeline", "model-x", "--json"),
        ("status", "no-such-model"),
        ("show", "never-recorded"),
    ]
    for args in commands:
        over_http, from_db = served.cli(*args), served.cli_db(*args)
        assert (over_http.code, over_http.out, over_http.err) == (
            from_db.code,
            from_db.out,
            from_db.err,
        ), args
    assert served.cli("show", "never-recorded").code == 1
    # Now (no --as-of): the same document but for the moment it was computed at.
    over_http, from_db = served.cli("status", "--json"), served.cli_db("status", "--json")
    assert over_http.code == from_db.code == 0, (over_http.err, from_db.err)
    docs = [r.out.replace(json.loads(r.out)["as_of"], "(now)") for r in (over_http, from_db)]
    assert docs[0] == docs[1]
    assert [m["model"] for m in json.loads(docs[0])["models"]] == ["model-x"]


def test_export_through_the_service(served: Served) -> None:
    for redact in (False, True):
        name = "redacted.zip" if redact else "bundle.zip"
        flags = ["--redact"] if redact else []
        r = served.cli("export", "--out", name, "--json", *flags)
        assert r.code == 0, r.err
        exported = r.json()
        local = served.cli_db("export", "--out", f"db-{name}", "--json", *flags)
        assert local.code == 0, local.err
        for key in ("origin", "tree_size", "root", "redacted"):
            assert exported[key] == local.json()[key], key
        for key in ("details_committed", "details_written"):
            assert exported[key] == local.json()[key], key
        assert exported["redacted"] is redact and exported["details_committed"] >= 1
        checked = run_cli(
            "verify", name, "--ledger-key", served.ledger.vkey, "--json", cwd=served.dir
        )
        assert checked.code in (0, 1), checked.err
        report = checked.json()
        assert report["integrity"]["ok"] is True
        assert report["bundle"]["tree_size"] == exported["tree_size"] == served.ledger.size()
        assert report["bundle"]["redacted"] is redact
    assert not [p for p in served.dir.iterdir() if p.name.endswith(".tmp")]
    assert_clean_error(served.cli("export", "--out", "x.zip", token=None), 1, "read token")
    assert not (served.dir / "x.zip").exists()


def test_cli_submits_through_the_service(served: Served) -> None:
    size = served.ledger.size()
    env = served.signed("sub-1", report_statement("sub-1"), "dario")
    # Writes need no read token: the envelope authenticates itself.
    r = served.cli("submit", env, "--json", token=None)
    assert r.code == 0, r.err
    entry = r.json()
    assert (entry["seq"], entry["existing"]) == (size, False)
    stored = served.ledger.entry(size)
    assert entry["leaf_hash"] == leaf_hash(stored.leaf).hex()
    assert stored.envelope.statement.id == "sub-1"

    again = served.cli("submit", env, "--json")
    assert again.code == 0 and again.json()["existing"] is True
    assert again.json()["seq"] == size and served.ledger.size() == size + 1

    # The proof from the service checks offline against the vkey alone.
    proof = served.cli("prove", "inclusion", str(size))
    (served.dir / "sub-1.proof").write_text(proof.out)
    checked = run_cli(
        "check-proof",
        "inclusion",
        "sub-1.proof",
        "--leaf-hash",
        entry["leaf_hash"],
        "--ledger-key",
        served.ledger.vkey,
        cwd=served.dir,
    )
    assert checked.code == 0, checked.err

    # A batch: all lines or none.
    lines = [
        json.loads(
            (
                served.dir / served.signed(f"b-{i}", report_statement(f"b-{i}", "jared"), "jared")
            ).read_text()
        )
        for i in range(2)
    ]
    (served.dir / "good.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    batch = served.cli("submit", "good.jsonl", "--json")
    assert batch.code == 0, batch.err
    assert [e["seq"] for e in batch.json()["entries"]] == [size + 1, size + 2]

    bad = served.signed(
        "bad-roles",
        {
            "type": "roles_set",
            "id": "bad-roles",
            "issued_at": now(),
            "issuer": "alice",
            "principal": "nobody",
            "roles": ["ceo"],
        },
        "alice",
    )
    fresh = json.loads(
        (served.dir / served.signed("b-3", report_statement("b-3", "jared"), "jared")).read_text()
    )
    (served.dir / "bad.jsonl").write_text(
        json.dumps(fresh) + "\n" + (served.dir / bad).read_text().replace("\n", "") + "\n"
    )
    refused = served.cli("submit", "bad.jsonl")
    assert_clean_error(refused, 1, "line 2")
    with pytest.raises(NotFoundError, match="no statement"):
        served.ledger.statement_entry("b-3")
    assert served.ledger.size() == size + 3

    # The same refusals and usage errors as against the database.
    other = served.signed(
        "sub-1-other", report_statement("sub-1", summary="another account"), "dario"
    )
    assert_clean_error(served.cli("submit", other), 1, "different envelope")
    assert_clean_error(
        served.cli("submit", env, "--recorded-at", "2025-05-14T00:00:00Z"), 1, "refused"
    )
    stranger = run_cli("key", "generate", "--out", "stranger.pem", cwd=served.dir)
    assert stranger.code == 0
    forged = served.statement_file("forged.json", report_statement("forged"))
    run_cli("sign", forged, "--key", "stranger.pem", "--out", "forged.env.json", cwd=served.dir)
    assert_clean_error(served.cli("submit", "forged.env.json"), 1, "signature")
    assert served.ledger.size() == size + 3


def test_reads_need_the_token_and_writes_do_not(served: Served) -> None:
    assert_clean_error(served.cli("log", token=None), 1, "read token")
    assert_clean_error(served.cli("checkpoint", token="wrong-token-0123456789"), 1, "wrong token")
    with served.http(token=None) as anonymous, served.http("wrong-token-0123456789") as wrong:
        for path in READ_ENDPOINTS:
            for client in (anonymous, wrong):
                r = client.get(path)
                assert r.status_code == 401, (path, r.text)
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert r.json()["error"]["code"] == "unauthorized"
        for path in PUBLIC_ENDPOINTS:
            assert anonymous.get(path).status_code == 200, path
        st = served.writer.statement("noncompliance_reported", "dario", regarding=None, summary="w")
        r = anonymous.post(
            "/v1/entries", json={"envelope": served.writer.envelope(st, ["dario"]).to_json()}
        )
        assert r.status_code == 201, r.text
    with served.http() as reader:
        for path in READ_ENDPOINTS:
            assert reader.get(path).status_code == 200, path


# -- every endpoint -----------------------------------------------------------------------------
def test_every_endpoint(served: Served) -> None:
    h, ledger = served.writer, served.ledger
    with served.http() as http:
        # POST /v1/entries: the entry, its proof, and a compliance warning (no policy in force).
        st = h.statement(
            "capability_determination",
            "dario",
            model="model-x",
            findings=["finding-never-recorded"],
            required={"deployment": "ASL-3", "security": "ASL-3"},
        )
        env = h.envelope(st, ["dario"])
        r = http.post("/v1/entries", json={"envelope": env.to_json()})
        assert r.status_code == 201, r.text
        body = r.json()
        seq = body["entry"]["seq"]
        assert body["entry"]["statement"] == st["id"] and body["entry"]["existing"] is False
        proof = body["inclusion_proof"]
        cp, _ = verify_checkpoint(proof["checkpoint"], served.vkey)
        assert (proof["index"], proof["size"], cp.size) == (seq, seq + 1, seq + 1)
        leaf = ledger.entry(seq).leaf
        assert base64.b64decode(proof["leaf_hash"]) == leaf_hash(leaf)
        verify_inclusion(
            leaf_hash(leaf), seq, cp.size, [base64.b64decode(x) for x in proof["hashes"]], cp.root
        )
        assert body["compliance"]["verdict"] == "noncompliant"
        assert "policy.in-force" in [f["rule"] for f in body["compliance"]["failed"]]
        assert any("policy.in-force" in w for w in body["warnings"])
        # The same envelope again: 200, the same entry.
        again = http.post("/v1/entries", json={"envelope": env.to_json()})
        assert again.status_code == 200 and again.json()["entry"]["seq"] == seq
        assert again.json()["entry"]["existing"] is True

        # POST /v1/batches
        envs = [
            h.envelope(
                h.statement("noncompliance_reported", "jared", regarding=st["id"], summary=f"b{i}"),
                ["jared"],
            )
            for i in range(3)
        ]
        r = http.post("/v1/batches", json={"entries": [{"envelope": e.to_json()} for e in envs]})
        assert r.status_code == 200, r.text
        assert [e["seq"] for e in r.json()["entries"]] == [seq + 1, seq + 2, seq + 3]
        assert r.json()["recorded"] == 3
        verify_checkpoint(r.json()["checkpoint"], served.vkey)

        size = ledger.size()
        leaves = list(ledger.raw_entries())
        # GET /v1/entries: pages whose entries are the exact leaf bytes.
        r = http.get("/v1/entries", params={"from": 1, "limit": 3})
        assert r.status_code == 200 and r.headers["x-ledger-size"] == str(size)
        assert b",".join(leaves[1:4]) in r.content
        page = r.json()
        assert (page["size"], page["start"], page["next"]) == (size, 1, 4)
        assert page["entries"] == [json.loads(x) for x in leaves[1:4]]
        last = http.get("/v1/entries", params={"from": size - 1}).json()
        assert last["next"] is None and len(last["entries"]) == 1
        r = http.get(
            "/v1/entries",
            params={"from": 0, "limit": 1000},
            headers={"Accept": "application/x-ndjson"},
        )
        assert r.content == b"".join(x + b"\n" for x in leaves)
        # GET /v1/entries/{seq}
        for i in (0, seq, size - 1):
            r = http.get(f"/v1/entries/{i}")
            assert r.status_code == 200 and r.content == leaves[i]
        # GET /v1/statements/{id}
        r = http.get(f"/v1/statements/{st['id']}")
        assert r.status_code == 200
        assert r.json()["seq"] == seq and r.json()["statement"] == st
        assert r.json()["leaf_hash"] == leaf_hash(leaves[seq]).hex()
        assert r.json()["signatures"] == [s.to_json() for s in env.signatures]
        # GET /v1/checkpoint, ?size=
        latest, _ = verify_checkpoint(http.get("/v1/checkpoint").text, served.vkey)
        assert latest.size == size
        older, _ = verify_checkpoint(
            http.get("/v1/checkpoint", params={"size": 2}).text, served.vkey
        )
        assert older.size == 2
        # GET /v1/proofs/inclusion and /consistency
        r = http.get("/v1/proofs/inclusion", params={"seq": 1, "size": 3}).json()
        cp3, _ = verify_checkpoint(r["checkpoint"], served.vkey)
        verify_inclusion(
            leaf_hash(leaves[1]), 1, 3, [base64.b64decode(x) for x in r["hashes"]], cp3.root
        )
        r = http.get("/v1/proofs/consistency", params={"old": 2, "new": size}).json()
        assert (r["old"], r["new"]) == (2, size)
        verify_consistency(
            2, size, [base64.b64decode(x) for x in r["hashes"]], older.root, latest.root
        )
        assert http.get("/v1/proofs/consistency", params={"old": 2}).json()["new"] == size
        # GET /v1/verdicts: the one noncompliant determination.
        r = http.get("/v1/verdicts").json()
        assert r["size"] == size
        mine = [v for v in r["verdicts"] if v["statement"] == st["id"]]
        assert len(mine) == 1 and mine[0]["verdict"] == "noncompliant"
        assert r["summary"]["entries"] == size and r["summary"]["noncompliant"] >= 1
        # GET /v1/models, /v1/models/{id}/state (now and ?as_of=), /v1/models/{id}/timeline
        status = http.get("/v1/models")
        assert status.status_code == 200, status.text
        assert [m["model"] for m in status.json()["models"]] == ["model-x"]
        assert status.json()["log"]["entries"] == size
        one = http.get("/v1/models/model-x/state").json()
        assert [m["model"] for m in one["models"]] == ["model-x"]
        registered = ledger.statement_entry("model-x-registered")
        before = http.get("/v1/models/model-x/state", params={"as_of": "2020-01-01T00:00:00Z"})
        assert before.status_code == 404 and before.json()["error"]["code"] == "not-found"
        then = http.get(
            "/v1/models/model-x/state", params={"as_of": format_time(registered.recorded_at)}
        ).json()
        assert then["log"]["last_seq"] == registered.seq
        timeline = http.get("/v1/models/model-x/timeline").json()
        assert timeline["model"] == "model-x" and timeline["events"]
        assert http.get("/v1/models/model-y/state").status_code == 404
        # POST /v1/exports: a bundle the offline verifier accepts.
        r = http.post("/v1/exports")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert r.headers["x-bundle-tree-size"] == str(size)
        (served.dir / "endpoint.zip").write_bytes(r.content)
        checked = run_cli(
            "verify", "endpoint.zip", "--ledger-key", ledger.vkey, "--json", cwd=served.dir
        )
        assert checked.json()["integrity"]["ok"] is True, checked.out
        redacted = http.post("/v1/exports", params={"redact": "true", "size": 3})
        assert redacted.status_code == 200 and redacted.headers["x-bundle-tree-size"] == "3"
        # GET /v1/ledger-key and /healthz
        assert http.get("/v1/ledger-key").json() == {
            "vkey": ledger.vkey,
            "origin": "example.org/served",
            "time_source": "system",
        }
        assert http.get("/healthz").json() == {"status": "ok"}
        # OpenAPI lists every endpoint.
        paths = http.get("/openapi.json").json()["paths"]
        for path, method in [
            ("/v1/entries", "post"),
            ("/v1/entries", "get"),
            ("/v1/batches", "post"),
            ("/v1/entries/{seq}", "get"),
            ("/v1/statements/{statement_id}", "get"),
            ("/v1/checkpoint", "get"),
            ("/v1/proofs/inclusion", "get"),
            ("/v1/proofs/consistency", "get"),
            ("/v1/verdicts", "get"),
            ("/v1/models", "get"),
            ("/v1/models/{model}/state", "get"),
            ("/v1/models/{model}/timeline", "get"),
            ("/v1/exports", "post"),
            ("/v1/ledger-key", "get"),
            ("/healthz", "get"),
        ]:
            assert method in paths[path], (path, method)


# -- hostile and malformed input ----------------------------------------------------------------
def _envelope(served: Served, **fields: Any) -> dict[str, Any]:
    st = served.writer.statement(
        "noncompliance_reported", "dario", regarding=None, summary="m", **fields
    )
    return served.writer.envelope(st, ["dario"]).to_json()


MALFORMED: list[tuple[str, str, Any]] = [
    ("post", "/v1/entries", b"{not json"),
    ("post", "/v1/entries", b"[]"),
    ("post", "/v1/entries", b"\xff\xfe\x00"),
    ("post", "/v1/entries", b"[" * 50_000 + b"]" * 50_000),
    ("post", "/v1/entries", {"envelope": "a string"}),
    ("post", "/v1/entries", {"envelope": {}}),
    ("post", "/v1/entries", {"envelope": {"payloadType": "x", "payload": "!!", "signatures": []}}),
    ("post", "/v1/entries", {"envelope": "ENV", "surprise": 1}),
    ("post", "/v1/entries", {"envelope": "ENV", "recorded_at": "yesterday"}),
    ("post", "/v1/entries", {"envelope": "ENV", "recorded_at": 12}),
    ("post", "/v1/entries", {"envelope": "ENV", "recorded_at": "2025-05-14T00:00:00Z"}),
    ("post", "/v1/entries", {"envelope": "ENV", "details": {"a": 1}}),
    (
        "post",
        "/v1/entries",
        {"envelope": "ENV", "details": {"statement": "x", "salt": "!", "details": 1}},
    ),
    ("post", "/v1/batches", {"entries": []}),
    ("post", "/v1/batches", {"entries": [{"envelope": "ENV"}, {"envelope": {}}]}),
    ("get", "/v1/entries?from=-1", None),
    ("get", "/v1/entries?limit=100000", None),
    ("get", "/v1/entries?from=abc", None),
    ("get", "/v1/entries/abc", None),
    ("get", f"/v1/entries/{2**70}", None),
    ("get", "/v1/entries/-5", None),
    ("get", "/v1/statements/%00", None),
    ("get", "/v1/statements/" + "a" * 5000, None),
    ("get", "/v1/statements/no%20such", None),
    ("get", "/v1/checkpoint?size=0", None),
    ("get", f"/v1/checkpoint?size={2**70}", None),
    ("get", "/v1/proofs/inclusion", None),
    ("get", "/v1/proofs/inclusion?seq=99999", None),
    ("get", "/v1/proofs/consistency?old=5&new=2", None),
    ("get", "/v1/models/bad%20id/state", None),
    ("get", "/v1/models/model-x/state?as_of=yesterday", None),
    ("get", "/v1/models?as_of=2025-13-01T00:00:00Z", None),
    ("get", "/v1/models/nobody/timeline", None),
    ("post", "/v1/exports?size=0", None),
    ("post", f"/v1/exports?size={2**40}", None),
    ("post", "/v1/exports?redact=maybe", None),
    ("get", "/v1/nowhere", None),
    ("delete", "/v1/entries", None),
    ("put", "/v1/checkpoint", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED)
def test_malformed_requests_get_a_4xx_json_error(
    served: Served, method: str, path: str, body: Any
) -> None:
    if isinstance(body, dict):
        body = json.loads(json.dumps(body).replace('"ENV"', json.dumps(_envelope(served))))
    with served.http() as http:
        if isinstance(body, bytes):
            r = http.request(
                method, path, content=body, headers={"Content-Type": "application/json"}
            )
        else:
            r = http.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["status"] == r.status_code and error["code"] and error["message"]
    assert "Traceback" not in r.text
    assert served.service.process.poll() is None


def test_request_bodies_are_size_limited(served: Served) -> None:
    limit = 8 << 20
    with served.http() as http:
        r = http.post(
            "/v1/entries", content=b" " * (limit + 1), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(9):
                yield b" " * (1 << 20)

        r = http.post("/v1/entries", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"
        r = http.post("/v1/entries", json={"envelope": _envelope(served)})
        assert r.status_code == 201


# -- serve's own refusals -----------------------------------------------------------------------
def test_serve_refuses_before_it_binds(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    r = run_cli("key", "generate", "--out", "alice.pem", cwd=tmp_path)
    assert r.code == 0
    r = run_cli(
        "init",
        "--origin",
        "example.org/s",
        "--admin",
        "alice",
        "--admin-key",
        "alice.pem",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    url = f"sqlite:///{db}"
    assert_clean_error(
        run_cli("serve", "--ledger", url, "--host", "0.0.0.0", cwd=tmp_path), 2, "beyond loopback"
    )
    assert_clean_error(
        run_cli("serve", "--ledger", url, "--host", "ledger.example.org", cwd=tmp_path),
        2,
        "--read-token-file",
    )
    loose = tmp_path / "token"
    loose.write_text(TOKEN)
    os.chmod(loose, 0o644)
    assert_clean_error(
        run_cli("serve", "--ledger", url, "--read-token-file", str(loose), cwd=tmp_path),
        2,
        "chmod 600",
    )
    short = tmp_path / "short"
    short.write_text("abc")
    os.chmod(short, 0o600)
    assert_clean_error(
        run_cli("serve", "--ledger", url, "--read-token-file", str(short), cwd=tmp_path),
        2,
        "at least 16",
    )
    assert_clean_error(
        run_cli("serve", "--ledger", "http://127.0.0.1:9/", cwd=tmp_path), 2, "found a service"
    )
    assert_clean_error(
        run_cli(
            "serve",
            "--ledger",
            f"sqlite:///{tmp_path / 'empty.db'}",
            "--ledger-key-file",
            "alice.pem",
            cwd=tmp_path,
        ),
        1,
        "no ledger",
    )
    assert_clean_error(
        run_cli("serve", "--ledger", "postgresql+psycopg://u@127.0.0.1:9/x", cwd=tmp_path),
        2,
        "ledger key",
    )
