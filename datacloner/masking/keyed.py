"""Keyed hashing: the only source of "randomness" for deterministic masking.

The output for an input depends only on ``(secret, rule identity, input bytes)``:

    rule_key = BLAKE2b(identity, key=secret)          # once per compiled masker
    digest   = BLAKE2b(canonical(input), key=rule_key) # once per value

Python's ``hash()`` is never used: it is salted per process, so it would give
different fakes in different runs and workers.
"""

from __future__ import annotations

import hashlib
from typing import Any

DIGEST_SIZE = 32  # bytes: 0..8 seed Faker, 8..24 the uniqueness token / UUID
_BLAKE2B_MAX_KEY = 64
# Personalisation strings separate the uses of BLAKE2b, so a digest of one kind
# can never be replayed as another (and "v1" lets us change the scheme later).
_PERSON_SECRET = b"dc-secret-v1"
_PERSON_RULE = b"dc-rule-v1"
VALUE_PERSON = b"dc-value-v1"


def canonical_bytes(value: Any) -> bytes:
    """The bytes an input is hashed as.

    PostgreSQL COPY hands us text, SQLAlchemy hands us Python objects; hashing
    ``str(value)`` for the objects makes ``42`` and ``"42"`` (and a ``date`` and
    its ISO text) mask the same on every engine.
    """
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # never fail on odd text
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def rule_key(secret: bytes, identity: str) -> bytes:
    """A key for one rule: equal rules share it, different rules never do."""
    if isinstance(secret, str):  # be forgiving: the config may hand over text
        secret = secret.encode("utf-8")
    if len(secret) > _BLAKE2B_MAX_KEY:  # BLAKE2b keys are at most 64 bytes
        secret = hashlib.blake2b(secret, person=_PERSON_SECRET).digest()
    return hashlib.blake2b(
        identity.encode("utf-8"), key=secret, digest_size=32, person=_PERSON_RULE
    ).digest()


class KeyedHash:
    """``digest(data)``: BLAKE2b of ``data`` keyed with the rule key.

    The keyed state is built once and copied per value: copying is cheaper than
    re-keying (a keyed BLAKE2b hashes a whole key block first).
    """

    __slots__ = ("_base",)

    def __init__(self, secret: bytes, identity: str) -> None:
        self._base = hashlib.blake2b(
            key=rule_key(secret, identity), digest_size=DIGEST_SIZE, person=VALUE_PERSON
        )

    def __call__(self, data: bytes) -> bytes:
        h = self._base.copy()
        h.update(data)
        return h.digest()


def seed_of(digest: bytes) -> int:
    """A 64-bit seed for Faker's random generator."""
    return int.from_bytes(digest[:8], "big")


TOKEN_BITS = 80  # 16 base32 characters; collisions are ~1e-6 likely at a billion rows


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
# Two base32 characters per 10 bits: 8 lookups instead of base64.b32encode's
# pure-Python loop (the token is made for every unique value).
_B32_PAIRS = [a + b for a in _B32 for b in _B32]
_TOKEN_SHIFTS = tuple(range(TOKEN_BITS - 10, -1, -10))


def token_of(digest: bytes) -> str:
    """A lowercase-only token (base32 ``a-z2-7``, as ``base64.b32encode`` would
    spell ``digest[8:18]``), so it survives ``lower()`` and case-insensitive
    collations unchanged."""
    bits = int.from_bytes(digest[8 : 8 + TOKEN_BITS // 8], "big")
    pairs = _B32_PAIRS
    return "".join([pairs[(bits >> shift) & 1023] for shift in _TOKEN_SHIFTS])


_PERSON_RETRY = b"dc-retry-v1"


def derive(digest: bytes, attempt: int) -> bytes:
    """Another digest for the same input, for a second (third ...) draw when the
    first fake does not fit the column: deterministic, and independent of it."""
    return hashlib.blake2b(
        digest + attempt.to_bytes(4, "big"), digest_size=DIGEST_SIZE, person=_PERSON_RETRY
    ).digest()


def uniform(digest: bytes, start: int, low: int, high: int) -> int:
    """An integer in [low, high] from 16 bytes of the digest at ``start``
    (128 bits: the modulo bias is far below anything measurable)."""
    span = high - low + 1
    return low + int.from_bytes(digest[start : start + 16], "big") % span
