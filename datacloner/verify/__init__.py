"""``datacloner verify ENV``: prove that no sampled personal value of the source is in ENV.

1. **Sample** up to N distinct values of every masked column of the source (array
   elements, json strings), turn each into *needles* (the whole value, its words,
   the emails, phone numbers and IP addresses inside it) and keep only keyed
   hashes of them. Values too short or too common to identify anyone are skipped.
2. **Search** every text-like column of the target, streamed in blocks of whole
   rows: each block is cut into the same kinds of tokens (whole values, words and
   word n-grams, emails, digit runs, IP addresses) and looked up among the needles.
   Only a block that hits is split into its columns, and the cells of a column
   that hits are counted one by one.

No database code lives here: ``engines/pg_verify.py`` and ``engines/sqlite_verify.py``
sample the source and stream the target. See docs/verify.md.

Privacy: a sampled value exists in memory only while its needles are derived;
after that only hashes remain, and nothing here ever prints, logs or raises with
a value. Reports name tables, columns and counts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Protocol

from datacloner import __version__, urls
from datacloner.catalog import Column, Table
from datacloner.config import Config
from datacloner.errors import DataclonerError, Refused, UsageError
from datacloner.rules import MaskSpec

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

# --- tokens: the same functions cut source values and target text ---------------------
# Everything works on lower-cased UTF-8 bytes: bytes.translate/split run at memory
# speed where Python's re manages a few MB/s, and that decides whether a
# million-user database is verified in seconds or in minutes. Word characters are
# ASCII letters, digits, `_` and every non-ASCII byte (so `zoë` is one word).

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


def _embedded(norm: bytes) -> set[bytes]:
    """Emails and phone-like digit runs inside a normalized source value; dates and
    IP addresses are blanked first, so `2023-01-01` never becomes `20230101`."""
    loose = _loose(norm)
    found = {t for t in loose if _EMAIL.fullmatch(t)}
    found.update(t for t in loose if _IPV4.fullmatch(t) and t not in _COMMON_IPS)
    runs = _digit_runs(_IPV4.sub(b" ", _DATE.sub(b" ", norm)))
    found.update(r for r in runs if len(r) >= MIN_DIGITS)
    return found


# --- values that mean nothing: Faker's own vocabulary --------------------------------


def _strings(value: Any, into: set[str]) -> None:
    if isinstance(value, str):
        into.add(value)
    elif isinstance(value, dict):
        into.update(k for k in value if isinstance(k, str))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            if isinstance(item, str):
                into.add(item)
            elif isinstance(item, list | tuple):
                into.update(x for x in item if isinstance(x, str))


@functools.cache
def common_words(locales: frozenset[str] = frozenset()) -> frozenset[bytes]:
    """Values that identify no one, normalized: every word list of Faker's providers
    for ``locales`` and en_US (names, cities, streets, lorem words...), the name
    lists of every Faker locale, and a few stop words.

    Why Faker's lists: a fake drawn from them can equal a real value by chance
    (a customer called Smith, a fake called Smith), so such a value proves nothing;
    and a value outside them is never produced by a Faker name provider."""
    from faker import Factory
    from faker.config import AVAILABLE_LOCALES

    raw: set[str] = set(_STOP_WORDS)
    for locale in sorted({"en_US", *locales}):
        try:
            generator = Factory.create(locale)
        except Exception:  # an unknown locale is reported by `check`, not here
            continue
        for provider in generator.get_providers():
            for cls in type(provider).__mro__:
                for name, value in vars(cls).items():
                    if not name.startswith("__"):
                        _strings(value, raw)
    for locale in AVAILABLE_LOCALES:
        try:
            module = importlib.import_module(f"faker.providers.person.{locale}")
        except ImportError:
            continue
        for cls in module.Provider.__mro__:
            for name, value in vars(cls).items():
                if not name.startswith("__") and isinstance(value, list | tuple | dict):
                    _strings(value, raw)
    common: set[bytes] = set()
    for text in raw:
        norm = normalize(text)
        common.add(norm)
        common.add(word_form(norm))
    common.discard(b"")
    return frozenset(common)


# --- needles: keyed hashes only --------------------------------------------------------


class _Keyed:
    """BLAKE2b keyed with a fresh random key: needles from another run never match."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        self._base = hashlib.blake2b(key=key, digest_size=16, person=b"dc-verify-v1")

    def __call__(self, data: bytes) -> bytes:
        h = self._base.copy()
        h.update(data)
        return h.digest()


