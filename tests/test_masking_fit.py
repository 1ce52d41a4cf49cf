"""Masking: does the output fit the column? Plan-time checks and varchar(n) fitting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from datacloner.core.catalog import Column
from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec
from datacloner.masking import check_spec, compile_mask, masker_key
from datacloner.masking.base import RowMasker
from datacloner.masking.columns import column_type

SECRET = b"test-secret-0123456789abcdef"
LOC = Location(Path("rules/users.yml"), 12)
COLUMN = "public.users.col"
INPUTS = [f"Person{i}@Corp.example" for i in range(400)]


def spec(kind: str, **fields: Any) -> MaskSpec:
    return MaskSpec(kind=kind, location=LOC, **fields)


def faker(provider: str, **fields: Any) -> MaskSpec:
    return spec("faker", provider=provider, **fields)


def col(type_: str, **fields: Any) -> Column:
    return Column("col", type_, **fields)


def varchar(n: int) -> Column:
    return Column("col", f"character varying({n})", max_length=n)


def refused(rule: MaskSpec, target: Column, *fragments: str) -> str:
    with pytest.raises(UsageError) as caught:
        check_spec(rule, column=COLUMN, target=target)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert message.startswith(f"rules/users.yml:12: column {COLUMN}"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def accepted(rule: MaskSpec, target: Column) -> None:
    check_spec(rule, column=COLUMN, target=target)


# --- column types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "category", "extra"),
    [
        ("character varying(40)", "text", {"max_length": 40}),
        ("character(4)", "text", {"max_length": 4}),
        ("text", "text", {}),
        ("citext", "text", {}),
        ("integer", "int", {"int_bits": 32}),
        ("bigint", "int", {"int_bits": 64}),
        ("smallint", "int", {"int_bits": 16}),
        ("numeric(10,2)", "numeric", {"precision": 10, "scale": 2}),
        ("double precision", "float", {}),
        ("date", "date", {}),
        ("timestamp with time zone", "timestamp", {}),
        ("timestamp(3) without time zone", "timestamp", {}),
        ("time without time zone", "time", {}),
        ("jsonb", "json", {}),
        ("json", "json", {}),
        ("inet", "inet", {}),
        ("cidr", "cidr", {}),
        ("bytea", "bytes", {}),
        ("uuid", "uuid", {}),
        ("boolean", "bool", {}),
        ("text[]", "text", {"is_array": True}),
        ("integer[][]", "int", {"is_array": True}),
        ("interval", "other", {}),
        ("mood", "other", {}),  # an enum
        ("public.email_address", "other", {}),  # a domain
        ("VARCHAR(40)", "text", {"max_length": 40}),
        ("INTEGER", "int", {}),
        ("TEXT", "text", {}),
        ("DATE", "date", {}),
        ("DATETIME", "timestamp", {}),
        ("NVARCHAR(10)", "text", {"max_length": 10}),
        ("UNSIGNED BIG INT", "int", {}),
        ("BLOB", "bytes", {}),
        ("", "other", {}),
    ],
)
def test_column_types(spelling: str, category: str, extra: dict[str, Any]) -> None:
    parsed = column_type(Column("c", spelling))
    assert parsed.category == category
    for key, value in extra.items():
        assert getattr(parsed, key) == value


# --- plan-time: what can never fit ---------------------------------------------------------


def test_unique_needs_room_for_its_token() -> None:
    refused(faker("email", unique=True), varchar(4), "unique", "character varying(4)", "16")
    refused(faker("name", unique=True), col("character(8)"), "unique")
    accepted(faker("email", unique=True), varchar(16))


@pytest.mark.parametrize(
    ("rule", "type_", "fragments"),
    [
        (faker("date_of_birth"), "integer", ("'date_of_birth'", "date", "integer")),
        (faker("name"), "integer", ("'name'", "integer")),
        (faker("name"), "date", ("date",)),
        (faker("name"), "timestamp with time zone", ("timestamp",)),
        (faker("pyint"), "date", ("int",)),
        (faker("name"), "jsonb", ("jsonb",)),
        (faker("name"), "inet", ("inet",)),
        (faker("name"), "uuid", ("uuid",)),
        (faker("email", unique=True), "integer", ("integer",)),
        (faker("pyint", args={"min_value": 0, "max_value": 10**12}), "integer", ("integer",)),
        (faker("date_of_birth"), "INTEGER", ("INTEGER",)),
        (faker("name"), "integer[]", ("an array",)),
        (faker("pydecimal", args={"left_digits": 6, "right_digits": 2}), "numeric(5,2)", ()),
        (spec("value", value="not a number"), "integer", ("the constant",)),
        (spec("value", value="x" * 50), "character varying(40)", ("50 characters",)),
        (spec("null"), "text", ("NOT NULL",)),
        (spec("value", value=None), "text", ("NOT NULL",)),
        (spec("hash", options={"format": "hex", "length": 32}), "integer", ("hash",)),
        (spec("hash", options={"format": "int", "min": 0, "max": 10**12}), "integer", ()),
        (spec("hash", options={"format": "uuid"}), "character varying(20)", ("36",)),
        (spec("scrub", options={"kinds": ["email"], "patterns": {}}), "integer", ("scrub",)),
        (spec("json", options={"paths": ["a"]}, nested={"a": spec("null")}), "date", ("json",)),
        (
            spec("partial", options={"keep_first": 0, "keep_last": 4, "mask_char": "*"}),
            "bigint",
            ("partial",),
        ),
        (spec("shift", options={"days": 30}), "integer", ("shift",)),
        (spec("shift", options={"hours": 5}), "date", ("whole days",)),
        (spec("noise", options={"ratio": 0.1}), "date", ("noise",)),
        (
            spec("template", options={"template": "{a}", "fields": ["a"]}),
            "integer",
            ("template",),
        ),
        (
            spec("template", options={"template": "{col}!", "fields": ["col"]}),
            "text",
            ("own column",),
        ),
    ],
)
def test_rules_that_can_never_fit(rule: MaskSpec, type_: str, fragments: tuple[str, ...]) -> None:
    nullable = not (rule.kind == "null" or (rule.kind == "value" and rule.value is None))
    refused(
        rule,
        col(type_, nullable=nullable, max_length=column_type(col(type_)).max_length),
        *fragments,
    )


@pytest.mark.parametrize(
    ("rule", "type_"),
    [
        (faker("date_of_birth"), "date"),
        (faker("date_of_birth"), "timestamp without time zone"),
        (faker("date_of_birth"), "DATE"),
        (faker("date_time_between", args={"start_date": "-5y"}), "timestamp with time zone"),
        (faker("pyint"), "integer"),
        (faker("pyint"), "numeric(10,2)"),
        (faker("postcode"), "integer"),  # en_US postcodes are digits
        (faker("ipv4"), "inet"),
        (faker("ipv6"), "inet"),
        (faker("ipv4", args={"network": True}), "cidr"),
        (faker("uuid4"), "uuid"),
        (faker("uuid4", unique=True), "uuid"),
        (faker("pybool"), "boolean"),
        (faker("name"), "text"),
        (faker("name"), "character varying(10)"),  # fitted at run time
        (faker("name"), ""),
        (faker("name"), "mood"),
        (faker("phone_number"), "text[]"),
        (faker("json"), "jsonb"),
        (spec("value", value="{}"), "jsonb"),
        (spec("value", value=0), "integer"),
        (spec("null"), "text"),
        (spec("hash", options={"format": "hex", "length": 32}), "uuid"),
        (spec("hash", options={"format": "uuid"}), "uuid"),
        (spec("hash", options={"format": "int", "min": 1, "max": 10}), "smallint"),
        (spec("scrub", options={"kinds": ["email"], "patterns": {}}), "text"),
        (spec("scrub", options={"kinds": ["email"], "patterns": {}}), "jsonb"),
        (spec("json", options={"paths": ["a"]}, nested={"a": faker("name")}), "jsonb"),
        (spec("json", options={"paths": ["a"]}, nested={"a": faker("name")}), "text"),
        (spec("shift", options={"days": 3}), "date"),
        (spec("shift", options={"days": 3}), "timestamp with time zone"),
        (spec("shift", options={"days": 3}), "text"),
        (spec("noise", options={"ratio": 0.1}), "numeric(10,2)"),
        (spec("noise", options={"ratio": 0.1}), "integer"),
        (spec("template", options={"template": "{a}", "fields": ["a"]}), "text"),
    ],
)
def test_rules_that_fit(rule: MaskSpec, type_: str) -> None:
    accepted(rule, col(type_))


def test_rules_inside_scrub_and_json_are_checked() -> None:
    bad = spec("json", options={"paths": ["a"]}, nested={"a": faker("emial")})
    message = refused(bad, col("jsonb"), "json path a", "emial")
    assert "Did you mean: email" in message
    bad_scrub = spec(
        "scrub",
        options={"kinds": ["email"], "patterns": {}},
        nested={"kind:email": faker("email", locale="xx_XX")},
    )
    refused(bad_scrub, col("text"), "scrub email", "xx_XX")


def test_check_without_a_target_still_works() -> None:
    check_spec(faker("email", unique=True), column=COLUMN)
    check_spec(spec("template", options={"template": "{a}", "fields": ["a"]}), column=COLUMN)


# --- run time: varchar(n) ------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 10, 12, 20])
def test_fakes_are_fitted_to_varchar(n: int) -> None:
    for provider in ("name", "street_address", "company", "email", "sentence"):
        out = compile_mask(faker(provider), SECRET, varchar(n))(INPUTS)
        assert all(len(v) <= n for v in out), (provider, n)
        assert all(v == v.strip() for v in out)


def test_fitted_emails_keep_their_domain() -> None:
    out = compile_mask(faker("email"), SECRET, varchar(18))(INPUTS)
    assert all(len(v) <= 18 and re.fullmatch(r"[^@]+@example\.(org|com|net)", v) for v in out)


@pytest.mark.parametrize("n", [16, 17, 25, 30, 40])
def test_unique_keeps_its_token_when_fitted(n: int) -> None:
    inputs = INPUTS + [v.lower() for v in INPUTS]
    for rule in (faker("email", unique=True), faker("name", unique=True)):
        out = compile_mask(rule, SECRET, varchar(n))(inputs)
        assert all(len(v) <= n for v in out)
        assert len({v.lower() for v in out}) == len(inputs)
        assert all(re.search(r"[a-z2-7]{16}(@|$)", v) for v in out)


def test_fitting_prefers_a_realistic_shorter_fake() -> None:
    # Most en_US names fit 15 characters: redrawing gives whole names, not cut ones.
    out = compile_mask(faker("name"), SECRET, varchar(15))(INPUTS)
    whole = [v for v in out if re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)+\.?", v)]
    assert len(whole) > 0.9 * len(out)


def test_masker_key_separates_lengths_but_not_locations() -> None:
    rule = faker("name")
    assert masker_key(rule, varchar(10)) != masker_key(rule, varchar(20))
    elsewhere = MaskSpec(kind="faker", location=Location(Path("b.yml"), 1), provider="name")
    assert masker_key(rule, varchar(10)) == masker_key(elsewhere, varchar(10))
    assert masker_key(rule) == rule.identity()
    row = spec("template", options={"template": "{a}", "fields": ["a"]})
    assert masker_key(row, Column("x", "text")) != masker_key(row, Column("y", "text"))


def test_row_masker_of_a_template_fits_too() -> None:
    rule = spec("template", options={"template": "{a} {a} {a}", "fields": ["a"]})
    row_masker = compile_mask(rule, SECRET, Column("t", "character varying(8)", max_length=8))
    assert isinstance(row_masker, RowMasker)
    assert row_masker([{"a": "abcdef", "t": "x"}]) == ["abcdef a"]
