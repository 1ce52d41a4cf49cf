"""``datacloner verify ENV``: prove that no sampled personal value of the source is in ENV.

1. **Sample** up to N distinct values of every masked column of the source (array
   elements, json strings), turn each into *needles* (the whole value, its words,
   the emails, phone numbers and IP addresses inside it as ``scrub``'s detectors
   find them) and keep only keyed hashes of them. Values too short or too common
   to identify anyone are skipped (:mod:`.needles`, :mod:`.fakes`).
2. **Same row**: up to N rows of every masked column whose rule promises a
   change are compared with the target row of the same primary key, place by
   place (JSON path, array element): a value equal to its own source is a
   certain leak (:mod:`.same_row`).
3. **Search** every text-like column of the target, streamed in blocks of whole
   rows: each block is cut into the same kinds of tokens (:mod:`.tokens`) and
   looked up among the needles. In a column that holds fakes (a masked column, a
   materialized view), a value a fake could be (`John Smith`, `Hampshire`) is a
   coincidence of Faker's pools, not a leak; anywhere else it counts.

No database code lives here: each engine's ``verify`` module
(``engines/postgres/verify.py``, ``engines/sqlite/verify.py``), found through the
registry, samples the source and streams the target, to the contract in
``engines/base.py``. See docs/verify.md.

Privacy: a sampled value exists in memory only while its needles are derived;
after that only hashes remain, and nothing here ever prints, logs or raises with
a value. Reports name tables, columns and counts.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from datacloner import __version__
from datacloner.core import urls
from datacloner.core.config import Config
from datacloner.core.errors import DataclonerError, Refused, UsageError
from datacloner.core.rules import MaskSpec
from datacloner.engines import registry as engines
from datacloner.engines.base import (  # noqa: F401  (re-exported: the reads' contract)
    SourceSampler,
    TargetReader,
    TargetTable,
    VerifyEngine,
)
from datacloner.masking import kinds
from datacloner.masking.kinds import Kind
from datacloner.verify import same_row
from datacloner.verify.fakes import common_words, could_be_fake
from datacloner.verify.needles import ColumnSample, Hit, Matcher, Needles
from datacloner.verify.tokens import (
    BLOCK_BYTES,
    COUNT_LIMIT,
    DEFAULT_SAMPLE,
    EMBEDDED_KINDS,
    MIN_CHARS,
    Scope,
    embedded,
    normalize,
    prepare,
)

# --- engines ---------------------------------------------------------------------------


def _engine(url: str) -> VerifyEngine:
    return engines.verify_reads(url)


# --- the runtime -----------------------------------------------------------------------


@dataclass
class SearchedTable:
    table: str
    kind: str
    columns: list[str]
    rows: int
    seconds: float


@dataclass
class VerifyReport:
    environment: str
    target: str  # redacted URL
    sample: int  # the limit per column
    samples: list[ColumnSample] = field(default_factory=list)
    needles: int = 0
    rows_compared: int = 0  # masked rows compared with their own source row
    searched: list[SearchedTable] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sample_seconds: float = 0.0
    version: str = __version__

    @property
    def clean(self) -> bool:
        return not self.hits

    @property
    def values_sampled(self) -> int:
        return sum(s.sampled for s in self.samples)

    @property
    def values_kept(self) -> int:
        return sum(s.kept for s in self.samples)

    @property
    def columns_searched(self) -> int:
        return sum(len(t.columns) for t in self.searched)

    @property
    def rows_searched(self) -> int:
        return sum(t.rows for t in self.searched)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        data["totals"] = {
            "masked_columns_sampled": sum(1 for s in self.samples if s.note is None),
            "values_sampled": self.values_sampled,
            "values_kept": self.values_kept,
            "needles": self.needles,
            "rows_compared": self.rows_compared,
            "tables_searched": len(self.searched),
            "columns_searched": self.columns_searched,
            "rows_searched": self.rows_searched,
            "columns_with_hits": len(self.hits),
            "rows_with_hits": sum(h.rows for h in self.hits),
        }
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


class VerifyProgress(Protocol):
    def start_table(self, name: str, estimate: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end_table(self, rows: int) -> None: ...
    def note(self, message: str) -> None: ...


def _kind(spec: MaskSpec) -> Kind:
    kind = kinds.load(spec.kind)
    assert kind is not None, spec.kind  # the plan checked every rule's kind
    return kind


def json_paths(spec: MaskSpec) -> list[tuple[str, ...]] | None:
    """The paths a rule that masks parts of a document (``{json: {path: rule}}``)
    rewrites, as key tuples (``*``: any array element or member), or None when
    the rule masks the whole value or names no path."""
    walk = _kind(spec).paths
    return walk(spec) if walk is not None else None


def _locales(specs: Iterable[MaskSpec]) -> frozenset[str]:
    return frozenset(s.locale for s in specs if s.locale and _kind(s).fake_locale)


def _path_groups(spec: MaskSpec) -> list[tuple[list[tuple[str, ...]] | None, MaskSpec]]:
    """What to sample of a masked column, and as what: (paths, the rule there).
    A document rule's paths are grouped by their rule: a rule that keeps its
    text at a path (scrub) is sampled for what it finds there only, any other
    rule replaces the value."""
    walk = _kind(spec).paths
    if walk is None:
        return [(None, spec)]
    paths = walk(spec)
    if paths is None:
        return []
    whole: list[tuple[str, ...]] = []
    groups: list[tuple[list[tuple[str, ...]] | None, MaskSpec]] = []
    for path in paths:
        nested = spec.nested.get(".".join(path))
        if nested is not None and _kind(nested).finds is not None:
            groups.append(([path], nested))
        else:
            whole.append(path)
    if whole:
        groups.insert(0, (whole, spec))
    return groups


def sample_source(
    sampler: SourceSampler,
    plan_tables: Iterable[Any],
    needles: Needles,
    limit: int,
    phase: list[str] | None = None,
    masked: dict[Scope, list[tuple[str, ...]] | None] | None = None,
) -> list[ColumnSample]:
    """Turn the masked columns of ``plan_tables`` (TablePlans) into needles;
    ``phase[0]`` says what is being done, for an error message; ``masked``
    collects the (schema, root table, column) of every masked column, with the
    paths its json rule masks (None: the whole value is masked)."""
    results: list[ColumnSample] = []
    for tp in plan_tables:
        if tp.skip or not tp.masks:
            continue
        schema, root = sampler.root(tp.table)
        for column in tp.columns:
            spec = tp.masks.get(column.name)
            if spec is None:
                continue
            if masked is not None:
                masked[(schema, root, column.name)] = json_paths(spec)
            if phase is not None:
                phase[0] = f"sampling {tp.name}.{column.name}"
            stats = ColumnSample(table=tp.name, column=column.name)
            results.append(stats)
            groups = _path_groups(spec)
            if not groups:
                stats.note = "json rule without paths: not sampled"
                continue
            scope: Scope = (schema, root, column.name)
            reasons: Counter[str] = Counter()
            for paths, rule in groups:
                values = sampler.sample(tp.table, column, limit, tp.unless, paths)
                if values is None:
                    stats.note = f"type {column.type} is not searched for in text: not sampled"
                    break
                finds = _kind(rule).finds
                embedded_only = finds is not None
                found, patterns = finds(rule) if finds is not None else (EMBEDDED_KINDS, [])
                stats.sampled += len(values)
                for i, value in enumerate(values):
                    reason = needles.add(value, scope, embedded_only, patterns, found)
                    values[i] = ""  # drop each source value as soon as it is hashed
                    if reason is None:
                        stats.kept += 1
                    else:
                        reasons[reason] += 1
                del values
            stats.skipped = dict(reasons)
    return results


def compare_rows(
    sampler: Any,
    reader: Any,
    plan_tables: Iterable[Any],
    limit: int,
    phase: list[str] | None = None,
) -> tuple[list[Hit], int]:
    """Masked values equal to their own source value, row by row (:mod:`.same_row`),
    where both engines can read rows by key; and how many rows were compared."""
    if not hasattr(sampler, "sample_rows") or not hasattr(reader, "rows"):
        return [], 0
    hits: list[Hit] = []
    compared = 0
    for tp in plan_tables:
        if tp.skip or not tp.masks or not tp.table.primary_key:
            continue
        if any(k in tp.masks for k in tp.table.primary_key):
            continue  # a masked key: the rows cannot be paired
        target = sampler.root(tp.table)
        for column in tp.columns:
            spec = tp.masks.get(column.name)
            if spec is None:
                continue
            equal = 0
            for check in same_row.checks_for(tp.table, tp.name, column, spec):
                if phase is not None:
                    phase[0] = f"comparing {tp.name}.{column.name} row by row"
                same_row.compare(check, sampler, reader, target, limit, tp.unless)
                equal = max(equal, check.equal)
                compared += check.rows
            if equal:
                hits.append(
                    Hit(table=tp.name, column=column.name, rows=equal, values=equal, same_row=equal)
                )
    return hits, compared


def _merge(hits: list[Hit], same: list[Hit]) -> list[Hit]:
    """One hit per column: the search's, with the same-row count added."""
    by_column = {(h.table, h.column): h for h in hits}
    for hit in same:
        found = by_column.get((hit.table, hit.column))
        if found is None:
            hits.append(hit)
            by_column[(hit.table, hit.column)] = hit
        else:
            found.same_row = hit.same_row
            found.rows = max(found.rows, hit.rows)
            found.values = max(found.values, hit.values)
    return hits


