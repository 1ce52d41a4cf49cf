"""``{json: {path: rule, ...}}``: mask paths inside json, jsonb, or text holding JSON.

Paths are dotted keys (``contact.email``); ``*`` matches every key of an
object or every element of an array (``items.*.phone``), and a number matches
that array element (``phones.0``). Keys not listed are kept as they are; a
path missing from a document is skipped; a JSON ``null`` stays ``null``; an
array at a path's end is masked element by element. Each path's rule is an
ordinary rule, so ``contact.email: {faker: email, unique: true}`` gives the
same fake as that rule on an email column. Paths apply in the order written.

Input: text (PostgreSQL COPY) comes back as compact text (``ensure_ascii``
off), unchanged when no path matched; a ``dict`` or ``list`` (SQLAlchemy)
comes back as a new one of the same type; the input is never modified.
Invalid JSON raises :class:`BadValue` with ``reason="invalid JSON"``.
Fakes that JSON has no type for (dates, decimals) are written as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson

from datacloner.core.native import extension
from datacloner.masking.base import (
    BadValue,
    Masker,
    Unmaskable,
    ValueFn,
    over_batch,
    spec_error,
)
from datacloner.masking.columns import JSON, ColumnType
from datacloner.masking.fitting import type_label
from datacloner.masking.kinds import Kind
from datacloner.masking.registry import check_spec, value_fn
from datacloner.masking.spec import BAD, MaskSpec, RuleSource, SpecParser

# orjson (a dependency) parses and writes about twice and five times as fast as
# json, where it gives json's own objects and bytes. May it parse a text? The C
# scan says; without it (not built, DATACLONER_PURE_PYTHON) json parses.
_jsonscan = extension("datacloner.masking._jsonscan")
plain_numbers = None if _jsonscan is None else _jsonscan.plain_numbers
# jsonb text: the fakes spliced into the text, which is never parsed into
# objects nor written again (a third of the cost); jsonb stores the same value
mask_paths = None if _jsonscan is None else _jsonscan.mask_paths
MAX_PATHS = 0 if _jsonscan is None else _jsonscan.MAX_PATHS  # mask_paths takes no more

_SENTINEL = object()

# What masking did to a parsed document, so its text is written the cheapest exact way.
_KEPT = 0  # no path matched: the text is kept byte for byte
_TEXT_FAKES = 1  # changed, holding only what _decode gives plus text: _encode_plain
_OTHER_FAKES = 2  # changed, maybe holding floats or other values from a rule: _encode


def check_json(spec: MaskSpec, column: str, col: ColumnType | None = None) -> None:

    if col is not None and not (col.textual or col.category == JSON):
        raise spec_error(
            spec,
            column,
            f"json masks paths inside JSON documents; column type is {type_label(col)}",
            hint="Use it on json, jsonb or text columns.",
        )
    for path, rule in spec.nested.items():
        check_spec(rule, column=f"{column} (json path {path})")


def compile_json(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> Masker:
    # A json document may itself be a list (a JSON array): only a json[] column's
    # lists are arrays of documents.
    return over_batch(json_value_fn(spec, secret, col), arrays=col is not None and col.is_array)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float | dict | list):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def json_value_fn(spec: MaskSpec, secret: bytes, col: ColumnType | None = None) -> ValueFn:

    compiled = []
    for path in spec.options.get("paths", list(spec.nested)):
        fn = value_fn(spec.nested[path], secret)
        compiled.append((tuple(path.split(".")), fn))

    def leaf(node: Any, fn: ValueFn) -> Any:
        if node is None:
            return None
        if isinstance(node, list):  # an array at the end of a path: each element
            return [leaf(item, fn) for item in node]
        return _jsonable(fn(node))

    def apply(node: Any, parts: tuple[str, ...], fn: ValueFn) -> Any:
        """The node with the path masked, or _SENTINEL when nothing matched.
        Containers on the path are copied, never changed in place."""
        if not parts:
            return leaf(node, fn)
        head, rest = parts[0], parts[1:]
        if isinstance(node, dict):
            keys = list(node) if head == "*" else [head] if head in node else []
        elif isinstance(node, list):
            if head == "*":
                keys = list(range(len(node)))
            elif head.isdigit() and int(head) < len(node):
                keys = [int(head)]
            else:
                keys = []
        else:
            return _SENTINEL
        copy: Any = None
        for key in keys:
            new = apply(node[key], rest, fn)
            if new is not _SENTINEL:
                if copy is None:
                    copy = dict(node) if isinstance(node, dict) else list(node)
                copy[key] = new
        return _SENTINEL if copy is None else copy

    def mask_document(doc: Any) -> Any:
        """A dict or list (from SQLAlchemy, not ours to change): masked in a copy,
        or _SENTINEL when no path matched."""
        changed = False
        for parts, fn in compiled:
            new = apply(doc, parts, fn)
            if new is not _SENTINEL:
                doc, changed = new, True
        return doc if changed else _SENTINEL

    # Paths of plain keys (no "*", no array index) are masked across a batch at once.
    plain = [all(p != "*" and not p.isdigit() for p in parts) for parts, _ in compiled]
    batches = [over_batch(fn) for _, fn in compiled]

    # jsonb only: json and text columns keep the documented compact layout
    splice = (
        mask_paths is not None
        and col is not None
        and col.base == "jsonb"
        and all(plain)
        and len(compiled) <= MAX_PATHS
    )
    plain_paths = [parts for parts, _ in compiled]

    def mask_texts(texts: list[str]) -> list[str]:
        """``parse_texts`` of the texts; for jsonb, the fakes spliced into each
        text where that gives the same value (see _jsonscan.c), the others parsed."""
        if not splice:
            return parse_texts(texts)
        try:
            out = mask_paths(texts, plain_paths, batches, _encode_fake)
        except BadValue:  # parse_texts names the document
            return parse_texts(texts)
        rest = [n for n, text in enumerate(out) if text is None]
        if rest:
            for n, text in zip(rest, _masked_at(parse_texts, texts, rest), strict=True):
                out[n] = text
        return out

    def parse_texts(texts: list[str]) -> list[str]:
        """JSON texts masked: parsed here, so changed in place. Each plain path's
        values are gathered across the texts and masked in one call of its batch
        masker (native where it can be); a text no path matched comes back byte
        for byte. BadValue names the text's position."""
        docs: list[Any] = []
        for n, text in enumerate(texts):
            try:
                docs.append(_decode(text))
            except ValueError:
                raise BadValue(n, "invalid JSON") from None
        changed = [_KEPT] * len(docs)
        for (parts, fn), simple, batch in zip(compiled, plain, batches, strict=True):
            if not simple:
                for n, doc in enumerate(docs):
                    try:
                        new = apply(doc, parts, fn)
                    except Unmaskable as exc:
                        raise BadValue(n, exc.reason) from None
                    if new is not _SENTINEL:
                        docs[n], changed[n] = new, _OTHER_FAKES
                continue
            head, last = parts[:-1], parts[-1]
            holders: list[tuple[int, dict[str, Any]]] = []  # (doc, the dict holding `last`)
            for n, doc in enumerate(docs):
                node = doc
                for key in head:
                    if node.__class__ is not dict:
                        break
                    node = node.get(key, _SENTINEL)
                if node.__class__ is dict and last in node:
                    holders.append((n, node))
            if not holders:
                continue
            try:
                masked = batch([node[last] for _, node in holders])
            except BadValue as exc:
                raise BadValue(holders[exc.index][0], exc.reason) from None
            for (n, node), new in zip(holders, masked, strict=True):
                if new is None or new.__class__ is str:
                    node[last] = new
                    changed[n] = max(changed[n], _TEXT_FAKES)
                else:
                    node[last] = _jsonable_deep(new)
                    changed[n] = _OTHER_FAKES
        return [
            text if how == _KEPT else _encode_plain(doc) if how == _TEXT_FAKES else _encode(doc)
            for doc, how, text in zip(docs, changed, texts, strict=True)
        ]

    def mask(value: Any) -> Any:
        if isinstance(value, dict | list):
            new = mask_document(value)
            return value if new is _SENTINEL else new
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            return value  # a bare number or boolean: no keys, nothing to mask
        try:
            return mask_texts([value])[0]
        except BadValue as exc:
            raise Unmaskable(exc.reason) from None

    def mask_batch(values: Sequence[Any], other: ValueFn) -> list[Any]:
        """``mask`` of every value (see base.over_batch): the texts in one
        mask_texts call, anything else through ``other``."""
        out: list[Any] = [None] * len(values)
        where: list[int] = []
        for i, value in enumerate(values):
            if value is None:
                continue
            if value.__class__ is str:
                where.append(i)
                continue
            try:
                out[i] = other(value)
            except Unmaskable as exc:
                raise BadValue(i, exc.reason) from None
        for i, text in zip(where, _masked_at(mask_texts, values, where), strict=True):
            out[i] = text
        return out

    mask.map = mask_batch  # type: ignore[attr-defined]  # see base.over_batch
    return mask


