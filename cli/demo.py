"""`rsp-ledger demo`: a realistic RSP history in a fresh embedded ledger, then what it shows.

The history is backfilled with asserted times (SPEC §3), so it reads like a year of a lab's
records: principals and their keys, the RSP 2.2 policy, a model, findings against every threshold,
a capability determination, ASL-3 safeguards attested and determined, the Board and LTBT notified,
and a deployment. A second model's deployment cites a determination gone stale, so the verdicts
show a non-compliant decision too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from cli._common import EXIT_USAGE, fail, handle_errors
from cli.state import echo_status
from domain.ids import format_time
from domain.statements import statement_model
from ledger.compliance import report
from ledger.config import resolve_key_file, resolve_ledger_url, sqlite_path
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer

REPO_POLICIES = Path(__file__).resolve().parents[1] / "policies"
START = datetime(2025, 5, 14, 9, 0, tzinfo=UTC)


def load_demo_policy(name: str = "anthropic-rsp-2.2.yaml") -> dict[str, Any]:
    from cli.policy import load_policy_file

    path = REPO_POLICIES / name
    if not path.exists():
        fail(f"demo policy {path} not found: expected the repository's policies/ folder")
    return load_policy_file(str(path))


def build_demo_history(ledger: Ledger, policy: dict[str, Any]) -> HistoryWriter:
    h = HistoryWriter(ledger, START)
    h.principal("alice", "ledger-admin")
    h.principal("dario", "ceo")
    h.principal("jared", "responsible-scaling-officer")
    h.principal("frontier-red-team", "evaluator")
    h.principal("security-eng", "security-lead")
    h.principal("safeguards-eng", "safeguards-lead")
    h.principal("board-secretary", "board")
    h.principal("ltbt-secretary", "ltbt")
    ledger.initialize(
        h.genesis_envelope("anthropic.example/rsp-ledger", "alice"), recorded_at=h.clock
    )
    h.advance(minutes=5)
    h.register_all("alice")

    # The policy comes into force as the ledger's bootstrap amendment (SPEC §4).
    h.submit(
        "policy_adopted",
        "alice",
        cosigners=["board-secretary"],
        id="policy-rsp-2.2",
        policy=policy,
        effective_at=format_time(h.clock),
    )
    h.advance(hours=1)
    h.submit(
        "model_registered",
        "frontier-red-team",
        id="model-claude-demo",
        model="claude-demo",
        name="Claude (demo)",
        parent=None,
        effective_compute=1.2e25,
    )
    h.advance(days=10)

    # Findings against every threshold of the policy in force.
    finding_ids = []
    for t in policy.get("thresholds", []):
        outcome = "cannot_rule_out" if t["id"].startswith("CBRN-3") else "ruled_out"
        sid = f"finding-claude-demo-{t['id']}"
        h.submit(
            "capability_finding",
            "frontier-red-team",
            id=sid,
            model="claude-demo",
            threshold=t["id"],
            assessment="comprehensive",
            outcome=outcome,
            effective_compute=1.2e25,
            evaluations=[f"{t['id'].lower()}-eval-suite"],
            details={"transcripts": f"s3://evals/claude-demo/{t['id']}", "score": 0.42},
        )
        finding_ids.append(sid)
        h.advance(hours=2)
    h.advance(days=2)
    h.submit(
        "capability_determination",
        "jared",
        cosigners=["dario"],
        id="determination-claude-demo-1",
        model="claude-demo",
        findings=finding_ids,
        required={"deployment": "ASL-3", "security": "ASL-3"},
    )
    h.advance(days=1)

    standards = policy.get("standards", {}).get("ASL-3", {})
    scopes = policy.get("scopes", ["external"])
    valid_until = format_time(h.clock + timedelta(days=300))
    h.submit(
        "safeguard_attestation",
        "safeguards-eng",
        id="attest-asl3-deployment",
        standard="ASL-3",
        part="deployment",
        controls=standards.get("deployment") or ["deployment-safeguards"],
        model=None,
        scopes=scopes,
        valid_until=valid_until,
    )
    h.advance(hours=3)
    h.submit(
        "safeguard_attestation",
        "security-eng",
        id="attest-asl3-security",
        standard="ASL-3",
        part="security",
        controls=standards.get("security") or ["security-safeguards"],
        model=None,
        scopes=[],
        valid_until=valid_until,
    )
    h.advance(days=1)
    h.submit(
        "safeguards_determination",
        "jared",
        cosigners=["dario"],
        id="safeguards-asl3",
        standard="ASL-3",
        model=None,
        attestations=["attest-asl3-deployment", "attest-asl3-security"],
        valid_until=valid_until,
    )
    h.advance(days=1)
    h.submit(
        "governance_notified",
        "jared",
        id="notify-claude-demo-1",
        regarding="determination-claude-demo-1",
        bodies=["board", "ltbt"],
    )
    h.advance(days=2)
    h.submit(
        "deployment_decision",
        "dario",
        cosigners=["jared"],
        id="deploy-claude-demo-external",
        model="claude-demo",
        action="deploy",
        scope="external",
        determination="determination-claude-demo-1",
        safeguards=["safeguards-asl3"],
    )

    # Training continues: effective compute grows past 4x, the determination goes stale, and a
    # new deployment that still cites it is recorded anyway (the ledger records; the verifier judges).
    h.advance(days=40)
    h.submit(
        "compute_measured",
        "frontier-red-team",
        id="compute-claude-demo-2",
        model="claude-demo",
        effective_compute=6.0e25,
    )
    h.advance(days=3)
    h.submit(
        "deployment_decision",
        "dario",
        cosigners=["jared"],
        id="deploy-claude-demo-trusted",
        model="claude-demo",
        action="deploy",
        scope="trusted",
        determination="determination-claude-demo-1",
        safeguards=["safeguards-asl3"],
    )
    return h


@click.command()
@click.option(
    "--ledger", "ledger_url", metavar="URL", default=None, help="Where to build the demo ledger."
)
@handle_errors
def demo(ledger_url: str | None) -> None:
    """Build a realistic RSP history in a fresh embedded ledger and show it."""
    url = resolve_ledger_url(ledger_url)
    db = sqlite_path(url)
    if db is None:
        fail(f"--ledger: the demo builds an embedded SQLite ledger, found {url}", EXIT_USAGE)
    if db.exists():
        fail(f"{db} already exists: run the demo in an empty folder", EXIT_USAGE)
    key_path = resolve_key_file(None, url)
    assert key_path is not None
    signer = Ed25519Signer.generate()
    write_private_key(key_path, signer)
    policy = load_demo_policy()
    with Ledger(url, signer=signer) as ledger:
        click.echo(f"Building a demo RSP history in {db} ...")
        h = build_demo_history(ledger, policy)
        h.save_keys(db.parent / "keys")
        size = ledger.size()
        click.echo(f"\nThe ledger ({size} entries, times asserted; vkey {ledger.vkey}):\n")
        for e in ledger.entries():
            st = e.envelope.statement
            model = f" [{statement_model(st)}]" if statement_model(st) else ""
            click.echo(f"{e.seq:>4}  {format_time(e.recorded_at)}  {st.type:<26} {st.id}{model}")
        data = report(ledger)
    s = data["summary"]
    click.echo(
        f"\nVerdicts under the policy in force at each entry: {s['compliant']} compliant, "
        f"{s['noncompliant']} noncompliant, {s['invalidated']} invalidated"
    )
    for v in data["verdicts"]:
        mark = "ok" if v["verdict"] == "compliant" else "!!"
        click.echo(f"  {mark} {v['seq']:>3} {v['type']:<26} {v['statement']}: {v['verdict']}")
        for f in v["failed"]:
            click.echo(f"         {f['rule']}: {f['message']}")
    click.echo("\nWhere its models stand (rsp-ledger status):\n")
    echo_status(url)
    click.echo(
        f"\nPrincipals' keys are in {db.parent / 'keys'}; the ledger key is {key_path}.\n"
        "Try: rsp-ledger log, rsp-ledger verdicts, rsp-ledger show deploy-claude-demo-trusted, "
        "rsp-ledger timeline claude-demo, rsp-ledger status --as-of 2025-06-10T00:00:00Z"
    )
