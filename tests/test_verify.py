"""`datacloner verify ENV`: after a clean refresh it passes; a source value planted
anywhere in the target (a kept column, inside free text, inside a jsonb document,
an array, a materialized view, a masked column) fails it, naming the table and
column, never the value.

The matching logic is also tested without a database, on its own."""

from __future__ import annotations

import gc
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, RULES, run_cli, run_in_process, write_config

from datacloner.runtime import verify as v

DEMO = ROOT / "examples" / "demo"


# --- the matching logic, no database ---------------------------------------------------


def _needles(
    *values: str, scope: v.Scope = ("public", "people", "notes"), fast: bool | None = None
) -> v.Needles:
    needles = v.Needles(v.common_words(), fast=fast)
    for value in values:
        needles.add(value, scope)
    return needles


def _scan(needles: v.Needles, rows: list[list[str | None]], columns: list[str]) -> dict:
    """Rows as PostgreSQL COPY text would carry them; hits by column."""

    def field(value: str | None) -> str:
        if value is None:
            return "\\N"
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")

    block = "".join("\t".join(field(x) for x in row) + "\n" for row in rows).encode()
    scopes = [("public", "people", c) for c in columns]
    read, hits = v.Matcher(needles).scan("public.people", scopes, [block], copy_text=True)
    assert read == len(rows)
    return {h.column: (h.rows, h.values) for h in hits}


def test_what_is_sampled_and_what_is_skipped_as_meaningless():
    needles = v.Needles(v.common_words())
    scope = ("public", "people", "x")
    assert needles.add("Zoë", scope) == "shorter than 4 characters"
    assert needles.add("   ", scope) == "shorter than 4 characters"
    assert needles.add("Smith", scope) == "a common word or name"  # a fake can be a Smith too
    assert needles.add("Mary", scope) == "a common word or name"
    assert needles.add("35200", scope) == "a number shorter than 9 digits"  # a postcode
    assert needles.add("1985-03-12", scope) == "a date"
    for kept in (
        "MARY.SMITH@sakilacustomer.org",
        "+1 (403) 333-5568",
        "1913 Hanoi Way",
        "Quillby",  # a rare surname: only looked for in its own column
        "user_1984x",
        "192.0.2.15",
    ):
        assert needles.add(kept, scope) is None, kept
    # a scrubbed column keeps its text: only what is inside it counts
    assert needles.add("met at the fair", scope, embedded_only=True) == "nothing personal inside"
    assert needles.add("mail bob.k@corp.example now", scope, embedded_only=True) is None


@pytest.mark.parametrize("fast", [True, False], ids=["siphash-filter", "blake2b-only"])
def test_finds_values_inside_free_text_json_and_arrays_but_not_lookalikes(fast):
    needles = _needles(
        "MARY.SMITH@sakilacustomer.org",
        "+44 20 7946 0958",
        "Zorvath Quillby",
        "1913 Hanoi Way",
        "ab-99812-x",
        fast=fast,
    )
    rows = [
        ["contact MARY.SMITH@sakilacustomer.org.", "{}", None],  # case, trailing full stop
        ["nothing here", '{"reply_to": "mary.smith@sakilacustomer.org"}', None],
        ["call (020) 7946-0958 or +44 20 7946 0958", "{}", '{"a",b}'],
        ["seen:\tZorvath   QUILLBY\nyesterday", "{}", None],  # tab, newline, spaces
        ["ship to 1913 hanoi way, apt 4", "{}", '{"x","AB-99812-X"}'],
        ["mary.smith@sakilacustomer.org.uk", '{"n": 1913}', "{hanoi,way}"],  # lookalikes
        ["zorvath quillbyx; 1913 hanoi", "{}", None],
        ["a1234402079460958b", "{}", None],  # digits inside a word are no phone
    ]
    hits = _scan(needles, rows, ["notes", "payload", "tags"])
    assert hits == {"notes": (4, 4), "payload": (1, 1), "tags": (1, 1)}


def test_a_single_word_is_looked_for_only_in_its_own_column():
    needles = _needles("Quillby", scope=("public", "people", "last_name"))
    rows = [["Quillby", "Quillby", "met quillby at the fair"], ["Jones", "x", "y"]]
    hits = _scan(needles, rows, ["last_name", "city", "notes"])
    assert hits == {"last_name": (1, 1)}


