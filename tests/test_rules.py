"""rules/*.yml: happy paths and every error message (file, line, table, column)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from datacloner.core.errors import UsageError
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec, RuleSet, TableName, load_rules, parse_table_name

EXAMPLE = """\
strict: true
locale: en_US
tables:
  public.users:
    mask:
      email: {faker: email, unique: true}
      first_name: first_name
      phone: {faker: phone_number, locale: en_GB}
      birth_date: {faker: date_of_birth, args: {minimum_age: 18}}
      ssn: null
      password_hash: {value: "$2b$12$devdev"}
    keep: [id, plan, created_at]
    unless: "email LIKE '%@ourcompany.com'"
  public.sessions: skip
"""


def write(folder: Path, text: str, name: str = "rules.yml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def rules_error(path: Path) -> UsageError:
    with pytest.raises(UsageError) as info:
        load_rules(path)
    assert info.value.exit_code == 2
    return info.value


def error_for(tmp_path: Path, text: str) -> str:
    """The message for a one-file rules text."""
    return str(rules_error(write(tmp_path, text)))


def table_yaml(body: str) -> str:
    """A file with one table `public.t` (on line 2) whose mapping is ``body``."""
    return "tables:\n  public.t:\n" + textwrap.indent(textwrap.dedent(body), "    ")


# --- happy paths -----------------------------------------------------------------


def test_full_example(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    ruleset = load_rules(path)
    assert isinstance(ruleset, RuleSet)
    assert ruleset.strict is True
    assert ruleset.files == [path]
    users, sessions = ruleset.tables

    assert users.table == TableName("public", "users")
    assert users.location == Location(path, 4)
    assert users.strict is True and users.skip is False
    assert users.locale == "en_US"
    assert users.mask == {
        "email": MaskSpec(
            "faker", Location(path, 6), provider="email", locale="en_US", unique=True
        ),
        "first_name": MaskSpec("faker", Location(path, 7), provider="first_name", locale="en_US"),
        "phone": MaskSpec("faker", Location(path, 8), provider="phone_number", locale="en_GB"),
        "birth_date": MaskSpec(
            "faker",
            Location(path, 9),
            provider="date_of_birth",
            args={"minimum_age": 18},
            locale="en_US",
        ),
        "ssn": MaskSpec("null", Location(path, 10)),
        "password_hash": MaskSpec("value", Location(path, 11), value="$2b$12$devdev"),
    }
    assert users.keep == ["id", "plan", "created_at"]
    assert users.keep_locations == {c: Location(path, 12) for c in ("id", "plan", "created_at")}
    assert users.unless == "email LIKE '%@ourcompany.com'"

    assert sessions.table == TableName("public", "sessions")
    assert sessions.skip is True
    assert sessions.location == Location(path, 14)
    assert sessions.mask == {} and sessions.keep == []
    assert ruleset.table(TableName("public", "sessions")) is sessions
    assert ruleset.table(TableName("public", "nope")) is None


def test_block_keep_list_has_a_line_per_column(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep:\n  - id\n  - plan\n"))
    (table,) = load_rules(path).tables
    assert table.keep_locations == {"id": Location(path, 4), "plan": Location(path, 5)}


def test_locale_precedence_column_then_table_then_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        locale: en_US
        tables:
          a: {mask: {x: name}}
          b: {locale: de_DE, mask: {x: name, y: {faker: name, locale: fr_FR}, z: null}}
        """,
    )
    a, b = load_rules(path).tables
    assert a.mask["x"].locale == "en_US"
    assert b.locale == "de_DE"
    assert b.mask["x"].locale == "de_DE"
    assert b.mask["y"].locale == "fr_FR"
    assert b.mask["z"].locale is None  # only faker rules have a locale


