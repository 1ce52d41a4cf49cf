"""Sampled values -> counts of what they look like. No decisions here: the
caller weighs the counts with the column's name, type and table.

Every check is on the value itself, validated where a validator exists
(``datacloner.detect.detectors``: Luhn for cards, mod-97 for IBANs, ``ipaddress`` for
IPs). Names are matched against Faker's first- and last-name lists of several
locales, so "Maria Anders", "PENELOPE" or "Müller" count as names while
"Speedy Express" does not. The profile keeps counts only, plus a few examples
that the CLI prints with ``--show-values`` and nowhere else.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from datacloner.detect import detectors

# Faker locales whose names are matched: the languages of the name dictionary
# plus a few large ones, so a customer list from anywhere is recognised.
NAME_LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL", "pt_BR", "pt_PT",
    "sv_SE", "pl_PL", "en_IN",
)  # fmt: skip
# Whole-value checks that a validator backs; "ip" merges ipv4 and ipv6.
WHOLE_KINDS = ("email", "phone", "ip", "credit_card", "iban", "url")
# Kinds a free text can contain that `scrub` removes.
SCRUB_KINDS = tuple(k for k in detectors.KINDS if k != "url")  # a link in prose names no one
# ... and those looked for anywhere in JSON (keys and values of free-form metadata).
JSON_SCRUB_KINDS = ("email", "phone")
_SALUTATIONS = frozenset(
    str.split(
        "mr mrs ms miss mx dr prof sir madam herr frau fr hr m mme mlle mr. sr sra srta don dona "
        "dhr mevr mw sig sig.ra signor signora sr. sra. dott dott.ssa"
    )
)
# Street words: Faker's English street suffixes (loaded below) plus these,
# and the endings of German, Dutch and Nordic compounds ("Hauptstraße").
_STREET_WORDS = frozenset(
    str.split(
        "st str rd ave av avda blvd dr ln ct pl sq pkwy hwy cres rue chemin avenue boulevard "
        "calle avenida via viale piazza plaza rua travessa largo praca rambla paseo carrer "
        "strada vicolo corso allee gasse platz weg ring laan straat gatan vagen vej gade veien "
        "c/ n° no nº"
    )
)
_STREET_ENDINGS = (
    "strasse",
    "straße",
    "str",
    "weg",
    "gasse",
    "platz",
    "allee",
    "laan",
    "straat",
    "gatan",
    "vägen",
    "vagen",
    "vej",
    "gade",
    "veien",
    "steig",
)
_HOUSE_NUMBER = re.compile(r"(?<![\w.,])\d{1,5}[a-zA-Z]?(?![\w.,])")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d(?:$|[ T])")
# "@jane", "@<span>jane</span>" (HTML): a person's handle in posts and comments;
# not the "@" of an email (a word character before it)
_MENTION = re.compile(r"(?<![\w.@/+-])@(?:<[^<>]{0,200}>)*[A-Za-z][\w.]{1,29}\b")
_MAX_WHOLE = 120  # longer values are text, not one email or one name
_MAX_EXAMPLES = 3
_MAX_JSON_PATHS = 200
_MAX_JSON_DEPTH = 8


@functools.cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lowercase, from Faker's person providers."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in NAME_LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except (ImportError, AttributeError):  # an older Faker without the locale
            continue
        for attr in ("first_names", "first_names_male", "first_names_female"):
            first.update(n.lower() for n in getattr(provider, attr, ()) or ())
        last.update(n.lower() for n in getattr(provider, "last_names", ()) or ())
    # Two-letter "names" (Ed, Li, Bo) match too many abbreviations to count.
    return (
        frozenset(n for n in first if len(n) > 2),
        frozenset(n for n in last if len(n) > 2),
    )


@functools.cache
def _street_words() -> frozenset[str]:
    words = set(_STREET_WORDS)
    try:
        provider = importlib.import_module("faker.providers.address.en_US").Provider
        words.update(w.lower() for w in provider.street_suffixes)
    except (ImportError, AttributeError):
        pass
    return frozenset(words)


def looks_like_street_address(text: str) -> bool:
    """A house number and a street word: "1913 Hanoi Way", "Obere Str. 57"."""
    if len(text) > _MAX_WHOLE or not _HOUSE_NUMBER.search(text):
        return False
    words = [w.strip(".,").lower() for w in text.split()]
    if not 2 <= len(words) <= 10:
        return False
    streets = _street_words()
    return any(w in streets or (len(w) > 4 and w.endswith(_STREET_ENDINGS)) for w in words)


@dataclass
class KeyProfile:
    """What one path inside JSON values holds."""

    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    contains: Counter[str] = field(default_factory=Counter)  # values with an email/phone inside


@dataclass
class ValueProfile:
    values: int = 0  # non-null, non-empty values seen (array elements count one by one)
    distinct: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # whole-value kinds, per value
    distinct_kinds: Counter[str] = field(default_factory=Counter)  # ... per distinct value
    contains: Counter[str] = field(default_factory=Counter)  # values containing a scrub kind
    prose: int = 0  # values of four words or more
    names_in_text: int = 0  # prose values naming someone (a capitalised first name)
    person_words: int = 0  # values with a first or last name among their words
    dates: int = 0
    birth_plausible: int = 0  # dates giving an age of 0..120
    max_len: int = 0
    formats: Counter[str] = field(default_factory=Counter)  # bcrypt, hex40, ...: password shape
    json_keys: dict[str, KeyProfile] = field(default_factory=dict)
    json_key_kinds: Counter[str] = field(default_factory=Counter)  # keys that are emails/phones
    capitalized: int = 0  # values starting with a capital ("CA", "Texas"; not "pending")
    examples: list[str] = field(default_factory=list)

    def ratio(self, kind: str, distinct: bool = False) -> float:
        if distinct:
            return self.distinct_kinds[kind] / self.distinct if self.distinct else 0.0
        return self.kinds[kind] / self.values if self.values else 0.0


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _flatten(item)
    elif value is not None:
        yield value


def _example(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)
    text = text.encode("unicode_escape").decode("ascii", "replace")
    return text if len(text) <= 40 else text[:39] + "…"


def _password_format(text: str) -> str | None:
    if re.fullmatch(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}", text):
        return "bcrypt"
    if re.fullmatch(r"\$argon2[a-z]*\$.*", text):
        return "argon2"
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) in (32, 40, 64, 128):
        return f"hex{len(text)}"
    return None


def whole_kinds(text: str) -> list[str]:
    """The kinds ``text`` is as a whole: ``["email"]``, ``["first_name", "last_name"]``..."""
    text = text.strip()
    if not text or len(text) > _MAX_WHOLE:
        return []
    found = [
        kind
        for kind in ("email", "phone", "credit_card", "iban", "url")
        if detectors.is_kind(kind, text)
    ]
    if detectors.is_kind("ipv4", text) or detectors.is_kind("ipv6", text):
        found.append("ip")
    if text.lower().rstrip(".") in _SALUTATIONS:
        found.append("salutation")
    if not found and not any(c.isdigit() for c in text):
        found += _name_kinds(text)
    if not found and looks_like_street_address(text):
        found.append("address")
    return found


def _name_kinds(text: str) -> list[str]:
    words = _WORD.findall(text)
    if not 1 <= len(words) <= 4 or len(text) > 60:
        return []
    first, last = name_lists()
    lower = [w.lower() for w in words]
    if len(words) == 1:
        word = lower[0]
        return [k for k, names in (("first_name", first), ("last_name", last)) if word in names]
    if not all(w[0].isupper() for w in words):
        return []  # "the big cheese" is not a name; "Maria Anders", "ANA TRUJILLO" are
    # "First Last", "Last, First", "First Middle Last"
    if (lower[0] in first and lower[-1] in last) or (lower[0] in last and lower[-1] in first):
        return ["name"]
    return []


def _local_ip(text: str) -> bool:
    """Loopback or unspecified (127.0.0.1, ::1, 0.0.0.0): this machine, no one's."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def gtin_ok(digits: str) -> bool:
    """A GTIN/EAN/UPC check digit (8, 12, 13 or 14 digits): a product's barcode."""
    if len(digits) not in (8, 12, 13, 14) or not digits.isdigit():
        return False
    body = [int(c) for c in reversed(digits[:-1])]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10 == int(digits[-1])


