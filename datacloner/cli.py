"""The command line: one thin function per verb over the runtime."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from datacloner import __version__
from datacloner import refresh as runtime
from datacloner.config import Config, find_config, load_config
from datacloner.errors import CheckFailed, DataclonerError, Refused
from datacloner.progress import ProgressSink, QuietProgress, RichProgress
from datacloner.report import Report

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Fresh, masked copies of production for dev, test, staging and demo.",
)
out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="datacloner.yml to use (default: $DATACLONER_CONFIG, else ./datacloner.yml)",
    ),
]
T = TypeVar("T")


def _run(step: Callable[[], T]) -> T:
    """User mistakes become a message and an exit code, never a stack trace."""
    try:
        return step()
    except DataclonerError as exc:
        # Text, not markup: messages hold YAML such as `keep: [col]`
        err.print(Text("error: ", style="bold red") + Text(exc.message), highlight=False)
        if exc.hint:
            err.print(Text("hint: ", style="dim") + Text(exc.hint), highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: the target was left as it was")
        raise typer.Exit(1) from None


def _config(path: Path | None) -> Config:
    return load_config(find_config(path))


def _confirmer(yes: bool) -> Callable[[str], None]:
    def confirm(target: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise Refused(
                f"refusing to replace {target} without confirmation in a non-interactive run",
                hint="pass --yes to confirm",
            )
        if not typer.confirm(f"Replace {target} with a fresh masked copy?", default=False):
            raise Refused("aborted: nothing was changed")

    return confirm


def _summary(report: Report) -> None:
    table = Table(title=f"refreshed {report.environment} ({report.target})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("masked columns")
    table.add_column("seconds", justify="right")
    for t in report.tables:
        masked = ", ".join(t.masked_columns) or ("schema only" if t.action == "skipped" else "-")
        table.add_row(t.table, f"{t.rows:,}", masked, f"{t.seconds:.2f}")
    out.print(table)
    out.print(
        f"{len(report.tables)} tables, {report.rows:,} rows, "
        f"{report.masked_columns} masked columns in {report.seconds:.1f}s"
    )
    for warning in report.warnings:
        err.print(Text("warning: ", style="yellow") + Text(warning), highlight=False)


@app.command()
def refresh(
    env: Annotated[str, typer.Argument(help="environment name from datacloner.yml")],
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="rows masked per batch")
    ] = runtime.DEFAULT_BATCH_SIZE,
    json_out: Annotated[bool, typer.Option("--json", help="print a JSON report")] = False,
) -> None:
    """Copy the source through the masking rules into ENV, atomically."""

    def step() -> Report:
        cfg = _config(config)
        progress: ProgressSink = QuietProgress() if json_out else RichProgress(err)
        try:
            return runtime.refresh(cfg, env, progress, _confirmer(yes), batch_size)
        finally:
            progress.close()

    report = _run(step)
    if json_out:
        print(report.to_json())
    else:
        _summary(report)


@app.command()
def check(
    config: ConfigOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="fail on warnings too (the CI gate)")
    ] = False,
) -> None:
    """Validate config and rules against the live source."""

    def step() -> runtime.CheckResult:
        result = runtime.check(_config(config))
        for warning in result.plan.warnings:
            err.print(Text("warning: ", style="yellow") + Text(warning), highlight=False)
        if strict and result.plan.warnings:
            raise CheckFailed("check --strict: warnings count as failures")
        return result

    result = _run(step)
    plan = result.plan
    masked = sum(len(t.masked_columns) for t in plan.tables)
    out.print(
        f"ok: {len(plan.tables)} tables ({len(plan.tables) - len(plan.copied)} schema only), "
        f"{masked} masked columns, every column classified"
    )


def _version(value: bool) -> None:
    if value:
        print(f"datacloner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show version")
    ] = False,
) -> None:
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
