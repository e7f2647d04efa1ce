"""Password hashing (argon2), API-token and session-token generation, and encryption of reporter contact data.

Tokens are shown once and stored only as SHA-256 hashes. Contact data is Fernet-encrypted with a key derived
from the deployment secret. Never log a token, a password or a decrypted contact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

_hasher = PasswordHasher()
TOKEN_PREFIX = "qlt_"
_RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        # Spend the same time as a real check so unknown users are not told apart by timing.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_token() -> tuple[str, str, str]:
    """(token shown once, prefix for display, hash to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[: len(TOKEN_PREFIX) + 6], sha256_hex(token)


def new_opaque_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_receipt() -> str:
    """An unguessable report receipt: 16 characters of an unambiguous alphabet (~80 bits)."""
    # 32 symbols divide 256 evenly, so `byte % 32` is uniform: 16 symbols carry 80 random bits.
    return "".join(_RECEIPT_ALPHABET[b % 32] for b in _random_bytes(16))


_pool = threading.local()


def _random_bytes(n: int) -> bytes:
    """Bytes from the OS CSPRNG, read 4 KiB at a time (one syscall per 256 receipts instead of one each).

    Per thread and per process: a forked child never reuses its parent's unread bytes."""
    buf: bytes | None = getattr(_pool, "buf", None)
    pos: int = getattr(_pool, "pos", 0)
    if buf is None or pos + n > len(buf) or getattr(_pool, "pid", 0) != os.getpid():
        buf, pos = secrets.token_bytes(4096), 0
        _pool.pid = os.getpid()
    _pool.buf, _pool.pos = buf, pos + n
    return buf[pos : pos + n]


def hmac_sha256(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def keyed_hash(secret: str, value: str) -> str:
    """A stable pseudonym for a value (IP, contact) that cannot be reversed without the secret."""
    return hmac_sha256(secret + ":pseudonym", value.encode())


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256((secret + ":contact-encryption").encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, plaintext: str) -> str:
    return _fernet(secret).encrypt(plaintext.encode()).decode()


def decrypt(secret: str, ciphertext: str) -> str:
    try:
        return _fernet(secret).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("ciphertext does not decrypt with this deployment's secret") from exc