class _Needle:
    """A sampled token as two keyed hashes, never its bytes.

    ``hash()`` of the bytes (SipHash with Python's per-process random key) lets a
    set of needles be intersected with a set of target tokens entirely in C; a match
    on those 64 bits is confirmed by ``__eq__`` with the 128-bit BLAKE2b digest."""

    __slots__ = ("_hash", "_keyed", "digest")

    def __init__(self, data: bytes, keyed: _Keyed) -> None:
        self._hash = hash(data)
        self._keyed = keyed
        self.digest = keyed(data)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Needle):
            return self.digest == other.digest
        if isinstance(other, bytes):
            return self._keyed(other) == self.digest
        return NotImplemented


class _Index:
    """Needles, each with the id of the sampled value it came from (the keyed hash of
    the whole value), so hits count values, not needles. With hash randomization off
    (PYTHONHASHSEED set) Python's ``hash()`` is no longer keyed: then only BLAKE2b
    digests are kept and every token is hashed, slower for the same result."""

    def __init__(self, keyed: _Keyed, fast: bool) -> None:
        self._keyed = keyed
        self._fast = fast
        self._needles: dict[_Needle, bytes] = {}
        self._digests: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._needles) if self._fast else len(self._digests)

    def add(self, data: bytes, value_id: bytes) -> None:
        if self._fast:
            self._needles.setdefault(_Needle(data, self._keyed), value_id)
        else:
            self._digests.setdefault(self._keyed(data), value_id)

    def update(self, other: _Index) -> None:
        self._needles.update(other._needles)
        self._digests.update(other._digests)

    def hits(self, found: Iterable[bytes]) -> bool:
        if self._fast:
            return not self._needles.keys().isdisjoint(found)
        return bool(self._digests) and not self._digests.keys().isdisjoint(
            {self._keyed(t) for t in found}
        )

    def matched(self, found: Iterable[bytes]) -> set[bytes]:
        """Ids of the sampled values among ``found`` (for the slow path only)."""
        if self._fast:
            ids = (self._needles.get(t) for t in found)  # type: ignore[call-overload]
        else:
            ids = (self._digests.get(self._keyed(t)) for t in found)
        return {i for i in ids if i is not None}


class _WordIndex:
    """The words of the n-gram needles, to tell cheaply whether a block holds every
    word of one. A false match only costs an n-gram pass, so the fast form keeps
    and compares the 64-bit ``hash()`` alone."""

    def __init__(self, keyed: _Keyed, fast: bool) -> None:
        self._keyed = keyed
        self._fast = fast
        self._ids: set[int | bytes] = set()

    def add(self, word: bytes) -> int | bytes:
        word_id: int | bytes = hash(word) if self._fast else self._keyed(word)
        self._ids.add(word_id)
        return word_id

    def present(self, words: list[bytes]) -> set[int | bytes]:
        if self._fast:
            return self._ids.intersection(map(hash, words))
        return self._ids.intersection({self._keyed(w) for w in set(words)})


@dataclass
class ColumnSample:
    """What one masked column of the source gave: counts only, never values."""

    table: str
    column: str
    sampled: int = 0  # distinct values read
    kept: int = 0  # values that gave at least one needle
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> values
    note: str | None = None  # why the column was not sampled at all


