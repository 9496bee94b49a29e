"""How many cores this process may use: its CPU affinity (a container or `taskset` may allow
fewer than the machine has). The verifier's, the projections' and the ledger's worker
processes are all counted by it."""

from __future__ import annotations

import os


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
