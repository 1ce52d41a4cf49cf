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

Fitting a ``varchar(n)`` trims the fake part, never the token: the token stays
at its fixed place, so trimmed and untrimmed outputs stay distinct too.
"""

from __future__ import annotations

import re
import uuid

from datacloner.masking.keyed import TOKEN_BITS, token_of

TOKEN_LENGTH = TOKEN_BITS // 5  # base32: 5 bits a character -> 16
UUID_LENGTH = 36

_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _split_email(output: str) -> tuple[str, str] | None:
    """(local part, domain) when ``output`` looks like an email; cheaper than _EMAIL."""
    at = output.find("@")
    if at <= 0 or output.find("@", at + 1) >= 0:
        return None
    domain = output[at + 1 :]
    dot = domain.find(".")
    if dot <= 0 or dot == len(domain) - 1 or not output.isprintable() or " " in output:
        return None
    return output[:at], domain


def make_unique(output: str, digest: bytes, max_length: int | None = None) -> str:
    """``output`` made unique to the input whose keyed hash is ``digest``, in at
    most ``max_length`` characters (at least TOKEN_LENGTH: check_spec ensures it)."""
    if (
        len(output) == UUID_LENGTH
        and output[8] == "-"
        and _UUID.fullmatch(output)
        and (max_length is None or max_length >= UUID_LENGTH)
    ):
        # A token would make it an invalid uuid; build the UUID from 122 bits of
        # the keyed hash instead (as unique as the token, and still a UUID).
        return str(uuid.UUID(bytes=digest[8:24], version=4))
    token = token_of(digest)
    email = _split_email(output)
    if email:
        # In the local part, so the result is still a deliverable-looking address
        # on the same (safe, example.*) domain.
        local, domain = email
        out = f"{local}.{token}@{domain}"
        if max_length is None or len(out) <= max_length:
            return out
        room = max_length - len(token) - 2 - len(domain)
        local = local[:room].rstrip(".") if room > 0 else ""
        if local:
            return f"{local}.{token}@{domain}"
        if len(token) + 1 + len(domain) <= max_length:
            return f"{token}@{domain}"
    out = f"{output}-{token}"
    if max_length is None or len(out) <= max_length:
        return out
    fake = output[: max(max_length - len(token) - 1, 0)].rstrip()
    return f"{fake}-{token}" if fake else token[:max_length]


def fit_text(output: str, max_length: int) -> str:
    """``output`` in at most ``max_length`` characters: an email keeps its domain
    (the local part is shortened), anything else is cut."""
    if len(output) <= max_length:
        return output
    email = _split_email(output)
    if email:
        local, domain = email
        room = max_length - 1 - len(domain)
        if room >= 1:
            return f"{local[:room].rstrip('.') or local[0]}@{domain}"
    return output[:max_length].rstrip() or output[:max_length]
