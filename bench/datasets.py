"""The benchmark's source databases, their datacloner configs, and checks on the copies.

- ``users``: bench/make_db.sql with N users (8N + 1,016 rows in seven tables,
  free text and jsonb), masked by bench/rules.yml;
- ``tables``: bench/many_tables.py, a schema of many small tables.

A built database carries a fingerprint in its comment (the generator's digest
and size) and is reused by the next run when it matches.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import yaml
from harness import BENCH, Server, log, run
from psycopg import sql

MAKE_DB = BENCH / "make_db.sql"
RULES = BENCH / "rules.yml"
SECRET = "datacloner-bench-secret-not-for-production"
TABLE_ROWS = 40  # rows per table of the many-tables schema


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def ensure_users(server: Server, name: str, users: int, rebuild: bool) -> None:
    """Build ``name`` from make_db.sql unless it exists from the same script and size."""
    fingerprint = f"datacloner bench users={users} make_db={_digest(MAKE_DB)}"
    if not rebuild and server.comment(name) == fingerprint:
        log(f"{name}: reusing (built from the same make_db.sql)")
        return
    log(f"{name}: building {users:,} users ...")
    server.create(name)
    began = time.perf_counter()
    run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"users={users}"]
        + ["-d", name, "-f", str(MAKE_DB)],
        server.env(),
    )
    server.set_comment(name, fingerprint)
    log(f"{name}: built in {time.perf_counter() - began:.1f} s")


def ensure_tables(server: Server, name: str, tables: int, rebuild: bool) -> None:
    """Build ``name`` with bench/many_tables.py unless it exists from the same generator."""
    fingerprint = (
        f"datacloner bench tables={tables} rows={TABLE_ROWS} "
        f"many_tables={_digest(BENCH / 'many_tables.py')}"
    )
    if not rebuild and server.comment(name) == fingerprint:
        log(f"{name}: reusing (built by the same many_tables.py)")
        return
    import many_tables  # bench/many_tables.py: only when this data set is asked for

    log(f"{name}: building {tables:,} tables ...")
    server.create(name)
    began = time.perf_counter()
    many_tables.create_tables(server.url(name), tables, TABLE_ROWS)
    with server.connect(name) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE)")  # as make_db.sql: no hint bits left to set
    server.set_comment(name, fingerprint)
    log(f"{name}: built in {time.perf_counter() - began:.1f} s")


def users_config(
    folder: Path, source: str, target: str, subset: dict[str, str] | None = None
) -> tuple[Path, str]:
    """A config refreshing ``source`` into environment ``bench`` through bench/rules.yml."""
    env: dict[str, Any] = {"url": target}
    if subset:
        env["subset"] = subset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("datacloner-subset.yml" if subset else "datacloner.yml")
    path.write_text(
        yaml.safe_dump(
            {
                "source": source,
                "secret": SECRET,
                "rules": str(RULES),
                "environments": {"bench": env},
            },
            sort_keys=False,
        )
    )
    return path, "bench"


def tables_config(folder: Path, source: str, target: str, tables: int) -> tuple[Path, str]:
    """many_tables.py's own config and rules (environment ``many``)."""
    import many_tables

    return many_tables.write_config(folder / "many", source, target, tables), "many"


def row_counts(server: Server, db: str) -> dict[str, int]:
    """Exact rows of every table outside the system schemas (and datacloner's own
    manifest schema), in one statement
    (reading every table also warms the OS cache before the first timed step)."""
    with server.connect(db) as conn:
        names = [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'datacloner') "
                "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
            )
        ]
        if not names:
            return {}
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, count(*) FROM {}").format(
                sql.Literal(f"{schema}.{table}"), sql.Identifier(schema, table)
            )
            for schema, table in names
        )
        return {r[0]: int(r[1]) for r in conn.execute(query)}


def same_rows(server: Server, source: dict[str, int], copy_db: str) -> str:
    """'' when ``copy_db`` holds the source's tables with the same row counts, else why not."""
    copy = row_counts(server, copy_db)
    if copy == source:
        return ""
    missing = sorted(set(source) - set(copy))
    if missing:
        return f"{len(missing)} tables missing (e.g. {missing[0]})"
    differ = [t for t in source if copy.get(t) != source[t]]
    if differ:
        t = differ[0]
        return f"{len(differ)} tables differ in rows (e.g. {t}: {copy.get(t)} of {source[t]})"
    return f"{len(set(copy) - set(source))} extra tables"


def check_masked(server: Server, src: str, dst: str) -> dict[str, bool]:
    """Joins by value hold in the masked users copy, and no sampled source email is left."""
    with server.connect(dst) as conn:

        def one(query: str, *args: Any) -> int:
            row = conn.execute(query, args or None).fetchone()
            return int(row[0]) if row else 0

        audit = one("SELECT count(*) FROM audit_log")
        joined = one("SELECT count(*) FROM audit_log a JOIN users u ON u.email = a.actor")
        users = one("SELECT count(*) FROM users")
        profile = one("SELECT count(*) FROM users WHERE profile->'contact'->>'email' = email")
        with server.connect(src) as source:
            sample = [
                r[0]
                for r in source.execute(
                    "SELECT email FROM users TABLESAMPLE SYSTEM (5) REPEATABLE (1) LIMIT 1000"
                )
            ]
        left = one(
            "SELECT (SELECT count(*) FROM users WHERE email = ANY(%s)) "
            "+ (SELECT count(*) FROM audit_log WHERE actor = ANY(%s))",
            sample,
            sample,
        )
    return {
        "audit_log.actor joins users.email": audit > 0 and joined == audit,
        "profile.contact.email = users.email": users > 0 and profile == users,
        f"none of {len(sample)} sampled source emails left": bool(sample) and left == 0,
    }
