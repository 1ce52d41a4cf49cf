"""What a copy records about itself: a digest of the rules and a fingerprint
of the secret (never the secret), beside the refresh report."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path


def rules_digest(files: list[Path]) -> str:
    """Changes when any rules file changes (name or content)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def secret_fingerprint(secret: bytes) -> str:
    """Equal for equal secrets, and says nothing about the secret itself."""
    return hmac.new(secret, b"datacloner secret fingerprint", "sha256").hexdigest()[:16]