class Needles:
    """Keyed hashes of what to look for.

    - **global** needles are searched in every column of the target: whole values of
      two or more words (and, up to 4 words, as a word n-gram inside text), emails,
      digit runs of 9+ digits, single tokens with digits of 6+ characters;
    - **scoped** needles, single words such as a surname, are searched only in the
      column they came from (the same table and column of the target), where a
      masked copy holds only fakes: elsewhere a single word is too often just a
      word (`Hunter`, `Temple`, a city called `Trang`).
    """

    def __init__(
        self, common: frozenset[bytes], key: bytes | None = None, fast: bool | None = None
    ) -> None:
        self._keyed = _Keyed(key or secrets.token_bytes(32))
        # Python's hash() is keyed per process unless PYTHONHASHSEED disables it.
        self._fast = bool(sys.flags.hash_randomization) if fast is None else fast
        self._common = common
        self.global_ = self.index()
        self.scoped: dict[Scope, _Index] = {}
        self.ngrams = self.index()  # multi-word values as word n-grams
        # Each n-gram needle as the digests of its words: a block whose words do not
        # include all of them cannot hold it, and needs no n-gram pass.
        self.ngram_words = _WordIndex(self._keyed, self._fast)
        self.ngram_sets: dict[frozenset[int | bytes], set[int]] = {}  # word ids -> sizes
        self.digit_runs = False  # whether any needle is a digit run (else none are cut)

    def index(self) -> _Index:
        return _Index(self._keyed, self._fast)

    def __len__(self) -> int:
        scoped = sum(len(i) for i in self.scoped.values())
        return len(self.global_) + scoped + len(self.ngrams)

    def add(
        self,
        value: str,
        scope: Scope,
        embedded_only: bool = False,
        patterns: Iterable[re.Pattern[str]] = (),
    ) -> str | None:
        """Derive the needles of one sampled value; None when kept, else why not.
        ``embedded_only``: the column is scrubbed, so its text stays in the target
        and only what is inside it (emails, phone numbers, IP addresses, what the
        rule's own ``patterns`` match) is personal."""
        norm = normalize(value)
        value_id = self._keyed(norm)  # the same value sampled twice counts once
        inside = _embedded(norm)
        for pattern in patterns:
            for match in pattern.finditer(value):
                found = normalize(match.group(0))
                if len(found.decode("utf-8", "replace")) >= MIN_CHARS:
                    inside.add(found)
        for token in inside:
            self.global_.add(token, value_id)
            self.digit_runs = self.digit_runs or token.isdigit()
        if embedded_only:
            return None if inside else "nothing personal inside"
        reason = self._whole(norm, scope, value_id)
        return None if reason is None or inside else reason

    def _whole(self, norm: bytes, scope: Scope, value_id: bytes) -> str | None:
        if len(norm.decode("utf-8", "replace")) < MIN_CHARS:
            return "shorter than 4 characters"
        if _DATE.fullmatch(norm):
            return "a date"
        if not any(c.isalpha() for c in norm.decode("utf-8", "replace")):
            if _IPV4.fullmatch(norm):
                self.global_.add(norm, value_id)
                return None
            # a number: a phone or an id is found by its digits, a postcode is too short
            runs = [r for r in _digit_runs(norm) if len(r) >= MIN_DIGITS]
            if not runs:
                if not any(48 <= c <= 57 for c in norm):
                    return "no letters or digits"
                return "a number shorter than 9 digits"
            self.global_.add(norm, value_id)
            for run in runs:
                self.global_.add(run, value_id)
            self.digit_runs = True
            return None
        form = word_form(norm)
        if norm in self._common or form in self._common:
            return "a common word or name"
        words = form.split()
        if b" " not in norm:
            if (b"@" in norm or any(48 <= c <= 57 or c == 95 for c in norm)) and len(
                norm
            ) >= MIN_ID_CHARS:
                self.global_.add(norm, value_id)  # an id, a login with digits, an email
            else:
                index = self.scoped.get(scope)
                if index is None:
                    index = self.scoped[scope] = self.index()
                index.add(norm, value_id)
                index.add(form, value_id)
            return None
        self.global_.add(norm, value_id)
        if 2 <= len(words) <= MAX_NGRAM:
            self.ngrams.add(form, value_id)
            digests = frozenset(self.ngram_words.add(w) for w in words)
            self.ngram_sets.setdefault(digests, set()).add(len(words))
        return None


# --- the search ------------------------------------------------------------------------


@dataclass
class Hit:
    table: str
    column: str
    rows: int  # rows whose value holds at least one sampled value
    values: int  # distinct sampled values found
    at_least: bool = False  # counting stopped at COUNT_LIMIT rows


