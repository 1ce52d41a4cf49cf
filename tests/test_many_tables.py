"""Thousands of tables (issue 15): what a run asks the catalog, and what it
prints, must not grow with the number of tables (docs/performance.md,
"Thousands of tables")."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import psycopg
import pytest
from rich.console import Console

from datacloner.core.progress import LineProgress, LiveProgress, RichProgress
from datacloner.engines.postgres.source import PgSource
from datacloner.engines.postgres.verify import PgSampler, PgTargetReader

TABLES = 300


def _schema(tables: int) -> str:
    """``tables`` tables, each with a serial key, a text column and a foreign
    key to the one before: what the catalog read joins (varchar(60): no TOAST
    table, so the schema is quick to create and to drop)."""
    parts = []
    for i in range(tables):
        ref = f", parent int REFERENCES t{i - 1} (id)" if i else ""
        parts.append(
            f"CREATE TABLE t{i} (id serial PRIMARY KEY, email varchar(60){ref});"
            f"INSERT INTO t{i} (email) VALUES ('a{i}@example.com');"
        )
    return "".join(parts)


@pytest.fixture(scope="module")
def many(pg, run_id) -> Iterator[str]:
    name = f"dct_{run_id}_many"
    url = pg.create(name)
    with pg.connect(name) as conn, conn.transaction():
        conn.execute(_schema(TABLES).encode())
    yield url
    pg.drop(name)


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """The text of every statement psycopg sends from this process."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def]
        text = query if isinstance(query, str | bytes) else query.as_string(self.connection)
        sent.append(text.decode() if isinstance(text, bytes) else text)
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    return sent


def _catalog_reads(sent: list[str]) -> int:
    return sum(1 for s in sent if re.search(r"\bpg_(class|attribute|index|constraint)\b", s))


def test_300_tables_and_their_sequences_are_read_in_a_few_queries(many, statements):
    source = PgSource(many)
    statements.clear()
    try:
        catalog = source.read_catalog()
        sequences = source.sequences()
    finally:
        source.close()
    assert len(catalog.tables) == TABLES and len(sequences) == TABLES
    last = catalog.tables[("public", f"t{TABLES - 1}")]
    assert last.primary_key == ["id"] and last.references == {("public", f"t{TABLES - 2}")}
    assert all(value == 1 and called for _, _, value, called in sequences)
    # a query per table (or per sequence) would be hundreds
    assert len(statements) <= 8, len(statements)


def test_verify_reads_the_catalog_once_not_per_column(many, statements):
    """Sampling masked columns of 40 tables and reading target rows by key:
    the columns' types come from one catalog query on each side."""
    source = PgSource(many)
    catalog = source.read_catalog()
    sampler = PgSampler(source)
    reader = PgTargetReader(many)  # the source stands in for a target
    statements.clear()
    try:
        for i in range(0, TABLES, TABLES // 40):
            table = catalog.tables[("public", f"t{i}")]
            email = table.column("email")
            assert email is not None
            assert sampler.sample(table, email, 10, None, None) == [f"a{i}@example.com"]
            key, rows = sampler.sample_rows(table, email, 10, None, None) or ([], [])
            assert key == ["id"] and len(rows) == 1
            keys = [k for k, _ in rows]
            assert reader.rows(table.schema, table.name, "email", key, keys, None) == dict(rows)
    finally:
        sampler.close()
        reader.close()
    assert _catalog_reads(statements) == 2, [s for s in statements if "pg_" in s]


def _feed(progress, tables: int) -> None:
    progress.stage("pre-data")
    for i in range(tables):
        progress.stage("data")  # once per table, as a one-job refresh says it
        progress.start_table(f"public.table_{i:04d}", 40)
        progress.advance(25)
        progress.advance(15)
        progress.end_table(40)
    for stage in ("post-data", "hooks", "manifest", "swap"):
        progress.stage(stage)
    progress.close()


class _Clock:
    """Time that moves 2 ms per look: a 3,000-table run takes half a minute."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.002
        return self.now


def test_plain_progress_lines_grow_with_time_and_stages_not_tables():
    out = io.StringIO()
    console = Console(file=out, width=100)
    assert isinstance(RichProgress(console), LineProgress)  # not a terminal: plain lines
    sizes = {}
    for tables in (30, 3000):
        out.seek(0)
        out.truncate()
        clock = _Clock()
        _feed(LineProgress(Console(file=out, width=100), every=5.0, clock=clock), tables)
        text = out.getvalue()
        sizes[tables] = len(text)
        lines = text.splitlines()
        # each stage said once, in order, and the last data line has the totals
        said = [line.split(" ", 1)[1] for line in lines if re.fullmatch(r"\S+ [a-z-]+", line)]
        assert said == ["pre-data", "data", "post-data", "hooks", "manifest", "swap"]
        assert f"data: {tables:,} tables, {tables * 40:,} rows done" in text
        # at most a line per 5 s of the run (the clock ran clock.now seconds)
        assert len(lines) <= 7 + clock.now / 5
    assert sizes[3000] < 4096, sizes  # the 3,000 tables' names are not all printed


def test_the_live_view_draws_the_same_size_at_the_first_and_the_thousandth_table():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = RichProgress(console)
    assert isinstance(progress, LiveProgress)
    heights = []
    try:
        for i in range(1000):
            progress.start_table(f"public.table_{i:04d}", 40)
            progress.advance(40)
            if i in (0, 999):
                heights.append(len(console.render_lines(progress._render(), pad=False)))
            progress.end_table(40)
        assert "1,000 tables, 40,000 rows done" in progress.tally.summary()
    finally:
        progress.close()
    assert heights[0] == heights[1] <= 1 + 5, heights
