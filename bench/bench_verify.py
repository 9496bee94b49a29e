"""The offline verifier over bundles of 100k and 1M entries (issue 6).

The limit is the raw Ed25519 verification rate of this machine times its usable cores, measured
in the same run: verifying a bundle cannot go faster than checking its signatures on every core.
The verifier should reach ≥ 0.8 of that limit, with peak memory under 1 GB at 1M entries.

The bundles are a lab's life, signed for real with a few keys: models registered, compute
measured, findings against every threshold, capability determinations approved by the CEO and
the RSO, attestations and safeguards determinations, the Board and LTBT notified, deployment
decisions (one in fifty lacking the CEO's signature), amendments, withdrawals and key rotations
(the mix of bench/bench_engine.py). They are built once, on every core, and cached under
`$RSP_BENCH_CACHE` (default /tmp/rsp-ledger-bench); the cache is keyed by size and by
`BUILD_VERSION`.

Each size is verified in a fresh child process (`verify_bundle`, what `rsp-ledger verify` runs),
so that its peak RSS is its own: once for integrity only (every check of SPEC §6, which is what
the Ed25519 limit bounds), then with the compliance engine's verdicts as well.

    python -m bench verify                       # 100k and 1M
    python -m bench.bench_verify 20000 100000    # chosen sizes
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench._policy import DEPLOYMENT, SECURITY, THRESHOLDS, bench_policy
from verify.cores import usable_cores
from verify.dsse import PAYLOAD_TYPE, pae
from verify.jcs import canonical
from verify.keys import Ed25519Signer, encode_public_key, key_id
from verify.merkle import CompactRange, leaf_hash
from verify.note import Checkpoint, format_vkey, sign_checkpoint

SIZES = (100_000, 1_000_000)
BUILD_VERSION = 1
ORIGIN = "bench.example/rsp-ledger"
MODELS = 500
T0 = datetime(2020, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=20)
ROLES = {
    "ceo": ["ceo"],
    "rso": ["responsible-scaling-officer"],
    "sec": ["security-lead"],
    "board": ["board"],
    "ltbt": ["ltbt"],
    "eval": ["evaluator"],
}
CHUNK = 2000


def cache_dir() -> Path:
    return Path(os.environ.get("RSP_BENCH_CACHE", "/tmp/rsp-ledger-bench"))


def seeded_signer(name: str) -> Ed25519Signer:
    """A key from a fixed seed: the same bundle bytes on every machine."""
    seed = hashlib.sha256(f"rsp-ledger bench key {name}".encode()).digest()
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(seed))


LEDGER_KEY = "ledger"


def _t(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# One planned entry: (recorded_at, statement, signer key names)
Planned = tuple[str, dict[str, Any], tuple[str, ...]]


def plan(size: int) -> Iterator[Planned]:
    """The entries of a bundle of `size`, in seq order (bench_engine's mix, as JSON)."""
    n = 0
    t = T0
    eval_key = 0

    def emit(type_: str, issuer: str, signers: tuple[str, ...], **fields: Any) -> Planned:
        nonlocal n, t
        sid = f"s{n}"
        st = {"type": type_, "id": sid, "issued_at": _t(t), "issuer": issuer, **fields}
        out = (_t(t), st, signers)
        n += 1
        t += STEP
        return out

    def key(name: str) -> str:
        return encode_public_key(seeded_signer(name).public_raw)

    yield emit(
        "ledger_genesis",
        "admin",
        ("admin",),
        origin=ORIGIN,
        time_source="asserted",
        admins=[{"principal": "admin", "public_key": key("admin")}],
    )
    for name, roles in ROLES.items():
        yield emit(
            "principal_registered",
            "admin",
            ("admin",),
            principal=name,
            roles=roles,
            public_keys=[key(name if name != "eval" else "eval#0")],
        )
    version = 1
    yield emit(
        "policy_adopted", "admin", ("admin",), policy=bench_policy(version), effective_at=_t(t)
    )
    compute: dict[str, float] = {}
    cycle = 0
    last_attestation = ""
    while n < size:
        cycle += 1
        evaluator = f"eval#{eval_key}"
        model = f"m{cycle % MODELS}"
        batch: list[Planned] = []
        if model not in compute:
            compute[model] = 1e24
            batch.append(
                emit(
                    "model_registered",
                    "eval",
                    (evaluator,),
                    model=model,
                    name=model,
                    parent=None,
                    effective_compute=compute[model],
                )
            )
        compute[model] *= 1.01
        c = compute[model]
        batch.append(
            emit("compute_measured", "eval", (evaluator,), model=model, effective_compute=c)
        )
        crossed = cycle % 3 == 0
        findings = []
        for threshold in THRESHOLDS:
            p = emit(
                "capability_finding",
                "eval",
                (evaluator,),
                model=model,
                threshold=threshold,
                assessment="comprehensive",
                outcome="crossed" if crossed and threshold == "CBRN-3" else "ruled_out",
                effective_compute=c,
                evaluations=[f"{threshold.lower()}-suite"],
            )
            findings.append(p[1]["id"])
            batch.append(p)
        level = "ASL-3" if crossed else "ASL-2"
        p = emit(
            "capability_determination",
            "rso",
            ("ceo", "rso"),
            model=model,
            findings=findings,
            required={"deployment": level, "security": level},
        )
        determination = p[1]["id"]
        batch.append(p)
        safeguards: list[str] = []
        if crossed:
            until = _t(t + timedelta(days=300))
            scoped = model if cycle % 2 else None
            att = [
                emit(
                    "safeguard_attestation",
                    "sec",
                    ("sec",),
                    standard="ASL-3",
                    part=part,
                    controls=controls,
                    model=scoped,
                    scopes=["internal", "trusted", "external"] if part == "deployment" else [],
                    valid_until=until,
                )
                for part, controls in (("deployment", DEPLOYMENT), ("security", SECURITY))
            ]
            batch.extend(att)
            p = emit(
                "safeguards_determination",
                "rso",
                ("ceo", "rso"),
                standard="ASL-3",
                model=model,
                attestations=[a[1]["id"] for a in att],
                valid_until=until,
            )
            safeguards.append(p[1]["id"])
            batch.append(p)
            batch.append(
                emit(
                    "governance_notified",
                    "rso",
                    ("rso",),
                    regarding=determination,
                    bodies=["board", "ltbt"],
                )
            )
            last_attestation = att[0][1]["id"]
        batch.append(
            emit(
                "deployment_decision",
                "rso",
                ("rso",) if cycle % 50 == 0 else ("ceo", "rso"),
                model=model,
                action="deploy",
                scope="external",
                determination=determination,
                safeguards=safeguards,
            )
        )
        if cycle % 97 == 0 and last_attestation:
            batch.append(
                emit(
                    "attestation_withdrawn",
                    "sec",
                    ("sec",),
                    statement=last_attestation,
                    invalid_from=_t(t - STEP * 3),
                    reason="control found ineffective",
                )
            )
        if cycle % 1500 == 0:
            old = evaluator
            eval_key += 1
            batch.append(
                emit(
                    "key_added",
                    "admin",
                    ("admin",),
                    principal="eval",
                    public_key=key(f"eval#{eval_key}"),
                )
            )
            batch.append(
                emit(
                    "key_revoked",
                    "admin",
                    ("admin",),
                    key_id=key_id(seeded_signer(old).public_raw),
                    reason="rotated",
                )
            )
        if cycle % 2500 == 0:
            version += 1
            batch.append(
                emit(
                    "policy_adopted",
                    "board",
                    ("board",),
                    policy=bench_policy(version),
                    effective_at=_t(t + STEP * 10),
                )
            )
        yield from batch


_SIGNERS: dict[str, Ed25519Signer] = {}


def _leaves(first: int, planned: list[Planned]) -> list[bytes]:
    """JCS entry bytes for planned entries first, first+1, … (run on every core)."""
    out = []
    for i, (recorded_at, statement, signer_names) in enumerate(planned):
        payload = canonical(statement)
        message = pae(PAYLOAD_TYPE, payload)
        sigs = []
        for name in signer_names:
            signer = _SIGNERS.get(name) or _SIGNERS.setdefault(name, seeded_signer(name))
            sigs.append(
                {
                    "keyid": key_id(signer.public_raw),
                    "sig": base64.b64encode(signer.sign(message)).decode(),
                }
            )
        envelope = {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode(),
            "signatures": sigs,
        }
        out.append(canonical({"seq": first + i, "recorded_at": recorded_at, "envelope": envelope}))
    return out


def _chunks(size: int) -> Iterator[tuple[int, list[Planned]]]:
    chunk: list[Planned] = []
    first = 0
    for i, p in enumerate(plan(size)):
        if i >= size:
            break
        chunk.append(p)
        if len(chunk) == CHUNK:
            yield first, chunk
            first += len(chunk)
            chunk = []
    if chunk:
        yield first, chunk


def build_bundle(size: int, out: Path) -> float:
    """Write a bundle of `size` entries to `out` (on every core); returns the seconds taken."""
    from verify.bundle import write_bundle

    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = out.with_suffix(".jsonl.tmp")
    tree = CompactRange()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(usable_cores()) as pool, lines.open("wb") as f:
        for leaves in pool.imap(_leaves_job, _chunks(size), chunksize=1):
            for leaf in leaves:
                tree.append(leaf_hash(leaf))
                f.write(leaf + b"\n")
    ledger = seeded_signer(LEDGER_KEY)
    root = tree.root()
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), ORIGIN, ledger)

    def entries() -> Iterator[bytes]:
        with lines.open("rb") as f:
            for line in f:
                yield line[:-1]

    tmp = out.with_suffix(".zip.tmp")
    with tmp.open("wb") as f:
        write_bundle(
            f,
            origin=ORIGIN,
            tree_size=size,
            root=root,
            ledger_key=format_vkey(ORIGIN, ledger.public_raw),
            time_source="asserted",
            created_at=T0,
            redacted=False,
            entries=entries(),
            checkpoint=note,
            details=None,
            signer=ledger,
            compresslevel=1,
        )
    tmp.replace(out)
    lines.unlink()
    return time.perf_counter() - start


