"""`datacloner preview TABLE`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from datacloner.cli.app import ConfigOption, app, config_from, out, run, warn
from datacloner.runtime import preview as runtime

THROWAWAY = (
    "no secret: these fakes use a throwaway key and differ from a refresh's; "
    "set the `secret:` of datacloner.yml to see the real ones"
)


@app.command()
def preview(
    table: Annotated[str, typer.Argument(help="schema.table, as in the rules")],
    config: ConfigOption = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="rows to show")] = 10,
) -> None:
    """Show a few source rows: each masked column's original beside its masked value."""
    result = run(lambda: runtime.preview(config_from(config), table, rows))
    if result.throwaway_key:
        warn(THROWAWAY)
    if not result.columns:
        out.print(f"{result.plan.name}: no masked column, rows are copied as they are")
        return
    key = " (throwaway key: not a refresh's fakes)" if result.throwaway_key else ""
    # one line per masked column, originals and fakes side by side: legible at
    # 80 columns, where one cell per column cut both values short
    view = Table(title=f"{result.plan.name}: original → masked{key}")
    view.add_column("row", justify="right")
    view.add_column("column")
    view.add_column("original", overflow="fold")
    view.add_column("masked", overflow="fold")
    last = len(result.columns) - 1
    for number, (originals, masked) in enumerate(result.rows, start=1):
        for i, (column, o, m) in enumerate(zip(result.columns, originals, masked, strict=True)):
            # Text, never markup: values may hold brackets
            view.add_row(
                Text(str(number) if i == 0 else ""),
                Text(column),
                Text(_shown(o)),
                Text(_shown(m)),
                end_section=i == last,
            )
    out.print(view)


def _shown(value: object) -> str:
    return "NULL" if value is None else str(value)
