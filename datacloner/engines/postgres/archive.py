"""PostgreSQL and the masked archive: writing one from a source, and an
archive standing in for the source when a target is built from it.

An archive's schema is never given to psql: its statements, split and checked
by archive_sql before the new database exists, are sent one by one over the
extended protocol (which refuses two statements in one message), so no client
meta-command can run and no statement can hide behind another."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import psycopg

from datacloner.archive.format import STATE, ArchiveReader, ArchiveTable, ArchiveWriter
from datacloner.archive.sql import Statement
from datacloner.core import redaction
from datacloner.core.catalog import Column, QualifiedName, Table
from datacloner.core.errors import Refused
from datacloner.core.plan import Plan, TablePlan
from datacloner.core.progress import ProgressSink
from datacloner.engines.base import Advance, Section
from datacloner.engines.postgres.build import PgTargetBuild
from datacloner.engines.postgres.connection import conn_params, connect, maintenance_params
from datacloner.engines.postgres.engine import PostgresEngine
from datacloner.engines.postgres.source import PgSource
from datacloner.masking.table_masker import TableMasker


def write_archive(
    source: PgSource,
    plan: Plan,
    maskers: dict[int, TableMasker],
    writer: ArchiveWriter,
    batch_size: int,
    progress: ProgressSink,
) -> None:
    """Schema, masked rows and state of ``source`` into ``writer``."""
    writer.write_bytes("schema/pre-data.sql", source.schema_sql("pre-data"))
    for number, tp in enumerate(plan.copied, start=1):
        table = ArchiveTable(
            schema=tp.table.schema,
            name=tp.table.name,
            columns=[c.name for c in tp.columns],
            member=f"data/{number:05d}.copy",
            masked_columns=tp.masked_columns,
        )

        def counted(n: int, table: ArchiveTable = table) -> None:
            table.rows += n
            progress.advance(n)

        progress.start_table(tp.name, tp.table.row_estimate)
        writer.add_table(table, source.masked_copy(tp, maskers[id(tp)], batch_size, counted))
        progress.end_table(table.rows)
    writer.write_bytes("schema/post-data.sql", source.schema_sql("post-data"))
    encoding, collate, ctype = source.database_settings()
    state = {
        "database": {"encoding": encoding, "collate": collate, "ctype": ctype},
        "sequences": source.sequences(),
        "populated_matviews": sorted(source.populated_matviews()),
        "not_valid_constraints": sorted(source.not_valid_constraints()),
    }
    writer.write_bytes(STATE, json.dumps(state).encode())


class ArchiveSource:
    """What a target build reads from a source, read from an archive instead.
    Its rows are already masked: they are streamed as they are."""

    def __init__(self, reader: ArchiveReader) -> None:
        self.reader = reader
        self.state = reader.state()
        self.members = {(t.schema, t.name): t.member for t in reader.tables}

    def identity(self) -> dict[str, str]:
        return {**self.reader.manifest.get("source", {}), "archive": str(self.reader.path)}

    def table_plans(self) -> list[TablePlan]:
        return [
            TablePlan(
                table=Table(
                    schema=t.schema,
                    name=t.name,
                    columns=[Column(c, "") for c in t.columns],
                    row_estimate=t.rows,
                ),
                skip=False,
                columns=[Column(c, "") for c in t.columns],
            )
            for t in self.reader.tables
        ]

    def database_settings(self) -> tuple[str, str, str]:
        db = self.state["database"]
        return db["encoding"], db["collate"], db["ctype"]

    def schema_statements(self, section: Section) -> list[Statement]:
        """Checked when the archive was verified (archive_sql)."""
        return self.reader.schema[f"schema/{section}.sql"]

    def masked_copy(
        self,
        plan: TablePlan,
        masker: TableMasker,
        batch_size: int,
        advance: Advance,
        key_range: object = None,  # archives are read whole
    ) -> Iterator[bytes]:
        for chunk in self.reader.stream(self.members[plan.table.qualified]):
            yield chunk
            advance(chunk.count(b"\n"))

    def sequences(self) -> list[tuple[str, str, int, bool]]:
        return [tuple(s) for s in self.state["sequences"]]  # type: ignore[misc]

    def populated_matviews(self) -> set[QualifiedName]:
        return {(s, n) for s, n in self.state["populated_matviews"]}

    def not_valid_constraints(self) -> set[tuple[str, str]]:
        return {(t, c) for t, c in self.state["not_valid_constraints"]}


class ArchiveTargetBuild(PgTargetBuild):
    """A target build whose schema comes from an archive's checked statements."""

    source: ArchiveSource  # type: ignore[assignment]

    def load_schema(self, section: Section) -> None:
        assert self.conn is not None
        self.conn.commit()
        member = f"schema/{section}.sql"
        # a session of its own, as psql's was: pg_dump's SETs stay in it
        conn = connect({**self.params, "dbname": self.name}, "new target", autocommit=False)
        try:
            cursor = conn.cursor(binary=True)  # binary: always the extended protocol
            # the lexer that split the statements assumed it; never the server's default
            cursor.execute(b"SET standard_conforming_strings = on")
            for statement in self.source.schema_statements(section):
                try:
                    cursor.execute(statement.text)
                except psycopg.Error as exc:
                    hint = "the target server may lack an extension or role the source uses"
                    if (exc.sqlstate or "").startswith("23"):
                        hint = (
                            "the target was not changed; masked values break that constraint: "
                            "give the column's rule `unique: true`, or a rule whose values do "
                            "not repeat, and dump again"
                        )
                    raise Refused(  # as refresh words it, never quoting a value
                        f"restoring {member}:{statement.line} into the new database failed: "
                        f"{redaction.database_error(exc)}",
                        hint=hint,
                    ) from None
            conn.commit()
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.close()


class ArchiveEngine(PostgresEngine):
    """PostgreSQL, building targets from an archive: the same lifecycle
    (EngineBase.build_target), with the archive's schema loading."""

    build_class = ArchiveTargetBuild

    def is_superuser(self, url: str) -> bool:
        """Whether the target's user is a superuser, whose rights a function
        body in the archive would run with."""
        conn = connect(maintenance_params(conn_params(url)), "target server's maintenance")
        try:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            return bool((row.fetchone() or (False,))[0])
        finally:
            conn.close()
