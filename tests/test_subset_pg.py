"""Subsetting on PostgreSQL, end to end through the CLI (docs/subset.md):
every foreign key validates on the target, the start share holds, the same
rows come back every run, and new source rows never displace chosen ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datacloner.subset.select import subset_salt
from tests.conftest import LOCAL_FIXTURES, PgServer
from tests.helpers import run_cli, write_config

SECRET = "test-secret-0123456789"
AWKWARD_RULES = LOCAL_FIXTURES / "subset_awkward.yml"


@pytest.fixture(scope="module")
def awkward_src(pg: PgServer, run_id: str) -> Any:
    name = f"dct_{run_id}_sub_awk"
    url = pg.create(name, LOCAL_FIXTURES / "subset_awkward.sql")
    yield url
    pg.drop(name)


def _refresh(folder: Path, source: str, rules: Path, target: str, subset: str) -> dict[str, Any]:
    cfg = write_config(folder, source, rules, {"dev": target}, secret=SECRET)
    cfg.write_text(cfg.read_text() + "    subset:\n" + subset)
    result = run_cli("refresh", "dev", "--config", str(cfg), "--yes", "--json")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    return json.loads(result.stdout)


def _rows(pg: PgServer, db: str, query: str) -> list[tuple[Any, ...]]:
    with pg.connect(db) as conn:
        return conn.execute(query).fetchall()


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
    report = _refresh(tmp_path, awkward_src, AWKWARD_RULES, pg.url(target_name), AWKWARD)
    src_db = awkward_src.rsplit("/", 1)[1]
    total, bad = _invalid_or_missing_fks(pg, src_db, target_name)
    assert total >= 12 and bad == []  # created after the data, every one validated
    counts = {t["table"]: t["rows"] for t in report["tables"]}
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
