"""Post-data in parallel (postdata.py): the same indexes, constraints,
triggers and comments as pg_dump's own order gives, whatever the number of
connections; foreign keys after the indexes they need; a failure names its
object and leaves no session behind in the copy (which is then dropped)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from killing import gone

from datacloner.core.errors import Refused
from datacloner.engines.postgres import postdata
from datacloner.engines.postgres.postdata import (
    BUILD,
    FOREIGN_KEY,
    OTHER,
    order,
    plan_steps,
    run_post_data,
)
from datacloner.engines.postgres.postdata import Tables as PdTables
from datacloner.engines.postgres.tools import find_tools

SCHEMA = """
CREATE TABLE country (code text, name text);
CREATE TABLE "Customer" (id int, country text, referrer int, email text, during tsrange);
CREATE TABLE orders (id int, customer int, placed date, total int) PARTITION BY RANGE (placed);
CREATE TABLE orders_2023 PARTITION OF orders FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE refund (id int, order_id int, placed date, store int);
CREATE TABLE store (id int, manager int);
CREATE TABLE staff (id int, store int);
INSERT INTO country SELECT 'c' || g, 'Country ' || g FROM generate_series(1, 50) g;
INSERT INTO "Customer" SELECT g, 'c' || (1 + g % 50), nullif(g / 2, 0), 'u' || g || '@x.example',
    tsrange('2024-01-01'::timestamp + g * interval '1 day', '2024-01-01'::timestamp
    + (g + 1) * interval '1 day') FROM generate_series(1, 3000) g;
INSERT INTO orders SELECT g, 1 + g % 3000, '2023-06-01'::date + g % 400, g
    FROM generate_series(1, 6000) g;
INSERT INTO refund SELECT g, g * 3, '2023-06-01'::date + (g * 3) % 400, 1 + g % 5
    FROM generate_series(1, 500) g;
