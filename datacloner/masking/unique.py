"""``unique: true``: distinct inputs give distinct outputs, by construction.

Faker alone cannot promise this (there are only so many "jane.smith"s), and
retrying against a set of values already handed out would make the output
depend on row order, table and worker, breaking determinism. Instead every
output carries a token derived from the keyed hash of the *exact* input bytes:
two inputs share an output only if their 80-bit tokens collide.

The token is lowercase-only, and sits at a fixed place (the end, or just before
the ``@`` of an email), so outputs also stay distinct under ``lower()``,
``citext`` and case- or accent-insensitive collations: ``Bob@x.com`` and
``bob@x.com`` get different tokens.
"""

from __future__ import annotations

import re
import uuid

from datacloner.masking.keyed import token_of

# One "@", a non-empty local part and a dotted domain: what Faker's email
# providers return. Anything else gets the token appended after a "-".
_EMAIL = re.compile(r"([^@\s]+)@([^@\s]+\.[^@\s]+)")
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def make_unique(output: str, digest: bytes) -> str:
    """``output`` made unique to the input whose keyed hash is ``digest``."""
    if _UUID.fullmatch(output):
        # A token would make it an invalid uuid; build the UUID from 122 bits of
        # the keyed hash instead (as unique as the token, and still a UUID).
        return str(uuid.UUID(bytes=digest[8:24], version=4))
    token = token_of(digest)
    email = _EMAIL.fullmatch(output)
    if email:
        # In the local part, so the result is still a deliverable-looking address
        # on the same (safe, example.*) domain.
        return f"{email.group(1)}.{token}@{email.group(2)}"
    return f"{output}-{token}"
