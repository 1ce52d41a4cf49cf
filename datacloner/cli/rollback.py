"""`datacloner rollback ENV`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from datacloner import lifecycle
from datacloner.cli.app import ConfigOption, app, config_from, err, out, run
from datacloner.cli.refresh import confirmer


@app.command()
def rollback(
    env: Annotated[str, typer.Argument(help="environment name from datacloner.yml")],
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    drain_timeout: Annotated[
        float | None,
        typer.Option("--drain-timeout", help="seconds to wait for sessions to leave (default 5)"),
    ] = None,
) -> None:
    """Swap the previous copy of ENV back in (the current one becomes the previous)."""

    def step() -> list[str]:
        cfg = config_from(config)
        confirmer(yes, "Roll back")(lifecycle.describe_target(cfg, env))
        return lifecycle.rollback(cfg, env, drain_timeout)

    for warning in run(step):
        err.print(Text("warning: ", style="yellow") + Text(warning), highlight=False)
    out.print(f"rolled back {env}: the previous copy is live, the replaced one is kept")
