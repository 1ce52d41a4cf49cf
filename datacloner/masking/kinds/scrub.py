"""``{scrub: [email, phone, ...]}``: personal values inside free text, replaced in place.

The detectors (:mod:`datacloner.detect.detectors`, shared with ``scan``) find the
values; each is replaced by the deterministic fake of its kind and the rest of
the text is left exactly as it was. A kind's fake is, unless the rule says
otherwise under ``rules:``, the output of a plain rule, so the same value gets
the same fake inside text as in a column with that rule (with the scrub
rule's locale, which is its table's or file's unless it has its own):

| kind | replaced by the output of |
|---|---|
| email | ``{faker: email, unique: true}`` |
| phone | ``{faker: phone_number}`` |
| ipv4, ipv6 | ``{faker: ipv4}``, ``{faker: ipv6}`` |
| url | ``{faker: url}`` |
| credit_card | a Luhn-valid number of the same length and layout |
| iban | a valid IBAN of the same country, length and layout |
| custom pattern | the same shape: digits by digits, letters by letters |

A custom pattern with capture groups replaces only what the groups matched
(``"ORD-(\\d{6})"`` keeps ``ORD-``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from datacloner.core.yamlsource import unknown_key
from datacloner.detect import detectors
from datacloner.masking.base import REDRAW_BASE, REDRAWS, Unmaskable, ValueFn, spec_error
from datacloner.masking.columns import JSON, ColumnType
from datacloner.masking.fitting import type_label
from datacloner.masking.keyed import KeyedHash, canonical_bytes, derive
from datacloner.masking.kinds import Kind
from datacloner.masking.registry import check_spec, value_fn
from datacloner.masking.spec import BAD, MaskSpec, RuleSource, SpecParser, unknown_word
from datacloner.masking.unique import fit_text

SCRUB_KINDS = detectors.KINDS  # what a scrub rule can find: the detectors' kinds
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a custom pattern's name

# The plain rule whose output each kind's replacement is (see the module doc).
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "email": {"provider": "email", "unique": True},
    "phone": {"provider": "phone_number"},
    "ipv4": {"provider": "ipv4"},
    "ipv6": {"provider": "ipv6"},
    "url": {"provider": "url"},
}
_SHAPE_IDENTITY = (
    '{"kind": "scrub-shape"}'  # one identity: a value's shape fake is the same anywhere
)


def default_rule(kind: str, spec: MaskSpec) -> MaskSpec | None:
    """The faker rule a kind's fake equals, e.g. ``{faker: email, unique: true}``."""
    entry = DEFAULT_RULES.get(kind)
    if entry is None:
        return None
    return MaskSpec(
        kind="faker",
        location=spec.location,
        provider=entry["provider"],
        unique=entry.get("unique", False),
        locale=spec.locale,  # as a rule written beside it would have: equal identities
    )