def _words_naming_people(text: str, prose: bool) -> tuple[bool, bool]:
    """(a capitalised first name or an @handle in prose, any first/last name word)."""
    first, last = name_lists()
    in_text = any_name = False
    if prose and "@" in text and _MENTION.search(text):
        in_text = True
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower in first or lower in last:
            any_name = True
            if prose and word[0].isupper() and not word.isupper() and lower in first:
                in_text = True
                break
    return in_text, any_name


def _walk_json(profile: ValueProfile, value: Any, path: tuple[str, ...], depth: int = 0) -> None:
    if depth > _MAX_JSON_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            # a key that is someone's email or phone ({"jane@x.example": "admin"})
            profile.json_key_kinds.update(k for k in JSON_SCRUB_KINDS if _contains(k, str(key)))
            if not str(key) or "." in str(key) or str(key) == "*":
                continue  # a json rule's dotted path cannot name this key
            sub = (*path, str(key))
            dotted = ".".join(sub)
            if dotted not in profile.json_keys:
                if len(profile.json_keys) >= _MAX_JSON_PATHS:
                    continue
                profile.json_keys[dotted] = KeyProfile()
            if not isinstance(item, dict | list):
                key_profile = profile.json_keys[dotted]
                key_profile.count += 1
                if isinstance(item, str):
                    key_profile.kinds.update(whole_kinds(item))
                    key_profile.contains.update(k for k in JSON_SCRUB_KINDS if _contains(k, item))
            _walk_json(profile, item, sub, depth + 1)
    elif isinstance(value, list):
        for item in value:  # every element of an array: `items.*.phone` in a json rule
            if isinstance(item, str) and path:
                key_profile = profile.json_keys.get(".".join((*path, "*")))
                if key_profile is None and len(profile.json_keys) < _MAX_JSON_PATHS:
                    key_profile = profile.json_keys[".".join((*path, "*"))] = KeyProfile()
                if key_profile is not None:
                    key_profile.count += 1
                    key_profile.kinds.update(whole_kinds(item))
                    key_profile.contains.update(k for k in JSON_SCRUB_KINDS if _contains(k, item))
                continue
            _walk_json(profile, item, (*path, "*"), depth + 1)


