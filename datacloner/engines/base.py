"""What every engine provides. The runtime (``datacloner.runtime.refresh``) drives
these steps in order: open source -> catalog -> build target (pre-data,
rows, post-data, finalize) -> swap. A failure anywhere before ``swap``
discards the new copy and leaves the live target untouched."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from datacloner.core import redaction, signals
from datacloner.core.catalog import Catalog, Column, QualifiedName, Table, display_name
from datacloner.core.errors import UsageError
from datacloner.core.plan import TablePlan
from datacloner.masking.table_masker import TableMasker

Advance = Callable[[int], None]


@dataclass(frozen=True)
class SwapPolicy:
    """How a new copy replaces the live target (per environment)."""

    keep: int = 1  # previous copies kept for rollback
    drain_timeout: float = 5.0  # seconds to wait for sessions to leave the target
    on_busy: str = "terminate"  # then: terminate them | wait on | fail (target unchanged)


Section = Literal["pre-data", "post-data"]


class SourceSession(Protocol):
    def read_catalog(self) -> Catalog: ...

    def sample(self, table: Table, columns: list[Column], limit: int) -> list[tuple[Any, ...]]:
        """A few rows as Python values, for scan, verify and preview."""
        ...

    def check_condition(self, plan: TablePlan) -> None:
        """The table's ``unless`` is valid SQL (UsageError otherwise)."""
        ...

    def identity(self) -> dict[str, str]:
        """Where the data came from (server, database, snapshot), for the report."""
        ...

    # only on an engine whose ``subset`` flag is set (docs/subset.md):
    def foreign_keys(self, catalog: Catalog) -> list[Any]:
        """Every foreign key between catalog tables (``datacloner.subset.graph.ForeignKey``)."""
        ...

    def subset_where_problem(self, table: Table, where: str) -> str | None:
        """What is wrong with a subset start's ``where`` on the live table, or None."""
        ...


class TargetBuild(Protocol):
    name: str  # the new copy being built, e.g. ``app_dev__dc_new``
    parallel_copy: bool  # ``copy_tables`` may be called (else ``copy_table`` per table)

    def load_schema(self, section: Section) -> None: ...

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        """Stream one table's rows through ``masker`` into the new copy; rows copied."""
        ...

    def copy_tables(
        self,
        tables: list[TablePlan],
        secret: bytes,
        batch_size: int,
        advance: Advance,
        jobs: int,
        split_rows: int | None = None,
    ) -> dict[QualifiedName, int]:
        """Every table's rows in ``jobs`` workers (only when ``parallel_copy``)."""
        ...

    def start_workers(self, jobs: int) -> None:
        """Only when ``parallel_copy``: the ``jobs`` workers ``copy_tables``
        will use, started now so they get ready while the schema (or a
        subset's selection) loads; ended by the build if never used."""
        ...

    def finalize(self) -> None:
        """Sequences' positions, materialized views, statistics."""
        ...

    def health_check(self, loaded: dict[QualifiedName, int]) -> None:
        """Row counts as loaded, constraints valid; raises before the swap."""
        ...

    def run_hooks(self, scripts: tuple[Path, ...]) -> None:
        """The environment's ``after:`` SQL files, in the new copy."""
        ...

    def write_manifest(self, manifest: dict[str, Any]) -> None: ...

    def swap(self) -> list[str]:
        """Atomically replace the live target, keeping the previous copy; warnings."""
        ...


class OneTableAtATime:
    """A build without ``--jobs`` workers: the runtime copies table by table."""

    parallel_copy = False

    def copy_tables(self, *args: Any, **kwargs: Any) -> dict[QualifiedName, int]:
        raise NotImplementedError("this engine copies tables one at a time")

    def start_workers(self, jobs: int) -> None:
        raise NotImplementedError("this engine copies tables one at a time")