class Matcher:
    """Matches blocks of target rows against the needles.

    The fast path cuts a whole block into tokens with a few C-level passes and asks
    whether any is a needle. Only a block that hits is transposed into columns, each
    column checked the same way, and the cells of a column that hits are counted
    one by one, up to :data:`COUNT_LIMIT` rows: a column that leaks on every row
    costs no more than one that leaks once."""

    def __init__(self, needles: Needles) -> None:
        self.needles = needles

    def _ngram_sizes(self, words: list[bytes]) -> list[int]:
        """Sizes of the n-gram needles whose words all occur in ``words``: only
        then is it worth cutting n-grams."""
        if not self.needles.ngram_sets:
            return []
        present = self.needles.ngram_words.present(words)
        if not present:
            return []
        sizes: set[int] = set()
        for digests, n in self.needles.ngram_sets.items():
            if digests <= present:
                sizes |= n
        return sorted(sizes)

    def _hits(self, text: bytes, scoped: _Index | None) -> tuple[bool, list[int]]:
        """Whether prepared ``text`` holds a needle; the n-gram sizes worth cutting."""
        needles = self.needles.global_

        def hits(tokens: list[bytes]) -> bool:
            return needles.hits(tokens) or (scoped is not None and scoped.hits(tokens))

        words = _words(text)
        sizes = self._ngram_sizes(words)
        hit = (
            hits(_cells(text))
            or hits(_loose(text))
            or hits(words)
            or (self.needles.digit_runs and needles.hits(_digit_runs(text)))
            or bool(sizes and self.needles.ngrams.hits(ngrams(text, sizes)))
        )
        return hit, sizes

    def scan(
        self,
        table: str,
        scopes: list[Scope],
        blocks: Iterable[bytes],
        copy_text: bool,
        advance: Callable[[int], None] | None = None,
    ) -> tuple[int, list[Hit]]:
        """Rows read and hits per column; ``scopes[i]`` names the i-th value of a row."""
        scoped = [self.needles.scoped.get(s) for s in scopes]
        any_scoped: _Index | None = None
        if any(index is not None for index in scoped):
            # a scoped needle anywhere in the block only sends it to the exact count
            any_scoped = self.needles.index()
            for index in scoped:
                if index is not None:
                    any_scoped.update(index)
        rows = 0
        counts = [0] * len(scopes)
        values: list[set[bytes]] = [set() for _ in scopes]
        for block in blocks:
            n = block.count(b"\n")
            rows += n
            text = prepare(block, copy_text)
            if self._hits(text, any_scoped)[0]:
                self._count(text, scoped, counts, values)
            if advance is not None:
                advance(n)
        found = [
            Hit(
                table=table,
                column=s[2],
                rows=c,
                values=len(v),
                at_least=c >= COUNT_LIMIT,
            )
            for s, c, v in zip(scopes, counts, values, strict=True)
            if c
        ]
        return rows, found

    def _count(
        self,
        text: bytes,
        scoped: list[_Index | None],
        counts: list[int],
        values: list[set[bytes]],
    ) -> None:
        """The slow path, for a block that hits: column by column, then cell by cell."""
        width = len(counts)
        rows = [line.split(b"\t") for line in text.split(b"\n") if line]
        columns = zip(*(row + [b""] * (width - len(row)) for row in rows), strict=False)
        for i, cells in enumerate(columns):
            if i >= width or counts[i] >= COUNT_LIMIT:
                continue
            hit, sizes = self._hits(b"\n".join(cells), scoped[i])
            if not hit:
                continue
            index = scoped[i]
            for cell in cells:
                cell = cell.strip(b" ")
                if not cell:
                    continue
                tokens = [cell, *_loose(cell), *_words(cell)]
                matched = self.needles.global_.matched(tokens + _digit_runs(cell))
                if index is not None:
                    matched |= index.matched(tokens)
                if sizes:
                    matched |= self.needles.ngrams.matched(ngrams(cell, sizes))
                if matched:
                    counts[i] += 1
                    values[i] |= matched
                    if counts[i] >= COUNT_LIMIT:
                        break


# --- engines ---------------------------------------------------------------------------


class SourceSampler(Protocol):
    def root(self, table: Table) -> tuple[str, str]:
        """(schema, table) of the partitioned table ``table`` belongs to, else its own."""
        ...

    def sample(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        paths: list[tuple[str, ...]] | None,
    ) -> list[str] | None:
        """Up to ``limit`` distinct non-NULL values of a masked column as text (array
        elements; json strings and numbers, at ``paths`` when given), skipping rows
        that ``unless`` passes unmasked. None when the type holds nothing to look for
        in text (dates, booleans, binary, floats)."""
        ...


