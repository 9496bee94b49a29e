"""`python -m verify BUNDLE --ledger-key VKEY [...]`: the offline verifier with nothing installed
but the standard library, cryptography, pydantic, rfc8785 and the `domain/` and `verify/` folders.

The options and exit codes are those of `rsp-ledger verify` (SPEC §8); see verify/command.py.
"""

from __future__ import annotations

import argparse
import sys

from verify.command import run
from verify.report import EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # SPEC §8: a usage error exits 2 (argparse's own code too), with one line on stderr.
        sys.stderr.write(f"error: {message}\n")
        sys.exit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m verify",
        description="Verify an rsp-ledger export bundle offline (SPEC §6, §8).",
    )
    parser.add_argument("bundle", metavar="BUNDLE")
    parser.add_argument("--ledger-key", required=True, metavar="VKEY")
    parser.add_argument("--json", action="store_true", dest="as_json")
    parser.add_argument("--html", metavar="FILE")
    parser.add_argument("--since", metavar="CHECKPOINT_FILE")
    parser.add_argument("--witness", action="append", default=[], metavar="VKEY")
    parser.add_argument("--witness-threshold", type=int, metavar="K")
    args = parser.parse_args(argv)
    return run(
        args.bundle,
        args.ledger_key,
        as_json=args.as_json,
        html=args.html,
        since=args.since,
        witnesses=args.witness,
        witness_threshold=args.witness_threshold,
    )


if __name__ == "__main__":
    sys.exit(main())
