"""Subsetting on PostgreSQL (docs/subset.md): every foreign key validates on
the target, the start share holds, the same rows come back every run, new
source rows never displace chosen ones, and mistakes are named at their line.

Cheap by design: each source is a copy of a cached template (``pg.clone``),
loaded once per module and only read; one refresh asserts several
properties; the CLI runs twice (a refresh with --json, a check), the other
runs call the runtime in-process, as the CLI does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datacloner.core.config import load_config
from datacloner.core.errors import DataclonerError
from datacloner.core.progress import QuietProgress
from datacloner.runtime import refresh as runtime
from datacloner.subset.select import subset_salt
from tests.conftest import LOCAL_FIXTURES, PgServer
from tests.helpers import RULES, run_cli, write_config

SECRET = "test-secret-0123456789"
AWKWARD_RULES = LOCAL_FIXTURES / "subset_awkward.yml"
TINY_SQL = LOCAL_FIXTURES / "subset_tiny.sql"
TINY_RULES = "strict: false\ntables: {}\n"


@pytest.fixture(scope="module")
def awkward_src(pg: PgServer, run_id: str) -> Any:
    name = f"dct_{run_id}_sub_awk"
    yield pg.clone(name, LOCAL_FIXTURES / "subset_awkward.sql")
    pg.drop(name)


@pytest.fixture(scope="module")
def tiny_src(pg: PgServer, run_id: str) -> Any:
    """Read only: every test here leaves it as it is."""
    name = f"dct_{run_id}_sub_tiny"
    yield pg.clone(name, TINY_SQL)
    pg.drop(name)


def _config(folder: Path, source: str, rules: Path | None, target: str, subset: str) -> Path:
    if rules is None:
        rules = folder / "rules.yml"
        rules.write_text(TINY_RULES)
    cfg = write_config(folder, source, rules, {"dev": target}, secret=SECRET)
    cfg.write_text(cfg.read_text() + "    subset:\n" + subset)
    return cfg


def _refresh(
    folder: Path, source: str, rules: Path | None, target: str, subset: str, **options: Any
) -> dict:
    """The runtime's refresh, in-process; the report as --json prints it."""
    cfg = _config(folder, source, rules, target, subset)
    report = runtime.refresh(load_config(cfg), "dev", QuietProgress(), lambda _: None, **options)
    return json.loads(report.to_json())


def _counts(report: dict) -> dict[str, int]:
    return {t["table"]: t["rows"] for t in report["tables"]}


def _rows(pg: PgServer, db: str, query: str) -> list[tuple[Any, ...]]:
    with pg.connect(db) as conn:
        return conn.execute(query).fetchall()


