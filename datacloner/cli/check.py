"""`datacloner check`: the CI gate."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from datacloner import refresh as runtime
from datacloner.cli.app import ConfigOption, app, config_from, err, out, run
from datacloner.errors import CheckFailed


@app.command()
def check(
    config: ConfigOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="fail on warnings too (the CI gate)")
    ] = False,
) -> None:
    """Validate config and rules against the live source."""

    def step() -> runtime.CheckResult:
        result = runtime.check(config_from(config))
        for warning in result.plan.warnings:
            err.print(Text("warning: ", style="yellow") + Text(warning), highlight=False)
        if strict and result.plan.warnings:
            raise CheckFailed("check --strict: warnings count as failures")
        return result

    result = run(step)
    plan = result.plan
    masked = sum(len(t.masked_columns) for t in plan.tables)
    out.print(
        f"ok: {len(plan.tables)} tables ({len(plan.tables) - len(plan.copied)} schema only), "
        f"{masked} masked columns, every column classified"
    )