def verify(
    config: Config,
    environment: str,
    sample: int = DEFAULT_SAMPLE,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Sample the source's masked columns, search every text-like column of the
    environment's database. The caller decides what a hit means (CheckFailed).

    Any unexpected error is re-raised as :class:`Refused` naming only what was being
    done and the error's type: a driver's message, or a traceback's local
    variables, could quote a sampled value."""
    phase = ["reading the configuration"]
    try:
        return _verify(config, environment, sample, progress, phase)
    except (DataclonerError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise Refused(
            f"verify failed while {phase[0]}: {type(exc).__name__}",
            hint="the error's own message is not shown: it could quote a personal value",
        ) from None


def _verify(
    config: Config,
    environment: str,
    sample: int,
    progress: VerifyProgress | None,
    phase: list[str],
) -> VerifyReport:
    from datacloner.runtime.refresh import check  # the plan, exactly as a refresh builds it

    began = time.monotonic()
    target_url = config.environment(environment).url
    if sample < 1:
        raise UsageError("--sample must be 1 or more")
    source_engine = _engine(config.require_source())
    target_engine = _engine(target_url)
    phase[0] = "checking the rules against the source"
    plan = check(config).plan
    report = VerifyReport(environment=environment, target=urls.redact(target_url), sample=sample)
    specs = [spec for tp in plan.copied for spec in tp.masks.values()]
    locales = _locales(specs)
    needles = Needles(common_words(locales), locales=locales)
    masked: dict[Scope, list[tuple[str, ...]] | None] = {}
    with (
        source_engine.open_source(config.require_source()) as sampler,
        target_engine.open_target(target_url) as reader,
    ):
        report.samples = sample_source(sampler, plan.tables, needles, sample, phase, masked)
        report.needles = len(needles)
        same, report.rows_compared = compare_rows(sampler, reader, plan.tables, sample, phase)
        report.sample_seconds = round(time.monotonic() - began, 3)

        matcher = Matcher(needles)
        phase[0] = "reading the target's catalog"
        tables, notes = reader.tables()
        report.notes.extend(notes)
        for table in tables:
            started = time.monotonic()
            name = table.display
            phase[0] = f"searching {name}"
            if progress is not None:
                progress.start_table(name, table.rows)
            scopes: list[Scope] = [(table.schema, table.name, c) for c in table.columns]
            # columns that hold fakes: the masked ones, and what a view computes from
            # them; a json rule's column holds them at its paths only
            view = table.kind != "table"
            paths = [None if view else masked.get(s) for s in scopes]
            fakes = [
                view or (s in masked and p is None) for s, p in zip(scopes, paths, strict=True)
            ]
            rows, hits = matcher.scan(
                name,
                scopes,
                reader.blocks(table, BLOCK_BYTES),
                reader.copy_text,
                progress.advance if progress is not None else None,
                fakes,
                paths,
            )
            if progress is not None:
                progress.end_table(rows)
            report.hits.extend(hits)
            report.searched.append(
                SearchedTable(
                    table=name,
                    kind=table.kind,
                    columns=table.columns,
                    rows=rows,
                    seconds=round(time.monotonic() - started, 3),
                )
            )
    report.hits = _merge(report.hits, same)
    report.seconds = round(time.monotonic() - began, 3)
    return report


__all__ = [
    "COUNT_LIMIT",
    "DEFAULT_SAMPLE",
    "MIN_CHARS",
    "ColumnSample",
    "Hit",
    "Matcher",
    "Needles",
    "Scope",
    "TargetTable",
    "VerifyReport",
    "common_words",
    "could_be_fake",
    "embedded",
    "normalize",
    "prepare",
    "verify",
]
