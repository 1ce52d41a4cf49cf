"""Detectors for personal values inside free text, shared by ``scrub`` and ``scan``.

Each kind is a candidate regex plus a validator, so the spans returned are
values a human would call "an email", "a card number" ...:

- ``credit_card``: 12-19 digits (spaces or dashes between), Luhn-checked;
- ``iban``: country code, check digits, 11-30 alphanumerics, ISO 13616 mod-97;
- ``ipv4`` / ``ipv6``: validated by :mod:`ipaddress`;
- ``phone``: 7-15 digits in a phone-like shape (``+``, parentheses, separators,
  an ``x123`` extension); dates, IPv4 addresses and decimals are not phones;
  each candidate is then validated in one place, :func:`phone_valid`
  (:mod:`phonenumbers`; not a document number, UUID, year range or timestamp);
- ``email``, ``url``: the usual shapes, trailing punctuation left out.

No database code; pure functions on ``str``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping

import phonenumbers

from datacloner.core.native import extension

# The C form of the email and number detectors, the same spans (docs/performance.md,
# "Native code", says what it buys); None: the Python below does it all.
_detectnative = extension("datacloner.detect._detectnative")

KINDS: tuple[str, ...] = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url")

# When spans of different kinds overlap (an email inside a URL, an IPv4
# address that also looks like a dotted phone number), the first kind wins.
PRIORITY: tuple[str, ...] = ("url", "email", "iban", "credit_card", "ipv6", "ipv4", "phone")

# Email: the local part is found by walking left from each "@" (on the reversed
# text), the domain by matching right of it: cheaper than scanning every
# position of the text with one big regex.
_LOCAL_REVERSED = re.compile(r"[\w.%+-]{1,64}")
_DOMAIN = re.compile(
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+"  # labels
    r"[^\W\d_]{2,63}"  # a top-level domain is letters
    r"(?![\w-])"
)
_URL = re.compile(r"(?<![\w@.])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\""
_IPV6 = re.compile(
    r"(?<![\w:.])"
    r"(?:(?:[0-9A-Fa-f]{0,4}:){2,6}(?:\d{1,3}\.){3}\d{1,3}"  # with an IPv4 tail
    r"|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})"
    r"(?:%[\w.-]+)?"  # zone id: fe80::1%eth0
    r"(?![\w:])"
)
# One pass finds every place a number-like value (phone, card, IPv4) or an
# IBAN can be: runs of 7+ digit/separator characters, and "XX99".
_SCAN = re.compile(r"[0-9A-Z](?:(?<=[0-9])[0-9 .()/-]{5,}[0-9]|(?<=[A-Z])[A-Z][0-9][0-9])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){11,18}")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}")
# A unit is a digit or a parenthesised area code; units are joined by at most
# one separator. Digits are counted when validating.
_PHONE = re.compile(
    r"(?<![\w+@])"
    r"\+?(?:\(\+?\d{1,5}\)|\d)(?:(?:[ .-]|/ ?)?(?:\(\d{1,5}\)|\d)){4,22}"
    r"(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?"
)
_PHONE_EXTENSION = re.compile(r"[ ]?(?:x|ext\.?|#)[ ]?\d{1,6}$")
_EXTENSION_AFTER = re.compile(r"[ ]?(?:x|ext\.?|#)[ ]?\d{1,6}")
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NOT_DIGIT = re.compile(r"\D")
_CARD_GROUPS = re.compile(
    r"\d{4}(?:([ -])\d{4}(?:\1\d{4}){1,2}(?:\1\d{1,4})?|([ -])\d{6}\2\d{4,5})"
)
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_WORDISH = re.compile(r"[\w@:]")
_NUMERIC_KINDS = ("credit_card", "ipv4", "phone")
_DATE_IN = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}([./-])\d{1,2}\1\d{2}")
_GROUP_START = re.compile(r"[+(]|(?<=[ .()/-])[0-9]")
# A date (ISO, or day.month.year with one separator), maybe with a time after.
_DATE_AT = re.compile(
    r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2}))"
    r"(?:(?=[ T]\d{1,2}:\d\d)|(?![0-9]|[ .()/-]?[0-9]))"
)

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


def _ends_clean(text: str, end: int) -> bool:
    """No letter, digit, "@" or ":" right after a number: not part of a longer token."""
    return end >= len(text) or not _WORDISH.match(text, end)


def _card_ok(text: str, s: int, e: int) -> bool:
    candidate = text[s:e]
    digits = _NOT_DIGIT.sub("", candidate)
    if not 12 <= len(digits) <= 19:
        return False
    # Printed cards are one block, or groups of 4 (4-6-5 / 4-6-4 for Amex and
    # Diners) with one kind of separator: "555-123-4567 4111" is not a card.
    if len(digits) != len(candidate) and not _CARD_GROUPS.fullmatch(candidate):
        return False
    return luhn_ok(digits)


def _ipv4_ok(text: str, s: int, e: int) -> bool:
    if e < len(text) and (
        text[e].isalnum() or text.startswith(".", e) and text[e + 1 : e + 2].isdigit()
    ):
        return False
    try:
        ipaddress.IPv4Address(text[s:e])  # rejects 256+ and leading zeros
    except ValueError:
        return False
    return True


def _phone_ok(candidate: str) -> bool:
    body = candidate
    if "x" in body or "e" in body or "#" in body:
        body = _PHONE_EXTENSION.sub("", body)
    # str.count is C: much cheaper than a regex or a loop for a few characters.
    spaces, dots, dashes = body.count(" "), body.count("."), body.count("-")
    others = body.count("(") + body.count(")") + body.count("/")
    plus = body.startswith("+")
    digits = len(body) - spaces - dots - dashes - others - plus
    if not 7 <= digits <= 15:
        return False
    if not (spaces or dots or dashes or others):
        # A bare 7-digit number is more often an id than a phone; a leading 0
        # (a national trunk prefix: 016549996) makes a phone likelier.
        return plus or digits >= 10 or (digits >= 8 and body.startswith("0"))
    if dots == 1 and not (spaces or dashes or others or plus):
        return False  # 12345.6789 is a decimal, not a phone
    if dots == 3 and _DOTTED_QUAD.fullmatch(body):
        return False  # an IPv4 address
    return not (digits <= 8 and _DATE_LIKE.fullmatch(body))


# Phone candidates that are something else: a year range ("1963-1981"), a
# year and month opening a document number ("2026-04-0007"), a year and a
# serial ("2026/00017", an invoice number), a number and a year ("420 2024"),
# a bare timestamp
# ("20240101123456", a Rails migration version). One regex: one call.
_NOT_A_PHONE = re.compile(
    r"(?:1[5-9]|20)\d\d ?[-/] ?(?:(?:1[5-9]|20)\d\d|\d\d)$"
    r"|(?:19|20)\d\d[-./](?:0[1-9]|1[0-2])[-./]"
    r"|(?:19|20)\d\d ?[-/] ?0\d{2,}$"  # a year and a zero-padded serial: "2026/00017"
    r"|\d{3,4} (?:19|20)\d\d$"  # a model number and a year: "Balance 420 2024"
    r"|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:[01]\d|2[0-3])\d*$"
)
# Country codes of one and two digits (the rest have three), as text.
_CODES_1 = frozenset(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if c < 10)
_CODES_2 = frozenset(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if 10 <= c < 100)
_SEPARATORS = b" .-()/+"  # a candidate without these is its digits
_GLUE = "-_"
# Regions whose numbering plans a candidate without "+" may follow: the
# locales scan knows names of (datacloner.scan.values.NAME_LOCALES).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "MX", "IT", "NL", "BR", "PT", "SE", "PL", "IN")


def phone_valid(text: str, s: int, e: int) -> bool:
    """Whether the phone candidate ``text[s:e]`` is a phone number: the one
    place both the Python and the C candidates are validated (the C extension
    calls it), so both paths keep the same spans.

    Not a phone: a number glued by "-" or "_" to a longer token (invoice and
    document numbers "INV-2026-04-0007", UUIDs), a year range, a year-month
    prefix, a bare timestamp; else :mod:`phonenumbers` must call it a possible
    number (with its "+" country code, or in one of :data:`PHONE_REGIONS`)."""
    if s >= 2 and text[s - 1] in _GLUE and text[s - 2].isalnum():
        return False
    if e + 1 < len(text) and text[e] in _GLUE and text[e + 1].isalnum():
        return False
    return _phone_number_ok(text[s:e])


@functools.lru_cache(maxsize=1 << 12)  # the same customer's phone in many notes
def _phone_number_ok(body: str) -> bool:
    if "x" in body or "#" in body or "e" in body:
        body = _PHONE_EXTENSION.sub("", body)
    if _NOT_A_PHONE.match(body):
        return False
    plus = body[0] == "+" or body.startswith("(+")
    if plus and "(0)" in body:
        body = body.replace("(0)", "", 1)  # "+44 (0)20 ...": the trunk 0 is not dialled
    if body.isascii():  # bytes.translate: a fifth of the time of a regex
        digits = body.encode().translate(None, _SEPARATORS).decode()
    else:
        digits = _NOT_DIGIT.sub("", body)
    return _possible(possible_key(digits, plus))


def possible_key(digits: str, plus: bool) -> str:
    """The number phonenumbers is asked about in place of ``digits``.

    Its "possible" test reads the country code (after "+" or an "00"/"011"
    prefix) and a few digits after it, or the trunk prefix, that is the first
    digits, and the length. So the answer is cached on those, the rest of the
    digits written as 5s: a dict look-up per phone instead of a parse (a few
    thousand parses for any number of phones), the same answer whatever order
    values come in (tests compare it with the whole number)."""
    if plus:
        keep = 3 if digits[:1] in _CODES_1 else 4 if digits[:2] in _CODES_2 else 5
    elif digits[0] != "0":
        keep = 3
    else:  # an international prefix reads a country code and more after it
        keep = 9 if digits.startswith("011") else 8 if digits.startswith("00") else 6
    return ("+" if plus else "") + digits[:keep] + "5" * (len(digits) - keep)


@functools.lru_cache(maxsize=1 << 16)
def _possible(number: str) -> bool:
    try:
        if number.startswith("+"):
            return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False
    for region in PHONE_REGIONS:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


if _detectnative is not None:
    _detectnative.set_phone_check(phone_valid)


def _numbers_in(
    text: str, lo: int, hi: int, wanted: set[str] | frozenset[str]
) -> list[tuple[int, int, str]]:
    """Cards, IPv4 addresses and phones inside ``text[lo:hi]``, a run of digits
    and separators widened by what may precede ("+", "(") or follow ("x123").

    The most specific kind goes first (cards: Luhn and grouping; then IPv4;
    then phones in what is left), each tried at every group start, so a phone
    and a card separated by one space are both found. Dates are skipped whole:
    "2022-02-15 09:57" holds no phone number."""
    # Cheap rule-outs: a card has 12+ digits, an IPv4 address 3 dots.
    possible = set(wanted)
    if len(_NOT_DIGIT.sub("", text[lo:hi])) < 12:
        possible.discard("credit_card")
    if text.count(".", lo, hi) < 3:
        possible.discard("ipv4")
    if (
        possible == {"phone"}
        and (m := _PHONE.match(text, lo, hi)) is not None
        and m.end() == hi
        and _ends_clean(text, hi)
        and not _DATE_IN.search(text, lo, hi)
        and _phone_ok(text[lo:hi])
    ):
        return [(lo, hi, "phone")]  # the common case: the run is one phone number
    starts = [lo]
    while (nxt := _GROUP_START.search(text, starts[-1] + 1, hi)) is not None:
        starts.append(nxt.start())
    taken: list[tuple[int, int, str]] = []  # dates too, as "date"
    for kind in _NUMERIC_KINDS:
        if kind == "phone":  # dates are not phones (but may look like the end of an IP)
            for p in starts:
                date = _DATE_AT.match(text, p)
                if date and not any(t[0] <= p < t[1] for t in taken):
                    taken.append((p, date.end(), "date"))
        if kind not in possible:
            continue
        for p in starts:
            if any(t[0] <= p < t[1] for t in taken):
                continue
            end = min([t[0] for t in taken if t[0] > p], default=hi)
            hit = _number_at(text, p, end, kind)
            if hit is not None:
                taken.append((p, hit, kind))
    return sorted(t for t in taken if t[2] != "date")


def _number_at(text: str, p: int, hi: int, kind: str) -> int | None:
    """The end of a ``kind`` starting exactly at ``p`` (and ending by ``hi``), or None."""
    if kind == "credit_card":
        m = _CARD.match(text, p, hi)
        if m:
            for s, e in _prefixes(text, p, m.end(), " -"):
                if _ends_clean(text, e) and _card_ok(text, s, e):
                    return e
    elif kind == "ipv4":
        m = _IPV4.match(text, p, hi)
        if m and _ipv4_ok(text, p, m.end()):
            return m.end()
    else:
        m = _PHONE.match(text, p, hi)
        if m:
            for s, e in _prefixes(text, p, m.end(), " .-/"):
                if _ends_clean(text, e) and _phone_ok(text[s:e]):
                    return e
    return None


def _find_iban(text: str, start: int) -> Span | None:
    m = _IBAN.match(text, start)
    if m:
        for s, e in _prefixes(text, m.start(), m.end(), " "):
            if _ends_clean(text, e) and iban_ok(text[s:e]):
                return s, e
    return None


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


def _find_email(text: str) -> list[Span]:
    spans: list[Span] = []
    at = text.find("@")
    if at < 0:
        return spans
    reversed_text = text[::-1]
    n = len(text)
    while at >= 0:
        local = _LOCAL_REVERSED.match(reversed_text, n - at)
        domain = _DOMAIN.match(text, at + 1)
        if local and domain:
            start = n - local.end()
            while start < at and text[start] == ".":  # no leading dot in a local part
                start += 1
            if start < at and (not spans or start >= spans[-1][1]):
                spans.append((start, domain.end()))
        at = text.find("@", at + 1)
    return spans


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


def _scan_numbers(text: str, wanted: set[str] | frozenset[str]) -> list[tuple[int, int, str]]:
    """IBANs first, then cards, IPv4 addresses and phones outside them."""
    found: list[tuple[int, int, str]] = []
    covered = 0  # end of the last IBAN: numbers inside it are its digits
    numeric = wanted.intersection(_NUMERIC_KINDS)
    n = len(text)
    for m in _SCAN.finditer(text):
        s, e = m.span()
        if s < covered:
            continue
        if text[s].isalpha():
            if "iban" in wanted:
                span = _find_iban(text, s)
                if span:
                    found.append((*span, "iban"))
                    covered = span[1]
            continue
        if not numeric:
            continue
        lo = s
        while lo > 0 and s - lo < 2 and text[lo - 1] in "+(":  # "+1-555", "(+30) ..."
            lo -= 1
        ext = _EXTENSION_AFTER.match(text, e)
        hi = ext.end() if ext else e
        found += _numbers_in(text, lo, min(hi, n), numeric)
    return found


_PREFILTERS = {
    "email": lambda t: "@" in t,
    "url": lambda t: "//" in t or "www." in t or "WWW." in t,
    "ipv6": lambda t: t.count(":") >= 2,
}


# The kinds _detectnative finds, as its flags; URLs and IPv6 stay in Python.
NATIVE_FLAGS = {"email": 1, "phone": 2, "ipv4": 4, "credit_card": 8, "iban": 16}


def native_flags(wanted: Iterable[str]) -> int:
    return sum(NATIVE_FLAGS.get(kind, 0) for kind in wanted)


def _needs_python(text: str, url: bool, ipv6: bool) -> bool:
    """The text may hold a wanted URL or IPv6 address: kinds only Python finds."""
    return url and _PREFILTERS["url"](text) or ipv6 and _PREFILTERS["ipv6"](text)


def _checked(kinds: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(kinds)
    unknown = wanted.difference(KINDS)
    if unknown:
        raise ValueError(f"unknown detector kind {sorted(unknown)[0]!r}; known: {', '.join(KINDS)}")
    return wanted


def keep_first(taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Spans in priority order to sorted spans that do not overlap: a span
    overlapping one kept before it is dropped."""
    if len(taken) <= 1:
        return taken
    kept: list[tuple[int, int, str]] = []
    for span in taken:
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    kept.sort()
    return kept