def _contains(kind: str, text: str) -> bool:
    return len(text) <= 10_000 and bool(detectors.find(kind, text))


def profile_values(values: Iterable[Any], family: str) -> ValueProfile:
    """Count what ``values`` (one column's sample) look like. ``family`` is the
    column's type family (``text``, ``json``, ``date``, ``inet`` ...)."""
    profile = ValueProfile()
    seen: set[Any] = set()
    today = date.today()
    for raw in values:
        if family == "json" and isinstance(raw, str):
            with contextlib.suppress(ValueError):  # SQLite and text columns hold JSON as text
                raw = json.loads(raw)
        if family == "json" and isinstance(raw, dict | list):
            profile.values += 1
            _walk_json(profile, raw, ())
            continue
        for value in _flatten(raw):
            _profile_one(profile, value, seen, today)
    profile.distinct = len(seen)
    return profile


def _profile_one(profile: ValueProfile, value: Any, seen: set[Any], today: date) -> None:
    if isinstance(value, bytes | bytearray | memoryview):
        profile.values += 1
        profile.max_len = max(profile.max_len, len(value))
        return
    if isinstance(value, datetime | date):
        day = value.date() if isinstance(value, datetime) else value
        profile.values += 1
        profile.dates += 1
        age = today.year - day.year
        if day <= today and 0 <= age <= 120:
            profile.birth_plausible += 1
        return
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        value = str(value)
    elif isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        value = str(value.ip)
    elif isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        value = str(value.network_address)
    if not isinstance(value, str):
        profile.values += 1  # numbers, booleans, uuids: counted, not classified
        return
    text = value.strip()
    if not text:
        return
    profile.values += 1
    profile.max_len = max(profile.max_len, len(value))
    profile.capitalized += text[0].isupper()
    first_time = text not in seen
    if first_time:
        seen.add(text)
        if len(profile.examples) < _MAX_EXAMPLES:
            profile.examples.append(_example(text))
    kinds = whole_kinds(text)
    if "phone" in kinds and gtin_ok(text):
        kinds.append("barcode")  # bare digits with a valid check digit: counted apart
    profile.kinds.update(kinds)
    if first_time:
        profile.distinct_kinds.update(kinds)
    if _ISO_DATE.match(text):  # dates kept as text (SQLite)
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(text[:10])
            profile.dates += 1
            age = today.year - day.year
            profile.birth_plausible += day <= today and 0 <= age <= 120
    shape = _password_format(text)
    if shape:
        profile.formats[shape] += 1
    prose = len(text.split()) >= 4
    profile.prose += prose
    if " " in text and not kinds:
        # free text: what a `scrub` rule would have to find inside it
        for kind in SCRUB_KINDS:
            spans = detectors.find(kind, text)
            if kind in ("ipv4", "ipv6"):  # 127.0.0.1 in a redirect URI is nobody's
                spans = [(s, e) for s, e in spans if not _local_ip(text[s:e])]
            if spans:
                profile.contains[kind] += 1
    in_text, any_name = _words_naming_people(text, prose)
    profile.names_in_text += in_text
    profile.person_words += any_name
