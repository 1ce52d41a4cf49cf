"""Which tables a subset starts from, which it pulls down and up, and along
which foreign keys: the table-level plan, before any row moves (docs/subset.md).

Rows live in leaf tables (a partitioned table's partitions), so the plan is
made of leaves: a foreign key between two partitioned tables becomes one
edge per pair of their partitions. No database code here: engines supply the
foreign keys (:class:`ForeignKey`) and select rows along the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datacloner.core.catalog import Catalog, QualifiedName, Table, display_name
from datacloner.core.subset import Start, SubsetSpec
from datacloner.core.yamlsource import ErrorList


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key as the source declares it (on a partitioned table: once,
    on the partitioned table)."""

    name: str
    child: QualifiedName
    columns: tuple[str, ...]
    parent: QualifiedName
    ref_columns: tuple[str, ...]
    nullable: bool  # every column may be NULL: `nullable: null` may clear it
    deferrable: bool = False

    @property
    def label(self) -> str:
        return (
            f"{display_name(self.child)}({', '.join(self.columns)}) -> "
            f"{display_name(self.parent)}({', '.join(self.ref_columns)})"
        )


@dataclass(frozen=True)
class Edge:
    """A foreign key between two leaves: ``child.columns`` -> ``parent.ref_columns``."""

    child: QualifiedName
    parent: QualifiedName
    fk: ForeignKey
    cap: int | None = None  # `children:` at most this many child rows per parent row


START, DOWN, UP, WHOLE, EMPTY = "start", "down", "up", "whole", "empty"


@dataclass
class SubsetPlan:
    roles: dict[QualifiedName, str]  # every leaf: start | down | up | whole | empty
    starts: dict[QualifiedName, Start]  # leaf -> how it starts
    down_edges: list[Edge]  # from a parent's down rows to its children
    up_edges: list[Edge]  # from any kept row to the rows it references
    nulled: list[ForeignKey]  # set to NULL where the parent row is not copied
    keys: dict[QualifiedName, list[str]]  # columns the selection keeps per selected leaf
    estimates: dict[QualifiedName, int]
    reach: dict[str, tuple[list[str], list[str]]]  # start (as written) -> (down, up) tables
    spec: SubsetSpec
    warnings: list[str] = field(default_factory=list)

    @property
    def selected(self) -> list[QualifiedName]:
        """Leaves whose rows are chosen (not copied whole, not empty)."""
        return [t for t, role in self.roles.items() if role in (START, DOWN, UP)]

    def role_of(self, table: QualifiedName) -> str:
        return self.roles.get(table, WHOLE)


def leaves(catalog: Catalog, table: Table) -> list[Table]:
    """``table`` itself, or the leaf partitions under a partitioned table."""
    if not table.partitioned:
        return [table]
    return [
        t
        for t in catalog.tables.values()
        if not t.partitioned and _under(catalog, t, table.qualified)
    ]


def _under(catalog: Catalog, table: Table, ancestor: QualifiedName) -> bool:
    current: Table | None = table
    while current is not None and current.parent:
        if current.parent == ancestor:
            return True
        current = catalog.tables.get(current.parent)
    return False