def _spans(text: str, wanted: set[str] | frozenset[str]) -> list[tuple[int, int, str]]:
    """Every span of the wanted kinds, in :data:`PRIORITY` order (may overlap)."""
    if _detectnative is None:
        return _spans_pure(text, wanted)
    return _spans_native(text, wanted, native_flags(wanted))


def _spans_native(
    text: str, wanted: set[str] | frozenset[str], flags: int
) -> list[tuple[int, int, str]]:
    """:func:`_spans_pure`, with emails, IBANs, cards, IPv4 addresses and phones
    found by ``_detectnative`` (the same spans, tests compare them)."""
    head, tail = _detectnative.spans(text, flags)
    if "url" in wanted and _PREFILTERS["url"](text):
        head = [(s, e, "url") for s, e in _find_url(text)] + head
    if "ipv6" in wanted and _PREFILTERS["ipv6"](text):
        head += [(s, e, "ipv6") for s, e in _find_ipv6(text)]
    return head + tail if tail else head


def _spans_pure(text: str, wanted: set[str] | frozenset[str]) -> list[tuple[int, int, str]]:
    """Every span of the wanted kinds, in :data:`PRIORITY` order (may overlap)."""
    found: list[tuple[int, int, str]] = []
    if "url" in wanted and _PREFILTERS["url"](text):
        found += [(s, e, "url") for s, e in _find_url(text)]
    if "email" in wanted and "@" in text:
        found += [(s, e, "email") for s, e in _find_email(text)]
    if wanted.intersection(("iban", *_NUMERIC_KINDS)):
        numbers = [
            span
            for span in _scan_numbers(text, wanted)
            if span[2] != "phone" or phone_valid(text, span[0], span[1])
        ]
        found += [span for span in numbers if span[2] == "iban"]
        found += [span for span in numbers if span[2] == "credit_card"]
        if "ipv6" in wanted and _PREFILTERS["ipv6"](text):
            found += [(s, e, "ipv6") for s, e in _find_ipv6(text)]
        found += [span for span in numbers if span[2] in ("ipv4", "phone")]
    elif "ipv6" in wanted and _PREFILTERS["ipv6"](text):
        found += [(s, e, "ipv6") for s, e in _find_ipv6(text)]
    return found


