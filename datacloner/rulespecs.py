"""One mask rule of a rules file (``email: {faker: email, unique: true}``)
to a typed :class:`MaskSpec`: the rule kinds, their options and settings.
:mod:`datacloner.rules` reads the files, tables and ``keep`` lists around them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from datacloner.location import Location
from datacloner.yamlsource import ErrorList, NodePath, YamlDoc, closest, unknown_key


@dataclass(frozen=True)
class MaskSpec:
    """One column's mask. ``kind`` is one of :data:`KINDS` or ``null``.

    ``options`` holds a kind's plain settings (``hash``: format, length, min,
    max; ``scrub``: kinds, patterns; ``json``: paths; ``partial``: keep_first,
    keep_last, mask_char; ``shift``: days, hours, minutes, seconds; ``noise``:
    ratio; ``template``: template, fields). ``nested`` holds the rules inside a
    rule: a ``json`` path's rule under the path, a ``scrub`` replacement under
    ``kind:<kind>`` or ``pattern:<name>``.
    """

    kind: str
    location: Location
    provider: str | None = None  # kind == "faker"
    args: dict[str, Any] = field(default_factory=dict)
    locale: str | None = None
    unique: bool = False
    value: Any = None  # kind == "value"
    options: dict[str, Any] = field(default_factory=dict)
    nested: dict[str, MaskSpec] = field(default_factory=dict)

    def identity_data(self) -> dict[str, Any]:
        """Everything that affects the output, nothing that does not (file, line)."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "provider": self.provider,
            "args": self.args,
            "locale": self.locale,
            "unique": self.unique,
            "value": self.value,
        }
        # Only when set, so the identities (and fakes) of plain faker rules stay as they were.
        if self.options:
            data["options"] = self.options
        if self.nested:
            data["nested"] = {key: spec.identity_data() for key, spec in self.nested.items()}
        return data

    def identity(self) -> str:
        """The rule's identity: equal identities give equal outputs for equal
        inputs, whatever table or column the rule sits on."""
        return json.dumps(self.identity_data(), sort_keys=True, default=str)


