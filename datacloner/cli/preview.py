"""`datacloner preview TABLE`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from datacloner import preview as runtime
from datacloner.cli.app import ConfigOption, app, config_from, out, run, warn

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
    view = Table(title=f"{result.plan.name}: original → masked{key}")
    for column in result.columns:
        view.add_column(column)
    for originals, masked in result.rows:
        view.add_row(*(f"{o!s} → {m!s}" for o, m in zip(originals, masked, strict=True)))
    out.print(view)
