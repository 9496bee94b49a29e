"""Private key files: PKCS#8 PEM, created 0600, refused when others can read them.

Key material never appears in a message: errors name the path and the problem only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from domain.errors import VerificationError
from ledger.errors import KeyFileError
from verify.keys import Ed25519Signer, encode_public_key


def write_private_key(path: Path, signer: Ed25519Signer) -> None:
    """Create PATH (mode 0600, never overwriting) and PATH.pub (base64 raw public key)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeyFileError(f"{path}: expected a new file, found one already there") from e
    except OSError as e:
        raise KeyFileError(f"{path}: cannot create key file: {e.strerror}") from e
    with os.fdopen(fd, "wb") as f:
        f.write(signer.to_pem())
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)  # the umask may have narrowed it further; never wider
    Path(f"{path}.pub").write_text(encode_public_key(signer.public_raw) + "\n")


def read_private_key(path: Path) -> Ed25519Signer:
    """Load a private key, refusing one that group or others may read (SPEC §9 `sign`)."""
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise KeyFileError(f"{path}: expected a private key file, found none") from e
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key file: {e.strerror}") from e
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{path}: expected a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"{path}: private key is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            "expected 0600: chmod 600 it"
        )
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key file: {e.strerror}") from e
    try:
        return Ed25519Signer.from_pem(pem)
    except VerificationError as e:
        raise KeyFileError(f"{path}: {e}") from e
