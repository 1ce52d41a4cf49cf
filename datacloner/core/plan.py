"""The plan: the source's catalog joined with the rules, checked before any row moves.

Every problem is collected first and reported at once, so a user fixes a
rules file in one pass: unknown tables, columns and providers are usage
errors (exit 2, with the closest existing names); unclassified columns in
strict mode are a failed check (exit 1, with the YAML to paste).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from datacloner.core.catalog import Catalog, Column, QualifiedName, Table, display_name
from datacloner.core.errors import CheckFailed, UsageError
from datacloner.core.location import Location
from datacloner.core.rules import MaskSpec, RuleSet, TableRules
from datacloner.masking import kinds


@dataclass
class TablePlan:
    table: Table
    skip: bool  # schema only, no rows
    columns: list[Column]  # the columns that are copied, in catalog order
    masks: dict[str, MaskSpec] = field(default_factory=dict)
    unless: str | None = None
    unless_location: Location | None = None  # where the rules say it, for errors
    keep_reasons: dict[str, str] = field(default_factory=dict)  # reviewed: not personal

    @property
    def name(self) -> str:
        return self.table.display

    @property
    def masked_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.name in self.masks]


@dataclass
class Plan:
    tables: list[TablePlan]  # load order; partitioned parents are left out (rows live in leaves)
    warnings: list[str] = field(default_factory=list)

    @property
    def copied(self) -> list[TablePlan]:
        return [t for t in self.tables if not t.skip]


SpecChecker = Callable[[MaskSpec, str, Column], None]


def _closest(word: str, options: list[str]) -> str:
    found = difflib.get_close_matches(word, options, n=3, cutoff=0.5)
    return f" (closest: {', '.join(found)})" if found else ""


def _check_rules_against_catalog(
    catalog: Catalog, rules: TableRules, check_spec: SpecChecker, errors: list[str]
) -> None:
    table = catalog.find(rules.table)
    if table is None:
        near = catalog.closest(rules.table)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        errors.append(f"{rules.location}: table {rules.table} is not in the source{hint}")
        return
    names = [c.name for c in table.columns]
    listed = [(col, spec.location, spec) for col, spec in rules.mask.items()]
    listed += [(col, rules.keep_locations.get(col, rules.location), None) for col in rules.keep]
    for col, where, spec in listed:
        column = table.column(col)
        if column is None:
            errors.append(
                f"{where}: column {col!r} is not in table {table.display}{_closest(col, names)}"
            )
        elif column.generated:
            errors.append(
                f"{where}: column {col!r} of {table.display} is generated: the target computes "
                "it, so remove it from the rules"
            )
        elif spec is not None:
            try:
                check_spec(spec, f"{table.display}.{col}", column)
            except UsageError as exc:
                errors.append(str(exc))
            _check_row(table, rules, col, spec, errors)


def _check_row(
    table: Table, rules: TableRules, col: str, spec: MaskSpec, errors: list[str]
) -> None:
    """A rule that reads other columns of its row (a template) checks them here,
    where the table's columns and their rules are known."""
    kind = kinds.load(spec.kind)
    if kind is not None and kind.check_row is not None:
        names = [c.name for c in table.columns]
        errors.extend(kind.check_row(spec, table.display, col, names, rules.mask))


def _rules_for(
    catalog: Catalog, table: Table, by_name: dict[QualifiedName, TableRules]
) -> tuple[Table, TableRules | None]:
    """A table's own rules, else those of its nearest partitioned ancestor, with
    the table that owns them (where a user adds missing columns)."""
    current: Table | None = table
    while current is not None:
        if current.qualified in by_name:
            return current, by_name[current.qualified]
        current = catalog.tables.get(current.parent) if current.parent else None
    return catalog.root_of(table), None


def _unclassified_yaml(table: Table, columns: list[str]) -> str:
    cols = ", ".join(columns)
    return (
        f"  {table.display}:\n"
        f"    keep: [{cols}]        # if not personal; else move each under mask:, e.g.\n"
        f"    # mask: {{{columns[0]}: {{faker: <provider>}}}}"
    )


def build_plan(catalog: Catalog, ruleset: RuleSet, check_spec: SpecChecker) -> Plan:
    errors: list[str] = []
    for rules in ruleset.tables:
        _check_rules_against_catalog(catalog, rules, check_spec, errors)
    if errors:
        raise UsageError(
            # one problem is one line (file:line first); several, a list under a heading
            errors[0]
            if len(errors) == 1
            else "the rules do not match the source:\n  " + "\n  ".join(errors),
            hint="fix the rules files above; names are exact (schema.table, case-sensitive)",
        )

    by_name: dict[QualifiedName, TableRules] = {}
    for rules in ruleset.tables:
        table = catalog.find(rules.table)
        assert table is not None  # checked above
        by_name[table.qualified] = rules

    plan = Plan(tables=[])
    unclassified: list[str] = []
    missing_by_table: dict[str, list[str]] = {}
    for table in catalog.load_order():
        if table.partitioned:
            continue
        owner, rules = _rules_for(catalog, table, by_name)
        strict = rules.strict if rules else ruleset.strict
        columns = table.copied_columns
        if rules is not None and rules.skip:
            plan.tables.append(TablePlan(table=table, skip=True, columns=columns))
            continue
        masks = dict(rules.mask) if rules else {}
        kept = set(rules.keep) if rules else set()
        missing = [c.name for c in columns if c.name not in masks and c.name not in kept]
        if missing:
            if strict:
                unclassified.append(_unclassified_yaml(owner, missing))
                missing_by_table.setdefault(owner.display, [])
                missing_by_table[owner.display] += [
                    c for c in missing if c not in missing_by_table[owner.display]
                ]
            else:
                plan.warnings.append(
                    f"{display_name(table.qualified)}: columns copied unmasked because no rule "
                    f"classifies them (strict: false): {', '.join(missing)}"
                )
        plan.tables.append(
            TablePlan(
                table=table,
                skip=False,
                columns=columns,
                masks=masks,
                unless=rules.unless if rules else None,
                unless_location=rules.unless_location if rules else None,
                keep_reasons=dict(rules.keep_reasons) if rules else {},
            )
        )
    if unclassified:
        yaml_block = "tables:\n" + "\n".join(dict.fromkeys(unclassified))
        raise CheckFailed(
            "unclassified columns (strict mode): every copied column must be in `mask` or "
            "`keep`. Add this to your rules:\n\n" + yaml_block,
            hint="review each column: mask it if it can hold personal data, keep it otherwise",
            details={"unclassified": missing_by_table},
        )
    return plan
