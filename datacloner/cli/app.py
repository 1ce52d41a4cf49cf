"""Shared parts of the CLI: the Typer app, the consoles, the --config option
and the error handling that turns user mistakes into exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from datacloner import __version__
from datacloner.config import Config, find_config, load_config
from datacloner.errors import DataclonerError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    # a crash must never print local variables: they may hold personal values
    pretty_exceptions_show_locals=False,
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
EnvArgument = Annotated[str, typer.Argument(help="environment name from datacloner.yml")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
JsonOption = Annotated[bool, typer.Option("--json", help="print a JSON report")]
DrainTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--drain-timeout",
        help="seconds to wait for sessions to leave the target before `on_busy` applies "
        "(default 5)",
    ),
]
T = TypeVar("T")


def warn(message: str) -> None:
    """A warning on stderr, as plain text (messages may hold YAML brackets)."""
    err.print(Text("warning: ", style="yellow") + Text(message), highlight=False)


def run(step: Callable[[], T]) -> T:
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


def config_from(path: Path | None) -> Config:
    return load_config(find_config(path))


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
