"""A subset in a refresh or a check: plan it against the live source, select
its rows into the new copy's store, refuse it when too big (docs/subset.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from datacloner.core.catalog import Catalog, QualifiedName, display_name
from datacloner.core.errors import Refused, UsageError
from datacloner.core.plan import TablePlan
from datacloner.core.progress import ProgressSink
from datacloner.core.subset import SubsetSpec
from datacloner.core.yamlsource import ErrorList
from datacloner.subset.graph import EMPTY, SubsetPlan, build_subset
from datacloner.subset.select import select


def refuse_unsupported(engine: Any, spec: SubsetSpec) -> None:
    """A ``subset:`` on an engine without the ``subset`` capability is a
    UsageError at its file:line, before anything is read or created (config
    refuses it too, but not while the environment's URL is still unset)."""
    if not getattr(engine, "subset", False):
        raise UsageError(
            f"{spec.location}: subset: not supported on this engine yet",
            hint="remove `subset:` (the copy will be whole), or use `skip` in the rules "
            "for tables you do not need",
        )


def plan_subset(
    engine: Any, source: Any, catalog: Catalog, spec: SubsetSpec, tables: list[TablePlan]
) -> SubsetPlan:
    """The subset's plan over the live source: unknown tables and start
    ``where``s that do not run are UsageErrors at their file:line. ``tables``:
    the rules' plan (a table skipped there stays empty)."""
    refuse_unsupported(engine, spec)
    skipped = frozenset(tp.table.qualified for tp in tables if tp.skip)
    plan = build_subset(catalog, source.foreign_keys(catalog), spec, skipped)
    errors = ErrorList()
    for start in spec.starts:
        if not start.where:
            continue
        table = catalog.find(start.table)
        assert table is not None  # build_subset checked the names
        problem = source.subset_where_problem(table, start.where)
        if problem:
            errors.add(
                start.location,
                f"subset: `where` of {table.display} is not a valid condition: {problem}",
                hint="write a SQL boolean expression over the table's columns",
            )
    errors.raise_if_any()
    return plan


def subset_tables(tables: list[TablePlan], plan: SubsetPlan) -> list[TablePlan]:
    """The tables to copy: those the subset leaves empty are schema only."""
    return [
        replace(tp, skip=True) if plan.role_of(tp.table.qualified) == EMPTY else tp for tp in tables
    ]


def run_selection(
    store: Any,
    plan: SubsetPlan,
    tables: list[TablePlan],
    progress: ProgressSink,
) -> dict[QualifiedName, int]:
    """Select the rows (the store keeps them); rows per copied table (a table
    copied whole is counted only under ``max_rows``: a count reads it all).
    Refused (exit 1) before any row is loaded when over ``max_rows``."""
    progress.stage("subset")
    counts = select(plan, store, progress.note)
    limit = plan.spec.max_rows
    rows: dict[QualifiedName, int] = {}
    for tp in tables:
        name = tp.table.qualified
        if tp.skip:
            continue
        if name in counts:
            rows[name] = counts[name]
        elif limit is not None:
            rows[name] = store.whole_count(name)
    total = sum(rows.values())
    if limit is not None and total > limit:
        biggest = sorted(rows.items(), key=lambda kv: -kv[1])[:5]
        raise Refused(
            f"subset: {total} rows would be copied, over max_rows ({limit}) at "
            f"{plan.spec.location}; nothing was loaded, the target was not changed. Largest: "
            + ", ".join(f"{display_name(n)} {c}" for n, c in biggest),
            hint="ask for a smaller share, cap children with `children:`, list big tables "
            "under `empty:`, or raise max_rows",
        )
    return rows
