"""Tokens: the same functions cut sampled source values and target text.

Everything works on lower-cased UTF-8 bytes: bytes.translate/split run at memory
speed where Python's re manages a few MB/s, and that decides whether a
million-user database is verified in seconds or in minutes. Word characters are
ASCII letters, digits, `_` and every non-ASCII byte (so `zoë` is one word).

What is *inside* a source value (:func:`embedded`) is found by the detectors
``scrub`` uses (:mod:`datacloner.detect.detectors`): verify looks for exactly the
values a scrub rule replaces, so what it rightly keeps (an invoice number, an
order id) is never a needle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from datacloner.detect import detectors

DEFAULT_SAMPLE = 1000  # distinct values per masked column
MIN_CHARS = 4  # shorter values ('', 'Li', 'Bob', 'NY') identify no one
# A number needs 9+ digits (phones with area code, SSNs, cards, IBANs): shorter ones
# (postcodes, house numbers, order numbers) turn up everywhere by chance.
MIN_DIGITS = 9
MIN_ID_CHARS = 6  # a single token with digits (`user_17`, `ab12cd`) searched everywhere
MAX_NGRAM = 4  # multi-word values up to 4 words are also found inside text
BLOCK_BYTES = 2 << 20  # target rows are matched in blocks of about 2 MB
COUNT_LIMIT = 1000  # rows counted per column that leaks; beyond, "1,000+"

Scope = tuple[str, str, str]  # (schema, table, column); partitions under their root table

# A few words that fill columns everywhere without naming anyone.
_STOP_WORDS = (
    "null",
    "none",
    "true",
    "false",
    "unknown",
    "n/a",
    "test",
    "example",
    "default",
    "user",
    "admin",
    "other",
    "empty",
)

_PUNCT = "\"'<>()[]{},;:=/\\|!?*&^$#~`"  # ends a token such as an email or an IP address
_LOOSE = bytes(32 if chr(i) in _PUNCT or chr(i).isspace() and i < 128 else i for i in range(256))
_NON_WORD = bytes(
    32 if i < 128 and not (chr(i).isalnum() or chr(i) in "_\t\n") else i for i in range(256)
)
_OTHER_SPACE = bytes(32 if i in (11, 12, 13) else i for i in range(256))  # \v \f \r
_NOT_DIGIT_OR_NEWLINE = bytes(i for i in range(256) if not (48 <= i <= 57 or i == 10))
_TAB_TO_NEWLINE = bytes(10 if i == 9 else i for i in range(256))
# A phone-like run: "+1 (202) 555-0100" gives 12025550100. Not inside a word: the
# digits of a hex token such as `a15550123b` are no phone number.
_PHONE = re.compile(rb"\d(?<!\w\d)[\d ().\-]{5,}\d(?!\w)")
_DATE = re.compile(
    rb"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    rb"(?:z|[+-]\d{2}(?::?\d{2})?)?"
    rb"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
)
_IPV4 = re.compile(rb"\d{1,3}(?:\.\d{1,3}){3}")
_EMAIL = re.compile(rb"[^@ ]+@[^@ .]+(?:\.[^@ .]+)+")
_SPACES = re.compile(rb" {2,}")
_COMMON_IPS = (b"0.0.0.0", b"127.0.0.1", b"255.255.255.255", b"255.255.255.0")
_NGRAM = {
    n: re.compile(rb"(?<![^ \n])(?=([^ \n]+(?: [^ \n]+){%d}))" % (n - 1))
    for n in range(2, MAX_NGRAM + 1)
}
_COPY_ESCAPES = (
    (b"\\t", b" "),
    (b"\\r", b" "),
    (b"\\f", b" "),
    (b"\\v", b" "),
    (b"\\b", b"\x08"),
)


def _lower(data: bytes) -> bytes:
    return data.lower() if data.isascii() else data.decode("utf-8", "replace").lower().encode()


def normalize(value: str) -> bytes:
    """A source value as it is matched: lower case, UTF-8, trimmed, runs of ASCII
    whitespace as one space."""
    return b" ".join(value.lower().encode("utf-8", "replace").split())


def prepare(block: bytes, copy_text: bool) -> bytes:
    """Target rows as matchable bytes, normalized as :func:`normalize` does each
    value: values separated by ``\\t``, rows ended by ``\\n``. ``copy_text``: the
    block is PostgreSQL COPY text, whose escapes are decoded here (``\\N``, NULL,
    becomes an empty value). Spaces at either end of a value are left: only
    values of more than 4 words cannot be found through their words then."""
    text = _lower(block)
    if copy_text and b"\\" in text:
        escaped_backslash = b"\\\\" in text
        if escaped_backslash:
            text = text.replace(b"\\\\", b"\x00")  # PostgreSQL text never holds NUL
        text = text.replace(b"\\n", b" ")  # a newline, or \N (NULL) lower-cased
        if b"\\" in text:
            for escape, char in _COPY_ESCAPES:
                text = text.replace(escape, char)
        if escaped_backslash:
            text = text.replace(b"\x00", b"\\")
    text = text.translate(_OTHER_SPACE)
    if b"  " in text:
        text = _SPACES.sub(b" ", text)
    return text


# Each function cuts prepared text into one kind of token, as a list: a list is
# cheaper to build than a set, and a set of needles checks a list in C.


def _cells(text: bytes) -> list[bytes]:
    return text.translate(_TAB_TO_NEWLINE).split(b"\n")


def _loose(text: bytes) -> list[bytes]:
    """Tokens ended by whitespace or punctuation other than . @ + % - _ : emails,
    IP addresses, `mike.hillyer`, `ab-1234` (a full stop ending a sentence dropped)."""
    loose = text.translate(_LOOSE) + b" "
    if b". " in loose:
        loose = loose.replace(b". ", b" ")
    return loose.split()


def _words(text: bytes) -> list[bytes]:
    return text.translate(_NON_WORD).split()


def _digit_runs(text: bytes) -> list[bytes]:
    """Phone-like runs as their digits only: `+1 (202) 555-0100` -> `12025550100`."""
    runs = _PHONE.findall(text)
    if not runs:
        return []
    return b"\n".join(runs).translate(None, _NOT_DIGIT_OR_NEWLINE).split(b"\n")


def word_form(norm: bytes) -> bytes:
    return b" ".join(norm.translate(_NON_WORD).split())


def ngrams(text: bytes, sizes: Iterable[int]) -> list[bytes]:
    """Word n-grams that do not cross values (``\\t``) or rows (``\\n``)."""
    words = text.translate(_NON_WORD)
    if b"  " in words:
        words = _SPACES.sub(b" ", words)
    words = words.replace(b"\t", b"\n").replace(b" \n", b"\n").replace(b"\n ", b"\n")
    found: list[bytes] = []
    for n in sizes:
        found += _NGRAM[n].findall(words)
    return found


# Kinds found inside a source value; their needles as the target is cut: an email
# or an IPv4 address whole, a phone or card number as its digits (_digit_runs).
EMBEDDED_KINDS = ("email", "phone", "ipv4", "credit_card")
_CODE_STOP = frozenset(" \t\n\r\v\f" + _PUNCT)


def _in_code(value: str, start: int, end: int) -> bool:
    """Whether the span is the digits of a code such as `INV-2026-04-0007` or
    `Q-0A5F-202604-007`: letters in the same token (ended by spaces or
    punctuation) make it a document number, not a phone."""
    i = start
    while i > 0 and value[i - 1] not in _CODE_STOP:
        i -= 1
    j = end
    while j < len(value) and value[j] not in _CODE_STOP:
        j += 1
    return any(c.isascii() and c.isalpha() for c in value[i:start] + value[end:j])


def embedded(value: str, kinds: Iterable[str] = EMBEDDED_KINDS) -> dict[bytes, str]:
    """The emails, phone and card numbers and IPv4 addresses inside a source value,
    as ``scrub``'s detectors find them, each as the token it is matched as (an
    email normalized, a number as its digits: `+1 (403) 333-5568` ->
    `14033335568`), with its kind. A number of fewer than 9 digits, or inside a
    code, is left out: it identifies no one, and turns up everywhere."""
    wanted = [k for k in kinds if k in EMBEDDED_KINDS]
    found: dict[bytes, str] = {}
    if not wanted:
        return found
    for start, end, kind in detectors.find_all(value, wanted):
        norm = normalize(value[start:end])
        if kind == "email":
            found[norm] = kind
        elif kind == "ipv4":
            if norm not in _COMMON_IPS:
                found[norm] = kind
        elif not _in_code(value, start, end):
            for run in _digit_runs(norm):
                if len(run) >= MIN_DIGITS:
                    found[run] = kind
    return found