def _leaves_job(job: tuple[int, list[Planned]]) -> list[bytes]:
    return _leaves(*job)


def bundle_for(size: int) -> tuple[Path, float | None]:
    path = cache_dir() / f"bundle-{size}-v{BUILD_VERSION}.zip"
    if path.exists():
        return path, None
    return path, build_bundle(size, path)


def vkey() -> str:
    return format_vkey(ORIGIN, seeded_signer(LEDGER_KEY).public_raw)


# -- measuring --------------------------------------------------------------------------------


def raw_verify_rate(seconds: float = 2.0) -> tuple[float, float]:
    """Ed25519 verifications per second on one core, with cryptography (OpenSSL): per second
    of wall time, and per second of this process's CPU time (which other load does not skew)."""
    signer = seeded_signer("rate")
    key = Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"rsp-ledger bench key rate").digest()
    ).public_key()
    message = pae(PAYLOAD_TYPE, b'{"type":"capability_finding"}' * 20)
    sig = signer.sign(message)
    n = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            key.verify(sig, message)
        n += 200
    return n / elapsed, n / (time.process_time() - cpu_start)


def nacl_verify_rate(seconds: float = 2.0) -> float | None:
    """The same with libsodium (PyNaCl), when it is installed; None otherwise."""
    try:
        from nacl.signing import SigningKey  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    sk = SigningKey(hashlib.sha256(b"rsp-ledger bench key rate").digest())
    message = pae(PAYLOAD_TYPE, b'{"type":"capability_finding"}' * 20)
    signed = sk.sign(message)
    vk = sk.verify_key
    n = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            vk.verify(signed)
        n += 200
    return n / elapsed


