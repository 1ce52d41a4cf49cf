"""The one column-type classifier on type names as each engine's catalog spells
them, and the template rule's row errors naming the rules file and line.

PostgreSQL's ``format_type``, SQLite's declared types and MySQL's
``COLUMN_TYPE`` reach ``masking.columns`` as they are: masking asks
``column_type`` (does a fake fit?), scan asks ``family``. No database needed.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datacloner.core.catalog import Catalog, Column, Table
from datacloner.core.errors import UsageError
from datacloner.core.plan import build_plan
from datacloner.core.rules import load_rules
from datacloner.masking.columns import column_type, family, fits
from datacloner.runtime.refresh import check_rule


@pytest.mark.parametrize(
    ("spelling", "category", "scan_family", "extra"),
    [
        # PostgreSQL
        ("character varying(255)", "text", "text", {"max_length": 255}),
        ("character varying(255)[]", "text", "text", {"max_length": 255, "is_array": True}),
        ("timestamp with time zone", "timestamp", "timestamp", {}),
        ("timestamp(6) without time zone", "timestamp", "timestamp", {}),
        ("time with time zone", "time", "time", {}),
        ("double precision", "float", "numeric", {}),
        ("numeric(12,4)", "numeric", "numeric", {"precision": 12, "scale": 4}),
        ("integer ARRAY", "int", "int", {"is_array": True, "int_bits": 32}),
        ("cidr", "cidr", "inet", {}),
        ("interval", "other", "time", {}),
        ("macaddr8", "other", "mac", {}),
        ("tsvector", "other", "tsvector", {}),
        ("point", "other", "other", {}),  # not SQLite's integer affinity ("po-int")
        ("polygon", "other", "other", {}),
        # SQLite declared types (affinity rules where the name is not known)
        ("VARCHAR(40)", "text", "text", {"max_length": 40}),
        ("NVARCHAR(10)", "text", "text", {"max_length": 10}),
        ("UNSIGNED BIG INT", "int", "other", {"int_bits": 64, "guessed": True}),
        ("DATETIME", "timestamp", "timestamp", {}),
        ("BOOLEAN", "bool", "bool", {}),
        ("", "other", "other", {}),
        # MySQL / MariaDB COLUMN_TYPE
        ("varchar(255)", "text", "text", {"max_length": 255}),
        ("int unsigned", "int", "int", {"int_bits": 32, "unsigned": True}),
        ("int(10) unsigned zerofill", "int", "int", {"int_bits": 32, "unsigned": True}),
        ("bigint(20) unsigned", "int", "int", {"int_bits": 64, "unsigned": True}),
        ("tinyint(1)", "int", "int", {"int_bits": 8, "unsigned": False}),
        ("mediumint(8)", "int", "int", {"int_bits": 32}),
        ("decimal(10,2) unsigned", "numeric", "numeric", {"precision": 10, "unsigned": True}),
        ("datetime(6)", "timestamp", "timestamp", {}),
        ("longtext", "text", "text", {}),
        ("varbinary(16)", "bytes", "bytes", {}),
        ("json", "json", "json", {}),
        ("enum('a','b')", "other", "other", {"base": "enum"}),
        ("enum('x,y','z')", "other", "other", {"base": "enum"}),
        ("set('read','write')", "other", "other", {}),
        ("year", "other", "other", {}),
    ],
)
def test_each_engines_spelling_is_classified(
    spelling: str, category: str, scan_family: str, extra: dict[str, Any]
) -> None:
    parsed = column_type(Column("c", spelling))
    assert parsed.category == category
    for key, value in extra.items():
        assert getattr(parsed, key) == value, key
    assert family(Column("c", spelling)) == scan_family


def test_an_enum_or_a_domain_takes_the_family_of_its_sampled_values() -> None:
    assert family(Column("c", "enum('a','b')"), ["a", None]) == "other"  # text, not for sure
    assert family(Column("c", '"CRM".email_address'), [None, "x@y.example"]) == "other"
    assert family(Column("c", "mood"), [3]) == "int"
    assert family(Column("c", ""), [[None], [2.5]]) == "numeric"  # SQLite, untyped
    assert family(Column("c", "UNSIGNED BIG INT"), [7]) == "int"  # affinity only: values say


def test_unsigned_columns_take_no_negative_and_their_whole_range() -> None:
    """A fake for ``int unsigned`` must be 0..2**32-1 (MySQL refuses -1, takes 3e9)."""
    unsigned = column_type(Column("c", "int unsigned"))
    assert unsigned.int_range == (0, 2**32 - 1)
    assert fits(3_000_000_000, unsigned) and fits("4294967295", unsigned)
    assert not fits(-1, unsigned) and not fits(2**32, unsigned)
    signed = column_type(Column("c", "int"))
    assert signed.int_range == (-(2**31), 2**31 - 1)
    assert fits(-1, signed) and not fits(3_000_000_000, signed)
    money = column_type(Column("c", "decimal(10,2) unsigned"))
    assert fits("12.50", money) and not fits("-0.01", money)
    assert fits(Decimal("NaN"), money)  # the database decides; the check must not crash


# --- template rules: their row errors name the rules file and line -------------------------

CATALOG = Catalog(
    tables={
        ("public", "staff"): Table(
            "public",
            "staff",
            [
                Column("id", "integer", nullable=False),
                Column("first_name", "character varying(45)"),
                Column("last_name", "character varying(45)"),
                Column("email", "character varying(50)"),
            ],
            primary_key=["id"],
        )
    },
    default_schema="public",
)


def plan_error(tmp_path: Path, email_rule: str) -> str:
    path = tmp_path / "rules" / "staff.yml"
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent(
            f"""\
            tables:
              public.staff:
                mask:
                  first_name: first_name
                  last_name: last_name
                  email: {email_rule}
                keep: [id]
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as info:
        build_plan(CATALOG, load_rules(path), check_rule)
    assert info.value.exit_code == 2
    return str(info.value)


def test_a_template_naming_an_unknown_column_names_the_file_line_and_closest(
    tmp_path: Path,
) -> None:
    message = plan_error(tmp_path, '{template: "{first_nme}.{last_name}@example.com"}')
    assert "staff.yml:6" in message
    assert "public.staff.email" in message and "{first_nme}" in message
    assert "closest: first_name" in message


def test_a_template_reading_another_template_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        textwrap.dedent(
            """\
            tables:
              public.staff:
                mask:
                  first_name: {template: "{last_name}"}
                  last_name: last_name
                  email: {template: "{first_name}@example.com"}
                keep: [id]
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as info:
        build_plan(CATALOG, load_rules(path), check_rule)
    assert "rules.yml:6" in str(info.value) and "another template" in str(info.value)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ('"{first_name.{last_name}"', "nested braces"),
        ('"{first_name"', "is not closed"),
        ('"first_name}"', "has no `{`"),
        ('"{}@example.com"', "empty or nested braces"),
        ('"no.fields@example.com"', "names no column"),
        ("[first_name]", "expected text"),
    ],
)
def test_template_syntax_errors_name_the_file_and_line(
    tmp_path: Path, template: str, says: str
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "tables:\n  public.staff:\n    mask:\n      first_name: first_name\n"
        f"      email: {{template: {template}}}\n    keep: [id, last_name]\n",
        encoding="utf-8",
    )
    with pytest.raises(UsageError) as info:
        load_rules(path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "rules.yml:5" in message and says in message, message