def test_a_column_that_leaks_on_every_row_is_counted_up_to_a_limit():
    needles = _needles("+1 202 555 0175")
    rows = [["call +1 202 555 0175", "x"] for _ in range(v.COUNT_LIMIT + 500)]
    block = "".join("\t".join(r) + "\n" for r in rows).encode()
    scopes = [("public", "people", "notes"), ("public", "people", "other")]
    read, hits = v.Matcher(needles).scan("public.people", scopes, [block], copy_text=True)
    assert read == len(rows)
    assert [(h.column, h.rows, h.at_least) for h in hits] == [("notes", v.COUNT_LIMIT, True)]


def test_copy_escapes_and_null_are_decoded():
    needles = _needles("back\\slash person", "tab\tseparated value")
    rows = [["back\\slash person"], ["TAB\tSEPARATED VALUE"], [None], ["\\N"]]
    assert _scan(needles, rows, ["notes"]) == {"notes": (2, 2)}


def test_needles_hold_no_source_value():
    secret = "Zorvath.Quillby@private-example.net"
    needles = _needles(secret, "Zorvath Quillby", "+1 202 555 0175")
    forms = {secret, secret.lower(), "zorvath quillby", "12025550175"}
    seen: set[int] = set()
    todo: list[object] = [needles]
    while todo:  # everything reachable from the needles: hashes only
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        if isinstance(obj, str | bytes):
            text = obj.decode("utf-8", "replace") if isinstance(obj, bytes) else obj
            assert not any(f in text.lower() for f in forms), "a source value is kept"
            continue
        todo.extend(gc.get_referents(obj))
        slots = getattr(type(obj), "__slots__", ())
        todo.extend(getattr(obj, s) for s in slots if hasattr(obj, s))


def test_numbers_inside_document_codes_are_no_phone_numbers():
    text = "Re INV-2026-04-0007 and Q-0A5F-202604-007: call +1 202 555 0143"
    assert v.embedded(text) == {b"12025550143": "phone"}
    assert v.embedded("mail Bob.K@Corp.example now") == {b"bob.k@corp.example": "email"}
    assert v.embedded("call +1 202 555 0143", kinds=["email"]) == {}  # what the scrub keeps


def test_what_a_fake_could_be():
    locales: frozenset[str] = frozenset()
    for could in ("Hampshire", "John Smith", "jsmith82@gmail.com", "East Jamesmouth", "10.0.0.7"):
        norm = v.normalize(could)
        assert v.could_be_fake(norm, "ipv4" if could[0].isdigit() else None, locales), could
    for never in ("MARY.SMITH@sakilacustomer.org", "Zorvath Quill7", "+1 202 555 0143"):
        assert not v.could_be_fake(v.normalize(never), None, locales), never


def test_in_a_column_of_fakes_only_what_no_fake_could_be_counts():
    """`Hampshire` (a source region) inside the fake `New Hampshire`, or another
    row's real `John Smith` drawn as a fake, is a coincidence there; in a kept
    column the same value counts."""
    needles = v.Needles(v.common_words())
    scope = ("public", "people", "region")
    for value in ("Hampshire", "John Smith", "Zorvath Quillby"):
        needles.add(value, scope)
    rows = [["New Hampshire", "John Smith"], ["x", "zorvath quillby"], ["Hampshire", "x"]]
    block = "".join("\t".join(r) + "\n" for r in rows).encode()
    scopes = [scope, ("public", "people", "notes")]
    matcher = v.Matcher(needles)
    _, kept = matcher.scan("public.people", scopes, [block], copy_text=True)
    assert {h.column: h.rows for h in kept} == {"region": 2, "notes": 2}
    _, fakes = matcher.scan("public.people", scopes, [block], True, None, [True, True])
    assert {h.column: h.rows for h in fakes} == {"notes": 1}


def test_each_run_has_its_own_key():
    one, two = _needles("Zorvath Quillby"), _needles("Zorvath Quillby")
    assert one.global_.matched([b"zorvath quillby"]) != two.global_.matched([b"zorvath quillby"])