def test_no_locale_anywhere(tmp_path: Path) -> None:
    (table,) = load_rules(write(tmp_path, table_yaml("mask: {x: name}"))).tables
    assert table.mask["x"].locale is None and table.locale is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("public.users", TableName("public", "users")),
        ("users", TableName(None, "users")),
        ("CRM.Contacts", TableName("CRM", "Contacts")),  # case kept: names are exact
        ('"CRM"."Contacts"', TableName("CRM", "Contacts")),
        ('"my.schema".t', TableName("my.schema", "t")),
        ('s."odd name.x"', TableName("s", "odd name.x")),
        ('"a""b".c', TableName('a"b', "c")),
        ('"Users"', TableName(None, "Users")),
    ],
)
def test_parse_table_name(text: str, expected: TableName) -> None:
    assert parse_table_name(text) == expected


def test_quoted_names_in_a_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        tables:
          '"CRM"."Contacts"': {keep: [id]}
          '"my.schema".t': skip
          Orders: skip
        """,
    )
    names = [t.table for t in load_rules(path).tables]
    assert names == [
        TableName("CRM", "Contacts"),
        TableName("my.schema", "t"),
        TableName(None, "Orders"),
    ]


def test_value_kind_takes_any_scalar(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("mask: {a: {value: 0}, b: {value: false}, c: {value: null}}"))
    (table,) = load_rules(path).tables
    assert [(s.kind, s.value) for s in table.mask.values()] == [
        ("value", 0),
        ("value", False),
        ("value", None),
    ]


def test_column_names_are_text_as_written(tmp_path: Path) -> None:
    # YAML 1.1 reads `yes`/`on` as true and `1` as a number: column names stay text.
    path = write(tmp_path, table_yaml("mask: {on: name, 1: null}\nkeep: [yes, 2, no]\n"))
    (table,) = load_rules(path).tables
    assert list(table.mask) == ["on", "1"]
    assert table.keep == ["yes", "2", "no"]


def test_no_environment_interpolation_in_rules(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("mask: {a: {value: '${HOME}'}}\nunless: \"x = '${Y}'\"\n"))
    (table,) = load_rules(path).tables
    assert table.mask["a"].value == "${HOME}"
    assert table.unless == "x = '${Y}'"


def test_skip_as_a_mapping_and_empty_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        tables:
          a: {skip: true}
          b: {skip: false, keep: [id]}
          c:
            mask:
            keep:
        """,
    )
    a, b, c = load_rules(path).tables
    assert a.skip is True
    assert b.skip is False and b.keep == ["id"]
    assert c.mask == {} and c.keep == []


def test_empty_tables_is_allowed(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, "strict: false\ntables:\n"))
    assert ruleset.tables == [] and ruleset.strict is False


def test_folder_merges_files_sorted_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    b = write(folder, "strict: false\ntables:\n  b.t: skip\n", "20-b.yaml")
    a = write(folder, "tables:\n  a.t: {keep: [id]}\n", "10-a.yml")
    write(folder, "tables: [broken", "notes.txt")  # not a rules file
    write(folder, "tables: [broken", ".#10-a.yml")  # an editor's lock file
    (folder / "sub").mkdir()
    write(folder / "sub", "tables: [broken", "nested.yml")  # not recursive
    ruleset = load_rules(folder)
    assert ruleset.files == [a, b]
    assert [str(t.table) for t in ruleset.tables] == ["a.t", "b.t"]
    assert [t.strict for t in ruleset.tables] == [True, False]
    assert ruleset.tables[1].location == Location(b, 3)
    assert ruleset.strict is True  # one strict file keeps the run strict


def test_folder_all_non_strict(tmp_path: Path) -> None:
    write(tmp_path, "strict: false\ntables: {a: skip}\n", "a.yml")
    write(tmp_path, "strict: false\ntables: {b: skip}\n", "b.yml")
    assert load_rules(tmp_path).strict is False


def test_strict_defaults_to_true(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, "tables: {a: skip}\n"))
    assert ruleset.strict is True and ruleset.tables[0].strict is True


