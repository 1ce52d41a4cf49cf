"""The refresh runtime: config -> plan -> read -> mask -> write -> swap.

Everything that can be checked is checked before anything is created on the
target; after that, any failure discards the new copy and leaves the live
target untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from datacloner.core import guards, manifest, urls
from datacloner.core.catalog import Column, QualifiedName
from datacloner.core.config import Config
from datacloner.core.errors import UsageError
from datacloner.core.plan import Plan, TablePlan, build_plan
from datacloner.core.progress import ProgressSink
from datacloner.core.report import Report, TableReport
from datacloner.core.rules import MaskSpec, load_rules
from datacloner.engines.base import SourceSession, SwapPolicy, TargetBuild
from datacloner.engines.registry import engine_for
from datacloner.masking import check_spec, compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker
from datacloner.runtime.scan import Finding, kept_but_personal, scan_source
from datacloner.runtime.subset import plan_subset, run_selection, subset_tables
from datacloner.subset.graph import describe
from datacloner.subset.select import subset_salt

DEFAULT_BATCH_SIZE = 5_000  # rows: big enough to amortise per-batch calls, small for memory


def check_rule(spec: MaskSpec, label: str, column: Column) -> None:
    check_spec(spec, column=label, target=column)


@dataclass
class CheckResult:
    plan: Plan
    source: dict[str, str]
    kept_personal: list[Finding] = field(default_factory=list)
    subsets: dict[str, list[str]] = field(default_factory=dict)  # environment -> plan lines


def check_conditions(source: SourceSession, tables: list[TablePlan]) -> None:
    """Every table's ``unless`` against the live source (valid SQL over its
    columns, and a boolean), all problems at once, each at its file:line."""
    errors: dict[str, tuple[str, int]] = {}  # message -> (file, line): the order to read
    for tp in tables:
        try:
            source.check_condition(tp)
        except UsageError as exc:
            where = tp.unless_location
            message = f"{where or tp.name}: {exc.message}"
            errors[message] = (str(where.file), where.line) if where else ("", 0)
    if errors:
        raise UsageError(
            "\n".join(sorted(errors, key=errors.__getitem__)),
            hint="`unless:` is a SQL boolean expression over the table's columns, e.g. "
            "\"email LIKE '%@ourcompany.com'\"",
        )


def check(config: Config, scan_sample: int = 0) -> CheckResult:
    """Config and rules against the live source; raises on any problem. With
    ``scan_sample``, kept columns that scan thinks personal are reported too."""
    ruleset = load_rules(config.rules_path)
    url = config.require_source()
    engine = engine_for(url)
    with engine.open_source(url) as source:
        catalog = source.read_catalog()
        plan = build_plan(catalog, ruleset, check_rule)
        check_conditions(source, plan.copied)
        result = CheckResult(plan=plan, source=source.identity())
        for name, env in config.environments.items():
            if env.subset is not None:  # the names and `where`s against the live source
                result.subsets[name] = describe(
                    catalog, plan_subset(engine, source, catalog, env.subset, plan.tables)
                )
        if scan_sample:
            findings = scan_source(source, catalog, scan_sample).findings
            result.kept_personal = kept_but_personal(plan, findings)
        return result


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def policy_for(config: Config, environment: str, drain_timeout: float | None) -> SwapPolicy:
    env = config.environment(environment)
    default = SwapPolicy()
    return SwapPolicy(
        keep=env.keep,
        on_busy=env.on_busy,
        drain_timeout=default.drain_timeout if drain_timeout is None else drain_timeout,
    )


def refresh(
    config: Config,
    environment: str,
    progress: ProgressSink,
    confirm: Callable[[str], None],
    batch_size: int = DEFAULT_BATCH_SIZE,
    drain_timeout: float | None = None,
    jobs: int = 1,
    split_rows: int | None = None,
) -> Report:
    """``confirm(target)`` raises to stop before anything is created.
    ``split_rows``: with ``jobs`` > 1, tables of at least that many rows are
    split into key ranges (None: the engine's default)."""
    env = config.environment(environment)
    src_url, dst_url = config.require_source(), env.url
    secret = config.require_secret()
    ruleset = load_rules(config.rules_path)
    engine = engine_for(src_url, dst_url)
    guards.refuse_protected(dst_url, config.protected)
    report = Report(
        environment=environment,
        target=urls.redact(dst_url),
        started_at=utc_now(),
        rules_digest=manifest.rules_digest(ruleset.files),
        secret_fingerprint=manifest.secret_fingerprint(secret),
    )
    began = time.monotonic()
    with engine.open_source(src_url) as source:
        catalog = source.read_catalog()
        plan = build_plan(catalog, ruleset, check_rule)
        chosen = (
            plan_subset(engine, source, catalog, env.subset, plan.tables) if env.subset else None
        )
        if chosen is not None and jobs > 1 and not engine.subset_parallel:
            # this engine's --jobs readers read whole tables; a subset reads its selection
            progress.note(f"note: a subset copies one table at a time (--jobs {jobs} ignored)")
            jobs = 1
        for warning in plan.warnings:
            progress.note(f"warning: {warning}")
        report.warnings.extend(plan.warnings)
        report.source = source.identity()
        guards.refuse_source(report.source, engine.target_identity(dst_url))
        check_conditions(source, plan.copied)
        cache = MaskerCache(compile_mask, secret)
        maskers: dict[int, TableMasker] = (
            {id(tp): TableMasker(tp, cache) for tp in plan.copied}
            if jobs <= 1
            else LazyMaskers(plan.copied, cache)  # the workers compile their own
        )
        confirm(report.target)
        policy = policy_for(config, environment, drain_timeout)
        with engine.build_target(dst_url, source, policy) as target:
            if chosen is None:
                build_and_swap(
                    target,
                    plan.tables,
                    maskers,
                    env.after,
                    progress,
                    report,
                    batch_size,
                    parallel=(jobs, secret, split_rows),
                )
            else:
                if jobs > 1 and target.parallel_copy:
                    target.start_workers(jobs)  # they get ready while the rows are chosen
                with engine.subset_store(target, source, catalog, subset_salt(secret)) as store:
                    tables = subset_tables(plan.tables, chosen)
                    run_selection(store, chosen, tables, progress)
                    build_and_swap(
                        target,
                        tables,
                        maskers,
                        env.after,
                        progress,
                        report,
                        batch_size,
                        parallel=(jobs, secret, split_rows),
                        before_post_data=lambda: store.finish(chosen.nulled),
                    )
    report.seconds = round(time.monotonic() - began, 3)
    return report


class LazyMaskers(dict[int, TableMasker]):
    """Table maskers compiled on first use: with ``--jobs`` the worker processes
    compile their own, and the leader needs none (its memory counts too)."""

    def __init__(self, tables: list[TablePlan], cache: MaskerCache) -> None:
        super().__init__()
        self._tables = {id(tp): tp for tp in tables}
        self._cache = cache

    def __missing__(self, key: int) -> TableMasker:
        masker = self[key] = TableMasker(self._tables[key], self._cache)
        return masker


def build_and_swap(
    target: TargetBuild,
    tables: list[TablePlan],
    maskers: dict[int, TableMasker],
    after: tuple[Path, ...],
    progress: ProgressSink,
    report: Report,
    batch_size: int,
    parallel: tuple[int, bytes, int | None] | None = None,
    before_post_data: Callable[[], None] | None = None,
) -> None:
    """The target half of a refresh (or a restore): schema, rows, post-data,
    finish, health check, hooks, manifest, swap. ``parallel`` = (jobs, secret,
    split_rows) copies the rows in worker processes where the engine can;
    ``before_post_data`` runs after the rows, before constraints (a subset's
    NULLed keys)."""
    began = time.monotonic()
    if not (parallel and parallel[0] > 1 and target.parallel_copy):
        parallel = None  # one table at a time, here
    if parallel:
        target.start_workers(parallel[0])  # they get ready while the schema loads
    # each stage is announced as it begins: a supervisor sees where a run is
    progress.stage("pre-data")
    target.load_schema("pre-data")
    loaded: dict[QualifiedName, int] = {}
    if parallel:
        jobs, secret, split_rows = parallel
        started = time.monotonic()
        progress.stage("data")
        copied = [tp for tp in tables if not tp.skip]
        progress.start_table(
            f"{len(copied)} tables, {jobs} jobs", sum(tp.table.row_estimate for tp in copied)
        )
        loaded = target.copy_tables(tables, secret, batch_size, progress.advance, jobs, split_rows)
        progress.end_table(sum(loaded.values()))
        elapsed = round(time.monotonic() - started, 3)
        for tp in tables:
            report.tables.append(
                TableReport(
                    table=tp.name,
                    action="skipped" if tp.skip else "masked" if tp.masked_columns else "copied",
                    rows=loaded.get(tp.table.qualified, 0),
                    masked_columns=[] if tp.skip else tp.masked_columns,  # as one job says
                    seconds=0.0 if tp.skip else elapsed,  # all tables ran at once
                )
            )
    else:
        for tp in tables:
            if tp.skip:
                report.tables.append(TableReport(table=tp.name, action="skipped"))
                loaded[tp.table.qualified] = 0
                continue
            started = time.monotonic()
            progress.stage("data")
            progress.start_table(tp.name, tp.table.row_estimate)
            rows = target.copy_table(tp, maskers[id(tp)], batch_size, progress.advance)
            progress.end_table(rows)
            loaded[tp.table.qualified] = rows
            report.tables.append(
                TableReport(
                    table=tp.name,
                    action="masked" if tp.masked_columns else "copied",
                    rows=rows,
                    masked_columns=tp.masked_columns,
                    seconds=round(time.monotonic() - started, 3),
                )
            )
    if before_post_data is not None:
        before_post_data()
    progress.stage("post-data")
    target.load_schema("post-data")
    target.finalize()
    target.health_check(loaded)  # the load itself, before hooks change anything
    progress.stage("hooks")
    target.run_hooks(after)
    progress.stage("manifest")
    report.finished_at = utc_now()
    report.seconds = round(report.seconds + time.monotonic() - began, 3)
    target.write_manifest(report.as_dict())
    progress.stage("swap")
    report.warnings.extend(target.swap())
