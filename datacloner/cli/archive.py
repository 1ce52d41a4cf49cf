"""`datacloner dump FILE` and `datacloner restore FILE --to ENV`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datacloner import archiving
from datacloner.cli.app import (
    ConfigOption,
    DrainTimeoutOption,
    JsonOption,
    YesOption,
    app,
    config_from,
    err,
    run,
)
from datacloner.cli.refresh import confirmer, print_report
from datacloner.progress import ProgressSink, QuietProgress, RichProgress
from datacloner.report import Report


def _progress(json_out: bool) -> ProgressSink:
    return QuietProgress() if json_out else RichProgress(err)


@app.command()
def dump(
    file: Annotated[Path, typer.Argument(help="archive to write, e.g. snapshot.dcz")],
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write a portable, already-masked archive of the source."""

    def step() -> Report:
        progress = _progress(json_out)
        try:
            return archiving.dump(config_from(config), file, progress)
        finally:
            progress.close()

    print_report(run(step), json_out, title=f"dumped to {file}")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="archive written by `datacloner dump`")],
    to: Annotated[str, typer.Option("--to", help="environment to restore into")],
    config: ConfigOption = None,
    yes: YesOption = False,
    json_out: JsonOption = False,
    drain_timeout: DrainTimeoutOption = None,
) -> None:
    """Restore an archive into ENV through the same atomic swap (no source, no secret)."""

    def step() -> Report:
        progress = _progress(json_out)
        try:
            return archiving.restore(
                config_from(config), file, to, progress, confirmer(yes), drain_timeout
            )
        finally:
            progress.close()

    print_report(run(step), json_out, title=f"restored {file} into {to}")
