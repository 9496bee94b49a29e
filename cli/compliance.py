"""`check` (a dry run) and `verdicts` (the whole local ledger judged), and the warning text that
`submit` prints when a recorded statement is not compliant."""

from __future__ import annotations

import sys

import click

from cli._common import (
    emit,
    handle_errors,
    json_option,
    ledger_option,
    open_ledger,
    parse_time_option,
    read_input,
)
from domain.compliance import Verdict
from ledger.compliance import preview, report
from verify.dsse import parse_envelope_bytes


def describe(v: Verdict) -> str:
    """One verdict in words: what was judged, under which policy, and each failed rule."""
    head = f"{v.type} {v.statement}: {v.verdict}"
    if v.policy:
        head += f" under {v.policy}"
    lines = [head]
    lines += [f"  - {f.rule}: {f.message}" for f in v.failed]
    if v.invalidated_by:
        lines.append(f"  - invalidated by {', '.join(v.invalidated_by)}")
    return "\n".join(lines)


def warn(verdicts: list[Verdict]) -> None:
    """SPEC §2: the ledger records what was decided, and warns when it breaks the policy."""
    for v in verdicts:
        if not v.is_compliant:
            click.echo(f"warning: recorded, but {describe(v)}", err=True)


@click.command()
@click.argument("envelope", metavar="ENVELOPE")
@click.option("--recorded-at", metavar="TIME", help="Judge as if recorded at TIME.")
@ledger_option
@json_option
@handle_errors
def check(envelope: str, recorded_at: str | None, ledger_url: str | None, as_json: bool) -> None:
    """Dry run: the verdict ENVELOPE's statement would get if it were recorded now."""
    env = parse_envelope_bytes(read_input(envelope))
    when = parse_time_option(recorded_at)
    with open_ledger(ledger_url) as ledger:
        verdict = preview(ledger, env, when)
    if verdict is None:
        emit(
            {"judged": False, "statement": env.statement.id, "verdict": None},
            as_json,
            lambda: click.echo(f"{env.statement.type} {env.statement.id}: not judged (SPEC §5)"),
        )
        return
    emit({"judged": True, **verdict.to_json()}, as_json, lambda: click.echo(describe(verdict)))
    if not verdict.is_compliant:
        sys.exit(1)


@click.command()
@ledger_option
@json_option
@handle_errors
def verdicts(ledger_url: str | None, as_json: bool) -> None:
    """Judge the whole local ledger (the report has the shape of SPEC §8)."""
    with open_ledger(ledger_url, want_key=True) as ledger:
        data = report(ledger)

    def human() -> None:
        s = data["summary"]
        click.echo(
            f"{s['entries']} entries: {s['compliant']} compliant, {s['noncompliant']} "
            f"noncompliant, {s['invalidated']} invalidated"
        )
        for v in data["verdicts"]:
            mark = "ok " if v["verdict"] == "compliant" else "!! "
            model = f" [{v['model']}]" if v["model"] else ""
            click.echo(f"{mark}{v['seq']:>5} {v['type']} {v['statement']}{model}: {v['verdict']}")
            for f in v["failed"]:
                click.echo(f"        {f['rule']}: {f['message']}")

    emit(data, as_json, human)
    if any(v["verdict"] != "compliant" for v in data["verdicts"]):
        sys.exit(1)
