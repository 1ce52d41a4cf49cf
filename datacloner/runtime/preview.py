"""Runtime of ``preview TABLE``: a few source rows with each masked column's
original beside its masked value, for a rule author before a refresh."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from datacloner.core.config import Config
from datacloner.core.errors import UsageError
from datacloner.core.plan import TablePlan, build_plan
from datacloner.core.rules import RuleSet, load_rules, parse_table_name
from datacloner.engines.registry import engine_for
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker
from datacloner.runtime.refresh import check_conditions, check_rule


@dataclass
class Preview:
    plan: TablePlan
    columns: list[str]  # the masked columns, in table order
    rows: list[tuple[list[Any], list[Any]]]  # (originals, masked) per row
    throwaway_key: bool = False  # no secret: the fakes are not a refresh's


def _relaxed(ruleset: RuleSet) -> RuleSet:
    """Preview one table even while other tables still lack rules."""
    tables = [dataclasses.replace(t, strict=False) for t in ruleset.tables]
    return dataclasses.replace(ruleset, strict=False, tables=tables)


def _secret(config: Config) -> tuple[bytes, bool]:
    """The configured secret; without one (no `secret:`, empty, or its
    variable unset), a random key, so a rule author can preview before the
    secret is set up. A secret that is set but refused still stops here."""
    if config.secret_unset or not config.secret:
        return secrets.token_bytes(32), True
    return config.require_secret(), False


def preview(config: Config, table: str, rows: int) -> Preview:
    secret, throwaway = _secret(config)
    ruleset = _relaxed(load_rules(config.rules_path))
    url = config.require_source()
    with engine_for(url).open_source(url) as source:
        catalog = source.read_catalog()
        wanted = catalog.find(parse_table_name(table))
        if wanted is None:
            near = catalog.closest(parse_table_name(table))
            raise UsageError(
                f"table {table} is not in the source"
                + (f"; did you mean {', '.join(near)}?" if near else ""),
                hint="name it as in the rules: schema.table",
            )
        plan = build_plan(catalog, ruleset, check_rule)
        target = next((tp for tp in plan.tables if tp.table.qualified == wanted.qualified), None)
        if target is None:  # a partitioned parent: preview its first partition
            target = next((tp for tp in plan.tables if catalog.root_of(tp.table) is wanted), None)
        if target is None or target.skip:
            raise UsageError(f"{table} is skipped by the rules: no rows to preview")
        check_conditions(source, [target])  # at the rules' file:line
        sample = [list(r) for r in source.sample(target.table, target.columns, rows)]
        masker = TableMasker(target, MaskerCache(compile_mask, secret))
        masked = [list(r) for r in sample]
        if target.unless:  # evaluated in Python here: show every row as masked
            masker.unless = None
        masker.apply(masked)
        positions = [i for i, c in enumerate(target.columns) if c.name in target.masks]
        return Preview(
            throwaway_key=throwaway,
            plan=target,
            columns=[target.columns[i].name for i in positions],
            rows=[
                ([orig[i] for i in positions], [new[i] for i in positions])
                for orig, new in zip(sample, masked, strict=True)
            ],
        )
