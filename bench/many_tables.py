"""A schema of many small tables, to measure per-table overhead (issue 15).

    python bench/many_tables.py --db dc_many --tables 1000 --rows 40 --out /tmp/many
    python bench/many_tables.py --url postgresql://postgres@127.0.0.1:5432/postgres \\
        --db dc_many --target dc_many_copy --out /tmp/many --recreate

From Python (what ``make bench`` uses)::

    from bench.many_tables import build
    config = build(source_url, folder, target_url, tables=1000, rows=40)

``build`` creates the tables in ``source_url``'s database (which must exist;
``create_database`` makes one) and writes ``folder/datacloner.yml`` and
``folder/rules.yml``, the rules covering every column (``strict: true``), and
returns the config's path. The same ``tables`` always gives the same schema,
rows and rules.

Four shapes, in turn (table ``i`` has shape ``i % 4``):

- ``customer_NNNN``: serial key, email (unique, masked), name and phone
  (masked), created_at; an index on created_at;
- ``orders_NNNN``: bigserial key, a foreign key to the customer table just
  before it, amount, status, a free-text note (scrubbed); an index on the
  foreign key;
- ``lookup_NNNN``: a text primary key and a label, all kept;
- ``event_NNNN``: no primary key, an identity column, a foreign key to the
  orders table before it, a jsonb payload with an email inside (masked by
  path), a timestamp; an index on (kind, at).

1,000 tables of 40 rows hold 40,000 rows: small enough that what a run costs
per table, not per row, is what the benchmark sees.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

SHAPES = ("customer", "orders", "lookup", "event")
SECRET = "datacloner-many-tables-secret-not-for-production"
# tables created per transaction: each holds locks on its table, sequence and
# indexes until commit, and max_locks_per_transaction is finite
CHUNK = 100


def table_name(i: int) -> str:
    """The name of table ``i`` (0-based), e.g. ``orders_0001``."""
    return f"{SHAPES[i % 4]}_{i:04d}"


def _ddl(i: int, rows: int) -> str:
    """CREATE and fill table ``i``; its foreign keys point at tables before it."""
    name = table_name(i)
    shape = i % 4
    if shape == 0:
        return (
            f"CREATE TABLE {name} (id serial PRIMARY KEY, email text NOT NULL UNIQUE, "
            f"full_name text, phone text, created_at timestamptz NOT NULL DEFAULT now());\n"
            f"CREATE INDEX {name}_created ON {name} (created_at);\n"
            f"INSERT INTO {name} (email, full_name, phone, created_at) "
            f"SELECT 'user' || g || '.t{i}@example.com', 'Person ' || g, "
            f"'+1 555 01' || lpad((g % 100)::text, 2, '0'), "
            f"timestamptz '2024-01-01' + g * interval '1 hour' "
            f"FROM generate_series(1, {rows}) g;\n"
        )
    if shape == 1:
        parent = table_name(i - 1)
        return (
            f"CREATE TABLE {name} (id bigserial PRIMARY KEY, "
            f"customer_id int NOT NULL REFERENCES {parent} (id), amount numeric(10,2), "
            f"status text NOT NULL, note text);\n"
            f"CREATE INDEX {name}_customer ON {name} (customer_id);\n"
            f"INSERT INTO {name} (customer_id, amount, status, note) "
            f"SELECT 1 + g % {rows}, (g * 7 % 1000) / 10.0, "
            f"(ARRAY['new','paid','shipped'])[1 + g % 3], "
            f"CASE WHEN g % 3 = 0 THEN 'call me at user' || g || '@example.com' END "
            f"FROM generate_series(1, {rows}) g;\n"
        )
    if shape == 2:
        return (
            f"CREATE TABLE {name} (code text PRIMARY KEY, label text NOT NULL);\n"
            f"INSERT INTO {name} SELECT 'c' || g, 'label ' || g "
            f"FROM generate_series(1, {rows}) g;\n"
        )
    orders = table_name(i - 2)
    return (
        f"CREATE TABLE {name} (seq int GENERATED ALWAYS AS IDENTITY, "
        f"order_id bigint REFERENCES {orders} (id), kind text NOT NULL, payload jsonb, "
        f"at timestamptz NOT NULL);\n"
        f"CREATE INDEX {name}_kind_at ON {name} (kind, at);\n"
        f"INSERT INTO {name} (order_id, kind, payload, at) "
        f"SELECT 1 + g % {rows}, (ARRAY['view','click'])[1 + g % 2], "
        f"jsonb_build_object('by', 'user' || g || '@example.com', 'n', g), "
        f"timestamptz '2024-02-01' + g * interval '1 minute' "
        f"FROM generate_series(1, {rows}) g;\n"
    )


def create_tables(url: str, tables: int = 1000, rows: int = 40) -> None:
    """Create and fill ``tables`` tables of ``rows`` rows each in the database
    at ``url`` (its ``public`` schema, which should hold none of these names)."""
    if tables < 1 or rows < 1:
        raise ValueError("tables and rows must be at least 1")
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, tables, CHUNK):
            script = "".join(_ddl(i, rows) for i in range(start, min(start + CHUNK, tables)))
            with conn.transaction():
                conn.execute(script.encode())
        conn.execute("ANALYZE")  # row estimates, as a production catalog has them


def rules_text(tables: int) -> str:
    """The rules for the schema of ``tables`` tables: every column masked or kept."""
    lines = [
        "# Generated by bench/many_tables.py: every column masked or kept.",
        "strict: true",
        "tables:",
    ]
    for i in range(tables):
        name = table_name(i)
        lines.append(f"  public.{name}:")
        shape = i % 4
        if shape == 0:
            lines += [
                "    mask:",
                "      email: {faker: email, unique: true}",
                "      full_name: name",
                "      phone: phone_number",
                "    keep: [id, created_at]",
            ]
        elif shape == 1:
            lines += [
                "    mask:",
                "      note: {scrub: [email]}",
                "    keep: [id, customer_id, amount, status]",
            ]
        elif shape == 2:
            lines.append("    keep: [code, label]")
        else:
            lines += [
                "    mask:",
                "      payload:",
                "        json:",
                "          by: {faker: email}",
                "    keep: [seq, order_id, kind, at]",
            ]
    return "\n".join(lines) + "\n"


def write_config(folder: Path, source_url: str, target_url: str, tables: int) -> Path:
    """``folder/datacloner.yml`` (environment ``many`` = ``target_url``) and
    ``folder/rules.yml``; returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(rules_text(tables))
    config = folder / "datacloner.yml"
    config.write_text(
        f"source: {source_url}\n"
        f"secret: ${{DATACLONER_SECRET:-{SECRET}}}\n"
        "rules: rules.yml\n"
        "environments:\n"
        f"  many: {{url: {target_url}}}\n"
    )
    return config