KINDS = ("faker", "value", "hash", "scrub", "json", "partial", "shift", "noise", "template")
_KINDS = KINDS
_OPTIONS = ("args", "locale", "unique")
# Which options go with which kind. A locale is the default of the fakes a
# scrub or json rule makes; unique on a template appends the uniqueness token.
_KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "faker": ("args", "locale", "unique"),
    "scrub": ("locale",),
    "json": ("locale",),
    "template": ("unique",),
}
SCRUB_KINDS = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url")
HASH_FORMATS = ("hex", "uuid", "int")
HEX_LENGTH = 32  # characters (128 bits) unless {hash: {hex: N}}
INT_RANGE = (0, 2_147_483_647)  # {hash: int}: fits a PostgreSQL integer
SHIFT_UNITS = ("days", "hours", "minutes", "seconds")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SpecParser:
    """Parses mask rules, adding every problem to ``errors`` (with the line)."""

    doc: YamlDoc
    errors: ErrorList

    def error(self, path: NodePath, message: str, hint: str | None = None) -> None:
        self.errors.add(self.doc.location(path), message, hint)

    def spec(
        self, label: str, value: Any, path: NodePath, default_locale: str | None
    ) -> MaskSpec | None:
        location = self.doc.location(path)
        if value is None:
            return MaskSpec(kind="null", location=location)
        if isinstance(value, str):
            if not value.strip():
                self.error(path, f"{label}: empty Faker provider name")
                return None
            return MaskSpec(kind="faker", location=location, provider=value, locale=default_locale)
        if not isinstance(value, dict):
            self.error(
                path,
                f"{label}: expected a Faker provider name, null, or a mapping with one of "
                f"{', '.join(_KINDS)}",
            )
            return None
        unknown = [key for key in value if key not in _KINDS and key not in _OPTIONS]
        for key in unknown:
            self.error((*path, key), f"{label}: {unknown_key(key, _KINDS + _OPTIONS)}")
        kinds = [key for key in value if key in _KINDS]
        if len(kinds) != 1:
            if kinds or not unknown:  # a misspelt kind was reported just above
                said = "none" if not kinds else " and ".join(f"`{k}`" for k in kinds)
                self.error(
                    path, f"{label}: a rule needs exactly one of {', '.join(_KINDS)}; got {said}"
                )
            return None
        kind = kinds[0]
        ok = True
        allowed = _KIND_OPTIONS.get(kind, ())
        for option in _OPTIONS:
            if option in value and option not in allowed:
                users = [k for k, opts in _KIND_OPTIONS.items() if option in opts]
                self.error(
                    (*path, option),
                    f"{label}: `{option}` applies to {_and(users)} rules, not to `{kind}`",
                )
                ok = False
        parse = getattr(self, f"{kind}_spec")
        spec = parse(label, value, path, location, default_locale)
        return spec if ok and not unknown else None

    def value_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        constant = value["value"]
        if not _is_scalar(constant):
            self.error(
                (*path, "value"),
                f"{label}.value: expected one constant (text, number, true/false or null)",
            )
            return None
        return MaskSpec(kind="value", location=location, value=constant)

    def faker_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        ok = True
        provider = value["faker"]
        if not isinstance(provider, str) or not provider.strip():
            self.error((*path, "faker"), f"{label}.faker: expected a Faker provider name")
            ok = False
        args = value.get("args", {})
        if not isinstance(args, dict):
            self.error((*path, "args"), f"{label}.args: expected a mapping, e.g. {{days: 30}}")
            ok = False
        locale, unique = self.common_options(label, value, path, default_locale)
        if not ok or unique is None or locale is _BAD:
            return None
        return MaskSpec(
            kind="faker",
            location=location,
            provider=provider,
            args=dict(args),
            locale=locale,
            unique=unique,
        )

    def common_options(
        self, label: str, value: dict[str, Any], path: NodePath, default_locale: str | None
    ) -> tuple[Any, bool | None]:
        """(locale, unique) of a rule; _BAD / None when wrong (already reported)."""
        locale: Any = default_locale
        if "locale" in value:
            locale = self.locale(value, (*path, "locale"), f"{label}.locale")
            if locale is None:
                locale = _BAD
        unique = value.get("unique", False)
        if not isinstance(unique, bool):
            self.error((*path, "unique"), f"{label}.unique: expected true or false")
            return locale, None
        return locale, unique

    def hash_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["hash"]
        where = (*path, "hash")
        usage = (
            f"{label}.hash: expected hex, uuid or int, or a mapping such as {{hex: 16}} "
            "or {int: {min: 1, max: 1000000}}"
        )
        if isinstance(body, str):
            fmt, setting = body, None
        elif isinstance(body, dict) and len(body) == 1:
            fmt, setting = next(iter(body.items()))
        else:
            self.error(where, usage)
            return None
        if fmt not in HASH_FORMATS:
            self.error(where, f"{label}.hash: {unknown_key(str(fmt), HASH_FORMATS)}")
            return None
        options: dict[str, Any] = {"format": fmt}
        if fmt == "hex":
            length = HEX_LENGTH if setting is None else setting
            if not _is_int(length) or not 1 <= length <= 64:
                self.error(where, f"{label}.hash.hex: expected a length from 1 to 64 characters")
                return None
            options["length"] = length
        elif fmt == "uuid":
            if setting is not None:
                self.error(where, f"{label}.hash.uuid: takes no settings; write {{hash: uuid}}")
                return None
        else:
            low, high = INT_RANGE
            if setting is not None:
                if not isinstance(setting, dict) or set(setting) - {"min", "max"}:
                    self.error(where, f"{label}.hash.int: expected {{min: 1, max: 1000000}}")
                    return None
                low, high = setting.get("min", low), setting.get("max", high)
            if not (_is_int(low) and _is_int(high)) or low > high:
                self.error(where, f"{label}.hash.int: min and max must be integers, min <= max")
                return None
            options.update(min=low, max=high)
        return MaskSpec(kind="hash", location=location, options=options)

    def scrub_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["scrub"]
        where = (*path, "scrub")
        locale, _ = self.common_options(label, value, path, default_locale)
        if locale is _BAD:
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
                    self.error(
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
            self.error(
                where,
                f"{label}.scrub: expected a list of kinds ({', '.join(SCRUB_KINDS)}), `all`, "
                "or a mapping with kinds, patterns, rules",
            )
            return None
        ok = True
        if not isinstance(kinds, list):
            self.error(where, f"{label}.scrub.kinds: expected a list, e.g. [email, phone]")
            return None
        seen: list[str] = []
        for kind in kinds:
            if kind not in SCRUB_KINDS:
                self.error(where, f"{label}.scrub: {_unknown(kind, SCRUB_KINDS, 'kind')}")
                ok = False
            elif kind not in seen:
                seen.append(kind)
        nested: dict[str, MaskSpec] = {}
        regexes: dict[str, str] = {}
        if not isinstance(patterns, dict):
            self.error(where, f"{label}.scrub.patterns: expected a mapping of name to regex")
            return None
        for name, pattern in patterns.items():
            ppath = (*where, "patterns", name)
            rule: Any = _NO_RULE
            if isinstance(pattern, dict):
                extra = set(pattern) - {"pattern", "rule"}
                if extra or "pattern" not in pattern:
                    self.error(
                        ppath,
                        f"{label}.scrub.patterns.{name}: expected a regex, or "
                        "{pattern: REGEX, rule: RULE}",
                    )
                    ok = False
                    continue
                rule = pattern.get("rule", _NO_RULE)
                pattern = pattern["pattern"]
            problem = _regex_problem(pattern)
            if not _NAME.fullmatch(name):
                problem = "a pattern name is a word (letters, digits, _)"
            if problem:
                self.error(ppath, f"{label}.scrub.patterns.{name}: {problem}")
                ok = False
                continue
            regexes[name] = pattern
            if rule is not _NO_RULE:
                spec = self.inner_spec(
                    f"{label}.scrub.patterns.{name}.rule", rule, (*ppath, "rule"), locale
                )
                if spec is None:
                    ok = False
                else:
                    nested[f"pattern:{name}"] = spec
        if not isinstance(replacements, dict):
            self.error(where, f"{label}.scrub.rules: expected a mapping of kind to rule")
            return None
        for kind, rule in replacements.items():
            if kind not in seen:
                self.error(
                    (*where, "rules", kind),
                    f"{label}.scrub.rules: `{kind}` is not among the kinds scrubbed "
                    f"({', '.join(seen) or 'none'})",
                )
                ok = False
                continue
            spec = self.inner_spec(
                f"{label}.scrub.rules.{kind}", rule, (*where, "rules", kind), locale
            )
            if spec is None:
                ok = False
            else:
                nested[f"kind:{kind}"] = spec
        if ok and not seen and not regexes:
            self.error(where, f"{label}.scrub: nothing to find; list kinds or patterns")
            ok = False
        if not ok:
            return None
        return MaskSpec(
            kind="scrub",
            location=location,
            locale=locale,
            options={"kinds": seen, "patterns": regexes},
            nested=nested,
        )

    def inner_spec(
        self, label: str, rule: Any, path: NodePath, default_locale: str | None
    ) -> MaskSpec | None:
        """A rule inside a scrub or json rule: anything that masks one value."""
        spec = self.spec(label, rule, path, default_locale)
        if spec is not None and spec.kind == "template":
            self.error(
                path,
                f"{label}: a template reads other columns of the row; "
                "it cannot be used inside scrub or json",
            )
            return None
        return spec

    def json_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["json"]
        where = (*path, "json")
        locale, _ = self.common_options(label, value, path, default_locale)
        if locale is _BAD:
            return None
        if not isinstance(body, dict) or not body:
            self.error(
                where,
                f"{label}.json: expected a mapping of dotted path to rule, "
                "e.g. {contact.email: {faker: email, unique: true}}",
            )
            return None
        ok = True
        nested: dict[str, MaskSpec] = {}
        for json_path, rule in body.items():
            if any(not part for part in json_path.split(".")):
                self.error(
                    (*where, json_path),
                    f"{label}.json: path `{json_path}` has an empty part; "
                    "write keys separated by single dots, e.g. contact.email or items.*.phone",
                )
                ok = False
                continue
            spec = self.inner_spec(f"{label}.json.{json_path}", rule, (*where, json_path), locale)
            if spec is None:
                ok = False
            else:
                nested[json_path] = spec
        if not ok:
            return None
        return MaskSpec(
            kind="json",
            location=location,
            locale=locale,
            options={"paths": list(nested)},
            nested=nested,
        )

    def partial_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["partial"]
        where = (*path, "partial")
        keys = ("keep_first", "keep_last", "mask_char")
        if not isinstance(body, dict):
            self.error(where, f"{label}.partial: expected a mapping, e.g. {{keep_last: 4}}")
            return None
        ok = True
        for key in body:
            if key not in keys:
                self.error((*where, key), f"{label}.partial: {unknown_key(key, keys)}")
                ok = False
        options = {
            "keep_first": body.get("keep_first", 0),
            "keep_last": body.get("keep_last", 0),
            "mask_char": body.get("mask_char", "*"),
        }
        for key in ("keep_first", "keep_last"):
            if not _is_int(options[key]) or options[key] < 0:
                self.error((*where, key), f"{label}.partial.{key}: expected a whole number >= 0")
                ok = False
        char = options["mask_char"]
        if not isinstance(char, str) or len(char) != 1:
            self.error((*where, "mask_char"), f"{label}.partial.mask_char: expected one character")
            ok = False
        return MaskSpec(kind="partial", location=location, options=options) if ok else None

    def shift_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["shift"]
        where = (*path, "shift")
        if not isinstance(body, dict) or not body:
            self.error(where, f"{label}.shift: expected a mapping, e.g. {{days: 30}}")
            return None
        ok = True
        options: dict[str, int] = {}
        for key, amount in body.items():
            if key not in SHIFT_UNITS:
                self.error((*where, key), f"{label}.shift: {unknown_key(key, SHIFT_UNITS)}")
                ok = False
            elif not _is_int(amount) or amount < 0:
                self.error((*where, key), f"{label}.shift.{key}: expected a whole number >= 0")
                ok = False
            else:
                options[key] = amount
        if ok and not any(options.values()):
            self.error(where, f"{label}.shift: the largest shift is 0; e.g. {{days: 30}}")
            ok = False
        return MaskSpec(kind="shift", location=location, options=options) if ok else None

    def noise_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["noise"]
        where = (*path, "noise")
        if not isinstance(body, dict) or set(body) != {"ratio"}:
            self.error(where, f"{label}.noise: expected {{ratio: R}}, e.g. {{ratio: 0.1}}")
            return None
        ratio = body["ratio"]
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            self.error(
                (*where, "ratio"),
                f"{label}.noise.ratio: expected a number above 0 and at most 1 (0.1 = ±10%)",
            )
            return None
        return MaskSpec(kind="noise", location=location, options={"ratio": float(ratio)})

    def template_spec(
        self,
        label: str,
        value: dict[str, Any],
        path: NodePath,
        location: Location,
        default_locale: str | None,
    ) -> MaskSpec | None:
        body = value["template"]
        where = (*path, "template")
        _, unique = self.common_options(label, value, path, default_locale)
        if unique is None:
            return None
        if not isinstance(body, str):
            self.error(
                where, f'{label}.template: expected text such as "{{first_name}}.{{last_name}}"'
            )
            return None
        try:
            parts = parse_template(body)
        except ValueError as exc:
            self.error(where, f"{label}.template: {exc}")
            return None
        fields = list(dict.fromkeys(p for is_field, p in parts if is_field))
        if not fields:
            self.error(
                where,
                f"{label}.template: names no column; write columns in braces, "
                'e.g. "{first_name}.{last_name}@example.com"',
            )
            return None
        return MaskSpec(
            kind="template",
            location=location,
            unique=unique,
            options={"template": body, "fields": fields},
        )


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _unknown(word: Any, allowed: tuple[str, ...], what: str) -> str:
    guess = closest(str(word), allowed)
    tail = f"did you mean `{guess}`?" if guess else f"known: {', '.join(allowed)}"
    return f"unknown {what} `{word}`; {tail}"


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


def parse_template(text: str) -> list[tuple[bool, str]]:
    """``"{first_name}.{last_name}@x"`` -> [(True, "first_name"), (False, "."), ...].

    ``{{`` and ``}}`` are literal braces. A field is a column name as written,
    spaces and dots included: no attribute access or format specs (unlike
    str.format, which would let a rules file reach Python internals).
    """
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end < 0:
                raise ValueError(f"`{{` at character {i + 1} is not closed; write {{{{ for a brace")
            name = text[i + 1 : end]
            if not name or "{" in name:
                raise ValueError(f"empty or nested braces at character {i + 1}")
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, name))
            i = end + 1
        elif ch == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise ValueError(f"`}}` at character {i + 1} has no `{{`; write }}}} for a brace")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return parts


_BAD: Any = object()  # a locale that was given but wrong (already reported)
_NO_RULE: Any = object()
