"""The verifier command of SPEC §8, shared by `rsp-ledger verify` (click) and `python -m verify`
(argparse, for an auditor's machine with nothing but the verifier's dependencies).

`run(...)` parses what the auditor typed, verifies, writes the output, and returns the exit code:
0 intact and compliant, 1 intact and something not compliant, 2 usage error (a malformed vkey,
a threshold out of range, an unreadable --since file, an --html path that cannot be written),
3 integrity fails or the bundle cannot be read. A usage error is one line on stderr.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from domain.errors import VerificationError
from verify.html import render_html
from verify.note import Vkey
from verify.report import EXIT_INTEGRITY, EXIT_USAGE, human_summary
from verify.verifier import Progress, VerifierUsageError, VerifyOptions, verify_bundle


class UsageProblem(Exception):
    """What the auditor typed cannot be used (exit 2)."""


def _vkey(text: str, what: str) -> Vkey:
    """A vkey given on the command line, or the path of a file holding one."""
    value = text.strip()
    try:
        return Vkey.parse(value)
    except VerificationError as first:
        path = Path(text)
        if path.is_file():
            try:
                return Vkey.parse(path.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError, VerificationError) as e:
                raise UsageProblem(f"{what} {text}: expected a vkey in the file: {e}") from e
        raise UsageProblem(f"{what}: {first}") from first


def _since(path: str) -> str:
    from verify.note import parse_checkpoint_body, parse_note

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageProblem(f"--since {path}: cannot read: {e.strerror}") from e
    try:
        parse_checkpoint_body(parse_note(data).text)
        return data.decode("utf-8")
    except (VerificationError, UnicodeDecodeError) as e:
        raise UsageProblem(f"--since {path}: expected a signed checkpoint: {e}") from e


def terminal_progress(stream: TextIO) -> Progress | None:
    """Progress on `stream` when it is a terminal, at most a few times a second; else None."""
    if not stream.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and done < total:
            return
        last[0] = now
        percent = 100 * done / total if total else 100
        end = "\n" if done >= total else ""
        stream.write(f"\rverifying entries: {done:,} of {total:,} ({percent:.0f}%){end}")
        stream.flush()

    return show


def run(
    bundle: str,
    ledger_key: str,
    *,
    as_json: bool = False,
    html: str | None = None,
    since: str | None = None,
    witnesses: Sequence[str] = (),
    witness_threshold: int | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        vkey = _vkey(ledger_key, "--ledger-key")
        witness_keys = tuple(_vkey(w, "--witness") for w in witnesses)
        since_text = _since(since) if since is not None else None
        if html is not None and not Path(html).resolve().parent.is_dir():
            raise UsageProblem(f"--html {html}: expected a file in an existing folder")
        options = VerifyOptions(
            since=since_text,
            witnesses=witness_keys,
            witness_threshold=witness_threshold,
            progress=terminal_progress(err),
            timeline=html is not None,
        )
        report = verify_bundle(bundle, vkey, options)
        if html is not None:
            try:
                Path(html).write_text(render_html(report), encoding="utf-8")
            except OSError as e:
                raise UsageProblem(f"--html {html}: cannot write: {e.strerror}") from e
    except (UsageProblem, VerifierUsageError) as e:
        err.write(f"error: {e}\n")
        return EXIT_USAGE
    except Exception as e:
        # A fault of the verifier itself must never exit 1, which an auditor's script reads as
        # "intact, but some verdict is not compliant": the bundle was not verified (exit 3).
        err.write("".join(traceback.format_exception(e)))
        err.write(
            f"error: the verifier failed ({type(e).__name__}: {e}); the bundle is NOT verified\n"
        )
        if as_json:
            out.write(json.dumps(_unverified_report(f"{type(e).__name__}: {e}"), indent=2) + "\n")
        return EXIT_INTEGRITY
    if as_json:
        out.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(human_summary(report))
    return report.exit_code


__all__ = ["UsageProblem", "run", "terminal_progress"]


def _unverified_report(message: str) -> dict[str, object]:
    """SPEC §8's report when the verifier could not finish: no verdicts, integrity not ok."""
    return {
        "format": "rsp-ledger.verify-report/v1",
        "bundle": None,
        "integrity": {
            "ok": False,
            "problems": [{"check": "verifier.failed", "seq": None, "message": message}],
        },
        "verdicts": [],
        "summary": {
            "entries": 0,
            "compliant": 0,
            "noncompliant": 0,
            "invalidated": 0,
            "indeterminate": 0,
        },
    }
