"""One mask rule of a rules file (``email: {faker: email, unique: true}``) to
a typed :class:`MaskSpec`: the shapes a rule is written in (a Faker provider
name, ``null``, a mapping with one kind's key) and the options several kinds
share. Each kind parses its own settings in its module (see
:mod:`datacloner.masking.kinds`); :mod:`datacloner.core.rules` reads the files,
tables and ``keep`` lists around the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from datacloner.core.location import Location
from datacloner.core.yamlsource import ErrorList, NodePath, YamlDoc, closest, unknown_key
from datacloner.masking.kinds import YAML_KINDS, Kind, load


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


@dataclass(frozen=True)
class RuleSource:
    """One rule's mapping as written, handed to its kind's ``parse``."""

    kind: str
    label: str  # how errors name the rule: ``table.column`` and the path inside
    value: dict[str, Any]  # the mapping, its kind's key included
    path: NodePath  # where the mapping is in the YAML document (errors give its line)
    location: Location
    default_locale: str | None  # the table's or file's

    @property
    def body(self) -> Any:
        """What is written under the kind's key: ``hex`` in ``{hash: hex}``."""
        return self.value[self.kind]

    @property
    def where(self) -> NodePath:
        """Where the body is: errors about it give its line."""
        return (*self.path, self.kind)


KINDS = YAML_KINDS  # the keys that name a rule's kind: {faker: ...}, {hash: ...}, ...
_OPTIONS = ("args", "locale", "unique")  # options several kinds share (Kind.options)


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
                f"{', '.join(KINDS)}",
            )
            return None
        unknown = [key for key in value if key not in KINDS and key not in _OPTIONS]
        for key in unknown:
            self.error((*path, key), f"{label}: {unknown_key(key, KINDS + _OPTIONS)}")
        kinds = [key for key in value if key in KINDS]
        if len(kinds) != 1:
            if kinds or not unknown:  # a misspelt kind was reported just above
                said = "none" if not kinds else " and ".join(f"`{k}`" for k in kinds)
                self.error(
                    path, f"{label}: a rule needs exactly one of {', '.join(KINDS)}; got {said}"
                )
            return None
        kind = kinds[0]
        ok = True
        allowed = _kind(kind).options
        for option in _OPTIONS:
            if option in value and option not in allowed:
                users = [k for k in KINDS if option in _kind(k).options]
                self.error(
                    (*path, option),
                    f"{label}: `{option}` applies to {_and(users)} rules, not to `{kind}`",
                )
                ok = False
        parse = _kind(kind).parse
        assert parse is not None, kind  # every kind written as a key parses its settings
        spec = parse(self, RuleSource(kind, label, value, path, location, default_locale))
        return spec if ok and not unknown else None

    def locale(self, mapping: dict[str, Any], path: NodePath, label: str) -> str | None:
        """``mapping``'s ``locale``: None when absent, or wrong (then reported)."""
        if "locale" not in mapping:
            return None
        value = mapping["locale"]
        if isinstance(value, str) and value:
            return value
        self.error(path, f"{label}: expected a Faker locale such as en_US or de_DE")
        return None

    def common_options(self, rule: RuleSource) -> tuple[Any, bool | None]:
        """(locale, unique) of a rule; BAD / None when wrong (already reported)."""
        label, value, path = rule.label, rule.value, rule.path
        locale: Any = rule.default_locale
        if "locale" in value:
            locale = self.locale(value, (*path, "locale"), f"{label}.locale")
            if locale is None:
                locale = BAD
        unique = value.get("unique", False)
        if not isinstance(unique, bool):
            self.error((*path, "unique"), f"{label}.unique: expected true or false")
            return locale, None
        return locale, unique

    def inner_spec(
        self, label: str, rule: Any, path: NodePath, default_locale: str | None
    ) -> MaskSpec | None:
        """A rule inside a scrub or json rule: anything that masks one value."""
        spec = self.spec(label, rule, path, default_locale)
        if spec is not None and _kind(spec.kind).value_fn is None:  # template
            self.error(
                path,
                f"{label}: a template reads other columns of the row; "
                "it cannot be used inside scrub or json",
            )
            return None
        return spec


def is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def unknown_word(word: Any, allowed: tuple[str, ...], what: str) -> str:
    guess = closest(str(word), allowed)
    tail = f"did you mean `{guess}`?" if guess else f"known: {', '.join(allowed)}"
    return f"unknown {what} `{word}`; {tail}"


BAD: Any = object()  # a locale that was given but wrong (already reported)


def _kind(name: str) -> Kind:
    kind = load(name)
    assert kind is not None, name  # KINDS come from the same table
    return kind