_CHILD = """
import json, resource, sys, time
from verify.note import Vkey
from verify.verifier import VerifyOptions, verify_bundle
start = time.perf_counter()
options = VerifyOptions(timeline={timeline}, judge={judge})
report = verify_bundle(sys.argv[1], Vkey.parse(sys.argv[2]), options)
elapsed = time.perf_counter() - start
me = resource.getrusage(resource.RUSAGE_SELF)
workers = resource.getrusage(resource.RUSAGE_CHILDREN)
rss_kib = me.ru_maxrss
kids = workers.ru_maxrss
main_cpu = me.ru_utime + me.ru_stime
workers_cpu = workers.ru_utime + workers.ru_stime
print(json.dumps({{"seconds": elapsed, "rss_kib": rss_kib, "worker_rss_kib": kids,
    "cpu": main_cpu + workers_cpu, "main_cpu": main_cpu, "workers_cpu": workers_cpu,
    "exit": report.exit_code, "signatures": report.checked.signatures,
    "entries": report.entries, "summary": report.summary(),
    "problems": [p.to_json() for p in report.problems][:3]}}))
"""


def verify_in_child(path: Path, timeline: bool = False, judge: bool = True) -> dict[str, Any]:
    code = _CHILD.format(timeline=timeline, judge=judge)
    p = subprocess.run(
        [sys.executable, "-c", code, str(path), vkey()],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(p.stdout)
    return result


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
    cores = usable_cores()
    print(
        f"usable cores: {cores}; load average {os.getloadavg()[0]:.1f} (a shared machine is noisy)"
    )
    print(
        "limit = raw Ed25519 verifications/s on one core (cryptography/OpenSSL) × cores, measured "
        "just before each run; ratio = signatures verified/s ÷ limit (target ≥ 0.8);\n"
        "cpu ratio = CPU seconds the signatures need at the raw rate ÷ CPU seconds the run used "
        "(main process and workers): the ratio an idle machine would show, robust to other load;\n"
        "CPU s: what the signatures need at the raw rate / the main process used / the workers used"
    )
    nacl = nacl_verify_rate()
    if nacl is not None:
        rate, _ = raw_verify_rate()
        print(
            f"libsodium (PyNaCl) verify, one core: {nacl:,.0f}/s ({nacl / rate:.2f}× OpenSSL's "
            f"{rate:,.0f}/s)"
        )
    print(
        f"{'entries':>9} {'checks':<20} {'build s':>8} {'verify s':>9} {'entries/s':>10} "
        f"{'sigs/s':>9} {'limit':>9} {'ratio':>6} {'cpu ratio':>9} {'CPU s: sigs/main/workers':>24} "
        f"{'peak RSS':>9}  exit"
    )
    for size in sizes:
        path, built = bundle_for(size)
        for judge in (False, True):
            rate, cpu_rate = raw_verify_rate()
            limit = rate * cores
            result = verify_in_child(path, judge=judge)
            sig_cpu = result["signatures"] / cpu_rate
            cpu_ratio = sig_cpu / result["cpu"]
            split = f"{sig_cpu:.1f} / {result['main_cpu']:.1f} / {result['workers_cpu']:.1f}"
            seconds = result["seconds"]
            sigs_per_s = result["signatures"] / seconds
            rss_mib = result["rss_kib"] / 1024
            checks = "integrity + verdicts" if judge else "integrity only"
            print(
                f"{size:>9} {checks:<20} {built if built is not None else 0:>8.1f} "
                f"{seconds:>9.2f} {size / seconds:>10,.0f} {sigs_per_s:>9,.0f} {limit:>9,.0f} "
                f"{sigs_per_s / limit:>6.2f} {cpu_ratio:>9.2f} {split:>24} {rss_mib:>8.0f}M  "
                f"{result['exit']}",
                flush=True,
            )
            built = None
            if result["problems"]:
                print(f"   problems: {result['problems']}")
    print(
        "targets: ratio ≥ 0.8; peak RSS < 1024M at 1M entries "
        f"(the builder's own peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}M)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
