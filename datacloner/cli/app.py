"""Shared parts of the CLI: the Typer app, the consoles, the --config option
and the error handling that turns user mistakes into exit codes."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from typer.core import TyperGroup

from datacloner import __version__
from datacloner.core.config import Config, find_config, load_config
from datacloner.core.errors import DataclonerError
from datacloner.core.redaction import database_error, is_database_error, scrub


class _Console(Console):
    """Never wraps a message when the output is not a terminal: a CI log or a
    file gets each message on one line, whatever its length (a terminal still
    wraps at its width). Tables are still laid out to the console's width."""

    @property  # type: ignore[override]
    def soft_wrap(self) -> bool:
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        pass  # decided per print, from where the output goes now

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # everything printed through a console (tables, progress, messages):
        # no secret or ${VAR} value, whichever code path built the text
        return scrub(super()._render_buffer(buffer))


class _Group(TyperGroup):
    """A bad flag value or an unknown option is one unwrapped `error:` line
    naming the flag and a `hint:` line, like every other user mistake (exit
    2), instead of a usage block and a boxed panel cut at 80 columns."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.Abort:
            err.print("aborted: nothing was changed", markup=False, highlight=False)
            sys.exit(1)
        except typer.TyperException as exc:  # click's usage errors: bad flags, values
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one printed the help
                show = getattr(exc, "format_message", None)
                message = show() if show is not None else str(exc)
                err.print(Text("error: ", style="bold red") + Text(message), highlight=False)
                ctx = getattr(exc, "ctx", None)
                if ctx is not None:
                    hint = f"`{ctx.command_path} --help` lists the options"
                    err.print(Text("hint: ", style="dim") + Text(hint), highlight=False)
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    # a crash must never print local variables: they may hold personal values
    pretty_exceptions_show_locals=False,
    help="Fresh, masked copies of production for dev, test, staging and demo.",
)
out = _Console()
err = _Console(stderr=True)

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


def _seconds(value: float | None) -> float | None:
    """--drain-timeout: a finite number of seconds, 0 or more."""
    if value is not None and (not math.isfinite(value) or value < 0):
        raise typer.BadParameter(f"{value} is not a number of seconds >= 0")
    return value


DrainTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--drain-timeout",
        callback=_seconds,
        help="seconds to wait for sessions to leave the target before `on_busy` applies "
        "(default 5)",
    ),
]
T = TypeVar("T")


def warn(message: str) -> None:
    """A warning on stderr, as plain text (messages may hold YAML brackets)."""
    err.print(Text("warning: ", style="yellow") + Text(scrub(message)), highlight=False)


def run(step: Callable[[], T]) -> T:
    """User mistakes become a message and an exit code, never a stack trace."""
    try:
        return step()
    except DataclonerError as exc:
        # Text, not markup: messages hold YAML such as `keep: [col]`. scrub: the
        # last line of defence, no secret or ${VAR} value is ever printed
        err.print(Text("error: ", style="bold red") + Text(scrub(exc.message)), highlight=False)
        if exc.hint:
            err.print(Text("hint: ", style="dim") + Text(scrub(exc.hint)), highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        if not is_database_error(exc):
            raise
        # a database error no engine step wrapped: its own text may quote a row
        message = f"database error: {database_error(exc)}"
        err.print(Text("error: ", style="bold red") + Text(scrub(message)), highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # only without main()'s handlers (datacloner.core.signals)
        err.print("stopped by SIGINT", markup=False, highlight=False)
        raise typer.Exit(130) from None


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
