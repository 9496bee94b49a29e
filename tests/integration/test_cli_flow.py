"""The happy path a person takes on a fresh machine, as real subprocesses on a real SQLite file:
generate keys, init, sign, co-sign, submit (one and a batch), list, show, print the vkey."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from ledger.keyfile import read_private_key
from verify.keys import encode_public_key

from .conftest import assert_clean_error, run_cli


def test_key_generate_writes_0600_key_and_pub(tmp_path: Path) -> None:
    r = run_cli("key", "generate", "--out", str(tmp_path / "a.pem"), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert stat.S_IMODE((tmp_path / "a.pem").stat().st_mode) == 0o600
    pub = (tmp_path / "a.pem.pub").read_text().strip()
    signer = read_private_key(tmp_path / "a.pem")
    assert pub == encode_public_key(signer.public_raw) == data["public_key"]
    assert data["key_id"] == signer.key_id
    again = run_cli("key", "generate", "--out", str(tmp_path / "a.pem"))
    assert_clean_error(again, 1, "already there")


def test_whole_flow(tmp_path: Path) -> None:
    def cli(*args: str) -> dict[str, object]:
        r = run_cli(*args, cwd=tmp_path)
        assert r.code == 0, f"{args}: {r.err}"
        return json.loads(r.out) if "--json" in args else {"out": r.out}

    for name in ("alice", "ceo", "rso"):
        cli("key", "generate", "--out", f"{name}.pem")
    init = cli(
        "init",
        "--origin",
        "example.org/flow",
        "--admin",
        "alice",
        "--admin-key",
        "alice.pem",
        "--json",
    )
    vkey = str(init["vkey"])
    assert vkey.startswith("example.org/flow+")
    assert stat.S_IMODE((tmp_path / "rsp-ledger.db.key").stat().st_mode) == 0o600
    assert cli("ledger-key")["out"].strip() == vkey

    def statement(name: str, obj: dict[str, object]) -> str:
        (tmp_path / name).write_text(json.dumps(obj))
        return name

    import datetime as dt

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pubs = {n: (tmp_path / f"{n}.pem.pub").read_text().strip() for n in ("ceo", "rso")}
    lines = []
    for n, role in (("ceo", "ceo"), ("rso", "responsible-scaling-officer")):
        st = statement(
            f"reg-{n}.json",
            {
                "type": "principal_registered",
                "id": f"reg-{n}",
                "issued_at": now,
                "issuer": "alice",
                "principal": n,
                "roles": [role],
                "public_keys": [pubs[n]],
            },
        )
        cli("sign", st, "--key", "alice.pem", "--out", f"reg-{n}.env.json")
        lines.append(json.dumps(json.loads((tmp_path / f"reg-{n}.env.json").read_text())))
    (tmp_path / "batch.jsonl").write_text("\n".join(lines) + "\n")
    batch = cli("submit", "batch.jsonl", "--json")
    assert [e["seq"] for e in batch["entries"]] == [1, 2]  # type: ignore[index]

    # A decision approved by two signers: the CEO signs, the RSO co-signs the same envelope.
    st = statement(
        "nc.json",
        {
            "type": "noncompliance_reported",
            "id": "nc-1",
            "issued_at": now,
            "issuer": "ceo",
            "regarding": None,
            "summary": "a drill",
        },
    )
    cli("sign", st, "--key", "ceo.pem", "--out", "nc.env.json")
    cli("sign", "nc.env.json", "--key", "rso.pem", "--out", "nc.env2.json")
    env = json.loads((tmp_path / "nc.env2.json").read_text())
    assert len(env["signatures"]) == 2
    entry = cli("submit", "nc.env2.json", "--json")
    assert entry["seq"] == 3 and entry["existing"] is False
    assert len(str(entry["leaf_hash"])) == 64

    log = cli("log", "--json")
    assert log["size"] == 4
    assert [e["type"] for e in log["entries"]] == [  # type: ignore[index]
        "ledger_genesis",
        "principal_registered",
        "principal_registered",
        "noncompliance_reported",
    ]
    page = cli("log", "--from", "1", "--limit", "2", "--json")
    assert [e["seq"] for e in page["entries"]] == [1, 2]  # type: ignore[index]
    shown = cli("show", "nc-1", "--json")
    assert shown["statement"]["summary"] == "a drill"  # type: ignore[index]
    assert len(shown["signatures"]) == 2  # type: ignore[arg-type]
    missing = run_cli("show", "nope", cwd=tmp_path)
    assert_clean_error(missing, 1, "no statement")


def test_commands_on_a_missing_ledger_say_so(tmp_path: Path) -> None:
    r = run_cli("log", cwd=tmp_path)
    assert_clean_error(r, 1, "rsp-ledger init")
