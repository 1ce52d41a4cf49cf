"""`datacloner status ENV`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from datacloner.cli.app import ConfigOption, EnvArgument, app, config_from, out, run
from datacloner.runtime import lifecycle


@app.command()
def status(
    env: EnvArgument,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List ENV's copies (current and previous) with their manifests."""
    generations = run(lambda: lifecycle.status(config_from(config), env))
    if json_out:
        print(json.dumps([g.__dict__ for g in generations], indent=2, default=str))
        return
    if not generations:
        out.print(f"{env} has no copy yet: run `datacloner refresh {env}`")
        return
    table = Table(title=f"{env}: copies, newest first")
    for column in ("copy", "database", "refreshed", "source", "rules", "rows", "version"):
        table.add_column(column)
    for g in generations:
        m = g.latest
        source = m.get("source", {})
        table.add_row(
            g.role,
            g.name,
            m.get("finished_at", "-"),
            f"{source.get('database', '-')} @ {source.get('host', '') or 'local'}",
            (m.get("rules_digest") or "-")[:19],
            f"{m.get('totals', {}).get('rows', '-'):,}" if m else "-",
            m.get("version", "-"),
        )
    out.print(table)
