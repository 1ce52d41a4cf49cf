"""What every engine provides. The runtime (``datacloner.refresh``) drives
these steps in order: open source -> catalog -> build target (pre-data,
rows, post-data, finalize) -> swap. A failure anywhere before ``swap``
discards the new copy and leaves the live target untouched."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from datacloner.catalog import Catalog, Column, Table
from datacloner.plan import TablePlan
from datacloner.table_masker import TableMasker

Advance = Callable[[int], None]
Section = Literal["pre-data", "post-data"]


class SourceSession(Protocol):
    def read_catalog(self) -> Catalog: ...

    def sample(self, table: Table, columns: list[Column], limit: int) -> list[tuple[Any, ...]]:
        """A few rows as Python values, for scan, verify and preview."""
        ...

    def identity(self) -> dict[str, str]:
        """Where the data came from (server, database, snapshot), for the report."""
        ...


class TargetBuild(Protocol):
    name: str  # the new copy being built, e.g. ``app_dev__dc_new``

    def load_schema(self, section: Section) -> None: ...

    def copy_table(
        self, plan: TablePlan, masker: TableMasker, batch_size: int, advance: Advance
    ) -> int:
        """Stream one table's rows through ``masker`` into the new copy; rows copied."""
        ...

    def finalize(self) -> None:
        """Sequences' positions, materialized views, statistics."""
        ...

    def swap(self) -> list[str]:
        """Atomically replace the live target, keeping the previous copy; warnings."""
        ...


class Engine(Protocol):
    def target_identity(self, url: str) -> dict[str, str]:
        """``cluster`` and ``database`` of a target, comparable with a source's."""
        ...

    def open_source(self, url: str) -> AbstractContextManager[SourceSession]: ...

    def build_target(
        self, url: str, source: SourceSession
    ) -> AbstractContextManager[TargetBuild]: ...
