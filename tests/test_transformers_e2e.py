"""Every transformer end to end, as issue 3 will be checked: rules files that use
faker, unique, value, null, hash, scrub, json, partial, shift, noise, template,
arrays and `unless`, refreshed with the real command from Pagila, Northwind and
a showcase database kept aside (tests/fixtures/showcase.sql), then checked value
by value in the target.

Rules: tests/fixtures/pagila_every_transformer.yml,
tests/fixtures/northwind_every_transformer.yml, and SHOWCASE_RULES below.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import LOCAL_RULES, run_cli, run_in_process, write_config
from pgcompare import column_values, columns_digest
from psycopg import sql

from datacloner.core.config import load_config
from datacloner.core.plan import Plan
from datacloner.runtime import refresh as runtime

SECRET = "every-transformer-secret"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+")
TOKEN = r"[a-z2-7]{16}"  # the uniqueness token (docs/masking.md)


@dataclass
class Copy:
    source: str  # database names
    target: str
    plan: Plan


def _refresh(
    folder: Path, source_url: str, rules: Path, target_url: str, secret: str = SECRET, run=None
):
    """In this process (no second of imports) unless ``run`` says otherwise."""
    cfg = write_config(folder, source_url, rules, {"dev": target_url}, secret=secret)
    return (run or run_in_process)("refresh", "dev", "-c", str(cfg), "--yes", "--json")


def _copy(pg, folder: Path, source_url: str, rules: Path, target: str, times: int = 1) -> Copy:
    pg.drop(target, target + "__dc_new", target + "__dc_prev")
    for n in range(times):  # a second run keeps the first copy as __dc_prev
        # the first of two as a process of its own: their copies compared span two hash seeds
        run = run_cli if n == 0 and times > 1 else run_in_process
        done = _refresh(folder, source_url, rules, pg.url(target), run=run)
        assert done.returncode == 0, done.stderr
    plan = runtime.check(load_config(folder / "datacloner.yml")).plan
    return Copy(source_url.rsplit("/", 1)[1], target, plan)


def _by_key(conn: psycopg.Connection, query: str) -> dict[Any, tuple[Any, ...]]:
    return {row[0]: tuple(row[1:]) for row in conn.execute(query)}


def _partial_ok(before: str, after: str, keep_last: int = 4) -> bool:
    """{partial: {keep_last: N}}: same length, the last N kept (at most half), the rest '*'."""
    kept = min(keep_last, len(before) // 2)
    cut = len(before) - kept
    return len(after) == len(before) and after[cut:] == before[cut:] and set(after[:cut]) <= {"*"}


def _assert_shifted(pairs: Iterable[tuple[Any, Any]], largest: timedelta, grain: timedelta) -> int:
    """Each value moved by a non-zero multiple of ``grain``, at most ``largest``;
    equal inputs moved equally. Returns how many distinct inputs were seen."""
    moves: dict[Any, set[Any]] = defaultdict(set)
    for before, after in pairs:
        if before is None:
            assert after is None
            continue
        delta = after - before
        assert timedelta(0) < abs(delta) <= largest, (before, after)
        assert delta % grain == timedelta(0), (before, after)
        moves[before].add(after)
    assert all(len(v) == 1 for v in moves.values())
    return sum(len(v) for v in moves.values())


def _assert_noise(pairs: Iterable[tuple[Any, Any]], ratio: str) -> None:
    """Within [1 - ratio, 1 + ratio], give or take half a unit of the value's last
    decimal (its scale is kept); zero stays zero; most values move."""
    moved = total = 0
    for before, after in pairs:
        if before is None:
            assert after is None
            continue
        b, a = Decimal(str(before)), Decimal(str(after))
        slack = Decimal(5).scaleb(b.as_tuple().exponent - 1)
        assert abs(a - b) <= abs(b) * Decimal(ratio) + slack, (before, after)
        if b == 0:
            assert a == 0
            continue
        total += 1
        moved += a != b
    assert total > 0 and moved >= total * 0.8, (moved, total)


def _format_type(conn: psycopg.Connection, table: str, column: str) -> str:
    return conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s",
        (table, column),
    ).fetchone()[0]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _layout(text: str) -> str:
    """Where the digits are: '4111 1111 ...' -> '9999 9999 ...'."""
    return re.sub(r"\d", "9", text)


# --- Pagila --------------------------------------------------------------------


@pytest.fixture(scope="module")
def pagila(pg, pagila_src, tmp_path_factory) -> Iterator[Copy]:
    target = pagila_src.rsplit("/", 1)[1] + "_every"
    rules = LOCAL_RULES / "pagila_every_transformer.yml"
    yield _copy(pg, tmp_path_factory.mktemp("pagila_every"), pagila_src, rules, target)
    pg.drop(target, target + "__dc_prev")


def test_pagila_unless_row_passes_unmasked(pg, pagila: Copy) -> None:
    query = "SELECT staff_id, s::text FROM staff s ORDER BY staff_id"
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    assert after[1] == before[1]
    assert sum(after[k] != before[k] for k in before if k != 1) == len(before) - 1


def test_pagila_staff_email_is_the_template_over_the_masked_names(pg, pagila: Copy) -> None:
    query = "SELECT staff_id, first_name, last_name, email, password, picture FROM staff"
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    assert before.keys() == after.keys()
    masked = [k for k in before if k != 1]  # staff 1 is `unless`
    for k in masked:
        first, last, email, password, picture = after[k]
        assert email == (None if before[k][2] is None else f"{first}.{last}@example.com")
        assert password == "34c6fceca75e456f25e7e99531e2425c6c1de443"
        assert picture is None
    renamed = sum(after[k][:2] != before[k][:2] for k in masked)
    assert renamed >= len(masked) * 0.95


def test_pagila_customer_emails_are_unique_case_insensitively(pg, pagila: Copy) -> None:
    query = "SELECT customer_id, email FROM customer"
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    fakes = [v[0] for v in after.values() if v[0] is not None]
    assert len({v[0] for v in before.values() if v[0] is not None}) == len(fakes) == 599
    assert len({f.lower() for f in fakes}) == len(fakes)
    assert all(EMAIL.fullmatch(f) for f in fakes)
    assert not {v[0] for v in before.values()} & set(fakes)


def test_pagila_hash_is_deterministic_and_opaque(pg, pagila: Copy) -> None:
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        query = "SELECT address_id, postal_code FROM address"
        before, after = _by_key(src, query), _by_key(dst, query)
        users = "SELECT staff_id, username FROM staff WHERE staff_id <> 1"
        logins_before, logins_after = _by_key(src, users), _by_key(dst, users)
    outputs: dict[str, set[str]] = defaultdict(set)
    for key, (code,) in before.items():
        (out,) = after[key]
        if code is None:
            assert out is None
            continue
        assert re.fullmatch(r"[0-9a-f]{10}", out) and out != code
        outputs[code].add(out)
    assert all(len(v) == 1 for v in outputs.values())  # equal inputs, equal outputs
    assert len({next(iter(v)) for v in outputs.values()}) == len(outputs)  # distinct stay distinct
    assert any(len(codes) > 1 for codes in _inverse(before).values())  # repeated codes were seen
    for key, (login,) in logins_before.items():
        assert re.fullmatch(r"[0-9a-f]{16}", logins_after[key][0]) and login != logins_after[key][0]


def _inverse(by_key: dict[Any, tuple[Any, ...]]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for key, (value,) in by_key.items():
        out[value].append(key)
    return out


def test_pagila_partial_keeps_the_last_four_characters(pg, pagila: Copy) -> None:
    query = "SELECT address_id, phone FROM address"
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    for key, (phone,) in before.items():
        assert _partial_ok(phone, after[key][0]), (phone, after[key][0])
    assert sum("*" in v[0] for v in after.values()) > 500


def test_pagila_shift_moves_dates_within_the_bound_never_by_zero(pg, pagila: Copy) -> None:
    rentals = "SELECT rental_id, rental_date, return_date FROM rental"
    customers = "SELECT customer_id, create_date FROM customer"
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        before, after = _by_key(src, rentals), _by_key(dst, rentals)
        created_before, created_after = _by_key(src, customers), _by_key(dst, customers)
    bound, hour = timedelta(days=2, hours=12), timedelta(hours=1)
    pairs = [(before[k][i], after[k][i]) for k in before for i in (0, 1)]
    assert _assert_shifted(pairs, bound, hour) > 15000
    pairs = [(created_before[k][0], created_after[k][0]) for k in created_before]
    assert _assert_shifted(pairs, timedelta(days=30), timedelta(days=1)) >= 1


def test_pagila_noise_keeps_amounts_within_ratio_and_scale(pg, pagila: Copy) -> None:
    query = "SELECT payment_id, amount::text FROM payment"  # every partition
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        assert _format_type(dst, "payment", "amount") == "numeric(5,2)"
        assert _format_type(dst, "payment_p2022_03", "amount") == "numeric(5,2)"
        before, after = _by_key(src, query), _by_key(dst, query)
    assert len(before) == len(after) > 16000
    _assert_noise(((before[k][0], after[k][0]) for k in before), "0.1")
    assert all(re.fullmatch(r"\d+\.\d\d", v[0]) for v in after.values())


def test_pagila_scrub_finds_nothing_in_clean_text(pg, pagila: Copy) -> None:
    with pg.connect(pagila.source) as src, pg.connect(pagila.target) as dst:
        assert columns_digest(dst, "public", "film", ["description", "fulltext"]) == (
            columns_digest(src, "public", "film", ["description", "fulltext"])
        )


# --- Northwind -----------------------------------------------------------------


@pytest.fixture(scope="module")
def northwind(pg, northwind_src, tmp_path_factory) -> Iterator[Copy]:
    target = northwind_src.rsplit("/", 1)[1] + "_every"
    rules = LOCAL_RULES / "northwind_every_transformer.yml"
    yield _copy(pg, tmp_path_factory.mktemp("northwind_every"), northwind_src, rules, target)
    pg.drop(target, target + "__dc_prev")


def test_northwind_unless_row_passes_unmasked(pg, northwind: Copy) -> None:
    query = "SELECT employee_id, e::text FROM employees e"
    with pg.connect(northwind.source) as src, pg.connect(northwind.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    assert after[2] == before[2]
    assert all(after[k] != before[k] for k in before if k != 2)


def test_northwind_notes_are_scrubbed_and_the_rest_of_the_text_is_kept(pg, northwind: Copy) -> None:
    query = "SELECT employee_id, notes FROM employees WHERE employee_id <> 2"
    with pg.connect(northwind.source) as src, pg.connect(northwind.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    year, four_digits = re.compile(r"\b(?:19|20)\d{2}\b"), re.compile(r"\b\d{4}\b")
    changed = 0
    for key, (note,) in before.items():
        out = after[key][0]
        # the years (the custom pattern) were replaced digit by digit; nothing else moved
        assert year.sub("####", note) == four_digits.sub("####", out), key
        assert [m.span() for m in year.finditer(note)] == [
            m.span() for m in four_digits.finditer(out)
        ]
        changed += out != note
    assert sum(bool(year.search(n)) for (n,) in before.values()) == changed >= 5


def test_northwind_one_hash_rule_gives_one_code_in_every_table(pg, northwind: Copy) -> None:
    columns = [
        ("customers", "customer_id", "postal_code"),
        ("suppliers", "supplier_id", "postal_code"),
        ("employees", "employee_id", "postal_code"),
        ("orders", "order_id", "ship_postal_code"),
    ]
    joined = (
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) "
        "WHERE o.ship_postal_code = c.postal_code"
    )
    outputs: dict[str, set[str]] = defaultdict(set)
    with pg.connect(northwind.source) as src, pg.connect(northwind.target) as dst:
        for table, key, column in columns:
            query = f"SELECT {key}, {column} FROM {table}"
            if table == "employees":
                query += " WHERE employee_id <> 2"  # `unless`
            before, after = _by_key(src, query), _by_key(dst, query)
            for k, (code,) in before.items():
                if code is None:
                    assert after[k][0] is None
                    continue
                assert re.fullmatch(r"[0-9a-f]{10}", after[k][0])
                outputs[code].add(after[k][0])
        # an order shipped to its customer's code still shows the customer's code
        assert dst.execute(joined).fetchone()[0] == src.execute(joined).fetchone()[0] > 500
    assert all(len(v) == 1 for v in outputs.values())
    assert len({next(iter(v)) for v in outputs.values()}) == len(outputs)


def test_northwind_template_partial_shift_noise_value_and_hash_int(pg, northwind: Copy) -> None:
    employees = (
        "SELECT employee_id, last_name, photo_path, home_phone, birth_date, hire_date, "
        "extension, title_of_courtesy, photo FROM employees WHERE employee_id <> 2"
    )
    phones = [
        ("customers", "customer_id", "phone"),
        ("customers", "customer_id", "fax"),
        ("suppliers", "supplier_id", "phone"),
        ("shippers", "shipper_id", "phone"),
    ]
    with pg.connect(northwind.source) as src, pg.connect(northwind.target) as dst:
        before, after = _by_key(src, employees), _by_key(dst, employees)
        for table, key, column in phones:
            query = f"SELECT {key}, {column} FROM {table}"
            b, a = _by_key(src, query), _by_key(dst, query)
            for k, (phone,) in b.items():
                assert (a[k][0] is None) if phone is None else _partial_ok(phone, a[k][0])
    for k, row in after.items():
        last, path, phone, birth, hired, extension, courtesy, photo = row
        assert path == f"http://accweb/emmployees/{last}.bmp"
        assert _partial_ok(before[k][2], phone)
        assert 1000 <= int(extension) <= 9999
        assert courtesy == "Mx." and photo is None
    day = timedelta(days=1)
    _assert_shifted([(before[k][3], after[k][3]) for k in before], 365 * day, day)
    _assert_shifted([(before[k][4], after[k][4]) for k in before], 30 * day, day)


def test_northwind_noise_on_a_real_column_stays_within_its_ratio(pg, northwind: Copy) -> None:
    query = "SELECT order_id, freight FROM orders"
    with pg.connect(northwind.source) as src, pg.connect(northwind.target) as dst:
        assert _format_type(dst, "orders", "freight") == "real"
        before, after = _by_key(src, query), _by_key(dst, query)
    # real holds about 6 significant digits: that much slack, no more
    for key, (b,) in before.items():
        a = after[key][0]
        assert abs(a - b) <= abs(b) * 0.1 + abs(b) * 1e-6 + 1e-6, (b, a)


# --- the showcase database ------------------------------------------------------

SHOWCASE_RULES = """\
# rules for tests/fixtures/showcase.sql: every transformer, strict
strict: true
tables:
  public.people:
    mask:
      first_name: first_name
      last_name: last_name
      email: {faker: email, unique: true}
      login_email: {template: "{first_name}.{last_name}@example.com", unique: true}
      username: {hash: {hex: 16}}
      phone: {partial: {keep_last: 4}}
      phones: phone_number
      card_number: {partial: {keep_last: 4}}
      birth_date: {shift: {days: 180}}
      last_login: {shift: {days: 3, hours: 12}}
      salary: {noise: {ratio: 0.1}}
      discount: {noise: {ratio: 0.5}}
      visits: {noise: {ratio: 0.2}}
      rating: {noise: {ratio: 0.05}}
      bio: {scrub: all}
      profile:
        json:
          name: name
          contact.email: {faker: email, unique: true}
          contact.phone: phone_number
          "addresses.*.street": street_address
      settings: {json: {last_ip: ipv4}}
      ssn: null
      password_hash: {value: "$2b$12$devdevdevdevdevdevdevu"}
    keep: [id, is_staff, country]
    unless: "is_staff"
  public.tickets:
    mask:
      reporter_email: {faker: email, unique: true}
      body: {scrub: [email, phone, credit_card, iban]}
      opened_at: {shift: {hours: 6, minutes: 30}}
      amount: {noise: {ratio: 0.25}}
    keep: [id, person_id, subject]
  public.audit:
    mask:
      actor_email: {faker: email, unique: true}
      actor_username: {hash: {hex: 16}}
      payload: {json: {actor.email: {faker: email, unique: true}}}
    keep: [id, action, at]
