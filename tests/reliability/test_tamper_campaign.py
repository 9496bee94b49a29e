"""Tampering campaign (issue 9): random mutations of valid bundles — byte flips in any member,
dropped and swapped lines, ZIP member edits, raw ZIP byte flips — and not one is reported intact.

`make test` runs RELIABILITY_MUTATIONS (default 300); `make reliability` runs 10,000, spread over
the usable cores. The count and the checks that caught them are printed.

The only mutation allowed to verify is a raw ZIP byte flip that leaves every member's content as
it was (a timestamp or a header field the reader ignores): the bundle then *is* intact.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from verify.note import Vkey
from verify.verifier import VerifyOptions, verify_bundle

BUNDLES = Path(__file__).resolve().parents[1] / "vectors" / "bundles"
SOURCES = ("valid.zip", "valid_redacted.zip")
MUTATIONS = int(os.environ.get("RELIABILITY_MUTATIONS", "300"))


def _members(name: str) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(BUNDLES / name) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        warnings.simplefilter("ignore")  # repeated names are one of the mutations
        for n, d in members:
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), d)
    return buf.getvalue()


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data or b"x")
    i = rng.randrange(len(out))
    out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def mutate(rng: random.Random) -> tuple[str, bytes, list[tuple[str, bytes]] | None]:
    """(kind, zip bytes, the members it holds when the mutation is on contents)."""
    source = rng.choice(SOURCES)
    members = _members(source)
    kind = rng.choice(["byte", "byte", "line-drop", "line-swap", "member", "raw"])
    if kind == "raw":
        return kind, _flip((BUNDLES / source).read_bytes(), rng), None
    i = rng.randrange(len(members))
    name, data = members[i]
    if kind == "byte":
        members[i] = (name, _flip(data, rng))
    elif kind in ("line-drop", "line-swap"):
        lines = data.split(b"\n")
        if len(lines) < 3:
            members[i] = (name, _flip(data, rng))
        elif kind == "line-drop":
            del lines[rng.randrange(len(lines) - 1)]
            members[i] = (name, b"\n".join(lines))
        else:
            a, b = rng.sample(range(len(lines) - 1), 2)
            if lines[a] == lines[b]:
                lines[a] += b" "
            lines[a], lines[b] = lines[b], lines[a]
            members[i] = (name, b"\n".join(lines))
    else:
        op = rng.choice(["drop", "repeat", "rename", "add"])
        if op == "drop":
            del members[i]
        elif op == "repeat":
            members.insert(rng.randrange(len(members) + 1), members[i])
        elif op == "rename":
            members[i] = (
                rng.choice(["Manifest.json", "entries.jsonl ", "./checkpoint", "x"]),
                data,
            )
        else:
            members.append((rng.choice(["notes.txt", "entries/", "sig"]), b"{}"))
    return kind, _zip(members), members


def _run(seeds: list[int]) -> tuple[Counter[str], Counter[str], list[str]]:
    vkey = Vkey.parse((BUNDLES / "ledger.vkey").read_text().strip())
    originals = {s: sorted(_members(s)) for s in SOURCES}
    caught: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    escaped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.zip"
        for seed in seeds:
            rng = random.Random(seed)
            kind, blob, _ = mutate(rng)
            kinds[kind] += 1
            path.write_bytes(blob)
            report = verify_bundle(path, vkey, VerifyOptions(workers=1))
            if report.intact:
                try:
                    with zipfile.ZipFile(path) as z:
                        now = sorted((i.filename, z.read(i)) for i in z.infolist())
                except zipfile.BadZipFile:
                    now = []
                if now not in originals.values():
                    escaped.append(f"seed {seed} ({kind}) reported intact")
                else:
                    caught["(contents unchanged: intact is right)"] += 1
            else:
                caught[report.problems[0].check] += 1
    return caught, kinds, escaped


def test_no_mutation_is_reported_intact() -> None:
    seeds = list(range(MUTATIONS))
    workers = min(len(os.sched_getaffinity(0)), 4) if MUTATIONS >= 1000 else 1
    caught: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    escaped: list[str] = []
    if workers == 1:
        caught, kinds, escaped = _run(seeds)
    else:
        parts = [seeds[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            for c, k, e in pool.map(_run, parts):
                caught.update(c)
                kinds.update(k)
                escaped.extend(e)
    assert escaped == [], escaped[:5]
    assert sum(caught.values()) == MUTATIONS
    by_check = ", ".join(f"{k} {v}" for k, v in caught.most_common())
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(
        f"\ntampering: {MUTATIONS} mutations ({by_kind}); none reported intact; "
        f"caught by: {by_check}"
    )