def find(kind: str, text: str) -> list[tuple[int, int]]:
    """Validated ``(start, end)`` spans of ``kind`` in ``text``, in order, not overlapping.

    Raises ValueError for an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown detector kind {kind!r}; known: {', '.join(KINDS)}")
    return sorted((s, e) for s, e, _ in _spans(text, {kind}))


def is_kind(kind: str, value: str) -> bool:
    """True when the whole value (stripped) is one ``kind``, e.g. a column of emails."""
    text = value.strip()
    return bool(text) and find(kind, text) == [(0, len(text))]


def finder(kinds: Iterable[str]) -> Callable[[str], list[tuple[int, int, str]]]:
    """``find_all`` for fixed kinds, checked once: for masking millions of texts."""
    wanted = _checked(kinds)
    flags = native_flags(wanted)
    url, ipv6 = "url" in wanted, "ipv6" in wanted

    def find_kinds(text: str) -> list[tuple[int, int, str]]:
        if _detectnative is None:
            return keep_first(_spans_pure(text, wanted))
        if _needs_python(text, url, ipv6):
            return keep_first(_spans_native(text, wanted, flags))
        return _detectnative.find(text, flags)  # all of it in C, keep_first included

    return find_kinds


# The order of substitute()'s fakes, one per kind _detectnative finds.
NATIVE_ORDER: tuple[str, ...] = ("email", "phone", "ipv4", "credit_card", "iban")

Substitute = Callable[[str, tuple[Callable[[str], object] | None, ...]], "str | None | bool"]


def substituter(kinds: Iterable[str]) -> Substitute | None:
    """For ``scrub``: ``substitute(text, fakes)`` is ``text`` with every span
    ``finder(kinds)`` finds replaced by ``fakes[i](span)`` (``i`` the kind's
    place in :data:`NATIVE_ORDER`), found and joined in one C call. It returns
    None when there is no span, and False when the text needs the Python
    detectors (it may hold a URL or an IPv6 address). No substituter (None)
    where the C extension is off."""
    if _detectnative is None:
        return None
    wanted = _checked(kinds)
    flags = native_flags(wanted)
    url, ipv6 = "url" in wanted, "ipv6" in wanted
    native = _detectnative.substitute
    if not (url or ipv6):
        return lambda text, fakes: native(text, flags, fakes)

    def substitute(text: str, fakes: tuple[Callable[[str], object] | None, ...]) -> object:
        if _needs_python(text, url, ipv6):
            return False
        return native(text, flags, fakes)

    return substitute  # type: ignore[return-value]


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
    wanted = _checked(kinds)
    taken: list[tuple[int, int, str]] = []
    for name, pattern in (patterns or {}).items():
        taken += [(m.start(), m.end(), name) for m in pattern.finditer(text) if m.end() > m.start()]
    return keep_first(taken + _spans(text, wanted))