# --- PostgreSQL: Pagila through the real command ---------------------------------------
# Refreshes and most verifies run in this process (helpers.run_in_process: the same
# app without a second of imports); in each test that a value is never printed, one
# verify at least runs as a process of its own (all it writes, whatever writes it).


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _assert_no_value(result: subprocess.CompletedProcess[str], *values: str) -> None:
    text = _output(result).lower()
    for value in values:
        assert value.lower() not in text, "a source value appears in the output"


@pytest.fixture(scope="module")
def pagila_dev(pg, pagila_src, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """Pagila refreshed once with rules/pagila.yml; each test undoes what it plants."""
    name = f"dct_v{uuid.uuid4().hex[:6]}"
    folder = tmp_path_factory.mktemp("verify-pagila")
    cfg = write_config(folder, pagila_src, RULES / "pagila.yml", {"dev": pg.url(name)})
    refreshed = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert refreshed.returncode == 0, refreshed.stderr
    yield cfg, name
    pg.drop(name, name + "__dc_new", name + "__dc_prev")


def test_a_clean_refresh_of_pagila_verifies(pagila_dev):
    cfg, _ = pagila_dev
    result = run_in_process("verify", "dev", "-c", str(cfg))
    assert result.returncode == 0, _output(result)
    assert "ok: no sampled source value found in dev" in result.stdout
    assert "masked columns of the source" in result.stdout  # what was sampled
    assert "text columns" in result.stdout  # and what was searched


def test_a_source_email_planted_in_a_kept_column_fails_verify(pg, pagila_src, pagila_dev):
    cfg, name = pagila_dev
    with pg.connect(pagila_src.rsplit("/", 1)[1]) as src:
        email = src.execute("SELECT email FROM customer ORDER BY customer_id LIMIT 1").fetchone()[0]
    with pg.connect(name) as conn:
        before = conn.execute("SELECT description FROM film WHERE film_id = 1").fetchone()[0]
        conn.execute(
            "UPDATE film SET description = description || %s WHERE film_id = 1",
            (f" contact {email}",),
        )
        try:
            result = run_cli("verify", "dev", "-c", str(cfg))
            as_json = run_in_process("verify", "dev", "-c", str(cfg), "--json")
        finally:
            conn.execute("UPDATE film SET description = %s WHERE film_id = 1", (before,))
    assert result.returncode == 1, _output(result)
    assert "public.film.description: 1 row(s)" in result.stderr
    _assert_no_value(result, email)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    hits = {(h["table"], h["column"]): (h["rows"], h["values"]) for h in report["hits"]}
    assert hits[("public.film", "description")] == (1, 1)
    _assert_no_value(as_json, email)


def test_an_original_last_name_restored_in_a_masked_column_fails_verify(pg, pagila_src, pagila_dev):
    cfg, name = pagila_dev
    common = v.common_words()
    with pg.connect(pagila_src.rsplit("/", 1)[1]) as src:
        people = src.execute("SELECT customer_id, last_name FROM customer ORDER BY 1").fetchall()
    with pg.connect(name) as conn:
        fakes = dict(conn.execute("SELECT customer_id, last_name FROM customer").fetchall())
        # a surname Faker never produces (a Smith in the copy proves nothing)
        customer_id, original = next(
            (cid, last)
            for cid, last in people
            if len(last) >= 4
            and v.normalize(last) not in common
            and fakes[cid].lower() != last.lower()
        )
        conn.execute(
            "UPDATE customer SET last_name = %s WHERE customer_id = %s", (original, customer_id)
        )
        try:
            result = run_cli("verify", "dev", "-c", str(cfg))
        finally:
            conn.execute(
                "UPDATE customer SET last_name = %s WHERE customer_id = %s",
                (fakes[customer_id], customer_id),
            )
    assert result.returncode == 1, _output(result)
    assert "public.customer.last_name: 1 row(s)" in result.stderr
    _assert_no_value(result, original)


# --- PostgreSQL: jsonb, arrays, a materialized view ------------------------------------

SMALL_SQL = """
CREATE TABLE people (
    id int PRIMARY KEY, email text NOT NULL, full_name text, phone text,
    prefs jsonb, tags text[], profile jsonb
);
CREATE TABLE tickets (id int PRIMARY KEY, person_id int REFERENCES people, subject text,
                      payload jsonb);
INSERT INTO people SELECT g, 'member' || g || '@private-example.net',
    (ARRAY['Zorvath', 'Elowen', 'Tamsin'])[1 + g % 3] || ' Quill' || g,
    '+1 202 555 ' || lpad(g::text, 4, '0'),
    jsonb_build_object('theme', 'dark', 'page_size', g % 50), ARRAY['vip', 'tag' || g % 7],
    jsonb_build_object('theme', 'light', 'contact', jsonb_build_object(
        'email', 'alt' || g || '@private-example.net',
        'phones', jsonb_build_array('+1 303 555 ' || lpad(g::text, 4, '0'), '+1 404 555 0000')))
FROM generate_series(1, 300) g;
INSERT INTO tickets SELECT g, 1 + g % 300, 'ticket about order ' || g,
    jsonb_build_object('channel', 'web', 'meta', jsonb_build_object('n', g))
FROM generate_series(1, 500) g;
CREATE MATERIALIZED VIEW ticket_summary AS
    SELECT id, subject, payload->>'channel' AS channel FROM tickets;
"""

SMALL_RULES = """
tables:
  public.people:
    mask:
      email: {faker: email, unique: true}
      full_name: name
      phone: phone_number
    keep: [id, prefs, tags, profile]
  public.tickets:
    keep: [id, person_id, subject, payload]
"""


@pytest.fixture(scope="module")
def small_dev(pg, run_id, tmp_path_factory) -> Iterator[tuple[Path, str, str]]:
    folder = tmp_path_factory.mktemp("verify-small")
    (folder / "small.sql").write_text(SMALL_SQL)
    (folder / "rules.yml").write_text(SMALL_RULES)
    source = f"dct_{run_id}_vsmall"
    target = f"dct_v{uuid.uuid4().hex[:6]}"
    url = pg.create(source, folder / "small.sql")
    cfg = write_config(folder, url, "rules.yml", {"dev": pg.url(target)})
    refreshed = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert refreshed.returncode == 0, refreshed.stderr
    yield cfg, source, target
    pg.drop(source, target, target + "__dc_new", target + "__dc_prev")


def test_values_planted_in_jsonb_arrays_and_a_materialized_view_are_found(pg, small_dev):
    cfg, source, target = small_dev
    clean = run_in_process("verify", "dev", "-c", str(cfg))
    assert clean.returncode == 0, _output(clean)
    assert "1 materialized views" in clean.stdout
    with pg.connect(source) as src:
        email, full_name, phone = src.execute(
            "SELECT email, full_name, phone FROM people WHERE id = 7"
        ).fetchone()
    with pg.connect(target) as conn:
        conn.execute(
            "UPDATE tickets SET payload = jsonb_set(payload, '{meta,reply_to}', to_jsonb(%s::text))"
            " WHERE id = 3",
            (email.upper(),),
        )
        conn.execute("UPDATE people SET tags = tags || %s::text WHERE id = 5", (phone,))
        # a full name inside a sentence, then seen through the materialized view too
        conn.execute(
            "UPDATE tickets SET subject = %s WHERE id = 4", (f"complaint from {full_name}!",)
        )
        conn.execute("REFRESH MATERIALIZED VIEW ticket_summary")
    result = run_cli("verify", "dev", "-c", str(cfg), "--json")
    assert result.returncode == 1, _output(result)
    hits = {(h["table"], h["column"]): h["rows"] for h in json.loads(result.stdout)["hits"]}
    assert hits == {
        ("public.tickets", "payload"): 1,
        ("public.people", "tags"): 1,
        ("public.tickets", "subject"): 1,
        ("public.ticket_summary", "subject"): 1,
    }
    _assert_no_value(result, email, full_name, phone)


def test_the_source_sampler_reads_json_paths_array_elements_and_skips_unless_rows(pg, small_dev):
    from datacloner.core.catalog import Column, Table
    from datacloner.engines.postgres import verify as pg_verify

    _, source, _ = small_dev
    people = Table(schema="public", name="people", columns=[], row_estimate=300)

    def sample(column: str, type_: str, **kwargs) -> list[str] | None:
        with pg_verify.open_source(pg.url(source)) as sampler:
            args = {"limit": 1000, "unless": None, "paths": None, **kwargs}
            return sampler.sample(people, Column(column, type_), **args)

    emails = sample("profile", "jsonb", paths=[("contact", "email")])
    assert emails is not None and len(emails) == 300 and all("@" in e for e in emails)
    phones = sample("profile", "jsonb", paths=[("contact", "phones", "*")])
    assert phones is not None and len(phones) == 301  # 300 own numbers and a shared one
    leaves = sample("profile", "jsonb")  # a whole document masked: every string and number
    assert leaves is not None and "light" in leaves and len(leaves) == 602
    tags = sample("tags", "text[]", limit=3)
    assert tags is not None and len(tags) == 3  # array elements, distinct, limited
    few = sample("email", "text", unless="id > 10")  # rows passed unmasked are not sampled
    assert few is not None and len(few) == 10
    assert sample("id", "integer") is not None  # ids are sampled as text
    assert pg_verify._sample_kind({}, 0) is None


def test_a_failing_sample_names_the_column_not_the_value(pg, small_dev, tmp_path):
    _, source, target = small_dev
    (tmp_path / "rules.yml").write_text(
        SMALL_RULES.replace(
            "    keep: [id, prefs, tags, profile]",
            '    keep: [id, prefs, tags, profile]\n    unless: "email::int > 0"',
        )
    )
    cfg = write_config(tmp_path, pg.url(source), "rules.yml", {"dev": pg.url(target)})
    result = run_cli("verify", "dev", "-c", str(cfg))
    assert result.returncode == 2, _output(result)
    assert "cannot sample public.people." in result.stderr
    # the error's kind, never the server's message as is (it can quote the row)
    assert "InvalidTextRepresentation" in result.stderr or "22P02" in result.stderr
    assert "@private-example.net" not in _output(result)


def test_traps_verify_runs_and_never_prints_a_value(pg, traps_src, tmp_path):
    """Awkward names and types end to end. The traps fixture keeps, on purpose, the
    same odd strings in kept columns as in masked ones: verify rightly finds them."""
    target = f"dct_v{uuid.uuid4().hex[:6]}"
    cfg = write_config(
        tmp_path, traps_src, ROOT / "tests" / "fixtures" / "traps.yml", {"dev": pg.url(target)}
    )
    try:
        refreshed = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
        assert refreshed.returncode == 0, refreshed.stderr
        result = run_cli("verify", "dev", "-c", str(cfg), "--json")
    finally:
        pg.drop(target, target + "__dc_new", target + "__dc_prev")
    assert result.returncode == 1, _output(result)
    report = json.loads(result.stdout)
    searched = {t["table"] for t in report["searched"]}
    assert '"CRM"."Contact Directory"' in searched  # the materialized view
    assert {h["table"] for h in report["hits"]} <= searched
    # the masked columns themselves hold only fakes
    masked = {
        ("public.user", "email"),
        ('"CRM"."Contacts"', "Email"),
        ("public.events", "actor_email"),
    }
    assert not masked & {(h["table"], h["column"]) for h in report["hits"]}
    _assert_no_value(result, "contact17@example.com", "user42@example.org", "MixedCase@Example")


# --- SQLite: the demo ------------------------------------------------------------------


def test_the_sqlite_sampler_reads_json_paths_and_skips_dates(tmp_path):
    from datacloner.core.catalog import Column, Table
    from datacloner.engines.sqlite import verify as sqlite_verify

    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER, doc JSON, born DATE, note TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, '1980-01-01', ?)",
        [
            (
                i,
                json.dumps({"c": {"email": f"p{i}@x.example", "tel": [f"+1 555 000 {i:04d}"]}}),
                "n",
            )
            for i in range(20)
        ],
    )
    conn.commit()
    conn.close()
    table = Table(schema="main", name="t", columns=[])
    with sqlite_verify.open_source(f"sqlite:///{db}") as sampler:
        emails = sampler.sample(table, Column("doc", "JSON"), 100, None, [("c", "email")])
        tels = sampler.sample(table, Column("doc", "JSON"), 100, "id >= 5", [("c", "tel", "*")])
        leaves = sampler.sample(table, Column("doc", "JSON"), 100, None, None)
        assert sampler.sample(table, Column("born", "DATE"), 100, None, None) is None
    assert emails is not None and sorted(emails) == sorted(f"p{i}@x.example" for i in range(20))
    assert tels is not None and len(tels) == 5
    assert leaves is not None and len(leaves) == 40