"""

CARDS = ["4111111111111111", "5500 0000 0000 0004", "340000000000009", "4012 8888 8888 1881"]
CARDS += ["6011000000000004"]
IBANS = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"]
IBANS += ["FR14 2004 1010 0505 0001 3M02 606"]


@pytest.fixture(scope="module")
def showcase_src(pg, run_id: str) -> Iterator[str]:
    name = f"dct_{run_id}_showcase"
    yield pg.create(name, LOCAL_RULES / "showcase.sql")
    pg.drop(name)


@pytest.fixture(scope="module")
def showcase(pg, showcase_src: str, tmp_path_factory) -> Iterator[Copy]:
    folder = tmp_path_factory.mktemp("showcase")
    rules = folder / "showcase.yml"
    rules.write_text(SHOWCASE_RULES)
    target = showcase_src.rsplit("/", 1)[1] + "_every"
    yield _copy(pg, folder, showcase_src, rules, target, times=2)
    pg.drop(target, target + "__dc_prev")


def test_showcase_unless_rows_pass_unmasked(pg, showcase: Copy) -> None:
    query = "SELECT id, p::text FROM people p WHERE is_staff"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    assert len(before) == 6 and after == before


def test_showcase_template_reads_the_masked_names_of_its_row(pg, showcase: Copy) -> None:
    query = "SELECT id, first_name, last_name, login_email FROM people WHERE NOT is_staff"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    made = []
    for key, (first, last, login) in after.items():
        assert (first, last) != before[key][:2]
        if before[key][2] is None:
            assert login is None
            continue
        assert re.fullmatch(re.escape(f"{first}.{last}") + rf"\.{TOKEN}@example\.com", login)
        made.append(login.lower())
    assert len(made) == len(set(made)) > 150


def test_showcase_shift_moves_within_the_bound_in_its_grain(pg, showcase: Copy) -> None:
    people = (  # psycopg has no datetime for infinity: checked on its own below
        "SELECT id, birth_date, nullif(last_login, 'infinity') FROM people WHERE NOT is_staff"
    )
    tickets = "SELECT id, opened_at FROM tickets"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, people), _by_key(dst, people)
        opened_before, opened_after = _by_key(src, tickets), _by_key(dst, tickets)
        infinity = dst.execute("SELECT last_login = 'infinity' FROM people WHERE id = 1")
        assert infinity.fetchone()[0]  # `infinity` stays
    day, hour, minute = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
    assert _assert_shifted([(before[k][0], after[k][0]) for k in before], 180 * day, day) > 150
    logins = [(before[k][1], after[k][1]) for k in before]
    assert _assert_shifted(logins, 3 * day + 12 * hour, hour) > 150  # microseconds kept
    opened = [(opened_before[k][0], opened_after[k][0]) for k in opened_before]
    assert _assert_shifted(opened, 6 * hour + 30 * minute, minute) == 300


def test_showcase_noise_keeps_ratio_type_and_scale(pg, showcase: Copy) -> None:
    people = "SELECT id, salary::text, discount::text, visits FROM people WHERE NOT is_staff"
    tickets = "SELECT id, amount::text FROM tickets"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        for table, column in [
            ("people", "salary"),
            ("people", "discount"),
            ("people", "visits"),
            ("tickets", "amount"),
        ]:
            assert _format_type(dst, table, column) == _format_type(src, table, column)
        before, after = _by_key(src, people), _by_key(dst, people)
        amount_before, amount_after = _by_key(src, tickets), _by_key(dst, tickets)
    column = {"salary": 0, "discount": 1, "visits": 2}

    def pairs(name: str) -> list[tuple[Any, Any]]:
        return [(before[k][column[name]], after[k][column[name]]) for k in before]

    _assert_noise(pairs("salary"), "0.1")
    _assert_noise(pairs("discount"), "0.5")  # 12.5000, 3.1, 0.333, 7, ...: each its own scale
    _assert_noise(pairs("visits"), "0.2")
    amounts = [(amount_before[k][0], amount_after[k][0]) for k in amount_before]
    _assert_noise(amounts, "0.25")
    scale = re.compile(r"-?\d+(?:\.(\d*))?")

    def decimals(text: str) -> int:
        return len(scale.fullmatch(text).group(1) or "")

    for b, a in pairs("discount") + pairs("salary") + amounts:  # each value keeps its scale
        if b is not None:
            assert decimals(a) == decimals(b), (b, a)
    # near the type's limits the value moves towards zero instead of overflowing
    assert Decimal(after[2][0]) <= Decimal("99999999.99")
    assert after[3][2] <= 2147483647


def test_showcase_noise_on_a_float_column_stays_within_its_ratio(pg, showcase: Copy) -> None:
    query = "SELECT id, rating FROM people WHERE NOT is_staff"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        assert _format_type(dst, "people", "rating") == "double precision"
        before, after = _by_key(src, query), _by_key(dst, query)
    for key, (b,) in before.items():
        a = after[key][0]
        assert (a is None) if b is None else abs(a - b) <= abs(b) * 0.05 * (1 + 1e-12), (b, a)


def test_showcase_partial_keeps_the_last_four(pg, showcase: Copy) -> None:
    query = "SELECT id, phone, card_number FROM people WHERE NOT is_staff"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    for key, values in before.items():
        for b, a in zip(values, after[key], strict=True):
            assert a is None if b is None else _partial_ok(b, a), (b, a)
    assert after[5][0] == "***-12"  # 6 characters: at most half shown


def test_showcase_hash_gives_one_output_per_input_across_tables(pg, showcase: Copy) -> None:
    people = "SELECT id, username FROM people WHERE NOT is_staff"
    audit = "SELECT id, actor_username FROM audit"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        people_before, people_after = _by_key(src, people), _by_key(dst, people)
        mapping = {people_before[k][0]: people_after[k][0] for k in people_before}
        audit_before, audit_after = _by_key(src, audit), _by_key(dst, audit)
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in mapping.values())
    assert len(set(mapping.values())) == len(mapping)
    for key, (login,) in audit_before.items():
        assert audit_after[key][0] == mapping[login]


TICKET_LAYOUTS = [
    re.compile(
        r"Please contact me at (?P<email>.+?) or (?P<phone>.+?)\. "
        r"Thanks, ticket #\d+ about order 4711 from 2023-04-01\."
    ),
    re.compile(
        r"Refund to card (?P<card>.+?) please\.\nIBAN (?P<iban>.+?); my mail: (?P<email>.+?)\."
    ),
    re.compile(
        r"No personal data here: order 4711, version 1\.2\.3, ratio 0\.75, on 2023-04-01 at 10:30\."
    ),
]
BIO_LAYOUTS = [
    re.compile(
        r"Prefers email: (?P<email>.+?)\. Backup phone (?P<phone>.+?)\. "
        r"Homepage (?P<url>\S+) \(from (?P<ipv4>[\d.]+)\)\."
    ),
    re.compile(
        r"Wire refunds to IBAN (?P<iban>.+?) or card (?P<card>.+?)\.\n\t"
        r"No other details; ticket 4711, v1\.2\.3\."
    ),
    re.compile(
        r"Nothing personal here: order 4711, version 1\.2\.3, on 2023-04-01 at 10:30, "
        r"ratio 0\.75, 100% sure\."
    ),
]


def _match(layouts: list[re.Pattern[str]], text: str) -> tuple[int, dict[str, str]]:
    for i, layout in enumerate(layouts):
        m = layout.fullmatch(text)
        if m:
            return i, m.groupdict()
    raise AssertionError(f"no layout matches {text!r}")


def _assert_scrubbed(kind: str, before: str, after: str) -> None:
    assert after != before, kind
    if kind == "card":
        digits = re.sub(r"\D", "", after)
        assert _layout(after) == _layout(before) and _luhn(digits), (before, after)
    elif kind == "iban":
        assert after[:2] == before[:2] and len(after) == len(before), (before, after)
        assert [i for i, c in enumerate(after) if c == " "] == [
            i for i, c in enumerate(before) if c == " "
        ]
        assert _iban_ok(after), after
    elif kind == "phone":
        assert len(re.sub(r"\D", "", after)) >= 7, after
    elif kind == "ipv4":
        ipaddress.IPv4Address(after)
    elif kind == "url":
        assert re.match(r"(https?|ftp)://|www\.", after), after


def test_showcase_scrub_replaces_personal_values_and_keeps_the_rest(pg, showcase: Copy) -> None:
    """The text around each personal value is checked by a fixed layout, so anything
    scrub changed outside the personal values fails the match."""
    tickets = "SELECT t.id, t.body, p.email FROM tickets t JOIN people p ON p.id = t.person_id"
    people = "SELECT id, bio, email FROM people WHERE NOT is_staff"
    seen: dict[str, int] = defaultdict(int)
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        for query, layouts in [(tickets, TICKET_LAYOUTS), (people, BIO_LAYOUTS)]:
            before, after = _by_key(src, query), _by_key(dst, query)
            for key, (text, _) in before.items():
                out, fake_email = after[key]
                if text is None:
                    assert out is None
                    continue
                layout, parts = _match(layouts, text)
                layout_out, parts_out = _match(layouts, out)
                assert layout_out == layout
                if not parts:
                    assert out == text  # nothing personal: byte for byte
                for kind, value in parts.items():
                    _assert_scrubbed(kind, value, parts_out[kind])
                    seen[kind] += 1
                if "email" in parts:  # the same fake as the email column
                    assert parts_out["email"] == fake_email
    assert min(seen.values()) >= 30 and len(seen) == 6, seen


def test_showcase_json_paths_are_masked_and_other_keys_kept(pg, showcase: Copy) -> None:
    query = "SELECT id, profile::text, settings::text, email FROM people WHERE NOT is_staff"
    audit = "SELECT id, payload::text, actor_email FROM audit"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
        audit_before, audit_after = _by_key(src, audit), _by_key(dst, audit)
    masked = 0
    for key, (profile, settings, _) in before.items():
        out, settings_out, fake_email = after[key]
        if profile is None or "contact" not in profile:
            assert out == profile  # NULL, or no path in the document: unchanged
        else:
            doc, new = json.loads(profile), json.loads(out)
            assert new["name"] != doc["name"] and len(new["name"].split()) >= 2
            assert new["contact"]["email"] == fake_email  # same rule, same fake
            if doc["contact"]["phone"] is None:
                assert new["contact"]["phone"] is None  # JSON null stays null
            else:
                assert new["contact"]["phone"] != doc["contact"]["phone"]
            assert new["contact"]["preferred"] == doc["contact"]["preferred"]
            for old, fresh in zip(doc["addresses"], new["addresses"], strict=True):
                assert fresh["street"] != old["street"]
                assert {k: fresh[k] for k in ("city", "primary")} == {
                    k: old[k] for k in ("city", "primary")
                }
            assert new.keys() == doc.keys()
            masked += 1
        if settings is None or "last_ip" not in settings:
            assert settings_out == settings  # json type: kept as written, spaces and all
        else:
            doc, new = json.loads(settings), json.loads(settings_out)
            assert new["last_ip"] != doc["last_ip"] and new["theme"] == doc["theme"]
            ipaddress.IPv4Address(new["last_ip"])
    assert masked > 100
    for key, (payload, actor) in audit_before.items():
        out, fake_actor = audit_after[key]
        if payload is None:
            assert out is None
            continue
        doc, new = json.loads(payload), json.loads(out)
        assert new["actor"]["email"] != doc["actor"]["email"]
        assert new["actor"]["role"] == doc["actor"]["role"] and new["ok"] is True
        if actor == doc["actor"]["email"]:
            assert new["actor"]["email"] == fake_actor


def test_showcase_json_keys_no_path_names_stay_byte_equal(pg, showcase: Copy) -> None:
    unlisted = (
        "SELECT id, (profile - 'name' #- '{contact,email}' #- '{contact,phone}' "
        "#- '{addresses,0,street}' #- '{addresses,1,street}')::text FROM people "
        "WHERE profile ? 'contact'"
    )
    payload = "SELECT id, (payload #- '{actor,email}')::text FROM audit"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        assert _by_key(dst, payload) == _by_key(src, payload)
        assert _by_key(dst, unlisted) == _by_key(src, unlisted)


def test_showcase_array_elements_are_masked_one_by_one(pg, showcase: Copy) -> None:
    query = "SELECT id, phones FROM people WHERE NOT is_staff"
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before, after = _by_key(src, query), _by_key(dst, query)
    elements = 0
    for key, (phones,) in before.items():
        out = after[key][0]
        if phones is None:
            assert out is None
            continue
        assert len(out) == len(phones)
        for b, a in zip(phones, out, strict=True):
            assert (a is None) if b is None else (a != b and len(re.sub(r"\D", "", a)) >= 7)
            elements += b is not None
    assert elements > 150


def test_showcase_null_and_value(pg, showcase: Copy) -> None:
    query = "SELECT count(*), count(ssn), count(DISTINCT password_hash) FROM people"
    with pg.connect(showcase.target) as dst:
        rows, ssn, hashes = dst.execute(query + " WHERE NOT is_staff").fetchone()
        value = dst.execute("SELECT DISTINCT password_hash FROM people WHERE NOT is_staff")
        assert [r[0] for r in value] == ["$2b$12$devdevdevdevdevdevdevu"]
    assert rows == 234 and ssn == 0 and hashes == 1


def _needles(conn: psycopg.Connection) -> set[str]:
    """Every personal value of the source's masked columns (rows `unless` keeps
    unmasked aside), lowercased; too short ones (a 6-character phone) left out."""
    values: set[str] = set()
    for row in conn.execute(
        "SELECT first_name, last_name, email, login_email, username, phone, card_number, ssn, "
        "profile ->> 'name', profile #>> '{contact,phone}', settings ->> 'last_ip', "
        "substring(bio from '192\\.0\\.2\\.\\d+'), substring(bio from 'https://\\S+'), "
        "phones FROM people WHERE NOT is_staff"
    ):
        *scalars, phones = row
        values.update(v for v in scalars if v)
        values.update(v for v in phones or [] if v)
    for (value,) in conn.execute(
        "SELECT reporter_email FROM tickets UNION SELECT actor_email FROM audit "
        "UNION SELECT actor_username FROM audit UNION SELECT payload #>> '{actor,email}' FROM audit"
    ):
        if value:
            values.add(value)
    values.update(CARDS + IBANS)
    return {v.lower() for v in values if len(v) >= 7}


def _leaks(conn: psycopg.Connection, needles: set[str]) -> dict[str, set[str]]:
    """Needles found anywhere in the database: every column of every table and
    materialized view as text (jsonb, arrays and tsvectors included)."""
    relations = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN "
        "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for schema, name in relations:
        query = sql.SQL("SELECT r::text FROM {} AS r").format(sql.Identifier(schema, name))
        text = "\n".join(row[0] for row in conn.execute(query)).lower()
        hits = {needle for needle in needles if needle in text}
        if hits:
            found[f"{schema}.{name}"] = hits
    return found


def test_showcase_no_source_personal_value_appears_anywhere(pg, showcase: Copy) -> None:
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        needles = _needles(src)
        assert len(needles) > 800
        # the scan finds them in the source: in tables, the matview, the search vector
        found = _leaks(src, needles)
        assert {"public.people", "public.people_directory", "public.tickets"} <= found.keys()
        assert len(set().union(*found.values())) == len(needles)
        assert _leaks(dst, needles) == {}
        assert dst.execute("SELECT count(*) FROM people_directory").fetchone()[0] == 240


def test_showcase_emails_are_unique_case_insensitively_and_one_fake_per_email(
    pg, showcase: Copy
) -> None:
    query = (
        "SELECT 'people', id::text, email FROM people WHERE NOT is_staff "
        "UNION ALL SELECT 'tickets', id::text, reporter_email FROM tickets "
        "UNION ALL SELECT 'audit', id::text, actor_email FROM audit"
    )
    same_person = (
        "SELECT count(*) FILTER (WHERE t.reporter_email = p.email), count(*) "
        "FROM tickets t JOIN people p ON p.id = t.person_id"
    )
    with pg.connect(showcase.source) as src, pg.connect(showcase.target) as dst:
        before = {(r[0], r[1]): r[2] for r in src.execute(query)}
        after = {(r[0], r[1]): r[2] for r in dst.execute(query)}
        assert dst.execute(same_person).fetchone() == src.execute(same_person).fetchone()
    fakes: dict[str, set[str]] = defaultdict(set)
    for key, email in before.items():
        if email is None:
            assert after[key] is None
            continue
        assert EMAIL.fullmatch(after[key]) and after[key] != email
        fakes[email].add(after[key])
    assert all(len(v) == 1 for v in fakes.values())  # the same email, the same fake
    # case variants are other inputs: other fakes, still distinct under lower()
    assert any(e.isupper() for e in fakes) and any(e != e.lower() != e.upper() for e in fakes)
    assert len({next(iter(v)).lower() for v in fakes.values()}) == len(fakes)


def test_showcase_two_refreshes_with_one_secret_are_identical(pg, showcase: Copy) -> None:
    relations = [
        "people",
        "tickets",
        "audit",
        "people_directory",
    ]
    with (
        pg.connect(showcase.target) as dst,
        pg.connect(showcase.target + "__dc_prev") as prev,
    ):
        for name in relations:
            query = f"SELECT md5(string_agg(r::text, E'\\n' ORDER BY r::text)) FROM {name} r"
            assert dst.execute(query).fetchone() == prev.execute(query).fetchone(), name


def test_showcase_materialized_view_is_built_from_the_masked_rows(pg, showcase: Copy) -> None:
    stale = (
        "SELECT count(*) FROM people p JOIN people_directory d USING (id) WHERE "
        "d.full_name <> p.first_name || ' ' || p.last_name OR d.email <> p.email "
        "OR d.contact IS DISTINCT FROM p.profile -> 'contact'"
    )
    with pg.connect(showcase.target) as dst:
        assert dst.execute(stale).fetchone()[0] == 0


# --- every copy: NULLs, kept columns ------------------------------------------------


@pytest.fixture(params=["pagila", "northwind", "showcase"])
def copy(request) -> Copy:
    return request.getfixturevalue(request.param)


def test_nulls_stay_null_and_kept_columns_are_identical(pg, copy: Copy) -> None:
    checked = 0
    with pg.connect(copy.source) as src, pg.connect(copy.target) as dst:
        for tp in copy.plan.copied:
            s, t, key = tp.table.schema, tp.table.name, tp.table.primary_key
            kept = [c.name for c in tp.columns if c.name not in tp.masks]
            assert columns_digest(dst, s, t, kept) == columns_digest(src, s, t, kept), tp.name
            passed: set[tuple[Any, ...]] = set()
            if tp.unless:
                rel = sql.Identifier(s, t)
                query = sql.SQL("SELECT {} FROM ONLY {} WHERE {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, key)), rel, sql.SQL(tp.unless)
                )
                passed = {tuple(r) for r in src.execute(query)}
            for column, spec in tp.masks.items():
                before = column_values(src, s, t, key, column)
                after = column_values(dst, s, t, key, column)
                assert before.keys() == after.keys()
                for k, value in before.items():
                    if k in passed:  # `unless` rows: see the test_*_unless_* tests
                        continue
                    if spec.kind == "null" or value is None:  # `null`: every value NULL
                        assert after[k] is None, (tp.name, column, k)
                    else:
                        assert after[k] is not None, (tp.name, column, k)
                checked += 1
    assert checked >= 20


# --- rules that fail ----------------------------------------------------------------

BAD_SQL = """\
CREATE TABLE public.codes (id integer PRIMARY KEY, pin varchar(4) NOT NULL);
INSERT INTO public.codes SELECT g, lpad(g::text, 4, '0') FROM generate_series(1, 20) AS g;
CREATE TABLE public.legacy (id integer PRIMARY KEY, doc text);
INSERT INTO public.legacy SELECT g, CASE
    WHEN g = 37 THEN '{"email": "leaky.secret@legacy.example", "plan": '
    WHEN g % 10 = 0 THEN NULL
    ELSE '{"email": "person' || g || '@legacy.example", "plan": "gold"}' END
