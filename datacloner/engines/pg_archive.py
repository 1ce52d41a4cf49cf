"""PostgreSQL and the masked archive: writing one from a source, and an
archive standing in for the source when a target is built from it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from datacloner.archive import STATE, ArchiveReader, ArchiveTable, ArchiveWriter
from datacloner.catalog import Column, QualifiedName, Table
from datacloner.engines.base import Advance, Section
from datacloner.engines.postgres import PgSource
from datacloner.plan import Plan, TablePlan
from datacloner.progress import ProgressSink
from datacloner.table_masker import TableMasker


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

    def schema_sql(self, section: Section) -> bytes:
        return self.reader.read(f"schema/{section}.sql")

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