class Engine(Protocol):
    # the server's own databases (PostgreSQL: template0, template1, postgres):
    # refused as a target before anything is created, dropped or renamed
    system_databases: tuple[str, ...]
    # capabilities: what the runtime asks instead of the engine's kind
    parallel_copy: bool  # --jobs: rows copied by worker processes
    exported_snapshot: bool  # every reader sees one snapshot of the source
    rename_database: bool  # the swap renames databases (else files)
    archives: bool  # dump/restore (datacloner.engines.<engine>.archive)
    # subset: ``subset_store`` selects rows (datacloner.subset.select.Store), and
    # the source's ``foreign_keys`` and ``subset_where_problem`` answer the plan
    subset: bool
    subset_parallel: bool  # --jobs workers copy a subset's selected rows too

    def url_problem(self, url: str) -> str | None:
        """What is wrong with a URL this engine serves, before connecting."""
        ...

    def endpoints(self, url: str) -> list[tuple[str, str, int, bool]]:
        """(host, numeric address or "", port, is a Unix socket) of each server
        the URL may reach, resolved as its client would; none for a file."""
        ...

    def server_facts(self, url: str) -> Any:
        """What the target's server says about itself (address, port,
        identity, and a ``probe``) for the protected-host guard; None if the
        engine cannot ask."""
        ...

    def target_identity(self, url: str) -> dict[str, str]:
        """``cluster`` and ``database`` of a target, comparable with a source's."""
        ...

    def database_of(self, url: str) -> str:
        """The database a URL names, as a connection would see it (a file as an
        absolute path), read from the URL alone: no connection."""
        ...

    def working_name(self, target: str, name: str) -> bool:
        """``name`` (a database as ``database_of`` spells it) is one of the
        databases or files a refresh or rollback of ``target`` may create,
        rename or drop: config refuses a source or environment that is one."""
        ...

    def open_source(self, url: str) -> AbstractContextManager[SourceSession]: ...

    def subset_store(
        self, target: Any, source: Any, catalog: Catalog, salt: str
    ) -> AbstractContextManager[Any]:
        """Only with ``subset``: a ``datacloner.subset.select.Store`` reading the
        source's snapshot and keeping the selection in ``target`` (the new copy);
        while open, the source reads only the selected rows of a subset table.
        Its ``finish(nulled)`` runs after the rows, before the constraints."""
        ...

    def build_target(
        self, url: str, source: SourceSession, policy: SwapPolicy
    ) -> AbstractContextManager[TargetBuild]: ...

    def rollback(self, url: str, policy: SwapPolicy) -> list[str]:
        """Swap the previous copy back in; warnings."""
        ...

    def generations(self, url: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """Each copy of the target, newest first, with its manifests."""
        ...


class EngineBase:
    """The lifecycle every engine shares: a source closed after use, and a
    new copy discarded on any failure (the live target is never touched)."""

    source_class: Any
    build_class: Any
    system_databases: tuple[str, ...] = ()
    parallel_copy = False
    exported_snapshot = False
    rename_database = False
    archives = False
    subset = False
    subset_parallel = False

    def url_problem(self, url: str) -> str | None:
        return None

    def endpoints(self, url: str) -> list[tuple[str, str, int, bool]]:
        return []

    def server_facts(self, url: str) -> Any:
        return None

    @contextlib.contextmanager
    def open_source(self, url: str) -> Iterator[Any]:
        source = self.source_class(url)
        try:
            yield source
        finally:
            source.close()

    @contextlib.contextmanager
    def build_target(self, url: str, source: Any, policy: SwapPolicy) -> Iterator[Any]:
        build = self.build_class(url, source, policy)
        try:
            signals.changing()  # a stop from here on reports the new copy removed
            build.create()
            yield build
        except BaseException:
            with signals.held():  # a stop signal never cuts the discard short
                build.discard()
            raise
        finally:
            build.close()


# --- verify's reads: what an engine supplies to `verify` (datacloner.runtime.verify) ----------


class SourceSampler(Protocol):
    def root(self, table: Table) -> tuple[str, str]:
        """(schema, table) of the partitioned table ``table`` belongs to, else its own."""
        ...

    def sample(
        self,
        table: Table,
        column: Column,
        limit: int,
        unless: str | None,
        paths: list[tuple[str, ...]] | None,
    ) -> list[str] | None:
        """Up to ``limit`` distinct non-NULL values of a masked column as text (array
        elements; json strings and numbers, at ``paths`` when given), skipping rows
        that ``unless`` passes unmasked. None when the type holds nothing to look for
        in text (dates, booleans, binary, floats)."""
        ...


def sample_error(table: Table, column: Column, exc: Exception) -> UsageError:
    """What ``verify`` says when sampling a masked source column fails (most often
    a table's ``unless:`` condition): the database's message without row values."""
    return UsageError(
        f"cannot sample {table.display}.{column.name} in the source: "
        f"{redaction.database_error(exc, [column.name])}",
        hint="check that table's `unless:` condition and the column's rule",
    )


@dataclass
class TargetTable:
    schema: str
    name: str
    kind: str  # "table" | "materialized view"
    columns: list[str]  # the text-like ones, in the order of each streamed row
    rows: int = 0  # estimate, for progress
    only: bool = False  # without inheritance children (searched as tables of their own)

    @property
    def display(self) -> str:
        return display_name((self.schema, self.name))


class TargetReader(Protocol):
    copy_text: bool  # blocks are PostgreSQL COPY text (else plain, already unescaped)

    def tables(self) -> tuple[list[TargetTable], list[str]]:
        """What to search, and notes on what cannot be (e.g. unpopulated views)."""
        ...

    def blocks(self, table: TargetTable, size: int) -> Iterator[bytes]:
        """The text-like columns of every row, a block of whole rows at a time:
        values separated by ``\\t``, rows ended by ``\\n``, no raw ``\\t`` or ``\\n``
        inside a value."""
        ...


class VerifyEngine(Protocol):
    def open_source(self, url: str) -> AbstractContextManager[SourceSampler]: ...

    def open_target(self, url: str) -> AbstractContextManager[TargetReader]: ...
