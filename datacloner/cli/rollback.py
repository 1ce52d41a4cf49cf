"""`datacloner rollback ENV`."""

from __future__ import annotations

from datacloner.cli.app import (
    ConfigOption,
    DrainTimeoutOption,
    EnvArgument,
    YesOption,
    app,
    config_from,
    out,
    run,
    warn,
)
from datacloner.cli.refresh import confirmer
from datacloner.core import signals
from datacloner.runtime import lifecycle


@app.command()
def rollback(
    env: EnvArgument,
    config: ConfigOption = None,
    yes: YesOption = False,
    drain_timeout: DrainTimeoutOption = None,
) -> None:
    """Swap the previous copy of ENV back in (the current one becomes the previous)."""

    def step() -> list[str]:
        signals.describe(
            f"{env} is unchanged", f"the rollback had committed: the previous copy of {env} is live"
        )
        cfg = config_from(config)
        confirmer(yes, "Roll back")(lifecycle.describe_target(cfg, env))
        return lifecycle.rollback(cfg, env, drain_timeout)

    for warning in run(step):
        warn(warning)
    out.print(f"rolled back {env}: the previous copy is live, the replaced one is kept")
