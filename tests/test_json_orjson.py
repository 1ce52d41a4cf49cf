"""orjson parses and writes json-rule documents only where the result is the
json module's, object for object and byte for byte.

The json rule keeps every number's digits (fractions become Decimal), so
orjson may parse a text only when its numbers are all small integers
(``_jsonscan.plain_numbers``), and may write a document only when it holds no
float. Everything else goes to json; these properties check that the choice
never shows in the output.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import native_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import compile_mask
from datacloner.masking.base import BadValue
from datacloner.masking.kinds import json_rule

if json_rule.plain_numbers is None:
    native_missing("datacloner.masking._jsonscan")

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/x.yml"), 1)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(
        alphabet=st.characters(exclude_categories=[]), max_size=10
    )  # surrogates, controls too
)
DOCS = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=4) | st.sampled_from(["name", "a"]), children, max_size=4
        )
    ),
    max_leaves=15,
)


def as_text(doc: Any, spaced: bool) -> str:
    """JSON text as a database might hold it, spaced like jsonb::text or compact."""
    seps = (", ", ": ") if spaced else (",", ":")
    return json.dumps(doc, ensure_ascii=False, separators=seps, default=str).replace('"__dec__', "")


def typed(value: Any) -> Any:
    """A comparable form that tells 1.5 from Decimal("1.5") and 1 from True."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, repr(value))


def json_decode(text: str) -> Any:
    return json_rule._DECODER.decode(text)


REFUSED = object()


def orjson_answer(call: Any, arg: Any) -> Any:
    """orjson's own answer, or REFUSED (json then decides)."""
    try:
        return call(arg)
    except (json_rule.orjson.JSONDecodeError, json_rule.orjson.JSONEncodeError):
        return REFUSED


def assert_orjson_parse_is_exact(text: str, expected: Any) -> None:
    """What the guard promises: where plain_numbers lets orjson parse and orjson
    accepts, it gives json's objects (not only _decode's composed answer)."""
    if json_rule.plain_numbers(text):
        got = orjson_answer(json_rule.orjson.loads, text)
        if got is not REFUSED:
            assert typed(got) == expected


@settings(max_examples=400, deadline=None)
@given(DOCS, st.booleans())
def test_decode_gives_json_objects(doc: Any, spaced: bool) -> None:
    text = as_text(doc, spaced)
    try:
        expected = typed(json_decode(text))
    except (ValueError, RecursionError):
        with pytest.raises((ValueError, RecursionError)):
            json_rule._decode(text)
        return
    assert typed(json_rule._decode(text)) == expected
    assert_orjson_parse_is_exact(text, expected)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789-.eE \\u\ud800tfnrl', max_size=30))
def test_decode_accepts_and_refuses_what_json_does(text: str) -> None:
    try:
        expected = typed(json_decode(text))
    except ValueError:
        with pytest.raises(ValueError):
            json_rule._decode(text)
        return
    assert typed(json_rule._decode(text)) == expected
    assert_orjson_parse_is_exact(text, expected)


@settings(max_examples=400, deadline=None)
@given(DOCS, st.text(alphabet=st.characters(exclude_categories=[]), max_size=12))
def test_plain_encode_writes_what_json_writes(doc: Any, fake: str) -> None:
    """A parsed document with a fake put in: orjson's text or json's, the same."""
    parsed = json_decode(as_text(doc, False))
    holder = {"doc": parsed, "fake": fake}
    expected = json_rule._encode(holder)
    assert json_rule._encode_plain(holder) == expected
    written = orjson_answer(json_rule.orjson.dumps, holder)
    if written is not REFUSED:  # orjson's own bytes, where it writes at all
        assert written.decode() == expected


def test_a_typical_profile_takes_orjson_both_ways() -> None:
    """The fast path is taken for what real jsonb holds, not only allowed."""
    text = (
        '{"name": "Giulia Murphy", "prefs": {"theme": "light", "newsletter": false}, '
        '"visits": 12, "contact": {"email": "g.m@web.de", "phone": "+1 531-555-5041"}}'
    )
    assert json_rule.plain_numbers(text)
    doc = json_rule._decode(text)
    assert typed(doc) == typed(json_rule.orjson.loads(text)) == typed(json_decode(text))
    doc["contact"]["email"] = "fake@example.com"
    assert json_rule.orjson.dumps(doc).decode() == json_rule._encode_plain(doc)
    assert json_rule._encode_plain(doc) == json_rule._encode(doc)
    assert not json_rule.plain_numbers('{"a": 1.5}') and not json_rule.plain_numbers("[1e3]")
    assert json_rule.plain_numbers('{"note": "v1.5e3"}')  # inside a string: not a number


def test_fractions_and_big_numbers_keep_their_digits() -> None:
    text = '{"a": 1.50, "b": 1e400, "c": 123456789012345678901234567890, "d": -0, "name": "x"}'
    spec = MaskSpec(
        kind="json",
        location=LOC,
        nested={"name": MaskSpec(kind="faker", location=LOC, provider="name")},
    )
    out = compile_mask(spec, SECRET)([text])[0]
    kept = '{"a":1.50,"b":1E+400,"c":123456789012345678901234567890,"d":0,"name":"'
    assert out.startswith(kept) and out != kept + 'x"}'
    assert json_rule._decode('{"a": 1.50}') == {"a": Decimal("1.50")}


class RefusingOrjson:
    """orjson refusing every document: json parses and writes them all."""

    JSONDecodeError = orjson.JSONDecodeError

    @staticmethod
    def loads(text: str) -> Any:
        raise orjson.JSONDecodeError("refused", text, 0)

    @staticmethod
    def dumps(doc: Any) -> bytes:
        raise orjson.JSONEncodeError("refused")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), DOCS.map(lambda d: as_text(d, True)), st.just("[1,")), max_size=6)
)
def test_json_rule_outputs_do_not_depend_on_orjson(texts: list[str | None]) -> None:
    spec = MaskSpec(
        kind="json",
        location=LOC,
        nested={
            "name": MaskSpec(kind="faker", location=LOC, provider="name"),
            "a": MaskSpec(kind="noise", location=LOC, options={"ratio": 0.1}),
        },
    )
    fast = compile_mask(spec, SECRET)
    saved = json_rule.orjson
    json_rule.orjson = RefusingOrjson  # type: ignore[assignment]  # json does it all
    try:
        slow = compile_mask(spec, SECRET)

        def run_slow() -> Any:
            try:
                return slow(texts)
            except BadValue as exc:
                return ("bad", exc.index)

        expected = run_slow()
    finally:
        json_rule.orjson = saved
    try:
        got: Any = fast(texts)
    except BadValue as exc:
        got = ("bad", exc.index)
    assert got == expected
