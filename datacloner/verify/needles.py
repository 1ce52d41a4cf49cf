"""Needles (keyed hashes of sampled source values) and the search of target text.

Privacy: a sampled value exists in memory only while its needles are derived;
after that only hashes remain, and nothing here ever prints, logs or raises with
a value. Reports name tables, columns and counts.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from datacloner.verify.fakes import could_be_fake
from datacloner.verify.tokens import (
    _DATE,
    _IPV4,
    COUNT_LIMIT,
    EMBEDDED_KINDS,
    MAX_NGRAM,
    MIN_CHARS,
    MIN_DIGITS,
    MIN_ID_CHARS,
    Scope,
    _cells,
    _digit_runs,
    _loose,
    _words,
    embedded,
    ngrams,
    normalize,
    prepare,
    word_form,
)

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


class _Group:
    """Needles of one kind: global, scoped to their own column, word n-grams."""

    __slots__ = ("global_", "scoped", "ngrams", "ngram_words", "ngram_sets")

    def __init__(self, empty: _Index) -> None:
        self.global_ = empty
        self.scoped: dict[Scope, _Index] = {}
        self.ngrams = _Index(empty._keyed, empty._fast)  # multi-word values as n-grams
        # Each n-gram needle as the digests of its words: a block whose words do not
        # include all of them cannot hold it, and needs no n-gram pass.
        self.ngram_words = _WordIndex(empty._keyed, empty._fast)
        self.ngram_sets: dict[frozenset[int | bytes], set[int]] = {}  # word ids -> sizes

    def __len__(self) -> int:
        return len(self.global_) + sum(map(len, self.scoped.values())) + len(self.ngrams)


class Needles:
    """Keyed hashes of what to look for.

    - **global** needles are searched in every column of the target: whole values of
      two or more words (and, up to 4 words, as a word n-gram inside text), emails,
      digit runs of 9+ digits, single tokens with digits of 6+ characters;
    - **scoped** needles, single words such as a surname, are searched only in the
      column they came from (the same table and column of the target), where a
      masked copy holds only fakes: elsewhere a single word is too often just a
      word (`Hunter`, `Temple`, a city called `Trang`).

    Each value (and each email or number inside one) has its own id. Those a
    fake could be (:func:`fakes.could_be_fake`) are kept apart, in :attr:`fake`:
    in a column that holds fakes, away from their own row, they are a
    coincidence of Faker's pools and are not looked for there at all.
    """

    def __init__(
        self,
        common: frozenset[bytes],
        key: bytes | None = None,
        fast: bool | None = None,
        locales: frozenset[str] = frozenset(),
    ) -> None:
        self._keyed = _Keyed(key or secrets.token_bytes(32))
        self._locales = locales
        # Python's hash() is keyed per process unless PYTHONHASHSEED disables it.
        self._fast = bool(sys.flags.hash_randomization) if fast is None else fast
        self._common = common
        self.real = _Group(self.index())  # no fake could be them: counted everywhere
        self.fake = _Group(self.index())  # a fake could be them: not in columns of fakes
        self.digit_runs = False  # whether any needle is a digit run (else none are cut)

    def index(self) -> _Index:
        return _Index(self._keyed, self._fast)

    @property
    def global_(self) -> _Index:
        return self.real.global_

    def __len__(self) -> int:
        return len(self.real) + len(self.fake)

    def _group(self, token: bytes, kind: str | None) -> _Group:
        return self.fake if could_be_fake(token, kind, self._locales) else self.real

    def add(
        self,
        value: str,
        scope: Scope,
        embedded_only: bool = False,
        patterns: Iterable[re.Pattern[str]] = (),
        kinds: Iterable[str] = EMBEDDED_KINDS,
    ) -> str | None:
        """Derive the needles of one sampled value; None when kept, else why not.
        ``embedded_only``: the column is scrubbed, so its text stays in the target
        and only what is inside it (the ``kinds`` the rule replaces, as its
        detectors find them, and what the rule's own ``patterns`` match) is
        personal."""
        norm = normalize(value)
        inside = embedded(value, kinds)
        for pattern in patterns:
            for match in pattern.finditer(value):
                found = normalize(match.group(0))
                if len(found.decode("utf-8", "replace")) >= MIN_CHARS:
                    inside[found] = "pattern"
        for token, kind in inside.items():
            self._group(token, kind).global_.add(token, self._keyed(token))
            self.digit_runs = self.digit_runs or token.isdigit()
        if embedded_only:
            return None if inside else "nothing personal inside"
        reason = self._whole(norm, scope, self._keyed(norm))
        return None if reason is None or inside else reason

    def _whole(self, norm: bytes, scope: Scope, value_id: bytes) -> str | None:
        if len(norm.decode("utf-8", "replace")) < MIN_CHARS:
            return "shorter than 4 characters"
        if _DATE.fullmatch(norm):
            return "a date"
        ipv4 = _IPV4.fullmatch(norm)
        group = self._group(norm, "ipv4" if ipv4 else None)
        if not any(c.isalpha() for c in norm.decode("utf-8", "replace")):
            if ipv4:
                group.global_.add(norm, value_id)
                return None
            # a number: a phone or an id is found by its digits, a postcode is too short
            runs = [r for r in _digit_runs(norm) if len(r) >= MIN_DIGITS]
            if not runs:
                if not any(48 <= c <= 57 for c in norm):
                    return "no letters or digits"
                return "a number shorter than 9 digits"
            group.global_.add(norm, value_id)
            for run in runs:
                group.global_.add(run, value_id)
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
                group.global_.add(norm, value_id)  # an id, a login with digits, an email
            else:
                index = group.scoped.get(scope)
                if index is None:
                    index = group.scoped[scope] = self.index()
                index.add(norm, value_id)
                index.add(form, value_id)
            return None
        group.global_.add(norm, value_id)
        if 2 <= len(words) <= MAX_NGRAM:
            group.ngrams.add(form, value_id)
            digests = frozenset(group.ngram_words.add(w) for w in words)
            group.ngram_sets.setdefault(digests, set()).add(len(words))
        return None


# --- the search ------------------------------------------------------------------------

_Look = tuple[_Group, "_Index | None"]  # needles to look for, with a column's scoped ones


@dataclass
class Hit:
    table: str
    column: str
    rows: int  # rows whose value holds at least one sampled value
    values: int  # distinct sampled values found
    at_least: bool = False  # counting stopped at COUNT_LIMIT rows
    same_row: int = 0  # of the rows compared with their source row: masked values equal to it


class Matcher:
    """Matches blocks of target rows against the needles.

    The fast path cuts a whole block into tokens with a few C-level passes and asks
    whether any is a needle. Only a block that hits is transposed into columns, each
    column checked the same way, and the cells of a column that hits are counted
    one by one, up to :data:`COUNT_LIMIT` rows: a column that leaks on every row
    costs no more than one that leaks once."""

    def __init__(self, needles: Needles) -> None:
        self.needles = needles

    def _ngram_sizes(self, words: list[bytes], looks: list[_Look]) -> list[int]:
        """Sizes of the n-gram needles of ``looks`` whose words all occur in
        ``words``: only then is it worth cutting n-grams."""
        sizes: set[int] = set()
        for group, _ in looks:
            if not group.ngram_sets:
                continue
            present = group.ngram_words.present(words)
            if not present:
                continue
            for digests, n in group.ngram_sets.items():
                if digests <= present:
                    sizes |= n
        return sorted(sizes)

    def _hits(self, text: bytes, looks: list[_Look]) -> tuple[bool, list[int]]:
        """Whether prepared ``text`` holds a needle of ``looks``; the n-gram sizes
        worth cutting."""
        words = _words(text)
        sizes = self._ngram_sizes(words, looks)

        def hits(tokens: list[bytes]) -> bool:
            return any(
                group.global_.hits(tokens) or (scoped is not None and scoped.hits(tokens))
                for group, scoped in looks
            )

        if hits(_cells(text)) or hits(_loose(text)) or hits(words):
            return True, sizes
        if self.needles.digit_runs:
            runs = _digit_runs(text)
            if any(group.global_.hits(runs) for group, _ in looks):
                return True, sizes
        if sizes:
            grams = ngrams(text, sizes)
            if any(group.ngrams.hits(grams) for group, _ in looks):
                return True, sizes
        return False, sizes

    def scan(
        self,
        table: str,
        scopes: list[Scope],
        blocks: Iterable[bytes],
        copy_text: bool,
        advance: Callable[[int], None] | None = None,
        fakes: list[bool] | None = None,
        masked_paths: list[list[JsonPath] | None] | None = None,
    ) -> tuple[int, list[Hit]]:
        """Rows read and hits per column; ``scopes[i]`` names the i-th value of a row.
        ``fakes[i]``: that column holds fakes (a masked column, a materialized
        view built from them), where a sampled value a fake could be is a
        coincidence of the pools, not a leak (its own row is checked apart), and
        is not looked for. ``masked_paths[i]``: the paths a json rule masks in
        that column; such values count only in the rest of the document."""
        holds_fakes = fakes or [False] * len(scopes)
        paths = masked_paths or [None] * len(scopes)
        real, fake = self.needles.real, self.needles.fake
        columns: list[list[_Look]] = []
        for scope, fakes_here in zip(scopes, holds_fakes, strict=True):
            looks: list[_Look] = [(real, real.scoped.get(scope))]
            if not fakes_here:
                looks.append((fake, fake.scoped.get(scope)))
            columns.append(looks)
        # the whole block first: a scoped needle anywhere only sends it to the exact count
        block_looks: list[_Look] = []
        for group in (real, fake):
            merged: _Index | None = None
            for looks in columns:
                for g, index in looks:
                    if g is group and index is not None:
                        merged = merged or self.needles.index()
                        merged.update(index)
            if group is real or not all(holds_fakes):
                block_looks.append((group, merged))
        rows = 0
        counts = [0] * len(scopes)
        values: list[set[bytes]] = [set() for _ in scopes]
        for block in blocks:
            n = block.count(b"\n")
            rows += n
            text = prepare(block, copy_text)
            if self._hits(text, block_looks)[0]:
                self._count(text, columns, counts, values, paths)
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
        columns: list[list[_Look]],
        counts: list[int],
        values: list[set[bytes]],
        masked_paths: list[list[JsonPath] | None],
    ) -> None:
        """The slow path, for a block that hits: column by column, then cell by cell."""
        width = len(counts)
        rows = [line.split(b"\t") for line in text.split(b"\n") if line]
        cut = zip(*(row + [b""] * (width - len(row)) for row in rows), strict=False)
        for i, cells in enumerate(cut):
            if i >= width or counts[i] >= COUNT_LIMIT:
                continue
            looks = columns[i]
            hit, sizes = self._hits(b"\n".join(cells), looks)
            if not hit:
                continue
            paths = masked_paths[i] if len(looks) > 1 else None
            for cell in cells:
                cell = cell.strip(b" ")
                if not cell:
                    continue
                if paths is None:
                    matched = self._matched(_Tokens(cell, sizes), looks)
                else:
                    # a json rule's column: values a fake could be count only in
                    # what the rule keeps, not at the paths it masks
                    tokens = _Tokens(cell, sizes)
                    matched = self._matched(tokens, looks[:1])
                    if matched or self._matched(tokens, looks[1:]):
                        kept = _kept_json(cell, paths)
                        if kept:
                            kept_tokens = _Tokens(kept, self._sizes(kept, looks))
                            matched |= self._matched(kept_tokens, looks[1:])
                if matched:
                    counts[i] += 1
                    values[i] |= matched
                    if counts[i] >= COUNT_LIMIT:
                        break

    def _sizes(self, text: bytes, looks: list[_Look]) -> list[int]:
        return self._ngram_sizes(_words(text), looks)

    def _matched(self, cell: _Tokens, looks: list[_Look]) -> set[bytes]:
        """Ids of the sampled values of ``looks`` in one prepared cell."""
        matched: set[bytes] = set()
        for group, index in looks:
            matched |= group.global_.matched(cell.tokens + cell.runs)
            if index is not None:
                matched |= index.matched(cell.tokens)
            if cell.grams:
                matched |= group.ngrams.matched(cell.grams)
        return matched


class _Tokens:
    """One prepared cell cut into what needles are matched against, once."""

    __slots__ = ("grams", "runs", "tokens")

    def __init__(self, cell: bytes, sizes: list[int]) -> None:
        self.tokens = [cell, *_loose(cell), *_words(cell)]
        self.runs = _digit_runs(cell)
        self.grams = ngrams(cell, sizes) if sizes else []


JsonPath = tuple[str, ...]


def _drop(node: Any, path: JsonPath) -> Any:
    """``node`` without what ``path`` reaches (keys as prepare() left them: lower case)."""
    if not path:
        return None
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        for key in [k for k in node if head == "*" or k == head.lower()]:
            node[key] = _drop(node[key], rest)
    elif isinstance(node, list):
        if head == "*":
            places: Iterable[int] = range(len(node))
        else:
            places = [int(head)] if head.isdigit() and int(head) < len(node) else []
        for place in places:
            node[place] = _drop(node[place], rest)
    return node


def _kept_json(cell: bytes, paths: list[JsonPath]) -> bytes:
    """The part of a JSON document that a json rule keeps, as text to search."""
    try:
        doc = json.loads(cell)
    except ValueError:
        return cell  # not JSON as read here: all of it counts
    for path in paths:
        doc = _drop(doc, path)
    return json.dumps(doc, ensure_ascii=False).encode()
