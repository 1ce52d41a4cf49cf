"""Masking: hash, scrub, json, partial, shift, noise, template, arrays and BadValue."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datacloner.core.catalog import Column
from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.detect import detectors
from datacloner.masking import BadValue, RowMasker, compile_mask
from datacloner.masking.base import Masker

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/users.yml"), 12)


def spec(kind: str, **fields: Any) -> MaskSpec:
    return MaskSpec(kind=kind, location=LOC, **fields)


def faker(provider: str, **fields: Any) -> MaskSpec:
    return spec("faker", provider=provider, **fields)


def masker(rule: MaskSpec, target: Column | None = None) -> Masker:
    compiled = compile_mask(rule, SECRET, target)
    assert not isinstance(compiled, RowMasker)
    return compiled


def one(rule: MaskSpec, value: Any, target: Column | None = None) -> Any:
    return masker(rule, target)([value])[0]


def scrub(*kinds: str, patterns: dict[str, str] | None = None, **fields: Any) -> MaskSpec:
    return spec("scrub", options={"kinds": list(kinds), "patterns": patterns or {}}, **fields)


# --- hash ----------------------------------------------------------------------------------


def test_hash_hex_is_keyed_and_sized() -> None:
    rule = spec("hash", options={"format": "hex", "length": 32})
    out = masker(rule)(["alice", "bob", "alice", 42, "42"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in out)
    assert out[0] == out[2] and out[0] != out[1] and out[3] == out[4]
    short = one(spec("hash", options={"format": "hex", "length": 8}), "alice")
    assert len(short) == 8
    other_secret = compile_mask(rule, b"other")(["alice"])[0]
    assert other_secret != out[0]


def test_hash_hex_fits_the_column() -> None:
    rule = spec("hash", options={"format": "hex", "length": 32})
    assert len(one(rule, "alice", Column("h", "character varying(10)", max_length=10))) == 10


def test_hash_uuid_and_int() -> None:
    value = one(spec("hash", options={"format": "uuid"}), "alice")
    assert str(uuid.UUID(value)) == value and uuid.UUID(value).version == 4
    numbers = masker(spec("hash", options={"format": "int", "min": 1, "max": 10}))(
        [f"v{i}" for i in range(300)]
    )
    assert set(numbers) == set(range(1, 11))


# --- partial -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "value", "expected"),
    [
        ({"keep_last": 4}, "4111111111111111", "************1111"),
        ({"keep_first": 2, "keep_last": 2, "mask_char": "#"}, "ABCDEFGH", "AB####GH"),
        ({"keep_last": 4}, "1234", "**34"),  # at least half is always masked
        ({"keep_first": 3, "keep_last": 3}, "abcdef", "***def"),
        ({"keep_last": 4}, "", ""),
        ({"keep_last": 2}, 123456, "****56"),
        ({}, "secret", "******"),
    ],
)
def test_partial(options: dict[str, Any], value: Any, expected: str) -> None:
    full = {"keep_first": 0, "keep_last": 0, "mask_char": "*", **options}
    assert one(spec("partial", options=full), value) == expected


# --- shift ---------------------------------------------------------------------------------

SHIFT30 = spec("shift", options={"days": 30})


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("2022-02-15", r"\d{4}-\d{2}-\d{2}"),
        ("2022-02-15 09:57:20+00", r"\d{4}-\d{2}-\d{2} 09:57:20\+00"),
        ("2022-02-15 09:57:20.123456+05:30", r"\d{4}-\d{2}-\d{2} 09:57:20\.123456\+05:30"),
        ("2022-02-15T09:57:20", r"\d{4}-\d{2}-\d{2}T09:57:20"),
        ("2022-02-15 09:57", r"\d{4}-\d{2}-\d{2} 09:57"),
    ],
)
def test_shift_text_keeps_its_layout(value: str, pattern: str) -> None:
    out = one(SHIFT30, value)
    assert isinstance(out, str) and re.fullmatch(pattern, out), out
    assert out != value
    moved = date.fromisoformat(out[:10]) - date.fromisoformat(value[:10])
    assert 1 <= abs(moved.days) <= 30


def test_shift_objects_keep_their_type_and_bounds() -> None:
    days = [date(2000, 1, 1) + timedelta(days=i) for i in range(200)]
    out = masker(SHIFT30)(days)
    assert all(
        type(o) is date and 1 <= abs((o - d).days) <= 30 for o, d in zip(out, days, strict=True)
    )
    stamp = datetime(2022, 2, 15, 9, 57, 20, tzinfo=UTC)
    moved = one(SHIFT30, stamp)
    assert isinstance(moved, datetime) and moved.tzinfo == UTC and moved != stamp
    # The same day masks the same as its text: PostgreSQL COPY and SQLAlchemy agree.
    assert one(SHIFT30, date(2022, 2, 15)).isoformat() == one(SHIFT30, "2022-02-15")


def test_shift_grain_is_the_smallest_unit_given() -> None:
    rule = spec("shift", options={"hours": 6})
    stamps = [datetime(2022, 1, 1) + timedelta(minutes=7 * i) for i in range(200)]
    deltas = {o - s for o, s in zip(masker(rule)(stamps), stamps, strict=True)}
    assert deltas == {timedelta(hours=h) for h in range(-6, 7) if h}
    fine = spec("shift", options={"hours": 1, "minutes": 1})  # up to 61 minutes, by the minute
    deltas = {o - s for o, s in zip(masker(fine)(stamps), stamps, strict=True)}
    assert len(deltas) > 60 and all(timedelta(0) < abs(d) <= timedelta(minutes=61) for d in deltas)
    assert abs((one(rule, date(2022, 1, 1)) - date(2022, 1, 1)).days) == 1


def test_shift_special_and_bad_values() -> None:
    assert one(SHIFT30, "infinity") == "infinity"
    assert one(SHIFT30, date(1, 1, 1)) > date(1, 1, 1)  # moved the other way at the edge
    with pytest.raises(BadValue) as caught:
        masker(SHIFT30)(["2022-01-01", "last tuesday"])
    assert caught.value.index == 1 and "tuesday" not in str(caught.value)
    with pytest.raises(BadValue):
        masker(SHIFT30)([12])


# --- noise ---------------------------------------------------------------------------------

NOISE = spec("noise", options={"ratio": 0.1})


def test_noise_keeps_types_scale_and_bounds() -> None:
    ints = list(range(1000, 1200))
    out = masker(NOISE)(ints)
    assert all(type(o) is int and abs(o - i) <= i * 0.1 + 1 for o, i in zip(out, ints, strict=True))
    assert sum(o != i for o, i in zip(out, ints, strict=True)) > 150
    assert re.fullmatch(r"\d+\.\d{2}", one(NOISE, "12.50"))
    dec = one(NOISE, Decimal("1234.567"))
    assert isinstance(dec, Decimal) and dec.as_tuple().exponent == -3
    assert abs(dec - Decimal("1234.567")) <= Decimal("123.46")
    assert isinstance(one(NOISE, 1.5), float)
    assert one(NOISE, 0) == 0 and one(NOISE, "NaN") == "NaN"


def test_noise_on_a_number_with_more_digits_than_its_scale_holds() -> None:
    """9.9e+119 parsed from JSON as a Decimal: noised within its ratio, not a crash."""
    big = Decimal("9.934902579435385E+119")
    out = one(NOISE, big)
    assert isinstance(out, Decimal) and abs(out - big) <= big * Decimal("0.1")


def test_noise_stays_inside_the_column() -> None:
    big = masker(spec("noise", options={"ratio": 1.0}), Column("n", "numeric(4,2)"))
    assert all(
        abs(v) < 100 for v in big([Decimal("99.99")] * 3 + [Decimal(f"9{i}.5") for i in range(10)])
    )
    small = masker(spec("noise", options={"ratio": 1.0}), Column("n", "smallint"))
    assert all(-32768 <= v <= 32767 for v in small(list(range(32000, 32767))))


def test_noise_bad_values() -> None:
    with pytest.raises(BadValue) as caught:
        masker(NOISE)([1, "twelve"])
    assert caught.value.index == 1 and caught.value.reason == "not a number"
    with pytest.raises(BadValue):
        masker(NOISE)([True])


# --- scrub ---------------------------------------------------------------------------------

NOTE = (
    "Mail Jane.Doe@corp.com or call +1-555-123-4567 from 10.1.2.3 / fe80::1. "
    "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, see https://corp.com/u/jane."
)
ORIGINALS = [
    "Jane.Doe@corp.com",
    "+1-555-123-4567",
    "10.1.2.3",
    "fe80::1",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "https://corp.com/u/jane",
]


def test_scrub_replaces_every_kind_and_keeps_the_rest() -> None:
    out = one(scrub(*detectors.KINDS), NOTE)
    for original in ORIGINALS:
        assert original not in out
    assert out.startswith("Mail ") and " or call " in out and ", see " in out
    kinds = {kind for _, _, kind in detectors.find_all(out)}
    assert kinds == set(detectors.KINDS), out  # each fake still looks like its kind


def test_scrub_email_equals_the_unique_email_rule() -> None:
    # users.email: {faker: email, unique: true}; notes: {scrub: [email]}
    emails = [f"person{i}@corp.example" for i in range(50)] + ["Bob@X.com"]
    column = masker(faker("email", unique=True))(emails)
    notes = masker(scrub("email"))([f"contact <{e}> today" for e in emails])
    assert notes == [f"contact <{c}> today" for c in column]


def test_scrub_phone_equals_the_phone_rule_and_locales_match() -> None:
    phones = ["+1-555-123-4567", "(555)987-6543"]
    assert masker(scrub("phone"))(phones) == masker(faker("phone_number"))(phones)
    british = masker(scrub("email", "phone", locale="en_GB"))(phones)
    assert british == masker(faker("phone_number", locale="en_GB"))(phones)


def test_scrub_card_and_iban_fakes_are_valid_and_same_layout() -> None:
    card = one(scrub("credit_card"), "4111 1111 1111 1111")
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", card) and detectors.luhn_ok(card)
    assert card != "4111 1111 1111 1111"
    iban = one(scrub("iban"), "DE89 3704 0044 0532 0130 00")
    assert iban.startswith("DE") and detectors.iban_ok(iban)
    assert len(iban) == len("DE89 3704 0044 0532 0130 00")


def test_scrub_custom_patterns_shape_and_groups() -> None:
    rule = scrub(patterns={"order": r"ORD-\d{6}", "ticket": r"TCK-(\d{4})"})
    out = one(rule, "ORD-123456 and TCK-9876 and ORD-12")
    m = re.fullmatch(r"([A-Z]{3})-(\d{6}) and TCK-(\d{4}) and ORD-12", out)
    assert m, out
    assert m.group(3) != "9876"


def test_scrub_rules_override_the_fake() -> None:
    rule = spec(
        "scrub",
        options={"kinds": ["email", "credit_card"], "patterns": {"ssn": r"\d{3}-\d{2}-\d{4}"}},
        nested={
            "kind:credit_card": spec("value", value="[card]"),
            "pattern:ssn": spec("hash", options={"format": "hex", "length": 6}),
        },
    )
    out = one(rule, "card 4111111111111111, ssn 123-45-6789")
    assert re.fullmatch(r"card \[card\], ssn [0-9a-f]{6}", out), out


def test_scrub_text_without_personal_values_is_unchanged() -> None:
    text = "Order 48213 shipped on 2022-03-01 at 09:57; total 1 234.50 EUR."
    assert one(scrub(*detectors.KINDS), text) == text


def test_scrub_fits_a_varchar() -> None:
    column = Column("note", "character varying(30)", max_length=30)
    out = one(scrub("email"), "mail a@b.co about it, thanks!", column)
    assert len(out) <= 30 and "a@b.co" not in out


# --- json ----------------------------------------------------------------------------------

JSON_RULE = spec(
    "json",
    options={"paths": ["name", "contact.email", "items.*.phone", "tags.0"]},
    nested={
        "name": faker("name"),
        "contact.email": faker("email", unique=True),
        "items.*.phone": faker("phone_number"),
        "tags.0": spec("value", value="x"),
    },
)
DOC = {
    "name": "Jane Doe",
    "contact": {"email": "jane@corp.com", "city": "Paris"},
    "items": [{"phone": "555-0100", "sku": "A1"}, {"phone": None}, {"sku": "B2"}, "loose"],
    "tags": ["vip", "new"],
    "note": "café",
}


def test_json_masks_listed_paths_only() -> None:
    out = one(JSON_RULE, json.dumps(DOC))
    assert isinstance(out, str) and "café" in out and ": " not in out  # compact, not ASCII-escaped
    doc = json.loads(out)
    assert doc["name"] != "Jane Doe"
    assert doc["contact"]["email"] == one(faker("email", unique=True), "jane@corp.com")
    assert doc["contact"]["city"] == "Paris"
    assert doc["items"][0]["phone"] == one(faker("phone_number"), "555-0100")
    assert doc["items"][0]["sku"] == "A1" and doc["items"][1] == {"phone": None}
    assert doc["items"][2:] == [{"sku": "B2"}, "loose"]
    assert doc["tags"] == ["x", "new"]


def test_json_objects_keep_their_type_and_are_not_modified() -> None:
    original = json.loads(json.dumps(DOC))
    out = one(JSON_RULE, original)
    assert isinstance(out, dict) and out["name"] != "Jane Doe"
    assert original == DOC  # the input is untouched
    assert one(JSON_RULE, [DOC]) == [DOC]  # a top-level array: no path matches it
    wildcard = spec("json", options={"paths": ["*.email"]}, nested={"*.email": spec("null")})
    assert one(wildcard, [{"email": "a@b.c"}, {"x": 1}]) == [{"email": None}, {"x": 1}]


def test_json_without_matches_is_byte_for_byte() -> None:
    text = '{"other": 1,   "x": [1, 2]}'
    assert one(JSON_RULE, text) == text


def test_json_leaf_arrays_and_non_json_types() -> None:
    rule = spec(
        "json",
        options={"paths": ["phones", "born"]},
        nested={"phones": faker("phone_number"), "born": faker("date_of_birth")},
    )
    doc = json.loads(one(rule, '{"phones": ["555-0100", null], "born": "1990-01-01"}'))
    assert doc["phones"][0] == one(faker("phone_number"), "555-0100") and doc["phones"][1] is None
    assert date.fromisoformat(doc["born"])  # a date fake written as text


def test_invalid_json_is_a_bad_value_without_the_value() -> None:
    with pytest.raises(BadValue) as caught:
        masker(JSON_RULE)(['{"name": "x"}', None, '{"name": "Jane Secret"'])
    assert caught.value.index == 2
    assert caught.value.reason == "invalid JSON"
    assert "Secret" not in str(caught.value)


def test_json_array_column_masks_each_document() -> None:
    column = Column("docs", "jsonb[]", is_array=True)
    out = masker(JSON_RULE, column)([[json.dumps(DOC), None]])[0]
    assert json.loads(out[0])["name"] != "Jane Doe" and out[1] is None


# --- template ------------------------------------------------------------------------------


def template(text: str, *fields: str, unique: bool = False) -> MaskSpec:
    return spec("template", unique=unique, options={"template": text, "fields": list(fields)})


def test_template_builds_from_the_row() -> None:
    rule = template("{first_name}.{last_name}@example.com", "first_name", "last_name")
    row_masker = compile_mask(rule, SECRET, Column("email", "text"))
    assert isinstance(row_masker, RowMasker)
    assert row_masker.fields == ("first_name", "last_name", "email")
    rows = [
        {"first_name": "Ann", "last_name": "Lee", "email": "real@corp.com"},
        {"first_name": "Bo", "last_name": None, "email": "x@y.z"},
        {"first_name": "Ann", "last_name": "Lee", "email": None},
    ]
    assert row_masker(rows) == ["Ann.Lee@example.com", "Bo.@example.com", None]


def test_template_unique_and_length() -> None:
    rule = template("{first}.{last}@example.com", "first", "last", unique=True)
    column = Column("email", "character varying(40)", max_length=40)
    row_masker = compile_mask(rule, SECRET, column)
    assert isinstance(row_masker, RowMasker)
    rows = [{"first": "Ann", "last": "Lee", "email": f"a{i}@corp.com"} for i in range(100)]
    rows.append({"first": "Maximiliana", "last": "Featherstonehaugh", "email": "b@corp.com"})
    out = row_masker(rows)
    assert len(set(out)) == len(rows)
    assert all(len(v) <= 40 and re.fullmatch(r"[^@]*[a-z2-7]{16}@example\.com", v) for v in out)
    assert "real" not in "".join(out)


def test_template_braces_and_own_column() -> None:
    rule = template("{{id}}-{code}", "code")
    row_masker = compile_mask(rule, SECRET, Column("ref", "text"))
    assert isinstance(row_masker, RowMasker)
    assert row_masker([{"code": 7, "ref": "r"}]) == ["{id}-7"]
    with pytest.raises(UsageError, match="own column"):
        compile_mask(template("{ref}", "ref"), SECRET, Column("ref", "text"))
    with pytest.raises(UsageError, match="target"):
        compile_mask(template("{a}", "a"), SECRET)


# --- arrays, NULLs -------------------------------------------------------------------------

EVERY_VALUE_RULE = [
    faker("email", unique=True),
    spec("hash", options={"format": "hex", "length": 32}),
    scrub("email"),
    JSON_RULE,
    spec("partial", options={"keep_first": 0, "keep_last": 2, "mask_char": "*"}),
    SHIFT30,
    NOISE,
    spec("value", value="x"),
    spec("null"),
]
SAMPLE_INPUT = {
    "faker": "a@b.com",
    "hash": "a",
    "scrub": "mail a@b.com",
    "json": '{"name": "x"}',
    "partial": "abcdef",
    "shift": "2022-01-01",
    "noise": "12.5",
    "value": "v",
    "null": "n",
}


@pytest.mark.parametrize("rule", EVERY_VALUE_RULE, ids=lambda r: r.kind)
def test_null_in_null_out_and_arrays_for_every_kind(rule: MaskSpec) -> None:
    value = SAMPLE_INPUT[rule.kind]
    mask = masker(rule)
    assert mask([None, None]) == [None, None] and mask([]) == []
    single = mask([value])[0]
    out = mask([None, value, [value, None, [value]], []])
    assert out[0] is None
    if rule.kind == "json":  # json lists are documents, not arrays
        return
    if rule.kind == "null":  # the whole array becomes NULL
        assert out == [None] * 4
        return
    assert out[1] == single
    assert out[2] == [single, None, [single]]
    assert out[3] == []


def test_template_null_in_null_out() -> None:
    row_masker = compile_mask(template("{a}", "a"), SECRET, Column("t", "text"))
    assert isinstance(row_masker, RowMasker)
    assert row_masker([{"a": "x", "t": None}, {"a": None, "t": "y"}]) == [None, ""]


def test_bad_value_names_the_position_only() -> None:
    err = BadValue(index=3, reason="invalid JSON")
    assert err.index == 3 and err.reason == "invalid JSON"
    assert str(err) == "value #3 of the batch: invalid JSON"
