"""Ed25519 signatures of archives.

``dump`` signs with the private key in ``$DATACLONER_ARCHIVE_KEY``; ``restore``
verifies with the public key in ``$DATACLONER_ARCHIVE_PUBLIC_KEY``. Ed25519,
not HMAC: with HMAC every CI job that restores would hold a key that can also
forge archives; with Ed25519 it holds only a public key (docs/archive.md).

The signature covers ``manifest.json``, which holds the SHA-256 of every other
member, and restore refuses members the manifest does not list: so it covers
the whole archive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from datacloner.core.errors import UsageError

PRIVATE_ENV = "DATACLONER_ARCHIVE_KEY"
PUBLIC_ENV = "DATACLONER_ARCHIVE_PUBLIC_KEY"
ALGORITHM = "ed25519"
# what is signed: this prefix, then the manifest's bytes (a signature made for
# anything else can never pass as an archive's)
CONTEXT = b"datacloner-archive-signature-v1\n"
_KEYGEN = "create a key pair with `datacloner keygen` (docs/archive.md#signing)"


def _raw(text: str, env: str) -> bytes:
    """A key as base64 of its 32 raw bytes, or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"{env} is not an Ed25519 key (base64 of 32 bytes, or PEM)", hint=_KEYGEN)
    return raw


def _load(env: str, kind: str, from_pem, from_raw, cls):
    """The key in ``$env``, None when unset; UsageError when it is not a ``cls``."""
    text = os.environ.get(env, "")
    if not text.strip():
        return None
    raw = _raw(text, env)
    try:
        key = from_pem(raw) if raw.startswith(b"-----BEGIN") else from_raw(raw)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, cls):
        raise UsageError(f"{env} is not an Ed25519 {kind} key", hint=_KEYGEN)
    return key


def private_key(env: str = PRIVATE_ENV) -> Ed25519PrivateKey | None:
    return _load(
        env,
        "private",
        lambda pem: serialization.load_pem_private_key(pem, password=None),
        Ed25519PrivateKey.from_private_bytes,
        Ed25519PrivateKey,
    )


def public_key(env: str = PUBLIC_ENV) -> Ed25519PublicKey | None:
    return _load(
        env,
        "public",
        serialization.load_pem_public_key,
        Ed25519PublicKey.from_public_bytes,
        Ed25519PublicKey,
    )


def key_id(key: Ed25519PublicKey) -> str:
    """A short public name of a key, to tell keys apart in messages."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def encode_public(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def encode_private(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


def sign(key: Ed25519PrivateKey, manifest: bytes) -> dict[str, str]:
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(CONTEXT + manifest)).decode(),
    }


def verifies(key: Ed25519PublicKey, manifest: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, CONTEXT + manifest)
    except InvalidSignature:
        return False
    return True
