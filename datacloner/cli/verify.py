"""`datacloner verify ENV`: prove that no sampled personal value of the source is in ENV."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from datacloner.cli.app import (
    ConfigOption,
    EnvArgument,
    JsonOption,
    app,
    config_from,
    err,
    out,
    run,
)
from datacloner.core.errors import CheckFailed
from datacloner.runtime import verify as runtime


class _Progress:
    """One transient bar for the table being searched: nothing is left on screen."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("searching {task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.task: TaskID | None = None
        self.bar.start()

    def start_table(self, name: str, estimate: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(name, total=estimate or None)

    def advance(self, rows: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, rows)

    def end_table(self, rows: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=rows, completed=rows)

    def note(self, message: str) -> None:
        self.bar.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self.bar.stop()


def _skipped(report: runtime.VerifyReport) -> str:
    reasons: dict[str, int] = {}
    for sample in report.samples:
        for reason, n in sample.skipped.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return "; ".join(f"{n:,} {reason}" for reason, n in sorted(reasons.items()))


def _summary(report: runtime.VerifyReport, verbose: bool) -> None:
    if verbose:
        sampled = Table(title="sampled in the source (masked columns)")
        sampled.add_column("column")
        sampled.add_column("values", justify="right")
        sampled.add_column("kept", justify="right")
        sampled.add_column("not used")
        for s in report.samples:
            why = s.note or ", ".join(f"{n} {r}" for r, n in s.skipped.items()) or "-"
            sampled.add_row(Text(f"{s.table}.{s.column}"), f"{s.sampled:,}", f"{s.kept:,}", why)
        out.print(sampled)
        searched = Table(title=f"searched in {report.environment}")
        searched.add_column("table")
        searched.add_column("rows", justify="right")
        searched.add_column("columns searched")
        for t in report.searched:
            label = t.table + (" (materialized view)" if t.kind != "table" else "")
            searched.add_row(Text(label), f"{t.rows:,}", Text(", ".join(t.columns)))
        out.print(searched)
    sampled_columns = sum(1 for s in report.samples if s.note is None)
    skipped = _skipped(report)
    out.print(
        f"sampled {report.values_sampled:,} distinct values of {sampled_columns} masked columns "
        f"of the source; {report.values_kept:,} kept as keyed hashes"
        + (f" (not used: {skipped})" if skipped else ""),
        highlight=False,
        markup=False,
    )
    for s in report.samples:
        if s.note:
            out.print(Text(f"  {s.table}.{s.column}: {s.note}"), highlight=False)
    if report.rows_compared:
        out.print(
            f"compared {report.rows_compared:,} masked rows with their own source row",
            highlight=False,
            markup=False,
        )
    views = sum(1 for t in report.searched if t.kind != "table")
    out.print(
        f"searched {report.environment} ({report.target}): {len(report.searched) - views} tables"
        + (f" and {views} materialized views" if views else "")
        + f", {report.columns_searched} text columns, {report.rows_searched:,} rows "
        f"in {report.seconds:.1f}s",
        highlight=False,
        markup=False,
    )
    for note in report.notes:
        err.print(Text("note: ", style="yellow") + Text(note), highlight=False)


def _hits(report: runtime.VerifyReport) -> None:
    for hit in report.hits:
        err.print(
            Text("found: ", style="bold red")
            + Text(
                f"{hit.table}.{hit.column}: {hit.rows:,}{'+' if hit.at_least else ''} row(s) hold "
                f"{hit.values:,} sampled source value(s)"
                + (f", {hit.same_row:,} unmasked on their own row" if hit.same_row else "")
            ),
            highlight=False,
        )


@app.command()
def verify(
    env: EnvArgument,
    config: ConfigOption = None,
    sample: Annotated[
        int, typer.Option("--sample", min=1, help="distinct values sampled per masked column")
    ] = runtime.DEFAULT_SAMPLE,
    json_out: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="list every column sampled and searched")
    ] = False,
) -> None:
    """Sample personal values of the source and prove none is in ENV (exit 1 if found)."""

    def step() -> runtime.VerifyReport:
        cfg = config_from(config)
        progress = None if json_out else _Progress()
        try:
            report = runtime.verify(cfg, env, sample, progress)
        finally:
            if progress is not None:
                progress.close()
        if json_out:
            print(report.to_json())
        else:
            _summary(report, verbose)
        if report.hits:
            if not json_out:
                _hits(report)
            columns = len(report.hits)
            raise CheckFailed(
                f"{columns} column(s) of {env} hold personal values sampled from the source "
                "(the values are not shown)",
                hint="mask or scrub those columns in the rules and refresh; "
                "a kept column that holds personal data needs a rule",
            )
        if not json_out:
            out.print(f"ok: no sampled source value found in {env}", markup=False)
        return report

    run(step)
