"""jsonb documents: the fakes spliced into the text (``_jsonscan.mask_paths``)
give the value the parsing path gives, document for document.

jsonb stores a value, not a text, so the splice may keep the source's layout
where the parsing path writes compact text; what must match is the value, its
fakes, and the errors (the document an invalid text is named by). Where the
splice cannot be exact (a number or an object at a path, a repeated key, a
lone surrogate) the document goes to the parsing path.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers import native_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking.base import BadValue
from datacloner.masking.columns import JSON, ColumnType
from datacloner.masking.kinds import json_rule

if json_rule.mask_paths is None:
    native_missing("datacloner.masking._jsonscan")

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/x.yml"), 1)
JSONB = ColumnType(category=JSON, spelling="jsonb", base="jsonb")
SPEC = MaskSpec(
    kind="json",
    location=LOC,
    nested={
        "name": MaskSpec(kind="faker", location=LOC, provider="name"),
        "contact.email": MaskSpec(kind="faker", location=LOC, provider="email", unique=True),
        "contact.phone": MaskSpec(kind="faker", location=LOC, provider="date_of_birth"),
    },
)
SPLICED = json_rule.json_value_fn(SPEC, SECRET, JSONB)
PARSED = json_rule.json_value_fn(SPEC, SECRET, None)  # no column type: always parsed

TEXT = st.text(alphabet=st.characters(exclude_categories=[]), max_size=8)  # surrogates too
LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
VALUE = st.recursive(
    LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["name", "email", "x", "é"]) | TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
CONTACT = st.dictionaries(st.sampled_from(["email", "phone", "y"]), VALUE, max_size=3)
DOC = st.dictionaries(st.sampled_from(["name", "contact", "other"]), VALUE | CONTACT, max_size=3)


def value(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def masked(fn: Any, texts: list[str]) -> list[Any]:
    try:
        return [value(t) for t in fn.map(texts, fn)]
    except BadValue as exc:
        return [("BadValue", exc.index, exc.reason)]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(DOC, st.booleans(), st.booleans()), min_size=1, max_size=5))
def test_spliced_documents_hold_what_parsed_ones_hold(docs: list[Any]) -> None:
    texts = [
        json.dumps(d, ensure_ascii=ascii, separators=(", ", ": ") if spaced else (",", ":"))
        for d, spaced, ascii in docs
    ]
    assert masked(SPLICED, texts) == masked(PARSED, texts)


def test_a_typical_profile_is_spliced_and_keeps_its_layout() -> None:
    text = (
        '{"name": "Giulia Murphy", "prefs": {"theme": "light"}, "visits": 12, '
        '"contact": {"email": "g.m@web.de", "phone": "+1 531-555-5041"}}'
    )
    (out,) = SPLICED.map([text], SPLICED)
    assert out.startswith('{"name": "') and '"prefs": {"theme": "light"}, "visits": 12' in out
    assert value(out) == value(PARSED.map([text], PARSED)[0])
    assert "Giulia" not in out and "g.m@web.de" not in out


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "A\\"b\\\\c\\u00e9\\ud83d\\ude00", "contact": {"email": null}}',  # escapes
        '{"na\\u006de": "escaped key", "contact": {"email": "a@b.c"}}',
        '{"name": "x", "name": "y"}',  # a repeated key: json keeps the last
        '{"contact": {"email": "a@b.c"}, "contact": {"phone": "1"}}',
        '{"name": 5, "contact": {"email": ["a@b.c", null]}}',  # not strings: parsed
        '{"name": "\\ud800 lone", "contact": {"email": "e@f.g"}}',
        '  {"name" : "Ünïcødé 名前" , "contact" : { "email" : "q@w.e" } }  ',
        '[{"name": "x"}]',
        "null",
        "{}",
    ],
)
def test_awkward_documents_match_the_parsing_path(text: str) -> None:
    assert masked(SPLICED, ["{}", text]) == masked(PARSED, ["{}", text])


@pytest.mark.parametrize("text", ['{"name": "x"', '{"name": "x",}', "nope", '{"a": tru}', ""])
def test_invalid_json_is_named_by_its_document(text: str) -> None:
    assert masked(SPLICED, ["{}", '{"name": "a"}', text]) == [("BadValue", 2, "invalid JSON")]


def test_more_paths_than_the_splice_takes_are_parsed() -> None:
    """A rule with more plain paths than mask_paths takes (64) masks a jsonb
    column by parsing, with the same values, instead of failing the copy."""
    many = json_rule.MAX_PATHS + 1
    spec = MaskSpec(
        kind="json",
        location=LOC,
        nested={
            f"k{i}": MaskSpec(kind="faker", location=LOC, provider="name") for i in range(many)
        },
    )
    texts = [json.dumps({f"k{i}": f"person {i}" for i in range(many)}), '{"k3": "x"}']
    jsonb = json_rule.json_value_fn(spec, SECRET, JSONB)
    parsed = json_rule.json_value_fn(spec, SECRET, None)
    out = masked(jsonb, texts)
    assert out == masked(parsed, texts)
    assert out[0]["k0"] != "person 0" and len(out[0]) == many
