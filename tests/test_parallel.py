"""`refresh --jobs N`: the same copy as with one job, big tables split by key range."""

from __future__ import annotations

from helpers import RULES, run_cli, scratch_db, write_config
from pgcompare import all_digests, catalog_counts, sequence_positions

from datacloner.core.config import load_config
from datacloner.core.plan import build_plan
from datacloner.core.progress import QuietProgress
from datacloner.core.rules import load_rules
from datacloner.engines.postgres.parallel import cost, plan_tasks
from datacloner.engines.postgres.source import PgSource
from datacloner.runtime import refresh as runtime
from datacloner.runtime.refresh import check_rule


def test_jobs_4_gives_the_same_copy_as_jobs_1(pg, pagila_src, target_name, tmp_path):
    one, four = target_name, target_name + "_j4"
    try:
        cfg = write_config(
            tmp_path, pagila_src, RULES / "pagila.yml", {"one": pg.url(one), "four": pg.url(four)}
        )
        done = run_cli("refresh", "one", "-c", str(cfg), "--yes", "--jobs", "1")
        assert done.returncode == 0, done.stderr
        # split every table over 1,000 rows into key ranges, to exercise that too
        # (Pagila is too small for the default threshold): the runtime, in-process
        report = runtime.refresh(
            load_config(cfg), "four", QuietProgress(), lambda _: None, jobs=4, split_rows=1000
        )
        assert report.rows > 0
        assert all_digests(pg, one) == all_digests(pg, four)
        with pg.connect(one) as a, pg.connect(four) as b:
            assert catalog_counts(a) == catalog_counts(b)
            assert sequence_positions(a) == sequence_positions(b)
            # ANALYZE table by table over 4 connections covers what one
            # database-wide ANALYZE does: the partition trees too
            assert statistics(a) == statistics(b)
            assert ("public", "payment", "amount", True) in statistics(b)
    finally:
        pg.drop(four, four + "__dc_prev")


def statistics(conn) -> set[tuple[str, str, str, bool]]:
    """Which columns of which tables have statistics (True: of the whole tree);
    the cluster's shared catalogs are no part of a copy."""
    return set(
        conn.execute(
            "SELECT n.nspname, c.relname, a.attname, s.stainherit FROM pg_statistic s "
            "JOIN pg_class c ON c.oid = s.starelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = s.starelid AND a.attnum = s.staattnum "
            "WHERE NOT c.relisshared"
        ).fetchall()
    )