@dataclass
class TargetTable:
    schema: str
    name: str
    kind: str  # "table" | "materialized view"
    columns: list[str]  # the text-like ones, in the order of each streamed row
    rows: int = 0  # estimate, for progress
    only: bool = False  # without inheritance children (searched as tables of their own)

    @property
    def display(self) -> str:
        from datacloner.catalog import display_name

        return display_name((self.schema, self.name))


class TargetReader(Protocol):
    copy_text: bool  # blocks are PostgreSQL COPY text (else plain, already unescaped)

    def tables(self) -> tuple[list[TargetTable], list[str]]:
        """What to search, and notes on what cannot be (e.g. unpopulated views)."""
        ...

    def blocks(self, table: TargetTable, size: int) -> Iterator[bytes]:
        """The text-like columns of every row, a block of whole rows at a time:
        values separated by ``\\t``, rows ended by ``\\n``, no raw ``\\t`` or ``\\n``
        inside a value."""
        ...


class VerifyEngine(Protocol):
    def open_source(self, url: str) -> AbstractContextManager[SourceSampler]: ...

    def open_target(self, url: str) -> AbstractContextManager[TargetReader]: ...


def _engine(url: str) -> ModuleType:
    kind = urls.kind(url)
    if kind == "postgresql":
        from datacloner.engines import pg_verify

        return pg_verify
    if kind == "sqlite":
        from datacloner.engines import sqlite_verify

        return sqlite_verify
    raise UsageError(f"verify does not support {kind} yet", hint="use PostgreSQL or SQLite")


# --- the runtime -----------------------------------------------------------------------


@dataclass
class SearchedTable:
    table: str
    kind: str
    columns: list[str]
    rows: int
    seconds: float


@dataclass
class VerifyReport:
    environment: str
    target: str  # redacted URL
    sample: int  # the limit per column
    samples: list[ColumnSample] = field(default_factory=list)
    needles: int = 0
    searched: list[SearchedTable] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sample_seconds: float = 0.0
    version: str = __version__

    @property
    def clean(self) -> bool:
        return not self.hits

    @property
    def values_sampled(self) -> int:
        return sum(s.sampled for s in self.samples)

    @property
    def values_kept(self) -> int:
        return sum(s.kept for s in self.samples)

    @property
    def columns_searched(self) -> int:
        return sum(len(t.columns) for t in self.searched)

    @property
    def rows_searched(self) -> int:
        return sum(t.rows for t in self.searched)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        data["totals"] = {
            "masked_columns_sampled": sum(1 for s in self.samples if s.note is None),
            "values_sampled": self.values_sampled,
            "values_kept": self.values_kept,
            "needles": self.needles,
            "tables_searched": len(self.searched),
            "columns_searched": self.columns_searched,
            "rows_searched": self.rows_searched,
            "columns_with_hits": len(self.hits),
            "rows_with_hits": sum(h.rows for h in self.hits),
        }
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