def test_identity_ignores_location(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "tables:\n  a: {mask: {e: {faker: email, unique: true}}}\n"
        "  b:\n    mask:\n      e: {unique: true, faker: email}\n",
    )
    a, b = load_rules(path).tables
    assert a.mask["e"].identity() == b.mask["e"].identity()


# --- path errors -----------------------------------------------------------------


def test_missing_path_names_it_and_the_config_key(tmp_path: Path) -> None:
    err = rules_error(tmp_path / "rules")
    assert str(err) == f"{tmp_path / 'rules'}: rules file or folder not found"
    assert err.hint is not None and "`rules:` key in datacloner.yml" in err.hint


def test_folder_without_rules_files(tmp_path: Path) -> None:
    write(tmp_path, "x", "README.md")
    err = rules_error(tmp_path)
    assert str(err) == f"{tmp_path}: rules folder has no *.yml or *.yaml files"
    assert err.hint is not None and "`rules:` key" in err.hint


def test_same_table_in_two_files_names_both(tmp_path: Path) -> None:
    a = write(tmp_path, "tables:\n  public.users: skip\n", "a.yml")
    b = write(tmp_path, "tables:\n\n  public.users: {keep: [id]}\n", "b.yml")
    err = rules_error(tmp_path)
    assert str(err) == f"{b}:3: table public.users already has rules at {a}:2"


def test_same_table_twice_in_one_file_by_quoting(tmp_path: Path) -> None:
    path = write(tmp_path, 'tables:\n  public.users: skip\n  \'"public"."users"\': skip\n')
    assert str(rules_error(path)) == (f"{path}:3: table public.users already has rules at line 2")


def test_duplicate_table_key(tmp_path: Path) -> None:
    path = write(tmp_path, "tables:\n  a: skip\n  a: skip\n")
    assert str(rules_error(path)) == f"{path}:3: duplicate key `a` (already set on line 2)"


# --- file-level errors -----------------------------------------------------------


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "tables:\n  a: {mask: [\n")
    assert str(rules_error(path)).startswith(f"{path}:3: invalid YAML: ")


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# todo\n")
    assert str(rules_error(path)) == f"{path}:1: the rules file is empty; expected `tables:`"


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n")
    assert str(rules_error(path)) == (
        f"{path}:1: expected a mapping with `tables:` at the top of a rules file"
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "tables: {}\nstrcit: false\n")
    assert str(rules_error(path)) == f"{path}:2: unknown key `strcit`; did you mean `strict`?"


def test_strict_must_be_boolean(tmp_path: Path) -> None:
    path = write(tmp_path, "strict: maybe\ntables: {}\n")
    assert str(rules_error(path)) == f"{path}:1: strict: expected true or false"


def test_file_locale_must_be_text(tmp_path: Path) -> None:
    path = write(tmp_path, "locale: 5\ntables: {}\n")
    assert str(rules_error(path)) == (
        f"{path}:1: locale: expected a Faker locale such as en_US or de_DE"
    )


def test_missing_tables(tmp_path: Path) -> None:
    path = write(tmp_path, "strict: true\n")
    assert str(rules_error(path)) == (
        f"{path}:1: missing key `tables` (a mapping of schema.table to its rules)"
    )


def test_tables_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "strict: true\ntables: [public.users]\n")
    assert str(rules_error(path)) == (
        f"{path}:2: tables: expected a mapping of schema.table to its rules"
    )


# --- table errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.b.c", "too many dots"),
        ("a.", "ends with `.`"),
        (".t", "a name part is empty"),
        ('"a', "missing its closing"),
        ('"".t', "empty name"),
        ('"a"b', "expected `.` after a quoted name"),
        ('a"b".c', "quote the whole name part"),
        ("a . b", "spaces around a name"),
    ],
)
def test_bad_table_names(tmp_path: Path, name: str, expected: str) -> None:
    quoted = "'" + name.replace("'", "''") + "'"
    path = write(tmp_path, f"tables:\n  {quoted}: skip\n")
    message = str(rules_error(path))
    assert message.startswith(f"{path}:2: table name `{name}`: ")
    assert expected in message


