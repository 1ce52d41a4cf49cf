"""Faker's own vocabulary: which sampled values mean nothing, and which could be a fake.

Two questions about a sampled source value, both answered from the lists Faker
draws its fakes from (every provider of en_US and of the rules' locales, and
the name lists of every locale):

- :func:`common_words`: is it one entry of those lists (`Smith`, `New York`)?
  Then it identifies no one and is not looked for at all.
- :func:`could_be_fake`: could a fake be exactly this value (`John Smith`,
  `Hampshire`, `123 Main Street`, `smith.john@gmail.com`)? Then finding it in
  a column that holds fakes, on another row, is a coincidence of the pools,
  not a leak: a fake drawn for one person can be another person's real value,
  above all when the source itself was made with Faker.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

from datacloner.verify.tokens import _STOP_WORDS, MIN_DIGITS, _digit_runs, normalize, word_form


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


def _provider_strings(locale: str, only: tuple[str, ...] = ()) -> set[str]:
    """The strings of a locale's providers (only the modules named in ``only``)."""
    from faker import Factory

    raw: set[str] = set()
    try:
        generator = Factory.create(locale)
    except Exception:  # an unknown locale is reported by `check`, not here
        return raw
    for provider in generator.get_providers():
        if only and not type(provider).__module__.startswith(only):
            continue
        for cls in type(provider).__mro__:
            for name, value in vars(cls).items():
                if not name.startswith("__"):
                    _strings(value, raw)
    return raw


@functools.cache
def _person_strings() -> frozenset[str]:
    """The name lists of every Faker locale."""
    from faker.config import AVAILABLE_LOCALES

    raw: set[str] = set()
    for locale in AVAILABLE_LOCALES:
        try:
            module = importlib.import_module(f"faker.providers.person.{locale}")
        except ImportError:
            continue
        for cls in module.Provider.__mro__:
            for name, value in vars(cls).items():
                if not name.startswith("__") and isinstance(value, list | tuple | dict):
                    _strings(value, raw)
    return frozenset(raw)


@functools.cache
def _all_strings(locales: frozenset[str]) -> frozenset[str]:
    raw: set[str] = set(_STOP_WORDS)
    for locale in sorted({"en_US", *locales}):
        raw |= _provider_strings(locale)
    return frozenset(raw | _person_strings())


@functools.cache
def common_words(locales: frozenset[str] = frozenset()) -> frozenset[bytes]:
    """Values that identify no one, normalized: every word list of Faker's providers
    for ``locales`` and en_US (names, cities, streets, lorem words...), the name
    lists of every Faker locale, and a few stop words.

    Why Faker's lists: a fake drawn from them can equal a real value by chance
    (a customer called Smith, a fake called Smith), so such a value proves nothing;
    and a value outside them is never produced by a Faker name provider."""
    common: set[bytes] = set()
    for text in _all_strings(locales):
        norm = normalize(text)
        common.add(norm)
        common.add(word_form(norm))
    common.discard(b"")
    return frozenset(common)


def _words_of(strings: frozenset[str]) -> frozenset[bytes]:
    words: set[bytes] = set()
    for text in strings:
        words.update(word_form(normalize(text)).split())
    return frozenset(words)


@functools.cache
def pool_words(locales: frozenset[str] = frozenset()) -> frozenset[bytes]:
    """Every word of Faker's lists: what a fake made of them can hold."""
    return _words_of(_all_strings(locales))


@functools.cache
def email_words(locales: frozenset[str] = frozenset()) -> frozenset[bytes]:
    """What Faker builds an email from: names (every locale), and its internet
    lists (free mail domains, top-level domains, `example`)."""
    raw = set(_person_strings())
    for locale in sorted({"en_US", *locales}):
        raw |= _provider_strings(locale, ("faker.providers.internet", "faker.providers.company"))
    return _words_of(frozenset(raw)) | {b"example"}


_EMAIL_PART = re.compile(rb"[a-z0-9]+|[^a-z0-9._+@-]+")


def _part_could_be(part: bytes, names: frozenset[bytes]) -> bool:
    """An email part Faker's formats give: a name, maybe with digits after it
    (`john82`), one letter before a surname (`jsmith`), two names joined."""
    stem = part.rstrip(b"0123456789")
    if not stem:
        return len(part) <= 4
    return _in_pools(stem, names)


def could_be_fake(norm: bytes, kind: str | None, locales: frozenset[str]) -> bool:
    """Whether a fake can be exactly this normalized value: every word from
    Faker's lists (an email: every part of it, as Faker's email formats build
    them), numbers shorter than 9 digits (house numbers, postcodes). A phone or
    card number (9+ digits) can, but as rarely as a real leak is likely: no.
    An IPv4 address can (Faker draws any)."""
    if kind == "ipv4":
        return True
    if kind in ("phone", "credit_card", "pattern"):
        return False
    if any(len(run) >= MIN_DIGITS for run in _digit_runs(norm)):
        return False  # a phone, card or account number: as rare as a leak is likely
    if b"@" in norm:
        names = email_words(locales)
        parts = _EMAIL_PART.findall(norm.replace(b"@", b"."))
        return bool(parts) and all(_part_could_be(p, names) for p in parts)
    words = word_form(norm).split()
    if not words:
        return False
    vocabulary = pool_words(locales)
    # digits after a name only in a login (`andrea00`): no fake name, city or
    # street has a word like `Quill7`
    could = _part_could_be if len(words) == 1 else _in_pools
    for word in words:
        if word.isdigit():
            if len(word) >= MIN_DIGITS:
                return False
        elif len(word) > 1 and not could(word, vocabulary):
            return False
    return True


def _in_pools(word: bytes, vocabulary: frozenset[bytes]) -> bool:
    """A word of the lists, one letter before one (`jsmith`), or two joined
    (`Jamesmouth`: a name and a city suffix; `lisagarcia`)."""
    if word in vocabulary or (len(word) > 2 and word[1:] in vocabulary):
        return True
    return any(word[:i] in vocabulary and word[i:] in vocabulary for i in range(2, len(word) - 1))
