"""`datacloner refresh ENV`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from datacloner.cli.app import (
    ConfigOption,
    DrainTimeoutOption,
    EnvArgument,
    JsonOption,
    YesOption,
    app,
    config_from,
    err,
    out,
    run,
    warn,
)
from datacloner.core import signals
from datacloner.core.errors import Refused
from datacloner.core.progress import JsonProgress, ProgressSink, RichProgress
from datacloner.core.report import Report
from datacloner.runtime import refresh as runtime


def confirmer(yes: bool, action: str = "Replace") -> Callable[[str], None]:
    """Asks on a terminal; refuses a non-interactive run without --yes."""

    def confirm(target: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise Refused(
                f"refusing to change {target} without confirmation in a non-interactive run",
                hint="pass --yes to confirm",
            )
        question = (
            f"{action} {target}?"
            if action != "Replace"
            else (f"Replace {target} with a fresh masked copy?")
        )
        if not typer.confirm(question, default=False):
            raise Refused("aborted: nothing was changed")

    return confirm


def stopped_during_build(env: str) -> None:
    """What a refresh or restore stopped by a signal says it left behind."""
    signals.describe(
        f"the new copy was removed, {env} is unchanged",
        f"the swap had committed: {env} serves the new copy",
    )


# a report table longer than this shows only the slowest tables: a thousand
# rows on a screen say nothing, and --json lists every table
REPORT_ROWS = 40
SLOWEST = 20


def print_report(report: Report, json_out: bool, title: str) -> None:
    """The JSON report, or a summary table for people."""
    if json_out:
        print(report.to_json())
        return
    shown = report.tables
    if len(shown) > REPORT_ROWS:
        slowest = set(map(id, sorted(shown, key=lambda t: t.seconds, reverse=True)[:SLOWEST]))
        shown = [t for t in shown if id(t) in slowest]  # in run order
        title += f": the {SLOWEST} slowest of {len(report.tables):,} tables"
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("masked columns")
    table.add_column("seconds", justify="right")
    for t in shown:
        masked = ", ".join(t.masked_columns) or ("schema only" if t.action == "skipped" else "-")
        table.add_row(t.table, f"{t.rows:,}", masked, f"{t.seconds:.2f}")
    out.print(table)
    if len(shown) < len(report.tables):
        out.print("(every table's rows and masked columns: --json)", highlight=False)
    out.print(
        f"{len(report.tables)} tables, {report.rows:,} rows, "
        f"{report.masked_columns} masked columns in {report.seconds:.1f}s"
    )
    for warning in report.warnings:
        warn(warning)


@app.command()
def refresh(
    env: EnvArgument,
    config: ConfigOption = None,
    yes: YesOption = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="rows masked per batch")
    ] = runtime.DEFAULT_BATCH_SIZE,
    json_out: JsonOption = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, help="worker processes copying tables in parallel (PostgreSQL)"
        ),
    ] = 1,
    drain_timeout: DrainTimeoutOption = None,
) -> None:
    """Copy the source through the masking rules into ENV, atomically."""

    def step() -> Report:
        stopped_during_build(env)
        cfg = config_from(config)
        # --json: stage events on stderr, the report alone on stdout
        progress: ProgressSink = JsonProgress(sys.stderr) if json_out else RichProgress(err)
        try:
            return runtime.refresh(
                cfg, env, progress, confirmer(yes), batch_size, drain_timeout, jobs
            )
        finally:
            progress.close()

    report = run(step)
    print_report(report, json_out, title=f"refreshed {report.environment} ({report.target})")