INSERT INTO store SELECT g, g FROM generate_series(1, 5) g;
INSERT INTO staff SELECT g, 1 + g % 5 FROM generate_series(1, 5) g;
ALTER TABLE country ADD PRIMARY KEY (code);
ALTER TABLE "Customer" ADD PRIMARY KEY (id);
ALTER TABLE "Customer" ADD CONSTRAINT customer_email_key UNIQUE (email);
ALTER TABLE "Customer" ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&);
CREATE INDEX customer_country_idx ON "Customer" (country);
CREATE INDEX customer_lower_email ON "Customer" (lower(email)) WHERE email LIKE '%@x.example';
ALTER TABLE orders ADD PRIMARY KEY (id, placed);
CREATE INDEX orders_customer_idx ON orders (customer);
ALTER TABLE store ADD PRIMARY KEY (id);
ALTER TABLE staff ADD PRIMARY KEY (id);
-- a foreign key to a partitioned table, a self reference, a deferrable cycle
ALTER TABLE refund ADD FOREIGN KEY (order_id, placed) REFERENCES orders (id, placed);
ALTER TABLE "Customer" ADD FOREIGN KEY (referrer) REFERENCES "Customer" (id);
ALTER TABLE "Customer" ADD FOREIGN KEY (country) REFERENCES country (code);
ALTER TABLE orders ADD FOREIGN KEY (customer) REFERENCES "Customer" (id);
ALTER TABLE store ADD FOREIGN KEY (manager) REFERENCES staff (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE staff ADD FOREIGN KEY (store) REFERENCES store (id) DEFERRABLE;
ALTER TABLE refund ADD FOREIGN KEY (store) REFERENCES store (id) NOT VALID;
ALTER TABLE "Customer" CLUSTER ON customer_country_idx;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON "Customer" FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TRIGGER touch ON "Customer" IS 'kept';
COMMENT ON INDEX customer_country_idx IS 'by country';
CREATE STATISTICS customer_stats ON country, referrer FROM "Customer";
"""

# what a copy must have as the source has it (names, definitions, state)
CATALOG = {
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
    "convalidated, condeferrable, condeferred FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace AND contype <> 'n'",
    "indexes": "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid, "
    "indisprimary, indisclustered, (SELECT inhparent::regclass::text FROM pg_inherits "
    "WHERE inhrelid = indexrelid) FROM pg_index "
    "WHERE indrelid::regclass::text NOT LIKE 'pg\\_%%'",
    "triggers": "SELECT tgrelid::regclass::text, tgname, obj_description(oid, 'pg_trigger') "
    "FROM pg_trigger WHERE NOT tgisinternal",
    "comments": "SELECT objoid::regclass::text, description FROM pg_description "
    "WHERE classoid = 'pg_class'::regclass",
    "statistics": "SELECT stxname FROM pg_statistic_ext",
}


def _catalog(pg, name: str) -> dict[str, list[tuple]]:
    with pg.connect(name) as conn:
        return {k: sorted(conn.execute(q).fetchall(), key=repr) for k, q in CATALOG.items()}


@pytest.fixture(scope="module")
def source(pg, run_id, tmp_path_factory) -> Iterator[tuple[str, str, bytes]]:
    """The source, its pre-data + data as a custom-format dump, and its post-data script."""
    name = f"dct_{run_id}_postdata"
    folder = tmp_path_factory.mktemp("postdata")
    (folder / "schema.sql").write_text(SCHEMA)
    pg.create(name, folder / "schema.sql")
    with pg.connect(name) as conn:
        tools = find_tools(conn.info.server_version // 10000)
    dump = folder / "dump"
    args = [f"--dbname={pg.url(name)}"]
    subprocess.run([tools.pg_dump, *args, "-Fc", "-f", str(dump)], check=True)
    post = subprocess.run(
        [tools.pg_dump, *args, "--section=post-data"], check=True, capture_output=True
    ).stdout
    yield name, str(dump), post
    pg.drop(name)


def _loaded(pg, source, target: str) -> None:
    """``target``: the source's tables and rows, no index or constraint yet."""
    pg.drop(target)
    with pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{target}"')
        tools = find_tools(conn.info.server_version // 10000)
    pg_restore = str(tools.bindir / "pg_restore")
    subprocess.run(
        [pg_restore, "--section=pre-data", "--section=data", f"--dbname={pg.url(target)}"]
        + [source[1]],
        check=True,
    )


@pytest.mark.parametrize("jobs", [1, 3])
def test_parallel_post_data_builds_what_pg_dump_restores(
    pg, source, target_name, jobs, monkeypatch
):
    _loaded(pg, source, target_name)
    if jobs > 1:  # every plain key as a unique index, then the constraint on it
        monkeypatch.setattr(postdata, "SPLIT_BYTES", 0)
    run_post_data(source[2], pg.params(target_name), jobs)
    assert _catalog(pg, target_name) == _catalog(pg, source[0])


def test_a_failing_build_names_its_object_and_leaves_no_session(pg, source, target_name):
    _loaded(pg, source, target_name)
    with pg.connect(target_name) as conn:  # a masked email repeated
        conn.execute("""UPDATE "Customer" SET email = 'same@x.example' WHERE id < 3""")
    with pytest.raises(Refused) as failed:
        run_post_data(source[2], pg.params(target_name), 3, lambda _schema, _name: ["email"])
    message = str(failed.value)
    assert "the constraint customer_email_key on public.Customer" in message
    assert "column email" in message and "same@x.example" not in message
    assert "unique: true" in (failed.value.hint or "")
    gone(pg, target_name, within=5)  # every connection closed: the copy can be dropped


SCRIPT = b"""\\restrict abc
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
SET default_tablespace = '';
ALTER TABLE ONLY public.a ADD CONSTRAINT a_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.p ADD CONSTRAINT p_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.p_1 ADD CONSTRAINT p_1_pkey PRIMARY KEY (id);
CREATE INDEX a_b_idx ON public.a USING btree (b);
SET default_tablespace = fast;
CREATE UNIQUE INDEX "A b" ON ONLY public."B" USING btree (x);
ALTER INDEX public.p_pkey ATTACH PARTITION public.p_1_pkey;
CREATE TRIGGER t BEFORE UPDATE ON public.a FOR EACH ROW EXECUTE FUNCTION public.f();
ALTER TABLE ONLY public.a ADD CONSTRAINT a_p_fkey FOREIGN KEY (p) REFERENCES public.p(id);
ALTER TABLE ONLY public."B" ADD CONSTRAINT b_a_fkey FOREIGN KEY (a) REFERENCES public.a(id);
COMMENT ON INDEX public.a_b_idx IS 'x';
\\unrestrict abc
"""


MB = 1 << 20


def test_foreign_keys_wait_for_the_referenced_indexes_and_the_rest_keeps_its_order():
    steps = plan_steps(SCRIPT)
    tables = PdTables(
        sizes={("public", "a"): 10 * MB, ("public", "p"): 0, ("public", "p_1"): 9 * MB}
        | {("public", "B"): 12 * MB},
        children={("public", "p"): [("public", "p_1")]},
        partitioned={("public", "p")},
    )
    parallel = order(steps, tables)
    by_what = {s.what: s for s in steps}
    fk_a = by_what["the foreign key a_p_fkey on public.a"]
    attach = by_what["the index public.p_1_pkey attached to public.p_pkey"]
    builds_of_p = {s.number for s in parallel if s.kind == BUILD and s.table[1] in ("p", "p_1")}
    assert fk_a.after == builds_of_p | {attach.number}  # the partitions' index attached too
    p_key, p_1_key = (
        by_what["the constraint p_pkey on public.p"],
        by_what["the constraint p_1_pkey on public.p_1"],
    )
    assert attach.after == {p_key.number, p_1_key.number}
    # a plain key: a unique index sharing its table, then the constraint on it
    assert p_1_key.statement.text == (
        b"ALTER TABLE ONLY public.p_1 ADD CONSTRAINT p_1_pkey PRIMARY KEY USING INDEX p_1_pkey"
    )
    (index,) = [s for s in parallel if s.number in p_1_key.after]
    assert index.statement.text.startswith(b"CREATE UNIQUE INDEX p_1_pkey ON public.p_1 ")
    assert not index.exclusive and p_1_key.exclusive
    assert p_key.statement.text.endswith(b"PRIMARY KEY (id)")  # partitioned: as it was
    # the longest chain first: p_1's small key before B's bigger index, as a's
    # foreign key waits on it
    ranked = sorted(parallel, key=lambda s: -s.priority)
    assert ranked.index(index) < ranked.index(by_what["the unique index A b on public.B"])
    fk_b = by_what["the foreign key b_a_fkey on public.B"]
    assert fk_b.kind == FOREIGN_KEY and fk_b.locks == {("public", "B"), ("public", "a")}
    quoted = by_what["the unique index A b on public.B"]
    assert not quoted.exclusive and dict(quoted.settings)["default_tablespace"].endswith(b"fast")
    # the SETs are session state, never steps of their own
    assert not any(s.statement.text.startswith(b"SET") for s in steps)
    assert [s.statement.text.split()[0] for s in steps if s.kind == OTHER] == [
        b"CREATE",
        b"COMMENT",
    ]
    assert len(parallel) == len(steps) - 2 + 2  # two plain keys split in two