def _masked_at(
    fn: Callable[[list[Any]], list[Any]], values: Sequence[Any], where: list[int]
) -> list[Any]:
    """``fn`` of the values at ``where``, in one call; a BadValue names the
    value's position in ``values``, not in the part handed to ``fn``."""
    try:
        return fn([values[i] for i in where])
    except BadValue as exc:
        raise BadValue(where[exc.index], exc.reason) from None


def _encode_fake(value: Any) -> str:
    """A fake that is not text, as JSON, as the parsing path writes it."""
    return _encode(_jsonable_deep(value))


def _jsonable_deep(value: Any) -> Any:
    """leaf()'s conversion of a masked value: element by element for a list."""
    if isinstance(value, list):
        return [None if v is None else _jsonable_deep(v) for v in value]
    return _jsonable(value)


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)``, by orjson when that gives the same objects:
    when every number is a small integer (json makes fractions Decimal, orjson
    float). Anything orjson refuses (lone surrogates, invalid JSON) goes to
    json, which decides."""
    if plain_numbers is not None and plain_numbers(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _DECODER.decode(text)


def _encode_plain(doc: Any) -> str:
    """``_encode(doc)`` for a document without floats (what ``_decode`` gives,
    plus text): orjson writes it as the C encoder does, compact, non-ASCII
    kept. A Decimal, an integer beyond 64 bits or a lone surrogate make orjson
    refuse, and _encode writes it."""
    try:
        return orjson.dumps(doc).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _encode(doc)


def _encode(doc: Any) -> str:
    """Compact JSON text; the C encoder unless a Decimal must keep its digits."""
    try:
        if _C_ENCODE is not None:
            return "".join(_C_ENCODE(doc, 0))
        return _ENCODER.encode(doc)
    except TypeError:
        return _dumps(doc)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads/dumps with options build a new decoder/encoder per call.
# Numbers as Decimal: 1.50 stays 1.50 and 1e400 never becomes Infinity.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# What _ENCODER.encode builds per call, built once (it is CPython's C encoder; other
# interpreters fall back to _ENCODER).
_C_ENCODE = (
    c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None
    else None
)


def _dumps(value: Any) -> str:
    """Compact JSON that writes Decimals as their own digits (``json`` would
    turn them into floats or strings)."""
    if isinstance(value, dict):
        items = (f"{_dumps(str(k))}:{_dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def parse(p: SpecParser, rule: RuleSource) -> MaskSpec | None:
    label, body, where = rule.label, rule.body, rule.where
    locale, _ = p.common_options(rule)
    if locale is BAD:
        return None
    if not isinstance(body, dict) or not body:
        p.error(
            where,
            f"{label}.json: expected a mapping of dotted path to rule, "
            "e.g. {contact.email: {faker: email, unique: true}}",
        )
        return None
    ok = True
    nested: dict[str, MaskSpec] = {}
    for json_path, inner in body.items():
        if any(not part for part in json_path.split(".")):
            p.error(
                (*where, json_path),
                f"{label}.json: path `{json_path}` has an empty part; "
                "write keys separated by single dots, e.g. contact.email or items.*.phone",
            )
            ok = False
            continue
        spec = p.inner_spec(f"{label}.json.{json_path}", inner, (*where, json_path), locale)
        if spec is None:
            ok = False
        else:
            nested[json_path] = spec
    if not ok:
        return None
    return MaskSpec(
        kind="json",
        location=rule.location,
        locale=locale,
        options={"paths": list(nested)},
        nested=nested,
    )


def paths(spec: MaskSpec) -> list[tuple[str, ...]] | None:
    """The paths the rule rewrites, as key tuples (``*``: any array element or
    member), or None when it names none; each path's rule is in ``spec.nested``."""
    listed = spec.options.get("paths") if isinstance(spec.options, dict) else None
    if not isinstance(listed, list) or not listed:
        return None
    return [tuple(str(p).split(".")) for p in listed]


KIND = Kind(
    "json",
    check=check_json,
    parse=parse,
    options=("locale",),
    value_fn=json_value_fn,
    compile=compile_json,
    paths=paths,
)
