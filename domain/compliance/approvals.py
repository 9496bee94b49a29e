"""SPEC §4 "Approvals" and the rule `signers.approved`.

Each entry of `approvals[type]` must be covered by a *different* signer who holds that role as of
the entries recorded before the statement. One person holding two roles covers only one of them;
a role listed twice needs two signers. That is a bipartite matching between the listed roles and
the signers, solved exactly (augmenting paths), so that the answer never depends on the order in
which signers or roles happen to be listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.log import LogRecord
from domain.registry import Registry


def signer_roles(record: LogRecord, registry: Registry) -> dict[str, frozenset[str]]:
    """Each signer of `record` (SPEC §2: the principals owning its keys) with their roles now."""
    return {p: registry.roles_of(p) for p in registry.signers(record.signer_key_ids)}


def uncovered_roles(required: Sequence[str], signers: Mapping[str, frozenset[str]]) -> list[str]:
    """The listed roles left uncovered by the best assignment of distinct signers to roles."""
    holders = sorted(signers)
    covering: dict[str, int] = {}  # principal → index in `required` of the role it covers
    return [
        role
        for i, role in enumerate(required)
        if not _cover(i, set(), required, signers, holders, covering)
    ]


def _cover(
    i: int,
    tried: set[str],
    required: Sequence[str],
    signers: Mapping[str, frozenset[str]],
    holders: list[str],
    covering: dict[str, int],
) -> bool:
    """An augmenting path for role `required[i]`. A module function, not a closure: a recursive
    closure is a reference cycle, which the verifier (running with the cyclic collector paused)
    would never free."""
    for principal in holders:
        if principal in tried or required[i] not in signers[principal]:
            continue
        tried.add(principal)
        if principal not in covering or _cover(
            covering[principal], tried, required, signers, holders, covering
        ):
            covering[principal] = i
            return True
    return False


def check_signers_approved(
    required: Sequence[str], signers: Mapping[str, frozenset[str]]
) -> list[str]:
    """SPEC §5 `signers.approved`: the reasons the signers fall short (empty if they do not)."""
    missing = uncovered_roles(required, signers)
    if not missing:
        return []
    who = (
        ", ".join(f"{p} ({', '.join(sorted(signers[p])) or 'no roles'})" for p in sorted(signers))
        or "no registered signer"
    )
    return [
        f"signed by {len(required) - len(missing)} of {len(required)} required roles "
        f"({', '.join(required)}), each needing a distinct signer: missing "
        f"{', '.join(missing)}; signers were {who}"
    ]
