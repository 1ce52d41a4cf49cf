"""Runtime of ``dump`` (source -> masked archive) and ``restore`` (archive ->
environment, through the same build and swap as a refresh, with neither the
source nor the secret)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from datacloner.archive import sign as archive_sign
from datacloner.archive.format import ArchiveReader, ArchiveWriter
from datacloner.core import guards, manifest, urls
from datacloner.core.catalog import display_name
from datacloner.core.config import Config
from datacloner.core.errors import UsageError
from datacloner.core.plan import build_plan
from datacloner.core.progress import ProgressSink
from datacloner.core.report import Report, TableReport
from datacloner.core.rules import load_rules
from datacloner.engines import registry as engines
from datacloner.engines.registry import engine_for
from datacloner.masking import compile_mask
from datacloner.masking.table_masker import MaskerCache, TableMasker
from datacloner.runtime.refresh import (
    DEFAULT_BATCH_SIZE,
    build_and_swap,
    check_rule,
    policy_for,
    utc_now,
)


def dump(
    config: Config,
    path: Path,
    progress: ProgressSink,
    batch_size: int = DEFAULT_BATCH_SIZE,
    unsigned: bool = False,
) -> Report:
    source_url = config.require_source()
    write_archive = engines.archive_support(source_url, "dump").write_archive
    secret = config.require_secret()
    key = None if unsigned else archive_sign.private_key()
    if key is None and not unsigned:
        raise UsageError(
            f"{archive_sign.PRIVATE_ENV} is not set: dump signs every archive, so that restore "
            "can tell it came from this job",
            hint="create a key pair with `datacloner keygen` and set "
            f"{archive_sign.PRIVATE_ENV} here, {archive_sign.PUBLIC_ENV} where you restore; "
            "or pass --unsigned",
        )
    ruleset = load_rules(config.rules_path)
    report = Report(
        environment="archive",
        target=str(path),
        started_at=utc_now(),
        rules_digest=manifest.rules_digest(ruleset.files),
        secret_fingerprint=manifest.secret_fingerprint(secret),
    )
    began = time.monotonic()
    with engine_for(source_url).open_source(source_url) as source:
        plan = build_plan(source.read_catalog(), ruleset, check_rule)
        report.source = source.identity()
        cache = MaskerCache(compile_mask, secret)
        maskers = {id(tp): TableMasker(tp, cache) for tp in plan.copied}
        writer = ArchiveWriter(path)
        try:
            write_archive(source, plan, maskers, writer, batch_size, progress)
            for table in writer.tables:
                report.tables.append(
                    TableReport(
                        table=display_name((table.schema, table.name)),
                        action="masked" if table.masked_columns else "copied",
                        rows=table.rows,
                        masked_columns=table.masked_columns,
                    )
                )
            report.finished_at = utc_now()
            report.seconds = round(time.monotonic() - began, 3)
            if key is None:
                report.warnings.append(
                    f"{path} is not signed (--unsigned): restore needs --allow-unsigned"
                )
            writer.close(report.as_dict(), key)
        except BaseException:
            writer.abort()
            raise
    return report


def restore(
    config: Config,
    path: Path,
    environment: str,
    progress: ProgressSink,
    confirm: Callable[[str], None],
    drain_timeout: float | None = None,
    allow_unsigned: bool = False,
    warn: Callable[[str], None] = lambda message: None,
) -> Report:
    env = config.environment(environment)
    support = engines.archive_support(env.url, "restore")
    guards.refuse_protected(env.url, config.protected)
    engine = support.ArchiveEngine()
    reader = ArchiveReader(path)
    try:
        # all before the target is touched: who wrote it (exit 1), then its
        # shape, checksums, state and every schema statement (exit 2, or 1
        # for a statement outside what restore runs)
        warnings = reader.authenticate(allow_unsigned)
        for warning in warnings:
            warn(warning)
        reader.verify()
        source = support.ArchiveSource(reader)
        archived = reader.manifest
        report = Report(
            environment=environment,
            target=urls.redact(env.url),
            started_at=utc_now(),
            source=source.identity(),
            rules_digest=archived.get("rules_digest", ""),
            secret_fingerprint=archived.get("secret_fingerprint", ""),
            warnings=warnings,
        )
        guards.refuse_source(archived.get("source", {}), engine.target_identity(env.url))
        if warnings and engine.is_superuser(env.url):
            # least privilege is the second line behind the signature
            warnings.append(
                "the target's user is a superuser: a function in an unsigned archive would run "
                "with its rights; restore as a user with only CREATEDB (docs/archive.md#trust)"
            )
            warn(warnings[-1])
        confirm(report.target)
        tables = source.table_plans()
        maskers = {id(tp): TableMasker(tp, MaskerCache(compile_mask, b"")) for tp in tables}
        began = time.monotonic()
        policy = policy_for(config, environment, drain_timeout)
        with engine.build_target(env.url, source, policy) as target:
            build_and_swap(target, tables, maskers, env.after, progress, report, DEFAULT_BATCH_SIZE)
        report.seconds = round(time.monotonic() - began, 3)
        masked = {display_name((t.schema, t.name)): t.masked_columns for t in reader.tables}
        for table in report.tables:
            table.masked_columns = masked.get(table.table, [])
            table.action = "masked" if table.masked_columns else "copied"
        return report
    finally:
        reader.close()
