"""Detectors for personal values inside free text, shared by ``scrub`` and ``scan``.

Each kind is a candidate regex plus a validator, so the spans returned are
values a human would call "an email", "a card number" ...:

- ``credit_card``: 12-19 digits (spaces or dashes between), Luhn-checked;
- ``iban``: country code, check digits, 11-30 alphanumerics, ISO 13616 mod-97;
- ``ipv4`` / ``ipv6``: validated by :mod:`ipaddress`;
- ``phone``: 7-15 digits in a phone-like shape (``+``, parentheses, separators,
  an ``x123`` extension); dates, IPv4 addresses and decimals are not phones;
- ``email``, ``url``: the usual shapes, trailing punctuation left out.

No database code; pure functions on ``str``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

KINDS: tuple[str, ...] = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url")

# When spans of different kinds overlap (an email inside a URL, an IPv4
# address that also looks like a dotted phone number), the first kind wins.
PRIORITY: tuple[str, ...] = ("url", "email", "iban", "credit_card", "ipv6", "ipv4", "phone")

_EMAIL = re.compile(
    r"(?<![\w.%+-])"
    r"[\w%+-](?:[\w.%+-]{0,62}[\w%+-])?"  # local part: no leading or trailing dot
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"  # domain labels
    r"[^\W\d_]{2,63}"  # a top-level domain is letters
    r"(?![\w-])"
)
_URL = re.compile(r"(?<![\w@.])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\""
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])"
    r"(?:(?:[0-9A-Fa-f]{0,4}:){2,6}(?:\d{1,3}\.){3}\d{1,3}"  # with an IPv4 tail
    r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})"
    r"(?:%[\w.-]+)?"  # zone id: fe80::1%eth0
    r"(?![\w:])"
)
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){11,18}(?!\w)")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
# A unit is a digit or a parenthesised area code; units are joined by at most
# one separator. 7+ units; digits are counted when validating.
_PHONE = re.compile(
    r"(?<![\w+@])"
    r"\+?(?:\(\+?\d{1,5}\)|\d)(?:(?:[ .-]|/ ?)?(?:\(\d{1,5}\)|\d)){4,22}"
    r"(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?"
    r"(?![\w@:])"
)
_PHONE_EXTENSION = re.compile(r"[ ]?(?:x|ext\.?|#)[ ]?\d{1,6}$")
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NOT_DIGIT = re.compile(r"\D")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")

Span = tuple[int, int]


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number; spaces and dashes are ignored."""
    digits = digits.replace(" ", "").replace("-", "")
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """ISO 13616: shape, then the mod-97 check. Spaces are ignored, case too."""
    iban = text.replace(" ", "").upper()
    if not _IBAN_SHAPE.fullmatch(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    # Letters count as 10..35; int() on the joined digits is exact in Python.
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _prefixes(text: str, start: int, end: int, separators: str) -> Iterable[Span]:
    """The span itself, then shorter ones ending before a separator, longest first:
    a valid number followed by more digits ("4111 1111 1111 1111 12") is found."""
    yield start, end
    for i in range(end - 1, start, -1):
        if text[i] in separators:
            yield start, i


def _find_card(text: str) -> list[Span]:
    spans = []
    for m in _CARD.finditer(text):
        for s, e in _prefixes(text, m.start(), m.end(), " -"):
            digits = _NOT_DIGIT.sub("", text[s:e])
            if 12 <= len(digits) <= 19 and luhn_ok(digits):
                spans.append((s, e))
                break
    return spans


def _find_iban(text: str) -> list[Span]:
    spans = []
    for m in _IBAN.finditer(text):
        for s, e in _prefixes(text, m.start(), m.end(), " "):
            if iban_ok(text[s:e]):
                spans.append((s, e))
                break
    return spans


def _find_ipv4(text: str) -> list[Span]:
    spans = []
    for m in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(m.group())  # rejects 256+ and leading zeros
        except ValueError:
            continue
        spans.append(m.span())
    return spans


def _find_ipv6(text: str) -> list[Span]:
    spans = []
    for m in _IPV6.finditer(text):
        s, e = m.span()
        candidate = m.group()
        if not any(c in "0123456789abcdefABCDEF" for c in candidate):
            continue  # "::" alone is a C++ scope, not an address anyone owns
        while candidate:
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                if candidate.endswith(":") and not candidate.endswith("::"):
                    candidate = candidate[:-1]  # "fe80::1: link down"
                    e -= 1
                    continue
                break
            spans.append((s, e))
            break
    return spans


def _phone_ok(candidate: str) -> bool:
    body = _PHONE_EXTENSION.sub("", candidate)
    digits = sum(c.isdigit() for c in body)
    if not 7 <= digits <= 15:
        return False
    if _DATE_LIKE.fullmatch(body) or _DOTTED_QUAD.fullmatch(body):
        return False
    separators = [c for c in body if c in " .-()/"]
    if not separators and not body.startswith("+"):
        # A bare 7-digit number is more often an id than a phone; a leading 0
        # (a national trunk prefix: 016549996) makes a phone likelier.
        return digits >= 10 or (digits >= 8 and body.startswith("0"))
    if separators == ["."] and not body.startswith("+"):
        return False  # 12345.6789: a decimal
    return True


def _find_phone(text: str) -> list[Span]:
    return [m.span() for m in _PHONE.finditer(text) if _phone_ok(m.group())]


def _find_email(text: str) -> list[Span]:
    return [m.span() for m in _EMAIL.finditer(text)]


def _find_url(text: str) -> list[Span]:
    spans = []
    for m in _URL.finditer(text):
        s, e = m.span()
        while e > s and (
            text[e - 1] in _URL_TRAILING
            or (text[e - 1] == ")" and text.count("(", s, e) < text.count(")", s, e))
            or (text[e - 1] == "]" and text.count("[", s, e) < text.count("]", s, e))
        ):
            e -= 1
        host = text[s:e].split("//", 1)[-1]
        if len(host) > 4 and "." in host:
            spans.append((s, e))
    return spans


_FINDERS = {
    "email": _find_email,
    "phone": _find_phone,
    "ipv4": _find_ipv4,
    "ipv6": _find_ipv6,
    "credit_card": _find_card,
    "iban": _find_iban,
    "url": _find_url,
}
# Cheap tests that rule a kind out without running its regex (scrub speed).
_MAY_CONTAIN = {
    "email": lambda t: "@" in t,
    "url": lambda t: "//" in t or "www." in t or "WWW." in t,
    "ipv6": lambda t: t.count(":") >= 2,
}


def find(kind: str, text: str) -> list[tuple[int, int]]:
    """Validated ``(start, end)`` spans of ``kind`` in ``text``, in order, not overlapping.

    Raises ValueError for an unknown kind.
    """
    try:
        finder = _FINDERS[kind]
    except KeyError:
        raise ValueError(f"unknown detector kind {kind!r}; known: {', '.join(KINDS)}") from None
    may = _MAY_CONTAIN.get(kind)
    if may is not None and not may(text):
        return []
    return finder(text)


def is_kind(kind: str, value: str) -> bool:
    """True when the whole value (stripped) is one ``kind``, e.g. a column of emails."""
    text = value.strip()
    return bool(text) and find(kind, text) == [(0, len(text))]


def find_all(
    text: str,
    kinds: Iterable[str] = KINDS,
    patterns: Mapping[str, re.Pattern[str]] | None = None,
) -> list[tuple[int, int, str]]:
    """Spans of every kind asked for, sorted and not overlapping: ``(start, end, kind)``.

    Custom ``patterns`` (name -> compiled regex) win over the built-in kinds,
    which then win in :data:`PRIORITY` order; a span overlapping one already
    taken is dropped.
    """
    wanted = set(kinds)
    taken: list[tuple[int, int, str]] = []
    for name, pattern in (patterns or {}).items():
        taken += [(m.start(), m.end(), name) for m in pattern.finditer(text) if m.end() > m.start()]
    for kind in PRIORITY:
        if kind in wanted:
            taken += [(s, e, kind) for s, e in find(kind, text)]
    if not taken:
        return []
    if len(taken) == 1:
        return taken
    # Keep spans in the order they were found (priority), drop overlapping later ones.
    kept: list[tuple[int, int, str]] = []
    for span in taken:
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    kept.sort()
    return kept
