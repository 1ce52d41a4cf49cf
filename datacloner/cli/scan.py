"""`datacloner scan`: which columns look personal, and rules to mask them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from datacloner.cli.app import ConfigOption, app, config_from, err, out, run
from datacloner.core.errors import UsageError
from datacloner.engines.registry import engine_for
from datacloner.runtime.scan import DEFAULT_SAMPLE, ScanResult, flow, scan_source, write_rules
from datacloner.scan.frameworks import framework_of, framework_reason


def _table(result: ScanResult, show_values: bool) -> Table:
    personal = len(result.personal)
    table = Table(
        title=f"scan: {personal} personal columns of {len(result.findings)} "
        f"in {len(result.tables)} tables (up to {result.sample} rows sampled per table)"
    )
    for heading in ("table", "column", "type", "personal", "kind", "conf.", "why", "suggested"):
        table.add_column(heading, overflow="fold")
    if show_values:
        table.add_column("sampled values", overflow="fold")
    shown: set[str] = set()
    for f in result.findings:
        if framework_of(f.table_name):  # one row per framework table, not per column
            if f.table not in shown:
                shown.add(f.table)
                count = sum(1 for g in result.findings if g.table == f.table)
                why = framework_reason(f.table_name)
                row = [f.table, f"(all {count})", "", "no", "", "1.00", why, "keep"]
                row += [""] if show_values else []
                table.add_row(*(Text(cell) for cell in row))
            continue
        # Text cells, never markup: names and reasons may hold brackets
        row = [
            Text(f.table),
            Text(f.column),
            Text(f.type),
            Text("yes", style="bold red") if f.personal else Text("no", style="green"),
            Text(f.kind or ""),
            Text(f"{f.confidence:.2f}"),
            Text("; ".join(f.reasons)),
            Text(flow(f.rule) if f.personal else "keep"),
        ]
        if show_values:
            row.append(Text(" | ".join(f.examples)))
        table.add_row(*row)
    return table


def _check_writable(path: Path) -> None:
    """--write can be written once the scan is done: not a folder, and its
    folder exists or can be created (missing folders are created then)."""
    if path.is_dir():
        raise UsageError(f"--write {path}: is a folder; name a file, e.g. {path}/app.yml")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--write {path}: cannot write in {folder} (permission denied)")


@app.command()
def scan(
    config: ConfigOption = None,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="write a complete rules file (every column masked or kept)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="overwrite the --write file if it exists")
    ] = False,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="rows sampled per table (0: names only)")
    ] = DEFAULT_SAMPLE,
    show_values: Annotated[
        bool,
        typer.Option("--show-values", help="print a few sampled values (they are personal data)"),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Find the columns that look personal (by name and sampled values); suggest rules."""

    def step() -> ScanResult:
        cfg = config_from(config)
        if write is not None and write.exists() and not force:
            raise UsageError(
                f"{write} already exists; scan does not overwrite it",
                hint="pass --force to replace it, or write to another file and compare",
            )
        if write is not None:
            _check_writable(write)  # before the scan, which can take minutes
        url = cfg.require_source()
        with engine_for(url).open_source(url) as source:
            result = scan_source(source, source.read_catalog(), sample)
        if write is not None:
            try:
                write.parent.mkdir(parents=True, exist_ok=True)  # `rules/` on a first scan
                write_rules(result, write)
            except OSError as exc:
                raise UsageError(f"{write}: cannot write: {exc.strerror or exc}") from None
        return result

    result = run(step)
    if json_out:
        payload = {
            "tables": len(result.tables),
            "columns": len(result.findings),
            "personal": len(result.personal),
            "sample": result.sample,
            "unreadable": result.skipped,
            "framework_tables": {
                f.table: framework_reason(f.table_name)
                for f in result.findings
                if framework_of(f.table_name)
            },
            "findings": [f.to_dict(show_values) for f in result.findings],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        out.print(_table(result, show_values))
    for column in result.skipped:
        err.print(
            Text("warning: ", style="yellow")
            + Text(f"{column}: values could not be read; classified by its name and type only"),
            highlight=False,
        )
    if write is not None:
        err.print(
            Text(
                f"wrote {write}: {len(result.personal)} masked and "
                f"{len(result.findings) - len(result.personal)} kept columns in "
                f"{len(result.tables)} tables. Review it, point `rules:` at it, then run "
                "`datacloner check --strict`."
            ),
            highlight=False,
        )