def test_the_demo_verifies_and_a_planted_email_fails(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    for name in ("datacloner.yml", "rules.yml"):
        shutil.copy(DEMO / name, folder / name)
    subprocess.run(
        [sys.executable, str(DEMO / "make_source.py"), str(folder / "source.db")],
        check=True,
        capture_output=True,
    )
    cfg = str(folder / "datacloner.yml")
    assert run_in_process("refresh", "dev", "-c", cfg, "--yes", "--json").returncode == 0
    clean = run_in_process("verify", "dev", "-c", cfg)
    assert clean.returncode == 0, _output(clean)

    src = sqlite3.connect(folder / "source.db")
    (email,) = src.execute("SELECT email FROM users ORDER BY id LIMIT 1").fetchone()
    src.close()
    dev = sqlite3.connect(folder / "dev.db")
    dev.execute("UPDATE orders SET status = status || ' (' || ? || ')' WHERE id = 3", (email,))
    dev.commit()
    dev.close()
    result = run_cli("verify", "dev", "-c", cfg)
    assert result.returncode == 1, _output(result)
    assert "main.orders.status: 1 row(s)" in result.stderr
    _assert_no_value(result, email)

    # a masked value left as it was on its own row: a certain leak, even a common name
    src = sqlite3.connect(folder / "source.db")
    (last,) = src.execute("SELECT last_name FROM users WHERE id = 2").fetchone()
    src.close()
    dev = sqlite3.connect(folder / "dev.db")
    dev.execute("UPDATE orders SET status = 'paid' WHERE id = 3")
    dev.execute("UPDATE users SET last_name = ? WHERE id = 2", (last.upper(),))
    dev.commit()
    dev.close()
    same = run_in_process("verify", "dev", "-c", cfg, "--json")
    assert same.returncode == 1, _output(same)
    hits = {(h["table"], h["column"]): h["same_row"] for h in json.loads(same.stdout)["hits"]}
    assert hits == {("main.users", "last_name"): 1}
    _assert_no_value(same, last)


# --- no false alarm on a correct copy of real-looking data -----------------------------

TRUST_RULES = """
tables:
  public.customers:
    mask:
      full_name: name
      email: {faker: email}
      region: state
      city: city
      notes: {scrub: [email, phone]}
      profile:
        json:
          note: {scrub: [email, phone]}
          contact.email: {faker: email, unique: true}
    keep: [id]
  public.documents:
    keep: [id, number, customer_id, title]
"""


def _trust_rows() -> tuple[list[tuple], list[tuple]]:
    """Customers made with Faker (so a fake often is another row's real value),
    50 of them with emails no Faker pool gives; documents numbered as real
    invoices and quotes are (`INV-2026-04-0007`, `Q-0A5F-202604-007`)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(7)
    numbers = [
        f"INV-2026-04-{i:04d}" if i % 2 else f"Q-{i * 2654435761 % 65536:04X}-202604-{i % 997:03d}"
        for i in range(1, 3001)
    ]
    customers = []
    for i in range(1, 1501):
        email = fake.email() if i > 50 else f"zq{i}x.vortek{i * 7}@mailbox-{i}.test"
        order = f"ORD-{5512345000 + i}"
        note = f"Re {numbers[i - 1]} and {numbers[i + 1499]}: call {fake.phone_number()}"
        profile = {
            "note": f"shipped {order} today",  # nothing a scrub replaces: kept whole
            "order": order,
            "ticket": f"T-{i:08d}",
            "contact": {"email": fake.email()},
        }
        region = ("Hampshire", f"Devon {i}", fake.state())[i % 3]
        customers.append((i, fake.name(), email, region, fake.city(), note, json.dumps(profile)))
    documents = [
        (n, numbers[n - 1], 1 + n % 1500, f"{'Invoice' if n % 2 else 'Quote'} {fake.bs()}")
        for n in range(1, 3001)
    ]
    return customers, documents


@pytest.fixture(scope="module")
def trust_dev(pg, run_id, tmp_path_factory) -> Iterator[tuple[Path, str, str]]:
    folder = tmp_path_factory.mktemp("verify-trust")
    source = f"dct_{run_id}_vtrust"
    target = f"dct_v{uuid.uuid4().hex[:6]}"
    pg.drop(source)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{source}"')
    customers, documents = _trust_rows()
    with pg.connect(source) as conn:
        conn.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, full_name text, email text, "
            "region text, city text, notes text, profile jsonb)"
        )
        conn.execute(
            "CREATE TABLE documents (id int PRIMARY KEY, number text NOT NULL, "
            "customer_id int REFERENCES customers, title text)"
        )
        with conn.cursor().copy("COPY customers FROM STDIN") as copy:
            for row in customers:
                copy.write_row(row)
        with conn.cursor().copy("COPY documents FROM STDIN") as copy:
            for row in documents:
                copy.write_row(row)
        conn.execute(
            "CREATE MATERIALIZED VIEW customer_documents AS SELECT d.id, d.number, d.title, "
            "c.full_name, c.region, c.email FROM documents d "
            "JOIN customers c ON c.id = d.customer_id"
        )
    (folder / "rules.yml").write_text(TRUST_RULES)
    cfg = write_config(folder, pg.url(source), "rules.yml", {"dev": pg.url(target)})
    refreshed = run_in_process("refresh", "dev", "-c", str(cfg), "--yes", "--json")
    assert refreshed.returncode == 0, refreshed.stderr
    yield cfg, source, target
    pg.drop(source, target, target + "__dc_new", target + "__dc_prev")


def test_a_correct_copy_of_faker_made_data_verifies(pg, trust_dev):
    """The four false alarms seen on real data: fakes equal to other rows' real
    values, ids a json path's scrub rightly keeps, digits of document numbers,
    `Hampshire` inside the fake `New Hampshire`."""
    cfg, source, target = trust_dev
    with pg.connect(source) as src, pg.connect(target) as dst:
        real = {r[0] for r in src.execute("SELECT full_name FROM customers")}
        fakes = [r[0] for r in dst.execute("SELECT full_name FROM customers")]
        regions = {r[0] for r in dst.execute("SELECT region FROM customers")}
        kept = dst.execute(
            "SELECT count(*) FROM customers WHERE notes LIKE '%INV-2026-04-%' "
            "AND profile->>'note' LIKE 'shipped ORD-%'"
        ).fetchone()[0]
    # the traps are there: coincidences, the state, what the scrubs keep
    assert sum(1 for f in fakes if f in real) >= 1
    assert "New Hampshire" in regions
    assert kept >= 700
    result = run_in_process("verify", "dev", "-c", str(cfg), "--json")
    assert result.returncode == 0, _output(result)
    report = json.loads(result.stdout)
    assert report["totals"]["values_kept"] > 1000  # it did look for the source's values


def test_a_leak_in_a_kept_column_a_json_value_or_a_view_fails_verify(pg, trust_dev):
    cfg, source, target = trust_dev
    with pg.connect(source) as src:
        (email,) = src.execute("SELECT email FROM customers WHERE id = 3").fetchone()
    with pg.connect(target) as conn:
        before = conn.execute("SELECT title FROM documents WHERE id = 5").fetchone()[0]
        profile = conn.execute("SELECT profile::text FROM customers WHERE id = 9").fetchone()[0]
        # a materialized view refreshed while a kept column leaked, then the column fixed
        conn.execute("UPDATE documents SET title = %s WHERE id = 5", (f"send to {email}",))
        conn.execute("REFRESH MATERIALIZED VIEW customer_documents")
        conn.execute("UPDATE documents SET title = %s WHERE id = 5", (before,))
        view_only = run_in_process("verify", "dev", "-c", str(cfg), "--json")
        conn.execute("UPDATE documents SET title = %s WHERE id = 6", (f"cc {email.upper()}",))
        conn.execute(
            "UPDATE customers SET profile = jsonb_set(profile, '{order}', to_jsonb(%s::text)) "
            "WHERE id = 9",
            (email,),
        )
        try:
            result = run_in_process("verify", "dev", "-c", str(cfg), "--json")
            plain = run_cli("verify", "dev", "-c", str(cfg))
        finally:
            conn.execute("UPDATE documents SET title = %s WHERE id = 6", (before,))
            conn.execute("UPDATE customers SET profile = %s WHERE id = 9", (profile,))
            conn.execute("REFRESH MATERIALIZED VIEW customer_documents")
    assert view_only.returncode == 1, _output(view_only)
    hits = {(h["table"], h["column"]) for h in json.loads(view_only.stdout)["hits"]}
    assert hits == {("public.customer_documents", "title")}
    assert result.returncode == 1, _output(result)
    hits = {(h["table"], h["column"]) for h in json.loads(result.stdout)["hits"]}
    assert hits == {
        ("public.documents", "title"),
        ("public.customers", "profile"),
        ("public.customer_documents", "title"),
    }
    assert plain.returncode == 1
    assert "public.customers.profile: 1 row(s)" in plain.stderr
    _assert_no_value(result, email)
    _assert_no_value(plain, email)
    _assert_no_value(view_only, email)


def test_a_masked_value_left_as_its_source_is_a_certain_leak(pg, trust_dev):
    """Even a common name, which the search rightly ignores elsewhere, is a leak
    on its own row: a drawn fake never equals its source."""
    cfg, source, target = trust_dev
    with pg.connect(source) as src:
        rows = src.execute("SELECT id, region, full_name FROM customers WHERE id <= 3").fetchall()
    with pg.connect(target) as conn:
        saved = conn.execute("SELECT id, region, full_name FROM customers WHERE id <= 3").fetchall()
        for cid, region, full_name in rows:
            conn.execute(
                "UPDATE customers SET region = %s, full_name = %s WHERE id = %s",
                (region, full_name, cid),
            )
        try:
            result = run_cli("verify", "dev", "-c", str(cfg), "--json")
        finally:
            for cid, region, full_name in saved:
                conn.execute(
                    "UPDATE customers SET region = %s, full_name = %s WHERE id = %s",
                    (region, full_name, cid),
                )
    assert result.returncode == 1, _output(result)
    hits = {(h["table"], h["column"]): h["same_row"] for h in json.loads(result.stdout)["hits"]}
    assert hits == {("public.customers", "region"): 3, ("public.customers", "full_name"): 3}
    _assert_no_value(result, *(r[2] for r in rows))


def test_in_a_json_column_a_value_a_fake_could_be_counts_where_the_rule_keeps(pg, trust_dev):
    """A Faker-made email is a coincidence at the path the json rule masks, on
    another row; in a key the rule keeps, it is a leak."""
    cfg, source, target = trust_dev
    with pg.connect(source) as src:
        (email,) = src.execute("SELECT email FROM customers WHERE id = 60").fetchone()
    assert v.could_be_fake(v.normalize(email), None, frozenset())
    with pg.connect(target) as conn:
        saved = dict(conn.execute("SELECT id, profile::text FROM customers WHERE id IN (9, 10)"))
        conn.execute(
            "UPDATE customers SET profile = "
            "jsonb_set(profile, '{contact,email}', to_jsonb(%s::text)) WHERE id = 10",
            (email,),
        )
        try:
            masked_path = run_in_process("verify", "dev", "-c", str(cfg), "--json")
            conn.execute(
                "UPDATE customers SET profile = jsonb_set(profile, '{order}', to_jsonb(%s::text)) "
                "WHERE id = 9",
                (email,),
            )
            kept_key = run_cli("verify", "dev", "-c", str(cfg), "--json")
        finally:
            for cid, profile in saved.items():
                conn.execute("UPDATE customers SET profile = %s WHERE id = %s", (profile, cid))
    assert masked_path.returncode == 0, _output(masked_path)
    assert kept_key.returncode == 1, _output(kept_key)
    hits = {(h["table"], h["column"]): h["rows"] for h in json.loads(kept_key.stdout)["hits"]}
    assert hits == {("public.customers", "profile"): 1}
    _assert_no_value(kept_key, email)
