"""The source's catalog as plain data: tables, columns, keys, partitions.

Engines fill it in; the plan reads it. No database code here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from datacloner.core.rules import TableName

QualifiedName = tuple[str, str]  # (schema, table), exact catalog spelling


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the catalog's spelling, e.g. "character varying(40)", "text[]"
    nullable: bool = True
    generated: bool = False  # computed by the target: never copied, never listed in rules
    max_length: int | None = None  # varchar(n) / char(n) limit
    is_array: bool = False


@dataclass
class Table:
    schema: str
    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    parent: QualifiedName | None = None  # set for a partition
    partitioned: bool = False  # a partitioned parent holds no rows of its own
    row_estimate: int = 0
    references: set[QualifiedName] = field(default_factory=set)  # tables its FKs point to

    @property
    def qualified(self) -> QualifiedName:
        return (self.schema, self.name)

    @property
    def display(self) -> str:
        return display_name(self.qualified)

    @property
    def copied_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.generated]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _ident(part: str) -> str:
    plain = part.replace("_", "a").isalnum() and part == part.lower() and not part[:1].isdigit()
    return part if plain else '"' + part.replace('"', '""') + '"'


def display_name(name: QualifiedName) -> str:
    """``schema.table`` as a user writes it in the rules (quoted only when needed)."""
    return f"{_ident(name[0])}.{_ident(name[1])}"


@dataclass
class Catalog:
    tables: dict[QualifiedName, Table]
    default_schema: str  # what a rules name without a schema means: public, main

    def find(self, name: TableName) -> Table | None:
        return self.tables.get((name.schema or self.default_schema, name.name))

    def closest(self, name: TableName, n: int = 3) -> list[str]:
        wanted = str(name) if name.schema else f"{self.default_schema}.{name.name}"
        names = {f"{s}.{t}": display_name((s, t)) for s, t in self.tables}
        return [names[m] for m in difflib.get_close_matches(wanted, list(names), n=n, cutoff=0.5)]

    def root_of(self, table: Table) -> Table:
        """The top partitioned parent of a partition, or the table itself."""
        while table.parent and table.parent in self.tables:
            table = self.tables[table.parent]
        return table

    def load_order(self) -> list[Table]:
        """Tables ordered so referenced tables come first; cycles are broken by
        name (FKs are created after the load anyway, so order is cosmetic)."""
        order: list[Table] = []
        state: dict[QualifiedName, int] = {}

        def visit(key: QualifiedName) -> None:
            if state.get(key):
                return
            state[key] = 1
            for ref in sorted(self.tables[key].references):
                if ref in self.tables and ref != key:
                    visit(ref)
            state[key] = 2
            order.append(self.tables[key])

        for key in sorted(self.tables):
            visit(key)
        return order