def check_scrub(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:

    if col is not None and not (col.textual or col.category == JSON):
        raise spec_error(
            spec,
            column,
            f"scrub finds values inside text; column type is {type_label(col)}",
            hint="Mask the whole value with a faker, hash or value rule instead.",
        )
    for kind in spec.options.get("kinds", []):
        rule = spec.nested.get(f"kind:{kind}") or default_rule(kind, spec)
        if rule is not None:
            check_spec(rule, column=f"{column} (scrub {kind})")
    for name in spec.options.get("patterns", {}):
        rule = spec.nested.get(f"pattern:{name}")
        if rule is not None:
            check_spec(rule, column=f"{column} (scrub pattern {name})")


def _stream(digest: bytes, n: int) -> bytes:
    """``n`` keyed bytes for a shape fake, as long as the value needs."""
    out = digest
    attempt = 1
    while len(out) < n:
        out += derive(digest, attempt)
        attempt += 1
    return out[:n]


def _shape(keyed: KeyedHash) -> Callable[[str], str]:
    """Digits by digits, ASCII letters by letters of the same case, the rest kept."""

    def draw(text: str, digest: bytes) -> str:
        noise = _stream(digest, len(text))
        out = []
        for ch, b in zip(text, noise, strict=True):
            if "0" <= ch <= "9":
                out.append(chr(48 + b % 10))
            elif "a" <= ch <= "z":
                out.append(chr(97 + b % 26))
            elif "A" <= ch <= "Z":
                out.append(chr(65 + b % 26))
            else:
                out.append(ch)
        return "".join(out)

    def fake(text: str) -> str:
        digest = keyed(canonical_bytes(text))
        out = draw(text, digest)
        # never the value itself (a short code can come back): draw again, keyed
        attempt = 0
        while out == text and attempt < REDRAWS:
            attempt += 1
            out = draw(text, derive(digest, REDRAW_BASE + attempt))
        return out

    return fake


def _card(keyed: KeyedHash) -> Callable[[str], str]:
    """A Luhn-valid number in the same layout (length, spaces, dashes)."""

    def fake(text: str) -> str:
        digits = [c for c in text if c.isdigit()]
        noise = _stream(keyed(canonical_bytes(text)), len(digits))
        new = [str(3 + noise[0] % 4)] + [str(b % 10) for b in noise[1:-1]]
        new.append(_luhn_digit("".join(new)))
        it = iter(new)
        return "".join(next(it) if c.isdigit() else c for c in text)

    return fake


def _luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _iban(keyed: KeyedHash) -> Callable[[str], str]:
    """The same country code and layout, a new account part, valid check digits."""
    shape = _shape(keyed)

    def fake(text: str) -> str:
        compact = text.replace(" ", "")
        country, bban = compact[:2].upper(), shape(compact[4:]).upper()
        number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
        new = country + f"{98 - number % 97:02d}" + bban
        it = iter(new)
        return "".join(c if c == " " else next(it) for c in text)

    return fake


CACHE_GENERATION = 2048  # values per cache generation (two generations)
CACHE_TEXT_LIMIT = 1024  # longer values are not cached: memory stays small and flat


def scrub_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:

    kinds = tuple(spec.options.get("kinds", []))
    patterns = {
        name: re.compile(pattern) for name, pattern in spec.options.get("patterns", {}).items()
    }
    shape_keyed = KeyedHash(secret, _SHAPE_IDENTITY)
    replacers: dict[str, Callable[[str], Any]] = {}
    for kind in kinds:
        rule = spec.nested.get(f"kind:{kind}") or default_rule(kind, spec)
        if rule is not None:
            replacers[kind] = value_fn(rule, secret)
        elif kind == "credit_card":
            replacers[kind] = _card(KeyedHash(secret, '{"kind": "scrub-credit_card"}'))
        elif kind == "iban":
            replacers[kind] = _iban(KeyedHash(secret, '{"kind": "scrub-iban"}'))
    for name in patterns:
        rule = spec.nested.get(f"pattern:{name}")
        replacers[name] = value_fn(rule, secret) if rule is not None else _shape(shape_keyed)
    max_length = col.max_length if col is not None else None
    find = detectors.finder(kinds)
    # Found, faked and joined in C where it can (the same text as below).
    substitute = detectors.substituter(kinds) if kinds and not patterns else None
    fakes = tuple(replacers.get(kind) for kind in detectors.NATIVE_ORDER)

    def custom_spans(text: str) -> list[tuple[int, int, str]]:
        spans = []
        for name, pattern in patterns.items():
            for m in pattern.finditer(text):
                if pattern.groups:
                    spans += [
                        (m.start(g), m.end(g), name)
                        for g in range(1, pattern.groups + 1)
                        if m.start(g) < m.end(g)
                    ]
                elif m.start() < m.end():
                    spans.append((m.start(), m.end(), name))
        return spans

    # Free text repeats (templated notes, "N/A", canned replies): a bounded cache of
    # whole short values, two generations for O(1) eviction. The output depends
    # only on the value, so a hit is exactly what scrubbing it again would give.
    recent: dict[str, Any] = {}
    older: dict[str, Any] = {}

    def mask(value: Any) -> Any:
        nonlocal recent, older
        if not isinstance(value, str):
            if isinstance(value, bytes | bytearray | memoryview):
                raise Unmaskable("scrub needs text, got bytes")
            value = str(value)
        if len(value) > CACHE_TEXT_LIMIT:
            return scrub(value)
        out = recent.get(value)
        if out is None:
            out = older.get(value)
            if out is None:
                out = scrub(value)
            if len(recent) >= CACHE_GENERATION:
                older, recent = recent, {}
            recent[value] = out
        return out

    def unchanged(value: str) -> str:
        return value if max_length is None else fit_text(value, max_length)

    def cut(text: str) -> str:
        return text if max_length is None or len(text) <= max_length else text[:max_length]

    def scrub(value: str) -> Any:
        if substitute is not None:
            text = substitute(value, fakes)
            if text is None:
                return unchanged(value)
            if text is not False:
                return cut(text)
        spans = find(value) if kinds else []
        if patterns:  # custom patterns win overlaps
            spans = detectors.keep_first(custom_spans(value) + spans)
        if not spans:
            return unchanged(value)
        out = []
        pos = 0
        for start, end, kind in spans:
            out.append(value[pos:start])
            fake = replacers[kind](value[start:end])
            out.append("" if fake is None else fake if isinstance(fake, str) else str(fake))
            pos = end
        out.append(value[pos:])
        return cut("".join(out))

    return mask


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    locale, _ = p.common_options(rule)
    if locale is BAD:
        return None
    kinds: Any
    patterns: Any = {}
    replacements: Any = {}
    if body == "all":
        kinds = list(SCRUB_KINDS)
    elif isinstance(body, list):
        kinds = body
    elif isinstance(body, dict):
        for key in body:
            if key not in ("kinds", "patterns", "rules"):
                p.error(
                    (*where, key),
                    f"{label}.scrub: " + unknown_key(key, ("kinds", "patterns", "rules")),
                )
                return None
        kinds = body.get("kinds", [])
        if kinds == "all":
            kinds = list(SCRUB_KINDS)
        patterns = body.get("patterns") or {}
        replacements = body.get("rules") or {}
    else:
        p.error(
            where,
            f"{label}.scrub: expected a list of kinds ({', '.join(SCRUB_KINDS)}), `all`, "
            "or a mapping with kinds, patterns, rules",
        )
        return None
    ok = True
    if not isinstance(kinds, list):
        p.error(where, f"{label}.scrub.kinds: expected a list, e.g. [email, phone]")
        return None
    seen: list[str] = []
    for kind in kinds:
        if kind not in SCRUB_KINDS:
            p.error(where, f"{label}.scrub: {unknown_word(kind, SCRUB_KINDS, 'kind')}")
            ok = False
        elif kind not in seen:
            seen.append(kind)
    nested: dict[str, MaskSpec] = {}
    regexes: dict[str, str] = {}
    if not isinstance(patterns, dict):
        p.error(where, f"{label}.scrub.patterns: expected a mapping of name to regex")
        return None
    for name, pattern in patterns.items():
        ppath = (*where, "patterns", name)
        inner: Any = _NO_RULE
        if isinstance(pattern, dict):
            extra = set(pattern) - {"pattern", "rule"}
            if extra or "pattern" not in pattern:
                p.error(
                    ppath,
                    f"{label}.scrub.patterns.{name}: expected a regex, or "
                    "{pattern: REGEX, rule: RULE}",
                )
                ok = False
                continue
            inner = pattern.get("rule", _NO_RULE)
            pattern = pattern["pattern"]
        problem = _regex_problem(pattern)
        if not _NAME.fullmatch(name):
            problem = "a pattern name is a word (letters, digits, _)"
        if problem:
            p.error(ppath, f"{label}.scrub.patterns.{name}: {problem}")
            ok = False
            continue
        regexes[name] = pattern
        if inner is not _NO_RULE:
            spec = p.inner_spec(
                f"{label}.scrub.patterns.{name}.rule", inner, (*ppath, "rule"), locale
            )
            if spec is None:
                ok = False
            else:
                nested[f"pattern:{name}"] = spec
    if not isinstance(replacements, dict):
        p.error(where, f"{label}.scrub.rules: expected a mapping of kind to rule")
        return None
    for kind, inner in replacements.items():
        if kind not in seen:
            p.error(
                (*where, "rules", kind),
                f"{label}.scrub.rules: `{kind}` is not among the kinds scrubbed "
                f"({', '.join(seen) or 'none'})",
            )
            ok = False
            continue
        spec = p.inner_spec(f"{label}.scrub.rules.{kind}", inner, (*where, "rules", kind), locale)
        if spec is None:
            ok = False
        else:
            nested[f"kind:{kind}"] = spec
    if ok and not seen and not regexes:
        p.error(where, f"{label}.scrub: nothing to find; list kinds or patterns")
        ok = False
    if not ok:
        return None
    return MaskSpec(
        kind="scrub",
        location=rule.location,
        locale=locale,
        options={"kinds": seen, "patterns": regexes},
        nested=nested,
    )


def _regex_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        return "expected a regular expression (text)"
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    if compiled.fullmatch(""):
        return "the regular expression matches empty text; it must match at least one character"
    return None


_NO_RULE: Any = object()


def finds(spec: MaskSpec) -> tuple[list[str], list[re.Pattern[str]]]:
    """For verify: the rule keeps its text, so what is personal in a source value
    is what its detectors (these kinds) and its own regexes find there."""
    options = spec.options if isinstance(spec.options, dict) else {}
    compiled = []
    for pattern in (options.get("patterns") or {}).values():
        with contextlib.suppress(re.error, TypeError):  # the rules check reports bad ones
            compiled.append(re.compile(pattern))
    return options.get("kinds", []), compiled


KIND = Kind(
    "scrub",
    check=check_scrub,
    parse=parse,
    options=("locale",),
    value_fn=scrub_value_fn,
    finds=finds,
)
