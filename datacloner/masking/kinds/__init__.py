"""The rule kinds by name: which module holds each, loaded on first use.

A kind lives in one module of this package, which declares a :class:`Kind`:
its YAML options (``parse``), its check against a column (``check``) and its
compiled masking (``value_fn``, or ``compile`` for whole batches), and what
``verify`` and the plan need to know of it (``changes``, ``finds``, ``paths``,
``fake_locale``, ``check_row``), so they ask the kind, not its name. This table
is the only place that names the modules, and it imports none of them, so a
kind may import the shared machinery (the parser, the registry) without a
cycle. Adding a kind: write its module, add one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# kind -> "module:attribute" of its Kind. The order is the order error
# messages list the kinds in; ``null`` is written as YAML's null, not as a key.
_WHERE: dict[str, str] = {
    "faker": "datacloner.masking.kinds.faker_rule:KIND",
    "value": "datacloner.masking.kinds.constant:VALUE",
    "hash": "datacloner.masking.kinds.hashing:KIND",
    "scrub": "datacloner.masking.kinds.scrub:KIND",
    "json": "datacloner.masking.kinds.json_rule:KIND",
    "partial": "datacloner.masking.kinds.partial:KIND",
    "shift": "datacloner.masking.kinds.shift:KIND",
    "noise": "datacloner.masking.kinds.noise:KIND",
    "template": "datacloner.masking.kinds.template:KIND",
    "null": "datacloner.masking.kinds.constant:NULL",
}
NAMES: tuple[str, ...] = tuple(_WHERE)
YAML_KINDS: tuple[str, ...] = tuple(name for name in _WHERE if name != "null")


@dataclass(frozen=True)
class Kind:
    """One rule kind. The callables take a :class:`~datacloner.masking.spec.MaskSpec`.

    ``options``: which of the options shared by several kinds (``args``,
    ``locale``, ``unique``) it takes. ``parse(parser, label, value, path,
    location, default_locale)``: the rule's mapping -> MaskSpec, or None after
    adding its errors. ``check(spec, column, col)``: raises UsageError before
    any row moves. ``value_fn(spec, secret, col)``: one value's masking (what
    rules inside scrub and json use); ``compile(spec, secret, col)``: the batch
    masker when it is not ``over_batch(value_fn)``. ``key_parts(col, target)``:
    what else of the target column its masker depends on.

    What verify and the plan ask: ``changes(spec)``: its output never equals its
    input, so a target value equal to its own source row's is a leak.
    ``finds(spec)``: for a kind that keeps its text, (detector kinds, its own
    compiled regexes): only what they find in a source value is personal.
    ``paths(spec)``: for a kind that masks parts of a document, the paths it
    rewrites as key tuples (None when it names none), each with its rule in
    ``spec.nested`` under the dotted path. ``fake_locale``: its output is drawn
    from Faker in ``spec.locale``, so verify tells such fakes from real values.
    ``check_row(spec, table, column, names, masks)``: errors about the other
    columns of the row it reads (``names``: the table's columns, ``masks``: their
    rules).
    """

    name: str
    check: Callable[..., None]
    parse: Callable[..., Any] | None = None
    options: tuple[str, ...] = ()
    value_fn: Callable[..., Any] | None = None
    compile: Callable[..., Any] | None = None
    key_parts: Callable[..., list[str]] | None = None
    changes: Callable[..., bool] | None = None
    finds: Callable[..., tuple[list[str], list[Any]]] | None = None
    paths: Callable[..., list[tuple[str, ...]] | None] | None = None
    fake_locale: bool = False
    check_row: Callable[..., list[str]] | None = None


_LOADED: dict[str, Kind] = {}


def load(name: str) -> Kind | None:
    """The kind called ``name`` (its module imported on first use), or None."""
    kind = _LOADED.get(name)
    if kind is None:
        where = _WHERE.get(name)
        if where is None:
            return None
        module, attribute = where.split(":")
        kind = getattr(importlib.import_module(module), attribute)
        assert isinstance(kind, Kind) and kind.name == name, where  # a wrong table line
        _LOADED[name] = kind
    return kind