def _db(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _invalid_or_missing_fks(pg: PgServer, source: str, target: str) -> tuple[int, list[Any]]:
    """(foreign keys in the source, those missing or not validated in the target)."""
    query = (
        "SELECT conrelid::regclass::text, conname, convalidated FROM pg_constraint "
        "WHERE contype = 'f' ORDER BY 1, 2"
    )
    src = {(t, c) for t, c, _ in _rows(pg, source, query)}
    dst = {(t, c): ok for t, c, ok in _rows(pg, target, query)}
    return len(src), [k for k in src if not dst.get(k)]


def _start_set(pg: PgServer, db: str, table: str, key: str, share: float) -> set[Any]:
    threshold = int(share / 100 * 2**60)
    salt = subset_salt(SECRET.encode())
    with pg.connect(db) as conn:
        rows = conn.execute(
            f"SELECT {key} FROM {table} r WHERE ('x' || substr(md5(%s || ROW(r.{key})::text), "
            "1, 15))::bit(60)::bigint < %s",
            (salt, threshold),
        ).fetchall()
    return {r[0] for r in rows}


AWKWARD = (
    "      public.users: 20%\n      all: [public.plans]\n      children: {public.audit_log: 2}\n"
)


def test_awkward_keys_all_validate_and_rows_are_the_start_and_what_it_needs(
    pg, awkward_src, target_name, tmp_path
):
    """Through the CLI, as a user runs it (the other refreshes here run in-process)."""
    cfg = _config(tmp_path, awkward_src, AWKWARD_RULES, pg.url(target_name), AWKWARD)
    result = run_cli("refresh", "dev", "--config", str(cfg), "--yes", "--json")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    report = json.loads(result.stdout)
    src_db = _db(awkward_src)
    total, bad = _invalid_or_missing_fks(pg, src_db, target_name)
    assert total >= 12 and bad == []  # created after the data, every one validated
    counts = _counts(report)
    start = _start_set(pg, src_db, "users", "id", 20)
    assert abs(len(start) - 2000) <= 100  # 20% of 10000, within 5%
    users = {r[0] for r in _rows(pg, target_name, "SELECT id FROM users")}
    assert start <= users
    assert counts["public.users"] == len(users) < 10000 * 0.5
    # every child of a start row is there; no child of a row kept only as a parent
    src_orders = _rows(pg, src_db, "SELECT id, user_id FROM orders")
    dst_orders = {r[0] for r in _rows(pg, target_name, "SELECT id FROM orders")}
    assert {o for o, u in src_orders if u in start} <= dst_orders
    kept_only_up = users - start
    assert kept_only_up  # managers, coupon authors, employees' users
    dst_user_of = dict(_rows(pg, target_name, "SELECT id, user_id FROM orders"))
    # an order of a user kept only as a parent is there only when something references it
    up_orders = {o for o, u in dst_user_of.items() if u in kept_only_up}
    assert up_orders == set()
    lines = _rows(pg, target_name, "SELECT count(*) FROM order_lines")[0][0]
    assert lines == 2 * len(dst_orders)
    # children: at most 2 audit rows per user
    per_user = _rows(
        pg, target_name, "SELECT max(n) FROM (SELECT count(*) n FROM audit_log GROUP BY user_id) s"
    )
    assert per_user[0][0] <= 2
    assert counts["public.plans"] == 5  # all: copied whole
    assert counts["public.lonely"] == 10  # disconnected: all (the default)
    # partitions: events of kept users in both, their tags too
    assert counts["public.events_2023"] > 0 and counts["public.events_2024"] > 0
    # the manager chain is whole: every kept user's manager is kept
    assert (
        _rows(
            pg,
            target_name,
            "SELECT count(*) FROM users u WHERE manager_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM users m WHERE m.id = u.manager_id)",
        )[0][0]
        == 0
    )
    # no schema of datacloner's own left behind
    assert (
        _rows(pg, target_name, "SELECT count(*) FROM pg_namespace WHERE nspname = '__dc_subset'")[
            0
        ][0]
        == 0
    )


def test_pagila_rentals_share_and_every_key_validates(pg, pagila_src, target_name, tmp_path):
    """Pagila: payments are partitioned, customers and staff reference each
    other through stores and addresses; 10% of the rentals as the start."""
    report = _refresh(
        tmp_path,
        pagila_src,
        RULES / "pagila.yml",
        pg.url(target_name),
        "      public.rental: 10%\n",
    )
    src_db = _db(pagila_src)
    total, bad = _invalid_or_missing_fks(pg, src_db, target_name)
    assert total > 10 and bad == []
    counts = _counts(report)
    start = _start_set(pg, src_db, "rental", "rental_id", 10)
    # rentals come only as start rows (payments reference them, but come down from them)
    dst = {r[0] for r in _rows(pg, target_name, "SELECT rental_id FROM rental")}
    assert dst == start and abs(len(dst) - 1604.4) <= 80
    assert counts["public.rental"] == len(dst)
    # every payment of a kept rental is there; payment_p2022_07 declares no
    # foreign key, so no start reaches it: copied whole (disconnected: all)
    kept = "ARRAY[" + ",".join(map(str, sorted(start))) + "]"
    linked = "tableoid <> 'payment_p2022_07'::regclass"
    want = _rows(
        pg, src_db, f"SELECT count(*) FROM payment WHERE rental_id = ANY({kept}) AND {linked}"
    )
    got = _rows(pg, target_name, f"SELECT count(*) FROM payment WHERE {linked}")
    assert got == want
    assert (
        counts["public.payment_p2022_07"]
        == _rows(pg, src_db, "SELECT count(*) FROM payment_p2022_07")[0][0]
    )


def test_northwind_orders_share_and_every_key_validates(pg, northwind_src, target_name, tmp_path):
    report = _refresh(
        tmp_path,
        northwind_src,
        RULES / "northwind.yml",
        pg.url(target_name),
        "      public.orders: 20%\n",
    )
    src_db = _db(northwind_src)
    total, bad = _invalid_or_missing_fks(pg, src_db, target_name)
    assert total > 5 and bad == []
    counts = _counts(report)
    start = _start_set(pg, src_db, "orders", "order_id", 20)
    assert abs(len(start) - 830 * 0.2) <= 830 * 0.2 * 0.15  # 830 rows: a wider margin
    assert {r[0] for r in _rows(pg, target_name, "SELECT order_id FROM orders")} == start
    assert counts["public.orders"] == len(start)
    assert counts["public.order_details"] > counts["public.orders"]


def test_the_same_rows_every_run_and_new_rows_never_displace_old(pg, run_id, target_name, tmp_path):
    """The second run copies with --jobs 2: workers read the same selection."""
    name = f"dct_{run_id}_sub_grow"
    source = pg.clone(name, TINY_SQL)  # a private copy: rows are added to it
    try:
        subset = "      public.users: 10%\n"
        ids = "SELECT array_agg(id ORDER BY id) FROM users"
        orders = "SELECT array_agg(id ORDER BY id) FROM orders"
        _refresh(tmp_path, source, None, pg.url(target_name), subset)
        first = _rows(pg, target_name, ids)[0][0], _rows(pg, target_name, orders)[0][0]
        with pg.connect(name) as conn:  # new users, each the report of an existing one
            conn.execute(
                "INSERT INTO users SELECT i, i / 2, 'u' || i FROM generate_series(3001, 6000) i"
            )
        # --jobs workers, each selected table split into ranges of heap blocks:
        # the same rows as one job
        _refresh(tmp_path, source, None, pg.url(target_name), subset, jobs=2, split_rows=1)
        # the orders (all of old users) are the very same: the old rows' choice did not
        # change; every user chosen before is still there, and some new ones too
        assert _rows(pg, target_name, orders)[0][0] == first[1]
        after = set(_rows(pg, target_name, ids)[0][0])
        assert set(first[0]) <= after and max(after) > 3000
    finally:
        pg.drop(name)


def test_nullable_null_clears_keys_instead_of_pulling_parents(pg, tiny_src, target_name, tmp_path):
    subset = "      public.users: 10%\n      nullable: null\n"
    _refresh(tmp_path, tiny_src, None, pg.url(target_name), subset)
    start = _start_set(pg, _db(tiny_src), "users", "id", 10)
    assert abs(len(start) - 300) <= 15  # 10% of 3000, within 5%
    users = dict(_rows(pg, target_name, "SELECT id, manager_id FROM users"))
    assert set(users) == start  # no manager pulled in
    assert any(m is None for u, m in users.items() if u > 1)  # cleared, not dangling
    assert all(m is None or m in users for m in users.values())
    _, bad = _invalid_or_missing_fks(pg, _db(tiny_src), target_name)
    assert bad == []


def test_max_rows_stops_before_loading(pg, tiny_src, target_name, tmp_path):
    subset = "      public.users: 10%\n      max_rows: 100\n"
    with pytest.raises(DataclonerError) as caught:
        _refresh(tmp_path, tiny_src, None, pg.url(target_name), subset)
    assert caught.value.exit_code == 1  # the CLI exits with it (cli/app.py `run`)
    assert "over max_rows (100)" in caught.value.message
    assert "nothing was loaded" in caught.value.message
    assert not pg.exists(target_name) and not pg.exists(target_name + "__dc_new")


def test_unknown_tables_and_bad_where_are_named_at_their_line(pg, tiny_src, target_name, tmp_path):
    subset = "      public.user: 10%\n      empty: [public.order]\n"
    cfg = _config(tmp_path, tiny_src, None, pg.url(target_name), subset)
    with pytest.raises(DataclonerError) as caught:
        runtime.check(load_config(cfg))
    assert caught.value.exit_code == 2
    message = caught.value.message
    assert f"{cfg}:8: subset: table public.user is not in the source; did you mean" in message
    assert f"{cfg}:9: subset: table public.order is not in the source; did you mean" in message
    assert "public.orders" in message
    subset = '      public.users: {where: "nope > 3"}\n'
    with pytest.raises(DataclonerError) as caught:
        _refresh(tmp_path, tiny_src, None, pg.url(target_name), subset)
    assert caught.value.exit_code == 2
    assert f"{cfg}:8: subset: `where` of public.users is not a valid condition" in (
        caught.value.message
    )
    assert "nope" in caught.value.message
    assert not pg.exists(target_name)


def test_a_where_start_with_a_limit_and_a_like_pattern(pg, tiny_src, target_name, tmp_path):
    subset = "      public.users: {where: \"email LIKE 'u1%'\", limit: 50}\n"
    report = _refresh(tmp_path, tiny_src, None, pg.url(target_name), subset)
    owners = _rows(
        pg, target_name, "SELECT DISTINCT u.email FROM orders o JOIN users u ON u.id = o.user_id"
    )
    assert len(owners) == 50 and all(e.startswith("u1") for (e,) in owners)
    assert _counts(report)["public.orders"] == 100  # every order of the 50 (two each)


def test_a_table_copied_whole_pulls_up_what_it_references(pg, tiny_src, target_name, tmp_path):
    subset = "      public.users: 1%\n      all: [public.orders]\n"
    report = _refresh(tmp_path, tiny_src, None, pg.url(target_name), subset)
    counts = _counts(report)
    assert counts["public.orders"] == 6000
    # orders reference every user: all of them come up (and the keys validate)
    assert counts["public.users"] == 3000
    _, bad = _invalid_or_missing_fks(pg, _db(tiny_src), target_name)
    assert bad == []


def test_check_shows_the_plan_before_any_row_moves(pg, tiny_src, target_name, tmp_path):
    """Through the CLI: what `check` prints, and that it copies nothing."""
    cfg = write_config(tmp_path, tiny_src, tmp_path / "rules.yml", {"dev": pg.url(target_name)})
    (tmp_path / "rules.yml").write_text(TINY_RULES)
    cfg.write_text(cfg.read_text() + "    subset: {public.users: 10%}\n")
    result = run_cli("check", "--config", str(cfg), "--sample", "0")
    assert result.returncode == 0, result.stderr
    assert "subset of dev:\n  start public.users: 10%\n" in result.stdout
    assert "pulls down: public.orders" in result.stdout
    assert "public.users: start: ~300 of ~3000" in result.stdout
    assert not pg.exists(target_name)