@pytest.mark.parametrize(
    ("value", "got"),
    [("skipp", "`skipp`"), ("[a]", "a list"), ("", "nothing"), ("3", "`3`")],
)
def test_table_value_must_be_mapping_or_skip(tmp_path: Path, value: str, got: str) -> None:
    path = write(tmp_path, f"tables:\n  public.t: {value}\n")
    err = rules_error(path)
    assert str(err) == f"{path}:2: public.t: expected `skip` or a mapping with mask/keep, got {got}"
    assert err.hint is not None and "skip" in err.hint


def test_unknown_table_key_names_closest(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep: [id]\nmsak: {a: name}\n"))
    assert str(rules_error(path)) == f"{path}:4: public.t: unknown key `msak`; did you mean `mask`?"


def test_skip_must_be_boolean(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("skip: maybe\n"))
    assert str(rules_error(path)) == f"{path}:3: public.t.skip: expected true or false"


def test_skip_true_with_rules(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("skip: true\nkeep: [id]\n"))
    assert str(rules_error(path)).startswith(
        f"{path}:3: public.t: `skip: true` copies no rows, so `keep` has nothing to do"
    )


def test_unless_must_be_text(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep: [id]\nunless: [a]\n"))
    assert str(rules_error(path)).startswith(
        f"{path}:4: public.t.unless: expected an SQL condition"
    )


def test_table_locale_must_be_text(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("locale: ''\n"))
    assert str(rules_error(path)) == (
        f"{path}:3: public.t.locale: expected a Faker locale such as en_US or de_DE"
    )


def test_mask_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("mask: [email]\n"))
    assert (
        str(rules_error(path)) == f"{path}:3: public.t.mask: expected a mapping of column to rule"
    )


def test_keep_must_be_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep: id\n"))
    assert str(rules_error(path)) == (
        f"{path}:3: public.t.keep: expected a list of columns, e.g. [id, created_at]"
    )


def test_keep_item_must_be_a_name(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep:\n  - id\n  - {a: 1}\n  - ''\n"))
    assert str(rules_error(path)).splitlines() == [
        f"{path}:5: public.t.keep: the reason for `a` must be a sentence, "
        'e.g. {a: "a product code, not a person"}',
        f"{path}:6: public.t.keep: expected a column name or {{column: reason}}, got ''",
    ]


def test_column_kept_twice(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("keep:\n  - id\n  - plan\n  - id\n"))
    assert str(rules_error(path)) == (
        f"{path}:6: public.t.keep: column `id` is listed twice (also on line 4)"
    )


def test_column_masked_and_kept_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, table_yaml("mask:\n  email: email\nkeep:\n  - id\n  - email\n"))
    message = str(rules_error(path))
    assert message.startswith(f"{path}:7: public.t: column `email` is both masked (line 4) ")
    assert "and kept (line 7)" in message


# --- mask errors -----------------------------------------------------------------


def mask_error(tmp_path: Path, rule: str) -> str:
    """The message for ``public.t.mask.col: <rule>`` (the column is on line 4)."""
    return str(rules_error(write(tmp_path, table_yaml(f"mask:\n  col: {rule}\n"))))


# --- the other kinds: parsed into options -------------------------------------------


def mask_spec(tmp_path: Path, rule: str, locale: str | None = None) -> MaskSpec:
    """The spec of ``public.t.mask.col: <rule>``."""
    text = table_yaml(f"mask:\n  col: {rule}\n")
    if locale:
        text = f"locale: {locale}\n" + text
    (table,) = load_rules(write(tmp_path, text)).tables
    return table.mask["col"]


@pytest.mark.parametrize(
    ("rule", "kind", "options"),
    [
        ("{hash: hex}", "hash", {"format": "hex", "length": 32}),
        ("{hash: {hex: 12}}", "hash", {"format": "hex", "length": 12}),
        ("{hash: uuid}", "hash", {"format": "uuid"}),
        ("{hash: int}", "hash", {"format": "int", "min": 0, "max": 2_147_483_647}),
        (
            "{hash: {int: {min: 1, max: 1000000}}}",
            "hash",
            {"format": "int", "min": 1, "max": 1_000_000},
        ),
        ("{scrub: [email, phone]}", "scrub", {"kinds": ["email", "phone"], "patterns": {}}),
        (
            "{scrub: all}",
            "scrub",
            {
                "kinds": ["email", "phone", "ipv4", "ipv6", "credit_card", "iban", "url"],
                "patterns": {},
            },
        ),
        (
            '{scrub: {kinds: [email], patterns: {order_ref: "ORD-\\\\d{6}"}}}',
            "scrub",
            {"kinds": ["email"], "patterns": {"order_ref": "ORD-\\d{6}"}},
        ),
        (
            "{partial: {keep_last: 4}}",
            "partial",
            {"keep_first": 0, "keep_last": 4, "mask_char": "*"},
        ),
        (
            '{partial: {keep_first: 2, keep_last: 2, mask_char: "#"}}',
            "partial",
            {"keep_first": 2, "keep_last": 2, "mask_char": "#"},
        ),
        ("{shift: {days: 30}}", "shift", {"days": 30}),
        ("{shift: {days: 1, hours: 6}}", "shift", {"days": 1, "hours": 6}),
        ("{noise: {ratio: 0.1}}", "noise", {"ratio": 0.1}),
        ("{noise: {ratio: 1}}", "noise", {"ratio": 1.0}),
        (
            '{template: "{first_name}.{last_name}@example.com"}',
            "template",
            {
                "template": "{first_name}.{last_name}@example.com",
                "fields": ["first_name", "last_name"],
            },
        ),
    ],
)
def test_other_kinds_are_parsed(
    tmp_path: Path, rule: str, kind: str, options: dict[str, object]
) -> None:
    spec = mask_spec(tmp_path, rule)
    assert spec.kind == kind
    assert spec.options == options
    assert spec.location == Location(tmp_path / "rules.yml", 4)


def test_scrub_and_json_get_the_default_locale_and_nested_rules(tmp_path: Path) -> None:
    scrub = mask_spec(
        tmp_path,
        "{scrub: {kinds: [email, credit_card], rules: {credit_card: {value: '[card]'}}, "
        "patterns: {ref: {pattern: 'R-\\d+', rule: {hash: hex}}}}}",
        locale="de_DE",
    )
    assert scrub.locale == "de_DE"
    assert scrub.nested["kind:credit_card"].kind == "value"
    assert scrub.nested["pattern:ref"].options == {"format": "hex", "length": 32}
    assert scrub.options["patterns"] == {"ref": "R-\\d+"}
    doc = mask_spec(
        tmp_path,
        '{json: {name: name, contact.email: {faker: email, unique: true}, "items.*.phone": '
        "phone_number}, locale: fr_FR}",
        locale="de_DE",
    )
    assert doc.locale == "fr_FR"
    assert doc.options == {"paths": ["name", "contact.email", "items.*.phone"]}
    assert doc.nested["contact.email"].unique and doc.nested["contact.email"].locale == "fr_FR"
    assert doc.nested["name"] == MaskSpec(
        "faker", doc.nested["name"].location, provider="name", locale="fr_FR"
    )
    assert mask_spec(tmp_path, "{hash: hex}", locale="de_DE").locale is None  # no fakes


def test_template_unique(tmp_path: Path) -> None:
    spec = mask_spec(tmp_path, '{template: "{{id}}-{code}", unique: true}')
    assert spec.unique and spec.options["fields"] == ["code"]


def test_identity_covers_options_and_nested_rules(tmp_path: Path) -> None:
    a = mask_spec(tmp_path, "{json: {a: name}}")
    b = mask_spec(tmp_path, "{json: {a: first_name}}")
    c = mask_spec(tmp_path, "{json: {b: name}}")
    assert len({a.identity(), b.identity(), c.identity()}) == 3
    assert mask_spec(tmp_path, "{shift: {days: 3}}").identity() != (
        mask_spec(tmp_path, "{shift: {days: 4}}").identity()
    )
    # Plain faker rules keep the identity they always had (their fakes too).
    assert mask_spec(tmp_path, "email").identity() == (
        '{"args": {}, "kind": "faker", "locale": null, "provider": "email", '
        '"unique": false, "value": null}'
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{fakr: email}", "public.t.col: unknown key `fakr`; did you mean `faker`?"),
        (
            "{faker: email, uniqe: true}",
            "public.t.col: unknown key `uniqe`; did you mean `unique`?",
        ),
        (
            "{faker: email, value: x}",
            "public.t.col: a rule needs exactly one of faker, value, hash, scrub, json, "
            "partial, shift, noise, template; got `faker` and `value`",
        ),
        (
            "{unique: true}",
            "public.t.col: a rule needs exactly one of faker, value, hash, scrub, json, "
            "partial, shift, noise, template; got none",
        ),
        ("{faker: 5}", "public.t.col.faker: expected a Faker provider name"),
        ("{faker: ''}", "public.t.col.faker: expected a Faker provider name"),
        ("{faker: date, args: [1]}", "public.t.col.args: expected a mapping, e.g. {days: 30}"),
        ("{faker: name, locale: 1}", "public.t.col.locale: expected a Faker locale"),
        ("{faker: email, unique: 1}", "public.t.col.unique: expected true or false"),
        ("{value: [1, 2]}", "public.t.col.value: expected one constant"),
        (
            "{value: x, unique: true}",
            "public.t.col: `unique` applies to faker and template rules, not to `value`",
        ),
        (
            "{value: x, locale: en_US}",
            "public.t.col: `locale` applies to faker, scrub and json rules, not to `value`",
        ),
        ("{value: x, args: {}}", "public.t.col: `args` applies to faker rules, not to `value`"),
        ("{hash: hex, unique: true}", "public.t.col: `unique` applies to faker and template"),
        ("{hash: sha256}", "public.t.col.hash: unknown key `sha256`"),
        ("{hash: {hex: 100}}", "public.t.col.hash.hex: expected a length from 1 to 64"),
        ("{hash: {int: {min: 5, max: 1}}}", "public.t.col.hash.int: min and max must be"),
        ("{hash: {int: {low: 5}}}", "public.t.col.hash.int: expected {min: 1, max: 1000000}"),
        ("{hash: [hex]}", "public.t.col.hash: expected hex, uuid or int"),
        ("{hash: {uuid: 4}}", "public.t.col.hash.uuid: takes no settings"),
        ("{scrub: [emial]}", "public.t.col.scrub: unknown kind `emial`; did you mean `email`?"),
        ("{scrub: 5}", "public.t.col.scrub: expected a list of kinds"),
        ("{scrub: {kinds: [email], find: [x]}}", "public.t.col.scrub: unknown key `find`"),
        ("{scrub: {kinds: email}}", "public.t.col.scrub.kinds: expected a list"),
        ("{scrub: {patterns: {x: '('}}}", "public.t.col.scrub.patterns.x: invalid regular"),
        ("{scrub: {patterns: {x: 'a*'}}}", "public.t.col.scrub.patterns.x: the regular expr"),
        ("{scrub: {patterns: {'a b': 'x'}}}", "public.t.col.scrub.patterns.a b: a pattern name"),
        ("{scrub: {patterns: {x: {rule: null}}}}", "public.t.col.scrub.patterns.x: expected a"),
        ("{scrub: {kinds: []}}", "public.t.col.scrub: nothing to find"),
        (
            "{scrub: {kinds: [email], rules: {phone: null}}}",
            "public.t.col.scrub.rules: `phone` is not among the kinds scrubbed (email)",
        ),
        (
            "{scrub: {kinds: [email], rules: {email: {fakr: email}}}}",
            "public.t.col.scrub.rules.email: unknown key `fakr`",
        ),
        ("{scrub: [email], locale: 5}", "public.t.col.locale: expected a Faker locale"),
        ("{json: [a]}", "public.t.col.json: expected a mapping of dotted path to rule"),
        ("{json: {}}", "public.t.col.json: expected a mapping of dotted path to rule"),
        ("{json: {a..b: name}}", "public.t.col.json: path `a..b` has an empty part"),
        (
            '{json: {a: {template: "{x}"}}}',
            "public.t.col.json.a: a template reads other columns of the row",
        ),
        ("{json: {a: {fakr: x}}}", "public.t.col.json.a: unknown key `fakr`"),
        ("{partial: 4}", "public.t.col.partial: expected a mapping, e.g. {keep_last: 4}"),
        ("{partial: {keep_last: -1}}", "public.t.col.partial.keep_last: expected a whole number"),
        ("{partial: {keep_end: 4}}", "public.t.col.partial: unknown key `keep_end`"),
        ("{partial: {mask_char: ab}}", "public.t.col.partial.mask_char: expected one character"),
        ("{shift: 30}", "public.t.col.shift: expected a mapping, e.g. {days: 30}"),
        ("{shift: {weeks: 2}}", "public.t.col.shift: unknown key `weeks`"),
        ("{shift: {days: 1.5}}", "public.t.col.shift.days: expected a whole number"),
        ("{shift: {days: 0}}", "public.t.col.shift: the largest shift is 0"),
        ("{noise: 0.1}", "public.t.col.noise: expected {ratio: R}"),
        ("{noise: {ratio: 2}}", "public.t.col.noise.ratio: expected a number above 0"),
        ("{noise: {ratio: 0}}", "public.t.col.noise.ratio: expected a number above 0"),
        ("{template: 5}", "public.t.col.template: expected text"),
        ('{template: "plain"}', "public.t.col.template: names no column"),
        ('{template: "{a"}', "public.t.col.template: `{` at character 1 is not closed"),
        ('{template: "a}"}', "public.t.col.template: `}` at character 2 has no `{`"),
        ('{template: "{}"}', "public.t.col.template: empty or nested braces"),
        ('{template: "{a}", unique: 1}', "public.t.col.unique: expected true or false"),
        ("[email]", "public.t.col: expected a Faker provider name, null, or a mapping"),
        ("5", "public.t.col: expected a Faker provider name, null, or a mapping"),
        ("''", "public.t.col: empty Faker provider name"),
    ],
)
def test_bad_mask_rules(tmp_path: Path, rule: str, expected: str) -> None:
    message = mask_error(tmp_path, rule)
    assert message.startswith(f"{tmp_path / 'rules.yml'}:4: {expected}")
    assert "\n" not in message  # one problem, one line


def test_every_error_reported_once_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        strict: 2
        tables:
          public.users:
            mask:
              email: {fakr: email}
              ssn: {hash: sha256}
            keep: [id, id]
          a.b.c: skip
        """,
    )
    err = rules_error(path)
    assert [line.split(": ", 1)[0] for line in str(err).splitlines()] == [
        f"{path}:1",
        f"{path}:5",
        f"{path}:6",
        f"{path}:7",
        f"{path}:8",
    ]


def test_keep_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(
        "tables:\n  public.address:\n    keep:\n      - id\n"
        '      - {district: "a province: too coarse to identify anyone"}\n'
    )
    rules = load_rules(path).tables[0]
    assert rules.keep == ["id", "district"]
    assert rules.keep_reasons == {"district": "a province: too coarse to identify anyone"}
    assert rules.keep_locations["district"].line == 5


def test_keep_with_an_empty_reason_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("tables:\n  public.address:\n    keep: [id, {district: ''}]\n")
    with pytest.raises(UsageError) as info:
        load_rules(path)
    assert info.value.exit_code == 2
    assert "rules.yml:3" in str(info.value) and "reason for `district`" in str(info.value)