class VerifyProgress(Protocol):
    def start_table(self, name: str, estimate: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end_table(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...


def json_paths(spec: MaskSpec) -> list[tuple[str, ...]] | None:
    """The paths a ``{json: {path: rule}}`` mask rewrites, as key tuples (``*``: any
    array element or member), or None when the rule names none."""
    paths = spec.options.get("paths") if isinstance(spec.options, dict) else None
    if not isinstance(paths, list) or not paths:
        return None
    return [tuple(str(p).split(".")) for p in paths]


def scrub_patterns(spec: MaskSpec) -> list[re.Pattern[str]]:
    """A scrub rule's own regexes: what they match in a source value is personal."""
    patterns = spec.options.get("patterns") if isinstance(spec.options, dict) else None
    compiled = []
    for pattern in (patterns or {}).values():
        with contextlib.suppress(re.error, TypeError):  # the rules check reports bad ones
            compiled.append(re.compile(pattern))
    return compiled


def _locales(specs: Iterable[MaskSpec]) -> frozenset[str]:
    return frozenset(s.locale for s in specs if s.kind == "faker" and s.locale)


def sample_source(
    sampler: SourceSampler,
    plan_tables: Iterable[Any],
    needles: Needles,
    limit: int,
    phase: list[str] | None = None,
) -> list[ColumnSample]:
    """Turn the masked columns of ``plan_tables`` (TablePlans) into needles;
    ``phase[0]`` says what is being done, for an error message."""
    results: list[ColumnSample] = []
    for tp in plan_tables:
        if tp.skip or not tp.masks:
            continue
        schema, root = sampler.root(tp.table)
        for column in tp.columns:
            spec = tp.masks.get(column.name)
            if spec is None:
                continue
            if phase is not None:
                phase[0] = f"sampling {tp.name}.{column.name}"
            stats = ColumnSample(table=tp.name, column=column.name)
            results.append(stats)
            paths = None
            if spec.kind == "json":
                paths = json_paths(spec)
                if paths is None:
                    stats.note = "json rule without paths: not sampled"
                    continue
            values = sampler.sample(tp.table, column, limit, tp.unless, paths)
            if values is None:
                stats.note = f"type {column.type} is not searched for in text: not sampled"
                continue
            scope: Scope = (schema, root, column.name)
            reasons: Counter[str] = Counter()
            embedded_only = spec.kind == "scrub"
            patterns = scrub_patterns(spec) if embedded_only else []
            stats.sampled = len(values)
            for i, value in enumerate(values):
                reason = needles.add(value, scope, embedded_only, patterns)
                values[i] = ""  # drop each source value as soon as it is hashed
                if reason is None:
                    stats.kept += 1
                else:
                    reasons[reason] += 1
            del values
            stats.skipped = dict(reasons)
    return results


def verify(
    config: Config,
    environment: str,
    sample: int = DEFAULT_SAMPLE,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Sample the source's masked columns, search every text-like column of the
    environment's database. The caller decides what a hit means (CheckFailed).

    Any unexpected error is re-raised as :class:`Refused` naming only what was being
    done and the error's type: a driver's message, or a traceback's local
    variables, could quote a sampled value."""
    phase = ["reading the configuration"]
    try:
        return _verify(config, environment, sample, progress, phase)
    except (DataclonerError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise Refused(
            f"verify failed while {phase[0]}: {type(exc).__name__}",
            hint="the error's own message is not shown: it could quote a personal value",
        ) from None


def _verify(
    config: Config,
    environment: str,
    sample: int,
    progress: VerifyProgress | None,
    phase: list[str],
) -> VerifyReport:
    from datacloner.refresh import check  # the plan, exactly as a refresh builds it

    began = time.monotonic()
    target_url = config.environment(environment).url
    if sample < 1:
        raise UsageError("--sample must be 1 or more")
    source_engine = _engine(config.require_source())
    target_engine = _engine(target_url)
    phase[0] = "checking the rules against the source"
    plan = check(config).plan
    report = VerifyReport(environment=environment, target=urls.redact(target_url), sample=sample)
    specs = [spec for tp in plan.copied for spec in tp.masks.values()]
    needles = Needles(common_words(_locales(specs)))
    with source_engine.open_source(config.require_source()) as sampler:
        report.samples = sample_source(sampler, plan.tables, needles, sample, phase)
    report.needles = len(needles)
    report.sample_seconds = round(time.monotonic() - began, 3)

    matcher = Matcher(needles)
    phase[0] = "reading the target's catalog"
    with target_engine.open_target(target_url) as reader:
        tables, notes = reader.tables()
        report.notes.extend(notes)
        for table in tables:
            started = time.monotonic()
            name = table.display
            phase[0] = f"searching {name}"
            if progress is not None:
                progress.start_table(name, table.rows)
            scopes: list[Scope] = [(table.schema, table.name, c) for c in table.columns]
            rows, hits = matcher.scan(
                name,
                scopes,
                reader.blocks(table, BLOCK_BYTES),
                reader.copy_text,
                progress.advance if progress is not None else None,
            )
            if progress is not None:
                progress.end_table(rows)
            report.hits.extend(hits)
            report.searched.append(
                SearchedTable(
                    table=name,
                    kind=table.kind,
                    columns=table.columns,
                    rows=rows,
                    seconds=round(time.monotonic() - started, 3),
                )
            )
    report.seconds = round(time.monotonic() - began, 3)
    return report


__all__ = [
    "DEFAULT_SAMPLE",
    "MIN_CHARS",
    "ColumnSample",
    "Hit",
    "Matcher",
    "Needles",
    "VerifyReport",
    "common_words",
    "normalize",
    "prepare",
    "verify",
]
