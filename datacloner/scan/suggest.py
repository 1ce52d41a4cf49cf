"""A mask rule for a personal column that fits the column: its type, its
length, its nullability.

For text, each kind has candidates from most realistic to most compact; the
first whose *longest possible* output fits ``varchar(n)`` wins. The longest
output is worked out from Faker's own lists and formats (``name`` is the
longest prefix + first name + last name + suffix of its formats), not from a
few draws, so a suggestion that fits today fits on every row. Where Faker's
structure is not a plain list or format, many seeded draws plus a margin
decide. The last candidate always fits (``numerify``/``lexify`` patterns of
exactly the room there is, or a constant).

Rules are plain YAML data, exactly as a rules file holds them: a provider
name, ``None`` for ``null``, or a mapping.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from faker import Factory, Generator
from faker.decode import unidecode

from datacloner.core.catalog import Column
from datacloner.masking.columns import column_type
from datacloner.scan.values import ValueProfile

Rule = str | None | dict[str, Any]

DEFAULT_LOCALE = "en_US"
UNIQUE_TOKEN = 17  # `unique: true` adds "." or "-" and a 16-character token
BCRYPT_DEV = "$2b$12$devdevdevdevdevdevdevuwn9hwdQN7qMfnlHEgarskP9L3iYkcsi"
# An unusable password hash: nobody logs in with it.
NO_LOGIN = "!"

# Providers whose output length is computed from Faker's lists and formats.
_STRUCTURED = frozenset(
    {
        "name", "name_female", "name_male", "first_name", "first_name_female",
        "first_name_male", "last_name", "last_name_female", "last_name_male", "prefix",
        "prefix_female", "prefix_male", "suffix", "suffix_female", "suffix_male",
        "company", "company_suffix", "street_address", "street_name", "street_suffix",
        "building_number", "city", "city_prefix", "city_suffix", "secondary_address",
        "phone_number", "user_name", "ssn",
    }
)  # fmt: skip
_FIXED = {
    "ipv4": 15,
    "ipv6": 39,
    "credit_card_number": 19,
    "mac_address": 17,
    "uuid4": 36,
    "date_of_birth": 10,  # a date, written as ISO text in a text column
    "date_between": 10,
}
# Providers a locale overrides with code rather than formats: en_US postcodes
# are "%05d".
_FIXED_BY_LOCALE = {("postcode", "en_US"): 5}
_PATTERN_ARGS = {"numerify", "lexify", "bothify", "hexify"}
_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@functools.cache
def _generator(locale: str) -> Generator:
    generator = Factory.create(locale)
    generator.seed_instance(0)
    return generator


def _element_len(element: Any) -> int:
    text = str(element)
    return max(len(text), len(unidecode(text)))  # user names are transliterated


def _list_attr(owner: Any, method: str) -> list[str] | None:
    """The list a list-based provider draws from (``first_name`` -> ``first_names``)."""
    parts = method.split("_")
    names = []
    for i, part in enumerate(parts):
        for plural in (part + "s", part + "es", part[:-1] + "ies" if part.endswith("y") else ""):
            if plural:
                names.append("_".join([*parts[:i], plural, *parts[i + 1 :]]))
    for attr in names:
        value = getattr(owner, attr, None)
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return list(value)
    return None


def _formats_attr(owner: Any, method: str) -> list[str] | None:
    names = [f"{method}_formats"]
    if method in ("name", "company", "phone_number"):
        names.append("formats")
    if method.startswith("name_"):
        names.append("formats_" + method[5:])
    for attr in names:
        value = getattr(owner, attr, None)
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, list | tuple) and value:
            return [str(v) for v in value]
    return None


def _structured_len(generator: Generator, method: str, depth: int = 0) -> int | None:
    if depth > 6:
        return None
    if method in _FIXED:
        return _FIXED[method]
    bound = getattr(generator, method, None)
    owner = getattr(bound, "__self__", None)
    if owner is None:
        return None
    items = _list_attr(owner, method)
    if items is not None and method not in ("name", "company", "street_address"):
        return max(_element_len(v) for v in items)
    formats = _formats_attr(owner, method)
    if formats is None:
        return None
    longest = 0
    for fmt in formats:
        total = len(_TOKEN.sub("", fmt))  # every other character stays one (#, ?, %...)
        for token in _TOKEN.findall(fmt):
            part = _structured_len(generator, token, depth + 1)
            if part is None:
                return None
            total += part
        longest = max(longest, total)
    return longest


def _sampled_len(provider: str, locale: str, args: tuple[tuple[str, Any], ...]) -> int:
    generator = _generator(locale)
    generator.seed_instance(1)
    method = getattr(generator, provider)
    return max(len(str(method(**dict(args)))) for _ in range(400))


@functools.cache
def _max_len(provider: str, locale: str, args: tuple[tuple[str, Any], ...]) -> int:
    kwargs = dict(args)
    if provider in _PATTERN_ARGS and "text" in kwargs:
        return len(str(kwargs["text"]))  # every placeholder becomes one character
    if provider in _FIXED:
        return _FIXED[provider]
    if (provider, locale) in _FIXED_BY_LOCALE:
        return _FIXED_BY_LOCALE[(provider, locale)]
    if provider == "text" and "max_nb_chars" in kwargs:
        return int(kwargs["max_nb_chars"])  # Faker's documented upper bound
    if provider == "email" and not kwargs:
        # user_name@example.{com,org,net} (Faker's safe default)
        user = _structured_len(_generator(locale), "user_name")
        if user is not None:
            return max(user + 12, _sampled_len(provider, locale, args))
    sampled = _sampled_len(provider, locale, args)
    if provider in _STRUCTURED or provider in _FIXED:
        exact = _structured_len(_generator(locale), provider)
        if exact is not None:
            return max(exact, sampled)
    return math.ceil(sampled * 1.25) + 2  # unknown structure: draws plus a margin


def max_output_len(rule: Rule) -> int | None:
    """The longest text ``rule`` can produce, or None when it is not text/unknown."""
    if rule is None:
        return 0
    if isinstance(rule, str):
        rule = {"faker": rule}
    if "value" in rule:
        return len(str(rule["value"]))
    if "faker" not in rule:
        return None
    args = tuple(sorted((rule.get("args") or {}).items()))
    length = _max_len(rule["faker"], rule.get("locale", DEFAULT_LOCALE), args)
    return length + (UNIQUE_TOKEN if rule.get("unique") else 0)


def _faker(provider: str, **options: Any) -> Rule:
    """The shortest spelling: ``first_name`` rather than ``{faker: first_name}``."""
    options = {k: v for k, v in options.items() if v not in (None, {}, False)}
    return provider if not options else {"faker": provider, **options}


def _pattern(char: str, room: int | None, prefix: str = "", most: int = 10) -> Rule:
    width = most if room is None else max(1, min(most, room - len(prefix)))
    text = (prefix if room is None or room - len(prefix) >= 1 else "") + char * width
    return {"faker": "numerify" if char == "#" else "lexify", "args": {"text": text}}


_TEXT_CANDIDATES: dict[str, list[Rule]] = {
    "email": [_faker("email", unique=True), "email"],
    "phone": [
        "phone_number",
        {"faker": "numerify", "args": {"text": "+1-###-###-####"}},
        {"faker": "numerify", "args": {"text": "###-###-####"}},
    ],
    "first_name": [
        "first_name",
        "first_name_female",
        {"faker": "first_name", "locale": "en_IN"},
        {"faker": "first_name", "locale": "de_DE"},
    ],
    "last_name": ["last_name", {"faker": "last_name", "locale": "de_DE"}],
    "name": [
        "name",
        {"faker": "name", "locale": "en_IN"},  # no prefixes or suffixes: shorter
        {"faker": "name", "locale": "de_DE"},
        "last_name",
    ],
    "username": [_faker("user_name", unique=True), "user_name"],
    "address": ["street_address", {"faker": "street_address", "locale": "en_IN"}, "street_name"],
    "address2": ["secondary_address"],
    "postcode": ["postcode"],
    "ip": ["ipv4"],
    "credit_card": ["credit_card_number"],
    "iban": ["iban"],
    "national_id": ["ssn"],
    "company": ["company", {"faker": "company", "locale": "de_DE"}, "last_name"],
    "url": ["url", {"value": "https://example.com/"}],
    "salutation": [{"value": "Mx."}],
    "birth_place": ["city"],
    "city": ["city", {"faker": "city", "locale": "en_IN"}],
    "region": ["state", "state_abbr"],
    "geo": ["city"],
    "device_id": ["mac_address", "uuid4"],
    "age": [{"faker": "numerify", "args": {"text": "%#"}}],
    "birth_date": [{"faker": "date_of_birth", "args": {"minimum_age": 18, "maximum_age": 90}}],
}
_TEXT_FALLBACK_CHAR = {"phone": "#", "postcode": "#", "national_id": "#", "credit_card": "#"}
_NULL_FIRST = frozenset({"national_id", "photo", "sensitive", "gender", "salary", "device_id"})
_SECONDARY_TOKENS = frozenset(
    {"2", "3", "secondary", "apt", "apartment", "suite", "unit", "line2", "zusatz", "complement"}
)


@dataclass(frozen=True)
class Suggestion:
    rule: Rule
    note: str  # why this one, for the rules file comment ("fits varchar(10)")


def _fits(rule: Rule, room: int | None) -> bool:
    if room is None:
        return True
    length = max_output_len(rule)
    return length is not None and length <= room


def _room(column: Column, is_sqlite: bool) -> int | None:
    if is_sqlite:  # SQLite does not enforce varchar(n)
        return None
    return column.max_length


def _text_rule(kind: str, room: int | None, column: Column, tokens: list[str]) -> Suggestion:
    if kind == "address" and _SECONDARY_TOKENS.intersection(tokens):
        kind = "address2"
    candidates = list(_TEXT_CANDIDATES.get(kind, []))
    if column.is_array:  # unique tokens make little sense per element
        candidates = [c for c in candidates if not (isinstance(c, dict) and c.get("unique"))]
    for i, rule in enumerate(candidates):
        if _fits(rule, room):
            note = f"fits {room} characters" if room is not None else ""
            if i and room is not None:
                note = f"shortest realistic fake that fits {room} characters"
            return Suggestion(rule, note)
    char = _TEXT_FALLBACK_CHAR.get(kind)
    if char is None and column.nullable and not column.is_array:
        return Suggestion(None, f"no fake fits {room} characters: NULL")
    rule = _pattern(char or "?", room)
    return Suggestion(rule, f"random {'digits' if char else 'letters'} that fit {room} characters")


def _password_rule(profile: ValueProfile | None, room: int | None, nullable: bool) -> Suggestion:
    shape = profile.formats.most_common(1)[0][0] if profile and profile.formats else None
    if shape == "bcrypt":
        value, note = BCRYPT_DEV, 'bcrypt of "dev" for every account'
    elif shape and shape.startswith("hex"):
        algo = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}[int(shape[3:])]
        value = hashlib.new(algo, b"dev").hexdigest()
        note = f'{algo}("dev") for every account'
    else:
        value, note = NO_LOGIN, "an unusable hash: nobody logs in with a copied password"
    if room is not None and len(value) > room:
        value, note = NO_LOGIN, "an unusable hash: nobody logs in with a copied password"
    return Suggestion({"value": value}, note)


def _int_digits(column: Column) -> int:
    base = column_type(column).base
    if "small" in base or base in ("int2", "tinyint"):
        return 4
    if "big" in base or base == "int8":
        return 15
    return 9


def _number_rule(kind: str, column: Column, fam: str) -> Suggestion:
    if kind == "age":
        return Suggestion({"faker": "random_int", "args": {"min": 18, "max": 90}}, "")
    if kind == "birth_date":  # a year of birth
        return Suggestion({"faker": "random_int", "args": {"min": 1935, "max": 2007}}, "a year")
    if kind == "postcode":
        return Suggestion({"faker": "random_int", "args": {"min": 1000, "max": 9999}}, "")
    if kind == "geo":
        lat = any(
            t.startswith("lat") or t.startswith("breit") for t in column.name.lower().split("_")
        )
        return Suggestion("latitude" if lat else "longitude", "")
    if fam == "numeric" and kind == "salary":
        return Suggestion({"faker": "random_int", "args": {"min": 20000, "max": 150000}}, "")
    digits = _int_digits(column) if fam == "int" else 9
    return Suggestion(
        {"faker": "random_number", "args": {"digits": digits, "fix_len": True}},
        f"{digits} digits fit {column_type(column).base}",
    )


def suggest(
    kind: str,
    column: Column,
    fam: str,
    profile: ValueProfile | None,
    *,
    tokens: list[str],
    json_rules: dict[str, Rule] | None = None,
    scrub_kinds: list[str] | None = None,
    is_sqlite: bool = False,
) -> Suggestion:
    """The mask rule for a column found personal as ``kind``."""
    room = _room(column, is_sqlite)
    nullable = column.nullable
    if kind == "password":
        return _password_rule(profile, room, nullable)
    if kind == "session":  # django_session: a key stays unique, the data is dropped
        if "key" in tokens:
            return Suggestion({"hash": "hex"}, "a keyed hash: unique, no longer a login")
        return Suggestion({"value": ""}, "empty: the copy's users log in again")
    if fam == "json":
        if scrub_kinds and not json_rules:
            return Suggestion({"scrub": scrub_kinds}, "replaces them wherever they are")
        if json_rules:
            return Suggestion({"json": json_rules}, "the personal keys inside")
        if nullable:
            return Suggestion(None, "JSON about a person, keys unknown: NULL")
        return Suggestion({"value": "{}"}, "JSON about a person, keys unknown: an empty object")
    if kind == "free_text":
        if scrub_kinds:
            return Suggestion({"scrub": scrub_kinds}, "replaces what it finds inside the text")
        if room is None:
            return Suggestion("paragraph", "a fake text replaces the whole note")
        if room >= 5:
            rule = {"faker": "text", "args": {"max_nb_chars": min(room, 200)}}
            return Suggestion(rule, f"a fake text of at most {min(room, 200)} characters")
        return Suggestion(_pattern("?", room), "")
    if kind in _NULL_FIRST and nullable:
        return Suggestion(None, "NULL: nothing to fake")
    if fam == "bytes":
        if nullable:
            return Suggestion(None, "NULL: binary data (a photo, a file)")
        return Suggestion({"faker": "binary", "args": {"length": 8}}, "8 random bytes")
    if fam == "bool":
        return Suggestion("pybool", "")
    if fam in ("date", "timestamp"):
        if kind == "birth_date":
            rule = (
                {"faker": "date_of_birth", "args": {"minimum_age": 18, "maximum_age": 90}}
                if fam == "date"
                else {
                    "faker": "date_time_between",
                    "args": {"start_date": "-90y", "end_date": "-18y"},
                }
            )
            return Suggestion(rule, "an adult's date of birth")
        provider = "date_between" if fam == "date" else "date_time_between"
        return Suggestion(
            {"faker": provider, "args": {"start_date": "-30y", "end_date": "-1d"}}, ""
        )
    if fam == "time":
        return Suggestion(None if nullable else "time_object", "")
    if fam in ("int", "numeric"):
        return _number_rule(kind, column, fam)
    if fam == "inet":
        return Suggestion("ipv4", "")
    if fam == "mac":
        return Suggestion("mac_address", "")
    if fam == "uuid":
        return Suggestion(_faker("uuid4", unique=True), "")
    if kind in ("photo", "sensitive", "gender", "salary") or kind not in _TEXT_CANDIDATES:
        if nullable:
            return Suggestion(None, "NULL: nothing to fake")
        if kind == "photo":
            return Suggestion({"value": ""}, "an empty value")
        return Suggestion(_pattern("?", room, most=4), "")
    return _text_rule(kind, room, column, tokens)
