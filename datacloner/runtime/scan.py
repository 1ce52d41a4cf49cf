"""``datacloner scan``: which columns hold personal data, and rules to mask them.

    result = scan_source(source, source.read_catalog(), sample=1000)
    result.personal          # the findings that look personal
    write_rules(result, path)

Every column of every table the plan copies is classified (partitioned tables
by their root; generated columns are left out, the target computes them)
from its name, its type, a sample of its values and the table around it
(``classify``). ``kept_but_personal`` is the check gate's question: which
kept columns look personal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from datacloner.core.catalog import Catalog, Column, QualifiedName, Table
from datacloner.masking.columns import family
from datacloner.scan.classify import Finding, classify_table
from datacloner.scan.frameworks import framework_of
from datacloner.scan.names import match_column
from datacloner.scan.result import ScanResult, roots
from datacloner.scan.writer import flow, render_rules, write_rules

if TYPE_CHECKING:  # types only: scan needs no engine code at import
    from datacloner.core.plan import Plan
    from datacloner.engines.base import SourceSession

DEFAULT_SAMPLE = 1000

__all__ = [
    "DEFAULT_SAMPLE",
    "Finding",
    "ScanResult",
    "flow",
    "kept_but_personal",
    "kept_warning",
    "render_rules",
    "scan_source",
    "write_rules",
]


def _members(catalog: Catalog) -> dict[QualifiedName, list[Table]]:
    """Each root's tables other than itself (its partitions, at any depth), in
    one pass: asking the whole catalog once per root grew with tables squared."""
    members: dict[QualifiedName, list[Table]] = {}
    for t in catalog.tables.values():
        root = catalog.root_of(t)
        if root is not t:
            members.setdefault(root.qualified, []).append(t)
    return members


def _needs_values(column: Column) -> bool:
    """Values are read only where they can tell something: text, JSON, network
    addresses, unknown (domain, enum) types, and dates named like a birth date.
    Not reading the rest keeps the sample light (no photos) and avoids values
    Python cannot hold (``infinity`` timestamps)."""
    fam = family(column)
    if fam in ("text", "json", "inet", "other"):
        return True
    match = match_column(column.name)
    return fam == "date" and match is not None and match.kind == "birth_date"


def _sample(
    source: SourceSession, tables: list[Table], columns: list[Column], limit: int
) -> tuple[dict[str, list[Any]], list[str]]:
    """Values of each of ``columns``, spread over ``tables`` (a root's
    partitions), and the columns that could not be read. Columns are
    classified one by one, so when one column's values cannot be read (a date
    beyond Python's range) the others are read alone."""
    per_table = max(1, math.ceil(limit / len(tables)))
    try:
        rows = [row for t in tables for row in source.sample(t, columns, per_table)]
        return {c.name: [row[i] for row in rows] for i, c in enumerate(columns)}, []
    except Exception:  # any driver error: retry column by column below
        pass
    values: dict[str, list[Any]] = {}
    bad: list[str] = []
    for column in columns:
        try:
            rows = [row for t in tables for row in source.sample(t, [column], per_table)]
        except Exception:
            bad.append(column.name)
            continue
        values[column.name] = [row[0] for row in rows]
    return values, bad


def scan_source(
    source: SourceSession, catalog: Catalog, sample: int = DEFAULT_SAMPLE
) -> ScanResult:
    """Classify every column of every table; reads at most ``sample`` rows per
    table through the (read-only) source session."""
    is_sqlite = catalog.default_schema == "main"
    findings: list[Finding] = []
    skipped: list[str] = []
    members = _members(catalog)
    for root in sorted(roots(catalog), key=lambda t: t.qualified):
        below = members.get(root.qualified, [])
        leaves = [t for t in below if not t.partitioned] if root.partitioned else [root]
        covers = (root.qualified, *(t.qualified for t in below))
        wanted = (
            [c for c in root.copied_columns if _needs_values(c)]
            if sample > 0 and not framework_of(root.name)  # kept whatever they hold
            else []
        )
        values, bad = _sample(source, leaves, wanted, sample) if wanted and leaves else ({}, [])
        skipped += [f"{root.display}.{name}" for name in bad]
        findings += classify_table(root, values, covers, is_sqlite)
    positions = {
        (t.qualified, c.name): i for t in catalog.tables.values() for i, c in enumerate(t.columns)
    }
    findings.sort(key=lambda f: (not f.personal, f.qualified, positions[(f.qualified, f.column)]))
    return ScanResult(findings=findings, catalog=catalog, sample=sample, skipped=skipped)


def kept_but_personal(plan: Plan, findings: Iterable[Finding]) -> list[Finding]:
    """Findings for columns the plan copies unmasked although scan thinks they
    are personal: a warning for ``check``, an error with ``--strict``.

    A column kept with a reason is not reported: the plan's tables may carry
    ``keep_reasons`` (column -> reason), filled from the rules' explicit keeps.
    Skipped tables copy no rows, so they are never reported.
    """
    personal: dict[tuple[QualifiedName, str], Finding] = {}
    for finding in findings:
        if finding.personal:
            for table in finding.covers or (finding.qualified,):
                personal[(table, finding.column)] = finding
    reported: list[Finding] = []
    seen: set[int] = set()
    for tp in plan.copied:
        reasons: dict[str, str] = getattr(tp, "keep_reasons", None) or {}
        for column in tp.columns:
            if column.name in tp.masks or column.name in reasons:
                continue
            finding = personal.get((tp.table.qualified, column.name))
            if finding is not None and id(finding) not in seen:
                seen.add(id(finding))
                reported.append(finding)
    return reported


def kept_warning(finding: Finding) -> str:
    """The message ``check`` prints for a kept column that looks personal."""
    why = "; ".join(finding.reasons)
    return (
        f"{finding.table}.{finding.column} is kept but looks personal "
        f"({finding.kind}, confidence {finding.confidence:.2f}: {why}). "
        f"Mask it, e.g. `{finding.column}: {flow(finding.rule)}`, "
        "or keep it with a reason if it is not personal"
    )
