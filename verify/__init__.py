"""The offline verifier and the formats it reads: JCS, DSSE, RFC 9162 Merkle trees, C2SP notes,
the export bundle.

Depends on `domain/` and `cryptography` only. The ledger writes with these same types, so writer
and auditor agree on every byte; the auditor's copy trusts nothing of the writer's.
"""