def build(
    source_url: str, folder: Path, target_url: str, *, tables: int = 1000, rows: int = 40
) -> Path:
    """Create the schema in ``source_url``'s (existing, empty) database and
    write its config and rules into ``folder``; returns the config's path
    (refresh it with ``datacloner refresh many -c PATH --yes``)."""
    create_tables(source_url, tables, rows)
    return write_config(folder, source_url, target_url, tables)


def database_url(server_url: str, dbname: str) -> str:
    """``server_url`` with its database replaced by ``dbname``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def create_database(server_url: str, dbname: str, *, recreate: bool = False) -> str:
    """Create database ``dbname`` on ``server_url``'s server (dropped first with
    ``recreate``); returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if recreate:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return database_url(server_url, dbname)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database on the server (the new databases are created beside it)",
    )
    parser.add_argument("--db", required=True, help="the source database to create")
    parser.add_argument("--target", help="the target database's name (default: DB_copy)")
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=40, help="rows per table")
    parser.add_argument("--out", type=Path, required=True, help="folder for the config and rules")
    parser.add_argument("--recreate", action="store_true", help="drop DB first if it exists")
    args = parser.parse_args(argv)
    source = create_database(args.url, args.db, recreate=args.recreate)
    target = database_url(args.url, args.target or f"{args.db}_copy")
    config = build(source, args.out, target, tables=args.tables, rows=args.rows)
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