def test_tasks_are_sized_by_cost_and_costliest_first(pagila_src):
    """`--jobs 2` on Pagila (tables of 1,000 rows or more may split): the costly
    tables are split into contiguous key ranges, small ones are not, and no
    task comes after a cheaper one (the pool then gives every worker about the
    same work)."""
    source = PgSource(pagila_src)
    try:
        plan = build_plan(source.read_catalog(), load_rules(RULES / "pagila.yml"), check_rule)
        tables = [t for t in plan.tables if not t.skip]
        tasks = plan_tasks(source, tables, jobs=2, split_rows=1000)
    finally:
        source.close()
    by_table: dict[str, list] = {}
    for task in tasks:
        by_table.setdefault(task.plan.name, []).append(task)
    assert sorted(by_table) == sorted(t.name for t in tables)  # every table, once
    costs = [cost(t.plan) // len(by_table[t.plan.name]) for t in tasks]
    assert costs == sorted(costs, reverse=True)
    split = {name: ts for name, ts in by_table.items() if len(ts) > 1}
    assert split, "some Pagila table is big and costly enough to split"
    for ts in split.values():
        ranges = sorted((t.key_range.low, t.key_range.high) for t in ts)
        assert all(a[1] == b[0] for a, b in zip(ranges[:-1], ranges[1:], strict=True))  # contiguous
        assert ts[0].plan.table.row_estimate >= 1000
    assert all(len(by_table[t.name]) == 1 for t in tables if t.table.row_estimate < 1000)


def test_tables_without_an_integer_key_split_by_heap_blocks(pg, run_id, target_name, tmp_path):
    """A text-keyed table and a keyless one, with updated and deleted rows (row
    versions moved to other blocks, dead ones left behind), split into ranges
    of heap blocks: every row the snapshot sees is copied once, masked as one
    job masks it."""
    src = f"dct_{run_id}_blocks"
    one, two = target_name, target_name + "_j2"
    pg.create(src)
    try:
        with pg.connect(src) as conn:
            conn.execute(
                "CREATE TABLE people (code text PRIMARY KEY, email text NOT NULL, n int);"
                "CREATE TABLE events (email text, at int);"  # no key at all
                "INSERT INTO people SELECT 'p' || g, 'user' || g || '@example.com', g "
                "FROM generate_series(1, 6000) g;"
                "INSERT INTO events SELECT 'user' || (g % 500) || '@example.com', g "
                "FROM generate_series(1, 6000) g;"
                "UPDATE people SET n = n + 1 WHERE n % 3 = 0;"  # new versions at the end
                "DELETE FROM people WHERE n % 7 = 0; DELETE FROM events WHERE at % 5 = 0;"
                "ANALYZE"
            )
            expected = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        rules = tmp_path / "rules.yml"
        rules.write_text(
            "tables:\n"
            "  public.people:\n"
            "    mask: {email: {faker: email, unique: true}}\n"
            "    keep: [code, n]\n"
            "    unless: n % 11 = 0\n"  # its flag read in each range too
            "  public.events: {mask: {email: {faker: email, unique: true}}, keep: [at]}\n"
        )
        cfg = write_config(tmp_path, pg.url(src), rules, {"one": pg.url(one), "two": pg.url(two)})
        source = PgSource(pg.url(src))
        try:
            plan = build_plan(source.read_catalog(), load_rules(rules), check_rule)
            tasks = plan_tasks(source, plan.copied, jobs=2, split_rows=1000)
        finally:
            source.close()
        for name in ("people", "events"):
            ranges = [t.key_range for t in tasks if t.plan.table.name == name]
            assert len(ranges) > 1 and all(r is not None and r.column == "ctid" for r in ranges)
        assert run_cli("refresh", "one", "-c", str(cfg), "--yes").returncode == 0
        report = runtime.refresh(
            load_config(cfg), "two", QuietProgress(), lambda _: None, jobs=2, split_rows=1000
        )
        assert report.rows == expected + 6000 - 1200
        assert all_digests(pg, one) == all_digests(pg, two)
        with pg.connect(two) as conn, pg.connect(src) as source_conn:
            assert conn.execute("SELECT count(*) FROM people").fetchone()[0] == expected
            kept = "SELECT code, email FROM people WHERE n % 11 = 0 ORDER BY code"
            assert conn.execute(kept).fetchall() == source_conn.execute(kept).fetchall()
    finally:
        pg.drop(src, two, two + "__dc_prev")


def test_a_table_never_analyzed_is_estimated_from_its_size_and_split(pg, run_id, tmp_path):
    """No ANALYZE, no autovacuum: the catalog says -1 rows. The planner's
    estimate (its pages and column widths) stands in, so --jobs still splits
    the table and weighs it by its rows."""
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "tables:\n  public.big: {mask: {email: email}, keep: [id]}\n  public.empty: {keep: [id]}\n"
    )
    with scratch_db(
        pg,
        f"dct_{run_id}_unanalyzed",
        "CREATE TABLE big (id int, email text) WITH (autovacuum_enabled = false);"
        "INSERT INTO big SELECT g, 'user' || g || '@example.com' "
        "FROM generate_series(1, 20000) g;"
        "CREATE TABLE empty (id int) WITH (autovacuum_enabled = false)",
    ) as src:
        source = PgSource(pg.url(src))
        try:
            catalog = source.read_catalog()
            # the catalog's own estimate stays 0 (verify samples by it)
            assert catalog.tables[("public", "big")].row_estimate == 0
            plan = build_plan(catalog, load_rules(rules), check_rule)
            big, empty = (
                next(t for t in plan.copied if t.table.name == n) for n in ("big", "empty")
            )
            assert 16_000 <= source.rows(big) <= 24_000
            assert source.rows(empty) == 0
            tasks = plan_tasks(source, plan.copied, jobs=2, split_rows=1000)
        finally:
            source.close()
    assert len([t for t in tasks if t.plan.table.name == "big"]) > 1