def build_subset(
    catalog: Catalog,
    fks: list[ForeignKey],
    spec: SubsetSpec,
    skipped: frozenset[QualifiedName] = frozenset(),
) -> SubsetPlan:
    """The plan of ``spec`` over the source's catalog; UsageError (every
    problem at its file:line) for names the source does not have. ``skipped``:
    tables the rules copy as schema only, empty in any subset."""
    errors = ErrorList()
    resolved: dict[int, Table] = {}
    for i, entry in enumerate(spec.listed()):
        table = catalog.find(entry.table)
        if table is None:
            near = catalog.closest(entry.table)
            errors.add(
                entry.location,
                f"subset: table {entry.table} is not in the source"
                + (f"; did you mean {', '.join(near)}?" if near else ""),
                hint="names are exact: schema.table, case-sensitive",
            )
        else:
            resolved[i] = table
    errors.raise_if_any()
    listed = spec.listed()
    lookup = {entry.table: resolved[i] for i, entry in enumerate(listed)}

    roles: dict[QualifiedName, str] = {}
    starts: dict[QualifiedName, Start] = {}
    for start in spec.starts:
        for leaf in leaves(catalog, lookup[start.table]):
            roles[leaf.qualified], starts[leaf.qualified] = START, start
    for role, entries in ((WHOLE, spec.whole), (EMPTY, spec.empty)):
        for entry in entries:
            for leaf in leaves(catalog, lookup[entry.table]):
                roles[leaf.qualified] = role
    for table in skipped:  # `skip` in the rules: no rows, whatever the subset says
        roles[table] = EMPTY
    caps: dict[QualifiedName, int] = {}
    for entry, cap in spec.children:
        for leaf in leaves(catalog, lookup[entry.table]):
            caps[leaf.qualified] = cap

    edges: list[Edge] = []
    for fk in fks:
        if fk.child not in catalog.tables or fk.parent not in catalog.tables:
            continue
        for child in leaves(catalog, catalog.tables[fk.child]):
            for parent in leaves(catalog, catalog.tables[fk.parent]):
                edges.append(Edge(child.qualified, parent.qualified, fk, caps.get(child.qualified)))
    cut = {fk for fk in fks if fk.nullable and spec.nullable == "null"}

    def free(table: QualifiedName) -> bool:  # not fixed by the user as whole or empty
        return roles.get(table) not in (WHOLE, EMPTY)

    # down: children of down rows, transitively; then up: parents of every kept row
    # A self-reference (a manager chain, a category tree) is followed up only:
    # down, one kept manager would pull every report under it, transitively.
    def descends(e: Edge) -> bool:
        return free(e.child) and e.fk.child != e.fk.parent

    down = {t for t, r in roles.items() if r == START}
    _close(down, [(e.parent, e.child) for e in edges if descends(e)])
    reached = set(down)
    up_pairs = [(e.child, e.parent) for e in edges if free(e.parent) and e.fk not in cut]
    _close(reached, up_pairs)
    for table in catalog.tables.values():
        if table.partitioned:
            continue
        name = table.qualified
        if name in down:
            roles.setdefault(name, DOWN)
        elif name in reached:
            roles[name] = UP
        elif free(name):
            roles[name] = WHOLE if spec.disconnected == "all" else EMPTY

    kept = {t for t, r in roles.items() if r != EMPTY}
    selected = {t for t, r in roles.items() if r in (START, DOWN, UP)}
    down_edges = [e for e in edges if e.parent in down and e.child in down and descends(e)]
    up_edges = [e for e in edges if e.child in kept and e.parent in selected and e.fk not in cut]
    nulled = sorted(cut, key=lambda fk: fk.label)
    for fk in fks:
        into_empty = any(
            roles.get(e.parent) == EMPTY and e.child in kept for e in edges if e.fk == fk
        )
        if not into_empty or fk in cut:
            continue
        if fk.nullable:
            nulled.append(fk)
        else:
            errors.add(
                spec.location,
                f"subset: {display_name(fk.child)} keeps rows but references "
                f"{display_name(fk.parent)}, which is empty (`empty:`, or `skip` in the rules), "
                f"through NOT NULL columns "
                f"({fk.label}): every such row would be an orphan",
                hint=f"add {display_name(fk.child)} to `empty:` too, or copy "
                f"{display_name(fk.parent)} (remove it from `empty:`)",
            )
    capped = {e.child for e in down_edges}
    for entry, _cap in spec.children:
        if not any(leaf.qualified in capped for leaf in leaves(catalog, lookup[entry.table])):
            errors.add(
                entry.location,
                f"subset: children: {entry.table} is never pulled down from a kept row "
                "(no start table reaches it through its foreign keys), so a cap on it "
                "would do nothing",
                hint="cap a table that references a start table or one of its children",
            )
    errors.raise_if_any()

    keys: dict[QualifiedName, list[str]] = {t: [] for t in selected}
    for e in edges:
        if e.child in keys:
            keys[e.child] += [c for c in e.fk.columns if c not in keys[e.child]]
        if e.parent in keys:
            keys[e.parent] += [c for c in e.fk.ref_columns if c not in keys[e.parent]]

    plan = SubsetPlan(
        roles=roles,
        starts=starts,
        down_edges=down_edges,
        up_edges=up_edges,
        nulled=nulled,
        keys=keys,
        estimates={},
        reach={},
        spec=spec,
    )
    plan.estimates = _estimate(catalog, plan)
    for start in spec.starts:
        mine = {leaf.qualified for leaf in leaves(catalog, lookup[start.table])}
        d = set(mine)
        _close(d, [(e.parent, e.child) for e in down_edges])
        u = set(d)
        _close(u, [(e.child, e.parent) for e in up_edges])
        names = _roots(catalog, d - mine), _roots(catalog, u - d)
        plan.reach[str(start.table)] = names
    return plan