FROM generate_series(1, 60) AS g;
"""


@pytest.fixture(scope="module")
def bad_src(pg, run_id: str, tmp_path_factory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("bad") / "bad.sql"
    path.write_text(BAD_SQL)
    name = f"dct_{run_id}_badrules"
    yield pg.create(name, path)
    pg.drop(name)


def _fail(pg, tmp_path: Path, source: str, rules_text: str, target: str, run=None):
    rules = tmp_path / "rules.yml"
    rules.write_text(rules_text)
    done = _refresh(tmp_path, source, rules, pg.url(target), run=run)
    # nothing was created: no target, no half-built copy beside it
    assert not pg.exists(target) and not pg.exists(target + "__dc_new")
    return done


def test_a_unique_rule_that_can_never_fit_exits_2_before_any_row_moves(
    pg, bad_src: str, tmp_path: Path, target_name: str
) -> None:
    rules = (
        "tables:\n"
        "  public.codes:\n"
        "    mask: {pin: {faker: first_name, unique: true}}\n"
        "    keep: [id]\n"
        "  public.legacy: {keep: [id, doc]}\n"
    )
    done = _fail(pg, tmp_path, bad_src, rules, target_name)
    assert done.returncode == 2, done.stderr
    assert "public.codes" in done.stderr and "pin" in done.stderr
    assert "varchar(4)" in done.stderr or "character varying(4)" in done.stderr


def test_invalid_json_fails_naming_table_column_and_key_never_the_value(
    pg, bad_src: str, tmp_path: Path, target_name: str
) -> None:
    rules = (
        "tables:\n"
        "  public.codes: {keep: [id, pin]}\n"
        "  public.legacy:\n"
        "    mask: {doc: {json: {email: {faker: email, unique: true}}}}\n"
        "    keep: [id]\n"
    )
    # a process of its own: all it writes, whatever writes it, is searched for the value
    done = _fail(pg, tmp_path, bad_src, rules, target_name, run=run_cli)
    assert done.returncode == 1, done.stderr
    said = done.stdout + done.stderr
    assert "public.legacy" in said and "doc" in said and "(id) = (37)" in said, said
    assert "invalid JSON" in said
    assert "leaky.secret" not in said and "legacy.example" not in said