def _close(found: set[QualifiedName], pairs: list[tuple[QualifiedName, QualifiedName]]) -> None:
    """Add to ``found`` every ``b`` of a pair ``(a, b)`` whose ``a`` is in it, transitively."""
    grew = True
    while grew:
        grew = False
        for a, b in pairs:
            if a in found and b not in found:
                found.add(b)
                grew = True


def _roots(catalog: Catalog, names: set[QualifiedName]) -> list[str]:
    """Tables as a user names them: a partition as its partitioned table."""
    return sorted({catalog.root_of(catalog.tables[n]).display for n in names})


def _estimate(catalog: Catalog, plan: SubsetPlan) -> dict[QualifiedName, int]:
    """Rows per leaf, from the catalog's row estimates: a start's share, a
    child's share of its parents, a parent as many rows as reference it (at
    most its size). A guide for `check`, not a promise: the run counts."""
    size = {t: catalog.tables[t].row_estimate for t in plan.roles}
    est: dict[QualifiedName, float] = {}
    for table, role in plan.roles.items():
        if role == WHOLE:
            est[table] = size[table]
        elif role == START:
            start = plan.starts[table]
            if start.share is not None:
                est[table] = size[table] * start.share / 100
            elif start.count is not None:
                est[table] = min(start.count, size[table]) if size[table] else start.count
            else:
                est[table] = size[table]
        else:
            est[table] = 0
    for _ in range(4):  # a few passes settle chains and cycles well enough
        for e in plan.down_edges:
            if plan.roles[e.child] == START:
                continue
            ratio = est[e.parent] / size[e.parent] if size[e.parent] else 0
            want = size[e.child] * min(ratio, 1.0)
            if e.cap and size[e.parent]:
                want = min(want, est[e.parent] * e.cap)
            est[e.child] = max(est[e.child], want)
        for e in plan.up_edges:
            if plan.roles[e.parent] == UP:
                est[e.parent] = max(est[e.parent], min(size[e.parent], est[e.child]))
    return {t: round(v) for t, v in est.items()}


def describe(catalog: Catalog, plan: SubsetPlan) -> list[str]:
    """Lines for `check`: each start table, what it pulls down and up, and the
    estimated rows of every table by role."""
    lines: list[str] = []
    for start in plan.spec.starts:
        how = (
            f"{start.share:g}%"
            if start.share is not None
            else f"where {start.where}" + (f", at most {start.count}" if start.count else "")
            if start.where
            else f"{start.count} rows"
        )
        down, up = plan.reach.get(str(start.table), ([], []))
        lines.append(f"start {start.table}: {how}")
        lines.append(f"  pulls down: {', '.join(down) or '(nothing)'}")
        lines.append(f"  pulls up: {', '.join(up) or '(nothing)'}")
    by_root: dict[str, tuple[str, int, int]] = {}
    for table, role in plan.roles.items():
        root = catalog.root_of(catalog.tables[table]).display
        _, est, size = by_root.get(root, (role, 0, 0))
        by_root[root] = (
            role,
            est + plan.estimates.get(table, 0),
            size + catalog.tables[table].row_estimate,
        )
    lines.append("estimated rows per table (role: estimate of source rows):")
    for root in sorted(by_root):
        role, est, size = by_root[root]
        lines.append(f"  {root}: {role}: ~{est} of ~{size}")
    if plan.nulled:
        lines.append(
            "set to NULL where the parent row is not copied: "
            + "; ".join(fk.label for fk in plan.nulled)
        )
    return lines
